"""submarine-kernel benchmarks: one command, one table, ratios against a baseline measured in the same run.

    python bench/run.py                 # everything
    python bench/run.py --only load,submit --repeat 3

Each section measures the project and its baseline back to back on this machine, so ratios hold even when
absolute numbers drift between machines.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))   # test peers (YARN server, kmock helpers) live with the tests


@dataclass
class Row:
    section: str
    metric: str
    value: str
    baseline: str
    ratio: str
    target: str
    ok: bool | None


SECTIONS: dict[str, Callable[[argparse.Namespace], list[Row]]] = {}


def section(name: str):
    def register(func):
        SECTIONS[name] = func
        return func
    return register


def _kernel(name: str, env: dict):
    from jupyter_client.manager import KernelManager

    from submarine_kernel.kernelspec import spec_manager

    km = KernelManager(kernel_name=name, kernel_spec_manager=spec_manager())
    km.start_kernel(env=env)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return km, kc


def _timed_execute(kc, code: str) -> float:
    start = time.perf_counter()
    reply = kc.execute_interactive(code, timeout=600, output_hook=lambda msg: None)
    elapsed = time.perf_counter() - start
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"benchmark cell failed: {code!r}: {reply['content'].get('evalue')}")
    return elapsed


@section("load")
def bench_extension_load(args) -> list[Row]:
    """`%load_ext submarine_kernel` in a fresh kernel vs a trivial cell in the same kind of fresh kernel."""
    loaded, bare = [], []
    env = {**os.environ, "SUBMARINE_DATA_DIR": args.data_dir}
    for _ in range(args.repeat):
        km, kc = _kernel("python3", env)
        try:
            _timed_execute(kc, "pass")                     # warm the execute path itself
            bare.append(_timed_execute(kc, "import json"))
            loaded.append(_timed_execute(kc, "%load_ext submarine_kernel"))
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    added_ms = (statistics.median(loaded) - statistics.median(bare)) * 1000
    return [Row("extension load", "%load_ext added (median)", f"{added_ms:.0f} ms",
                f"{statistics.median(bare) * 1000:.0f} ms bare cell", "", "< 150 ms", added_ms < 150)]


DDP_SCRIPT = textwrap.dedent("""
    import torch, torch.distributed as dist
    dist.init_process_group("gloo")
    t = torch.ones(4) * (dist.get_rank() + 1)
    dist.all_reduce(t)
    assert t[0].item() == sum(range(1, dist.get_world_size() + 1))
    dist.destroy_process_group()
""")


@section("submit")
def bench_local_submit(args) -> list[Row]:
    """A trivial 2-replica DDP job through `%submarine run --wait` vs the same script under torchrun."""
    work = Path(tempfile.mkdtemp(prefix="bench-submit-"))
    script = work / "ddp.py"
    script.write_text(DDP_SCRIPT)
    torchrun = shutil.which("torchrun")
    if torchrun is None:
        return [Row("local submit", "skipped", "torch is not installed", "", "", "", None)]
    env = {**os.environ, "SUBMARINE_DATA_DIR": args.data_dir}
    ours, theirs = [], []
    km, kc = _kernel("submarine", env)
    try:
        _timed_execute(kc, f"%%submarine.python ddp.py --no-local\n{DDP_SCRIPT}")
        for i in range(args.repeat):
            start = time.perf_counter()
            subprocess.run([torchrun, "--nproc_per_node", "2", str(script)], check=True, cwd=work,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            theirs.append(time.perf_counter() - start)
            ours.append(_timed_execute(kc, f"%submarine run --name bench-ddp-{os.getpid()}-{i} --workers 2 --wait "
                                           "-- python ddp.py"))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        shutil.rmtree(work, ignore_errors=True)
    ratio = statistics.median(ours) / statistics.median(theirs)
    return [Row("local submit", "2-replica DDP, wall time (median)", f"{statistics.median(ours):.2f} s",
                f"{statistics.median(theirs):.2f} s torchrun", f"{ratio:.2f}", "<= 1.2", ratio <= 1.2)]


def print_table(rows: list[Row]) -> None:
    headers = ["section", "metric", "value", "baseline", "ratio", "target", "ok"]
    cells = [[r.section, r.metric, r.value, r.baseline, r.ratio, r.target,
              "" if r.ok is None else ("yes" if r.ok else "NO")] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = " | ".join(h.ljust(w) for h, w in zip(headers, widths))
    print(line)
    print("-|-".join("-" * w for w in widths))
    for c in cells:
        print(" | ".join(v.ljust(w) for v, w in zip(c, widths)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per measurement (median is kept)")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(SECTIONS)
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}: use {', '.join(SECTIONS)}")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="submarine-bench-") as data_dir:
        args.data_dir = data_dir
        os.environ["SUBMARINE_DATA_DIR"] = data_dir
        for name in chosen:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            rows += SECTIONS[name](args)
    print_table(rows)
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
