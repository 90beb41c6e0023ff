"""Run the quickstart's training job many times in a row on the local runtime and print every failure.

    python bench/stress_quickstart.py             # 30 runs (target: 0 failures)
    python bench/stress_quickstart.py --runs 5

The job is the quickstart's own: its algorithm cells (collected from notebooks/quickstart.ipynb as
`submarine-kernel run` would), its data-preparation cell, its parameters and the launch command of its first
`%submarine run`, as a 2-replica PyTorch DDP job. Exit code 1 when any run failed.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"


def quickstart_job(notebook: Path) -> dict:
    """What the quickstart submits: files, launch command, params, input and checkpoint paths."""
    from submarine_kernel.algorithm import collect_notebook

    nb = nbformat.read(str(notebook), as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    parameters = next(c.source for c in code if "parameters" in c.metadata.get("tags", []))
    params = {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(parameters).body}
    prep = next(c.source for c in code if "data_path =" in c.source)
    namespace: dict = {}
    exec(prep, namespace)  # the notebook's own data preparation: a CSV in a fresh temporary folder
    run = next(c.source for c in code if c.source.startswith("%submarine run"))
    options, command = run.split(" -- ", 1)
    workers = int(re.search(r"--workers (\d+)", options).group(1))
    return {"files": collect_notebook(notebook).files, "command": command.strip(), "params": params,
            "workers": workers, "input_path": namespace["data_path"],
            "checkpoint_path": namespace["checkpoint_path"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="how many jobs to run in a row (default 30)")
    parser.add_argument("--notebook", default=str(NOTEBOOK), help="the notebook whose job to run")
    args = parser.parse_args(argv)

    os.environ.setdefault("SUBMARINE_DATA_DIR", tempfile.mkdtemp(prefix="submarine-stress-"))
    import submarine_kernel as sk

    job = quickstart_job(Path(args.notebook))
    print(f"{args.runs} runs of the quickstart job ({job['workers']} replicas): {job['command']}")
    failures = []
    durations = []
    for run in range(1, args.runs + 1):
        started = time.monotonic()
        submitted = sk.submit(job["command"], files=job["files"], name=f"stress-{os.getpid()}-{run}",
                              framework="pytorch", workers=job["workers"], params=job["params"],
                              input_path=job["input_path"], checkpoint_path=job["checkpoint_path"])
        status = submitted.wait(timeout=600)
        durations.append(time.monotonic() - started)
        if status.state.value != "SUCCEEDED":
            # the replica the runtime blames (the others were stopped because of it), else the first that failed
            blamed = [r for r in status.replicas if status.message.startswith(f"{r.name} ")]
            bad = blamed or [r for r in status.replicas if r.exit_code not in (0, None)] or status.replicas
            replica = bad[0]
            tail = submitted.logs(replica.name, tail=3).strip().splitlines()
            failures.append((run, status.state.value, replica.name, replica.exit_code, tail[-1] if tail else ""))
            print(f"run {run:>3}: {status.state.value} ({replica.name} exit {replica.exit_code}): "
                  f"{tail[-1] if tail else ''}", flush=True)
    median = sorted(durations)[len(durations) // 2]
    print()
    print("runs | failures | median run (s) | failure exit codes")
    print("-----|----------|----------------|-------------------")
    codes = ", ".join(sorted({str(f[3]) for f in failures})) or "-"
    print(f"{args.runs:>4} | {len(failures):>8} | {median:>14.2f} | {codes}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
