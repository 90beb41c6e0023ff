"""submarine-kernel benchmarks: one command, one table, ratios against a baseline measured in the same run.

    python bench/run.py                 # everything
    python bench/run.py --only load,submit --repeat 3
    python bench/run.py --only tracking,storage
    python bench/run.py --only kubernetes   # a real kube-apiserver (built from Go modules on first use)

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
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(BENCH), str(REPO / "tests")]  # the sections beside this script; test peers with the tests

from bench_table import LABELS, SECTIONS, Row, print_table, run_section, section  # noqa: E402
from core_support import installed_command  # noqa: E402
from kernel_timing import start_kernel, timed_execute  # noqa: E402

__all__ = ["LABELS", "SECTIONS", "Row", "main", "print_table", "run_section", "section"]


@section("load", "extension load")
def bench_extension_load(args) -> list[Row]:
    """`%load_ext submarine_kernel` in a fresh kernel vs a trivial cell in the same kind of fresh kernel."""
    loaded, bare = [], []
    env = {**os.environ, "SUBMARINE_DATA_DIR": args.data_dir}
    for _ in range(args.repeat):
        km, kc = start_kernel("python3", env)
        try:
            timed_execute(kc, "pass")                     # warm the execute path itself
            bare.append(timed_execute(kc, "import json"))
            loaded.append(timed_execute(kc, "%load_ext submarine_kernel"))
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


@section("submit", "local submit")
def bench_local_submit(args) -> list[Row]:
    """A trivial 2-replica DDP job through `%submarine run --wait` vs the same script under torchrun."""
    torchrun = installed_command("torchrun")
    if torchrun is None:
        return [Row("local submit", "skipped", "torch is not installed: pip install torch==2.13.0",
                    "", "", "", None)]
    work = Path(tempfile.mkdtemp(prefix="bench-submit-"))
    script = work / "ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "SUBMARINE_DATA_DIR": args.data_dir}
    ours, theirs = [], []
    km, kc = start_kernel("submarine", env)
    try:
        timed_execute(kc, f"%%submarine.python ddp.py --no-local\n{DDP_SCRIPT}")
        for i in range(args.repeat):
            start = time.perf_counter()
            subprocess.run([torchrun, "--nproc_per_node", "2", str(script)], check=True, cwd=work,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            theirs.append(time.perf_counter() - start)
            ours.append(timed_execute(kc, f"%submarine run --name bench-ddp-{os.getpid()}-{i} --workers 2 --wait "
                                           "-- python ddp.py"))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        shutil.rmtree(work, ignore_errors=True)
    ratio = statistics.median(ours) / statistics.median(theirs)
    return [Row("local submit", "2-replica DDP, wall time (median)", f"{statistics.median(ours):.2f} s",
                f"{statistics.median(theirs):.2f} s torchrun", f"{ratio:.2f}", "<= 1.2", ratio <= 1.2)]


import tracking_bench  # noqa: E402,F401 (registers the tracking section, after load and submit)
import storage_bench  # noqa: E402,F401 (registers the storage section)
import kubernetes_bench  # noqa: E402,F401 (registers the kubernetes section: a real API server)
import hadoop_bench  # noqa: E402,F401 (registers the real-Hadoop section)
import sweep_bench  # noqa: E402,F401 (registers the early-stopping section)
import usage_bench  # noqa: E402,F401 (registers the usage-sampling section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per measurement (median is kept)")
    parser.add_argument("--traceback", action="store_true", help="print the traceback of a section that fails")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(SECTIONS)
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}: use {', '.join(SECTIONS)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="submarine-bench-") as data_dir:
        args.data_dir = data_dir
        os.environ["SUBMARINE_DATA_DIR"] = data_dir
        pending = list(chosen)
        try:
            while pending:
                print(f"running {pending[0]} ...", file=sys.stderr, flush=True)
                rows += run_section(pending[0], args, args.traceback)
                pending.pop(0)
        except KeyboardInterrupt:  # the figures measured so far are still worth a table
            rows += [Row(LABELS[name], "not measured", "interrupted", "", "", "runs", False) for name in pending]
    print(file=sys.stderr, flush=True)  # a progress bar (storage uploads) leaves its line open on a terminal
    print_table(rows)
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
