"""A real distributed job: 2-replica PyTorch DDP (gloo, CPU) through the local runtime."""

from __future__ import annotations

import json

import pytest

import submarine_kernel as sk
from submarine_kernel.job_types import JobState

from core_support import job_file, stop_leftovers, unique  # noqa: F401 (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("stop_leftovers")]

pytest.importorskip("torch")


def test_ddp_two_replicas_end_with_identical_trained_parameters(tmp_path):
    out = tmp_path / "params"
    out.mkdir()
    job = sk.submit("python ddp_train.py", files={"ddp_train.py": job_file("ddp_train.py")}, name=unique("ddp"),
                    framework="pytorch", workers=2, params={"out": str(out), "steps": 5})
    status = job.wait(timeout=240)
    logs = {r.name: job.logs(r.name) for r in status.replicas}
    assert status.state == JobState.SUCCEEDED, (status.message, logs)
    assert "rank 0 done" in logs["master-0"] and "rank 1 done" in logs["worker-0"]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["steps"] == ranks[1]["steps"] == 5
    # each rank built its own random model, and DDP made them one: rank 0's
    assert ranks[0]["own"] != ranks[1]["own"]
    assert ranks[0]["initial"] == ranks[1]["initial"] == ranks[0]["own"]
    final0, final1 = ranks[0]["final"], ranks[1]["final"]
    assert len(final0) == len(final1) == 8 * 16 + 16 + 16 + 1
    assert final0 == pytest.approx(final1, abs=1e-6)  # identical: the gradients were all-reduced
    moved = max(abs(a - b) for a, b in zip(final0, ranks[0]["initial"]))
    assert moved > 1e-3  # and training really changed them
