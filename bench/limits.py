"""Replica counts: a 1,000-worker dry run and the refusal of an absurd count, against a 1-worker dry run.

    python bench/limits.py [--repeat 5]

Before the per-runtime limits (`<Runtime>.max_replicas`), `--workers 30000 --dry-run` on local ran 27 s into
"Too many open files", and YARN with 10^20 workers grew the kernel to 15 GiB. Each row is measured next to
its baseline (a 1-worker dry run on the same runtime) in this process, so ratios hold across machines.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

CASES = [("local", 256), ("local", 1000), ("kubernetes", 1000), ("yarn", 1000), ("local", 10 ** 20), ("kubernetes", 10 ** 8),
         ("yarn", 10 ** 20)]


def _dry_run(session, runtime: str, workers: int) -> str:
    from submarine_kernel.errors import ValidationError

    try:
        spec = session.build("python train.py", runtime=runtime, name="bench-limits", workers=workers, image="img")
        session.dry_run(spec, session.bundle(files={"train.py": "print(1)"}), runtime)
        return "dry run"
    except ValidationError as exc:
        return "refused" if "max_replicas" in str(exc) else f"error: {exc}"


def _seconds(session, runtime: str, workers: int, repeat: int) -> tuple[float, str]:
    times, outcome = [], ""
    for _ in range(repeat):
        started = time.perf_counter()
        outcome = _dry_run(session, runtime, workers)
        times.append(time.perf_counter() - started)
    return statistics.median(times), outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    os.environ.setdefault("SUBMARINE_DATA_DIR", tempfile.mkdtemp(prefix="bench-limits-"))
    from traitlets.config import Config

    from submarine_kernel.session import Session

    config = Config()
    config.YarnRuntime.registry_dns_domain = "bench.example"  # a distributed YARN dry run needs one
    session = Session(config=config)
    rows = [("runtime", "workers", "outcome", "median s", "1-worker s", "ratio", "target", "ok")]
    failed = False
    try:
        for runtime, workers in CASES:
            base, _ = _seconds(session, runtime, 1, args.repeat)
            took, outcome = _seconds(session, runtime, workers, args.repeat)
            ratio = took / base if base else float("inf")
            expected = "refused" if workers > session.runtime(runtime).max_replicas else "dry run"
            ok = outcome == expected and took < 1.0
            failed = failed or not ok
            rows.append((runtime, f"{workers:g}" if workers > 10 ** 6 else str(workers), outcome, f"{took:.4f}",
                         f"{base:.4f}", f"{ratio:.1f}x", f"{expected}, < 1 s", "yes" if ok else "NO"))
    finally:
        session.close()
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
