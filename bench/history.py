"""How the run history (runs table + chart) scales: 500 runs with 100 reported points each.

    python bench/history.py               # 500 runs
    python bench/history.py --runs 2000 --repeat 5

The baseline is reading the same rows from the registry (`Registry.list`), measured in this process on
this machine; every figure is printed in seconds and as a multiple of it. No widget frontend is needed:
ipywidgets builds the same models without one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(action, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fill(session, runs: int, points: int) -> None:
    from submarine_kernel.request import RunRequest
    from submarine_kernel.job_types import JobRef, JobState, JobStatus

    spec = RunRequest(command="python train.py --lr {lr}", params={"lr": 0.1, "opt": "sgd"}).build(session)
    for i in range(runs):
        ref = JobRef("local", f"bench-{i:05d}")
        moment = f"2026-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}+00:00"
        state = JobState.FAILED if i % 17 == 0 else JobState.SUCCEEDED
        params = {"lr": round(0.001 * (i % 100 + 1), 4), "opt": ("sgd", "adam")[i % 2]}
        session.registry.add(ref, spec.replace(name=ref.name, params=params), None, session.notebook,
                             JobStatus(state, submitted=moment, started=moment, finished=moment))
        session.registry.add_metrics(ref, [{"step": s, "loss": 1 / (s + 1 + i % 7), "acc": s / points}
                                           for s in range(points)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--points", type=int, default=100, help="reported points per run")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ["SUBMARINE_DATA_DIR"] = tempfile.mkdtemp(prefix="submarine-bench-history-")
    from submarine_kernel.session import Session
    from submarine_kernel.widgets.history import RunHistory

    session = Session()
    fill(session, args.runs, args.points)
    baseline = timed(lambda: session.registry.list(notebook=session.notebook, limit=args.runs), args.repeat)
    view = RunHistory(session, limit=args.runs)
    table = view.table
    picks = [[r.key for r in view.rows[:5]], [r.key for r in view.rows[5:10]]]

    def pick():  # alternate, so every repeat draws a new chart
        picks.reverse()
        view.select(picks[0])

    def filter_and_sort():
        table.filter.value = "opt=adam, lr>0.02, loss.min<0.2"
        table.sort.value = "loss"
        table.filter.value = ""
        table.sort.value = "submitted"
    figures = [
        ("registry read (baseline)", baseline),
        ("open the history", timed(lambda: RunHistory(session, limit=args.runs).close(), args.repeat)),
        ("refresh (tracker event)", timed(view.refresh, args.repeat)),
        ("filter + sort, twice each", timed(filter_and_sort, args.repeat)),
        ("pick 5 runs, redraw chart", timed(pick, args.repeat)),
        ("next page", timed(lambda: table.go(table.page + 1), args.repeat)),
    ]
    view.close()
    print(f"history with {args.runs} runs x {args.points} points (median of {args.repeat})")
    print(f"{'figure':<28} {'seconds':>9} {'x baseline':>11}")
    for name, seconds in figures:
        print(f"{name:<28} {seconds:>9.4f} {seconds / baseline if baseline else float('nan'):>11.1f}")


if __name__ == "__main__":
    main()
