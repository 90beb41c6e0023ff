"""Early stopping's saving: the same grid sweep of 2-replica local jobs run without stopping and with median
stopping, in this process; prints the replica-seconds each used and whether the best trial was still found.

    python bench/sweep_bench.py

Each trial's loss curve depends only on its lr (parallel curves shifted by |lr - 0.3|), so the best trial is
known: lr=0.3. Replica-seconds are each replica's own start-to-end time as its runtime recorded it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_table import Row, section  # noqa: E402

STEPS = 8
TRAIN = f"""
import sys, time
import submarine_kernel as sk
lr = float(sys.argv[1])
for step in range(1, {STEPS + 1}):
    time.sleep(0.5)
    sk.report(step=step, loss=abs(lr - 0.3) + 1.0 / step)
"""
GRID = [0.3, 0.25, 0.9, 0.6, 0.4, 1.0]  # 6 trials of 2 replicas each


def replica_seconds(record) -> float:
    from submarine_kernel import render

    total = 0.0
    for replica in record.status.replicas:
        start, end = render.parse_time(replica.started), render.parse_time(replica.finished)
        if start and end:
            total += (end - start).total_seconds()
    return total


def run_sweep(stop: str) -> dict:
    import submarine_kernel as sk
    from submarine_kernel.session import default_session, set_default_session

    os.environ["SUBMARINE_DATA_DIR"] = tempfile.mkdtemp(prefix=f"sweep-bench-{stop}-")
    set_default_session(None)
    session = default_session()
    began = time.monotonic()
    sweep = sk.submit_sweep("python train.py {lr}", files={"train.py": TRAIN}, workers=2, grid={"lr": GRID},
                            metric="loss", stop=stop, concurrency=2, wait=True, timeout=600)
    wall = time.monotonic() - began
    records = [session.registry.get(job.name) for job in sweep.jobs]
    best_job, best_value = sweep.early_stopping.best()
    result = {"stop": stop, "wall_s": wall, "replica_s": sum(replica_seconds(r) for r in records),
              "pruned": sum(1 for s in sweep.finished.values() if s == "PRUNED"),
              "best_lr": session.registry.get(best_job.name).params["lr"], "best_loss": best_value}
    session.close()
    set_default_session(None)
    return result


@section("sweep", "early stopping")
def bench_sweep(args) -> list[Row]:
    """bench/run.py's row: replica-seconds with median stopping against the same sweep without."""
    full, stopped = run_sweep("none"), run_sweep("median")
    found = stopped["best_lr"] == full["best_lr"] == 0.3
    return [Row("early stopping", "replica-seconds, 6 trials x 2 replicas", f"{stopped['replica_s']:.0f} s",
                f"{full['replica_s']:.0f} s without stopping", f"{stopped['replica_s'] / full['replica_s']:.2f}",
                "< 1, same best trial", stopped["replica_s"] < full["replica_s"] and found)]


def main() -> int:
    full, stopped = run_sweep("none"), run_sweep("median")
    for r in (full, stopped):
        print(f"{r['stop']:>6}: {r['replica_s']:6.1f} replica-s, wall {r['wall_s']:5.1f} s, {r['pruned']} pruned, "
              f"best lr={r['best_lr']} (loss {r['best_loss']:.4g})")
    saved = 1 - stopped["replica_s"] / full["replica_s"]
    print(f"median stopping saved {saved:.0%} of the replica-seconds; best trial found: "
          f"{stopped['best_lr'] == full['best_lr'] == 0.3}")
    return 0 if stopped["best_lr"] == full["best_lr"] else 1


if __name__ == "__main__":
    sys.exit(main())
