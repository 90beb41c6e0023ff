"""The failure hint names the log that explains the failure: the replica that failed, not the deciding one."""

from __future__ import annotations

import pytest

from kernel_support import errors, execute
from submarine_kernel import hints
from submarine_kernel.job_types import JobState, JobStatus, ReplicaStatus


def _status(*replicas: tuple[str, JobState, str | None]) -> JobStatus:
    return JobStatus(JobState.FAILED, "failed", message="why", replicas=[
        ReplicaStatus(name, name.rsplit("-", 1)[0], int(name.rsplit("-", 1)[1]), state=state, finished=finished)
        for name, state, finished in replicas])


def test_the_first_replica_to_fail_is_named():
    status = _status(("master-0", JobState.STOPPED, "2026-01-01T00:00:09+00:00"),
                     ("worker-0", JobState.FAILED, "2026-01-01T00:00:05+00:00"),
                     ("worker-1", JobState.FAILED, "2026-01-01T00:00:03+00:00"))
    assert hints.failed_replica(status) == "worker-1"
    assert hints.logs_command("j", status, hints.SHELL) == "submarine-kernel logs j --replica worker-1"
    assert hints.ended_message("j", status) == "job j ended FAILED: why (%submarine logs j --replica worker-1)"


def test_ties_and_unknown_end_times_keep_the_runtime_order():
    same = "2026-01-01T00:00:05+00:00"
    assert hints.failed_replica(_status(("master-0", JobState.FAILED, same), ("worker-0", JobState.FAILED, same))) \
        == "master-0"
    assert hints.failed_replica(_status(("worker-0", JobState.FAILED, None), ("worker-1", JobState.FAILED, same))) \
        == "worker-1"


def test_no_failed_replica_gives_the_plain_command():
    stopped = JobStatus(JobState.STOPPED, "stopped", message="stopped on request",
                        replicas=[ReplicaStatus("worker-0", "worker", 0, state=JobState.STOPPED)])
    assert hints.failed_replica(stopped) is None and hints.failed_replica(None) is None
    assert hints.ended_message("j", stopped) == "job j ended STOPPED: stopped on request (%submarine logs j)"


@pytest.mark.slow
def test_run_wait_names_the_failed_worker_not_the_healthy_master(tmp_path):
    nb = execute(
        "%%submarine.python job.py --no-local\n"
        "import os, sys, time\n"
        "if os.environ['SUBMARINE_ROLE'] == 'worker':\n"
        "    sys.exit(3)\n"
        "time.sleep(60)",
        "%submarine run --name hint-job --framework pytorch --workers 2 --wait -- python job.py",
        "%submarine logs hint-job --replica worker-0",
        tmp_path=tmp_path)
    assert errors(nb.cells[1]) == ["UsageError: job hint-job ended FAILED: worker-0 exited with code 3 "
                                   "(%submarine logs hint-job --replica worker-0)"]
    assert errors(nb.cells[2]) == []
