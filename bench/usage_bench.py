"""The resource sampler's cost: the CPU time the local supervisor spent sampling a 2-replica job (its own
count, `sampler_cpu_seconds` in usage.json) against the CPU time that job's replicas used, in this process.

    python bench/usage_bench.py
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_table import Row, section  # noqa: E402

BURNER = Path(__file__).resolve().parents[1] / "tests" / "jobs" / "burner.py"
SECONDS = 20


def measure() -> dict:
    import submarine_kernel as sk
    from submarine_kernel.runtimes.local.data import LocalJobData
    from submarine_kernel.session import default_session, set_default_session

    os.environ["SUBMARINE_DATA_DIR"] = tempfile.mkdtemp(prefix="usage-bench-")
    set_default_session(None)
    session = default_session()
    try:
        job = sk.submit(f"python burner.py --mb 64 --seconds {SECONDS}", files={"burner.py": BURNER.read_text()},
                        name=f"usage-bench-{os.getpid()}", workers=2)
        status = job.wait(timeout=SECONDS * 6)
        if status.state.value != "SUCCEEDED":
            raise RuntimeError(f"the bench job ended {status.state.value}: {status.message}")
        job_dir = Path(LocalJobData.of(job.ref).dir)
        samples = json.loads((job_dir / "usage.json").read_text())
        replica_cpu = 0.0
        for log in (job_dir / "logs").glob("*.log"):
            found = re.search(r"cpu_seconds=([0-9.]+)", log.read_text())
            replica_cpu += float(found.group(1)) if found else 0.0
        points = sum(len(e["points"]) for e in samples["replicas"].values())
        return {"sampler_s": samples["sampler_cpu_seconds"], "job_s": replica_cpu, "points": points}
    finally:
        session.close()
        set_default_session(None)


@section("usage", "usage sampling")
def bench_usage(args) -> list[Row]:
    """bench/run.py's row: the sampler's CPU time against the job's."""
    result = measure()
    ratio = result["sampler_s"] / result["job_s"]
    return [Row("usage sampling", f"sampler CPU, 2 replicas x {SECONDS} s ({result['points']} samples)",
                f"{result['sampler_s'] * 1000:.0f} ms", f"{result['job_s']:.1f} s job CPU", f"{ratio:.4f}",
                "< 0.01", ratio < 0.01)]


def main() -> int:
    result = measure()
    print(f"sampler {result['sampler_s'] * 1000:.1f} ms CPU for {result['points']} samples; the job's replicas "
          f"{result['job_s']:.1f} s CPU; ratio {result['sampler_s'] / result['job_s']:.4%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
