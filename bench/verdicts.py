"""Many short local jobs at once beside two busy loops: every one must end with the right verdict.

    python bench/verdicts.py                 # 200 jobs (target: 0 wrong)
    python bench/verdicts.py --jobs 40

The scenarios (tests/verdict_support.py, which tests/test_local_verdicts.py runs with 20 jobs): replicas that
fail together (`python missing.py`), workers that succeed before their master fails, everyone succeeding, a
worker failing first. A job is wrong when its state or message is not the expected one, or when a replica
ends non-terminal, without an exit code, or in a state its exit code contradicts. Exit code 1 when any is.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the scenarios live with the tests

from verdict_support import busy_loops, run_scenarios  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs in all (default 200)")
    parser.add_argument("--batch", type=int, default=20, help="jobs submitted at once (default 20)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        os.environ["SUBMARINE_DATA_DIR"] = data
        os.environ["SUBMARINE_RUNTIME"] = "local"
        os.environ.pop("SUBMARINE_STORAGE_ROOT", None)
        started, wrong = time.monotonic(), {}
        with busy_loops(2):
            for first in range(0, args.jobs, args.batch):
                wrong.update(run_scenarios(min(args.batch, args.jobs - first)))
        for name, problems in wrong.items():
            print(f"{name}: {'; '.join(problems)}")
        print(f"{args.jobs} jobs beside 2 busy loops: {len(wrong)} wrong ({time.monotonic() - started:.0f} s)")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
