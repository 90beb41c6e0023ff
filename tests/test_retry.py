"""Retries: bounded, visible, jittered, and never for user errors."""

from __future__ import annotations

import random

import pytest

from submarine_kernel.errors import TransientError, ValidationError
from submarine_kernel.retry import RetryPolicy
from submarine_kernel.job_types import JobRef, JobState, JobStatus
from submarine_kernel.runtimes.base import Runtime, register_runtime
from submarine_kernel.tracker import Tracker


def flaky(failures: int, error=ConnectionError("connection refused")):
    calls = {"n": 0}

    def func():
        calls["n"] += 1
        if calls["n"] <= failures:
            raise error
        return "done"
    return func, calls


def test_retries_until_success_and_reports_each_retry():
    func, calls = flaky(2)
    notices, sleeps = [], []
    assert RetryPolicy(attempts=5).call(func, "polling", on_retry=notices.append, sleep=sleeps.append) == "done"
    assert calls["n"] == 3 and len(sleeps) == 2
    assert notices[0].endswith("retrying 2/5") and notices[1].endswith("retrying 3/5")
    assert "ConnectionError: connection refused" in notices[0]


def test_gives_up_after_the_bound_with_a_clear_error():
    func, calls = flaky(10)
    with pytest.raises(TransientError, match=r"submitting j failed 3 times, last with: ConnectionError"):
        RetryPolicy(attempts=3).call(func, "submitting j", sleep=lambda s: None)
    assert calls["n"] == 3


def test_user_errors_are_not_retried():
    func, calls = flaky(1, ValidationError("bad name"))
    with pytest.raises(ValidationError):
        RetryPolicy().call(func, "submitting", sleep=lambda s: None)
    assert calls["n"] == 1


def test_backoff_is_jittered_and_capped():
    policy = RetryPolicy(base_delay=1, max_delay=4)
    rng = random.Random(7)
    delays = [policy.delay(attempt, rng) for attempt in range(1, 8) for _ in range(50)]
    assert all(0 <= d <= 4 for d in delays)
    assert len({round(d, 6) for d in delays}) > 300  # spread, not a fixed schedule
    assert max(policy.delay(1, rng) for _ in range(200)) <= 1


class BlinkingRuntime(Runtime):
    """Answers, then fails for a while, then answers again."""

    name = "blinking"
    script: list = []

    def poll(self, refs):
        outcome = self.script.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return {ref.key: JobStatus(outcome, outcome.value.lower()) for ref in refs}


def test_a_failing_poll_keeps_the_last_status_marked_stale_and_recovers():
    register_runtime("blinking", BlinkingRuntime)
    BlinkingRuntime.script[:] = [JobState.RUNNING, TransientError("503 Service Unavailable"),
                                 ConnectionError("reset"), JobState.SUCCEEDED]
    runtime = BlinkingRuntime()
    seen = []
    tracker = Tracker(lambda name: runtime, retry=RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.02))
    tracker.listen(lambda ref, status: seen.append(status))
    ref = JobRef("blinking", "j")
    with tracker._lock:
        tracker._refs[ref.key] = ref       # follow it without starting the thread: rounds are driven here
    for _ in range(4):
        tracker.poll_once()
    states = [(s.state, s.stale) for s in seen]
    assert states == [(JobState.RUNNING, False), (JobState.RUNNING, True), (JobState.RUNNING, True),
                      (JobState.SUCCEEDED, False)]
    assert seen[1].message.endswith("retrying 2/5") and "503 Service Unavailable" in seen[1].message
    assert seen[2].message.endswith("retrying 3/5")
    assert tracker.active == []
