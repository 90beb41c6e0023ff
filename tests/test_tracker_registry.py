"""Tracker (one poll per runtime per round, listeners, stale statuses) and the SQLite registry."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from submarine_kernel.algorithm import Bundle
from submarine_kernel.errors import JobNotFound, RuntimeNotFound
from submarine_kernel.registry import Registry
from submarine_kernel.job_types import JobRef, JobState, JobStatus
from submarine_kernel.runtimes.base import Runtime, register_runtime, runtime_class, runtime_names
from submarine_kernel.secrets import REDACTED, is_secret_key, redact_mapping
from submarine_kernel.session import Session
from submarine_kernel.spec import build_spec
from submarine_kernel.tracker import Tracker

from core_support import wait_until


class FakeRuntime(Runtime):
    """Statuses come from a script per job; every poll call is recorded."""

    name = "fake"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls: list[list[str]] = []
        self.script: dict[str, list[JobState]] = {}
        self.fail_next = 0
        self.lock = threading.Lock()

    def prepare(self, spec, bundle, bundle_uri):
        return self.submission(spec, bundle, bundle_uri, spec.name, lambda: f"fake {spec.name}")

    def start(self, submission):
        self.script[f"{self.name}/{submission.spec.name}"] = [JobState.RUNNING, JobState.SUCCEEDED]
        return JobRef(self.name, submission.spec.name)

    def poll(self, refs):
        with self.lock:
            self.calls.append([ref.key for ref in refs])
            if self.fail_next:
                self.fail_next -= 1
                raise ConnectionError("cluster unreachable")
            out = {}
            for ref in refs:
                states = self.script.setdefault(ref.key, [JobState.RUNNING])
                state = states.pop(0) if len(states) > 1 else states[0]
                out[ref.key] = JobStatus(state, state.value.lower(), message=f"{ref.name} is {state.value}")
            return out

    def stop(self, ref):
        self.script[ref.key] = [JobState.STOPPED]


class OtherFakeRuntime(FakeRuntime):
    name = "fake-other"


@pytest.fixture
def fakes():
    register_runtime("fake", FakeRuntime)
    register_runtime("fake-other", OtherFakeRuntime)
    instances = {"fake": FakeRuntime(), "fake-other": OtherFakeRuntime()}
    return instances


def manual_tracker(instances, registry=None, interval=0.01):
    """A tracker whose rounds run only when the test calls poll_once (no thread)."""
    tracker = Tracker(instances.__getitem__, registry, interval=interval)
    tracker._ensure_thread = lambda: None
    return tracker


def test_runtime_registry_by_name(fakes):
    assert runtime_class("fake") is FakeRuntime
    assert {"local", "kubernetes", "yarn", "fake"} <= set(runtime_names())
    register_runtime("lazy-local", "submarine_kernel.runtimes.local:LocalRuntime")
    assert runtime_class("lazy-local").name == "local"
    with pytest.raises(RuntimeNotFound, match="unknown runtime 'nope': use one of .*local"):
        runtime_class("nope")
    register_runtime("broken", "no_such_module_xyz:Runtime")
    with pytest.raises(RuntimeNotFound, match="needs the package 'no_such_module_xyz'"):
        runtime_class("broken")


def test_one_poll_per_runtime_per_round_for_many_jobs(fakes):
    tracker = manual_tracker(fakes)
    for i in range(30):
        tracker.track(JobRef("fake", f"a{i}"))
    for i in range(20):
        tracker.track(JobRef("fake-other", f"b{i}"))
    for _ in range(3):
        tracker.poll_once()
    assert len(fakes["fake"].calls) == 3 and len(fakes["fake-other"].calls) == 3
    assert all(len(call) == 30 for call in fakes["fake"].calls)
    assert all(len(call) == 20 for call in fakes["fake-other"].calls)


def test_threaded_tracker_polls_every_job_in_one_call(fakes):
    calls = fakes["fake"].calls
    tracker = Tracker(fakes.__getitem__, interval=0.02)
    refs = [JobRef("fake", f"job{i}") for i in range(40)]
    with fakes["fake"].lock:  # hold the first round until every job is tracked
        for ref in refs:
            tracker.track(ref)
    try:
        wait_until(lambda: len(calls) >= 3, what="three rounds")
        assert all(len(call) == 40 for call in calls[1:])  # every round after the first: all jobs, one call
        assert len({len(call) for call in calls}) <= 2
    finally:
        tracker.close()


def test_listeners_get_changes_only_and_finished_jobs_leave(fakes):
    tracker = manual_tracker(fakes)
    ref = JobRef("fake", "j")
    fakes["fake"].script[ref.key] = [JobState.PENDING, JobState.RUNNING, JobState.RUNNING, JobState.RUNNING,
                                     JobState.SUCCEEDED]
    heard = []
    remove = tracker.listen(lambda r, s: heard.append((r.key, s.state)))
    tracker.track(ref, JobStatus(JobState.SUBMITTED))
    for _ in range(7):
        tracker.poll_once()
    assert heard == [("fake/j", JobState.PENDING), ("fake/j", JobState.RUNNING), ("fake/j", JobState.SUCCEEDED)]
    assert tracker.active == []
    assert len(fakes["fake"].calls) == 5  # no polling after the end
    assert tracker.last(ref).state == JobState.SUCCEEDED
    remove()
    tracker.track(JobRef("fake", "k"))
    tracker.poll_once()
    assert len(heard) == 3


def test_a_failing_listener_does_not_stop_the_others(fakes):
    tracker = manual_tracker(fakes)
    heard = []
    tracker.listen(lambda r, s: 1 / 0)
    tracker.listen(lambda r, s: heard.append(s.state))
    tracker.track(JobRef("fake", "x"))
    tracker.poll_once()
    assert heard == [JobState.RUNNING]


def test_failing_poll_keeps_last_status_marked_stale_and_recovers(fakes, tmp_path):
    registry = Registry(tmp_path / "r.sqlite")
    spec = build_spec("j", workers=1, command="x")
    ref = JobRef("fake", "j")
    registry.add(ref, spec, "file:///b", None, JobStatus(JobState.SUBMITTED))
    tracker = manual_tracker(fakes, registry, interval=1.0)
    fakes["fake"].script[ref.key] = [JobState.RUNNING, JobState.RUNNING, JobState.SUCCEEDED]
    heard: list[JobStatus] = []
    tracker.listen(lambda r, s: heard.append(s))
    tracker.track(ref)
    tracker.poll_once()
    assert heard[-1].state == JobState.RUNNING and not heard[-1].stale
    assert registry.get("j").state == "RUNNING"

    fakes["fake"].fail_next = 2
    assert 1.0 <= tracker.poll_once() <= tracker.retry.max_delay  # jittered backoff, never below the interval
    stale = heard[-1]
    assert stale.stale and stale.state == JobState.RUNNING
    assert "status unavailable (ConnectionError: cluster unreachable); retrying 2/5" == stale.message
    assert 1.0 <= tracker.poll_once() <= tracker.retry.max_delay
    assert heard[-1].message.endswith("retrying 3/5")
    assert registry.get("j").status.stale is False  # stale statuses are not recorded
    assert tracker.active == [ref]  # still followed

    assert tracker.poll_once() == 1.0
    assert heard[-1].state == JobState.RUNNING and not heard[-1].stale and heard[-1].message == "j is RUNNING"
    tracker.poll_once()
    assert heard[-1].state == JobState.SUCCEEDED
    assert registry.get("j").state == "SUCCEEDED"
    assert tracker.active == []


def test_failing_runtime_lookup_is_survived(fakes):
    def lookup(name):
        raise RuntimeNotFound(f"unknown runtime {name!r}")

    tracker = Tracker(lookup, interval=0.01)
    tracker._ensure_thread = lambda: None
    heard = []
    tracker.listen(lambda r, s: heard.append(s))
    tracker.track(JobRef("gone", "j"), JobStatus(JobState.RUNNING))
    tracker.poll_once()
    assert heard[-1].stale and "unknown runtime 'gone'" in heard[-1].message


def test_threaded_tracker_follows_to_the_end(fakes):
    tracker = Tracker(fakes.__getitem__, interval=0.01)
    done = threading.Event()
    tracker.listen(lambda r, s: s.terminal and done.set())
    tracker.track(JobRef("fake", "t"))
    fakes["fake"].script["fake/t"] = [JobState.RUNNING, JobState.SUCCEEDED]
    assert done.wait(60)
    tracker.close()


# -- registry ------------------------------------------------------------------------------------------
def test_registry_file_is_private(isolated_data_dir):
    registry = Registry()
    assert registry.list() == []  # opened on first use (so a damaged file never breaks %load_ext)
    assert registry.path == isolated_data_dir / "registry.sqlite"
    assert stat.S_IMODE(os.stat(registry.path).st_mode) == 0o600


def test_registry_round_trip_and_order(tmp_path):
    registry = Registry(tmp_path / "reg.sqlite")
    spec = build_spec("first", framework="tensorflow", workers=2, ps=1, command="python t.py {lr}",
                      params={"lr": 0.1}, resources="memory=1G")
    registry.add(JobRef("fake", "first", "id1", {"dir": "/x"}), spec, "file:///b/1", "nb.ipynb",
                 JobStatus(JobState.SUBMITTED))
    registry.add(JobRef("fake", "second"), spec.replace(name="second"), None, None, JobStatus(JobState.SUBMITTED))
    again = Registry(tmp_path / "reg.sqlite")  # another process would open it the same way
    record = again.get("first")
    assert record.spec == spec
    assert record.ref == JobRef("fake", "first", "id1", {"dir": "/x"})
    assert record.bundle_uri == "file:///b/1" and record.notebook == "nb.ipynb" and record.params == {"lr": 0.1}
    assert [r.ref.name for r in again.list()] == ["second", "first"]
    assert [r.ref.name for r in again.list(notebook="nb.ipynb")] == ["first"]
    again.update_status(JobRef("fake", "second"), JobStatus(JobState.FAILED, message="boom"))
    assert [r.ref.name for r in again.list(active_only=True)] == ["first"]
    assert again.get("second").status.message == "boom"
    again.remove(JobRef("fake", "second"))
    with pytest.raises(JobNotFound, match="no job named 'second' in the registry"):
        again.get("second")


def test_secrets_in_env_and_params_are_redacted_in_the_registry(tmp_path, fakes):
    session = Session(registry=Registry(tmp_path / "reg.sqlite"))
    session.tracker._ensure_thread = lambda: None
    env = {"HF_TOKEN": "hf_supersecret1", "AWS_SECRET_ACCESS_KEY": "awssupersecret2", "DB_PASSWORD": "pw-secret3",
           "PLAIN": "visible-value"}
    spec = session.build("python t.py", runtime="fake", name="sec", workers=2, env=env,
                         params={"api_key": "paramsecret4", "lr": 0.1})
    session.submit(spec, Bundle({"t.py": b"print(1)"}), runtime="fake")
    record = session.registry.get("sec")
    assert record.spec.env == {"HF_TOKEN": REDACTED, "AWS_SECRET_ACCESS_KEY": REDACTED, "DB_PASSWORD": REDACTED,
                               "PLAIN": "visible-value"}
    assert record.params == record.spec.params == {"api_key": REDACTED, "lr": 0.1}
    raw = (tmp_path / "reg.sqlite").read_bytes()
    for secret in ("hf_supersecret1", "awssupersecret2", "pw-secret3", "paramsecret4"):
        assert secret.encode() not in raw, secret
    assert b"visible-value" in raw
    session.close()


@pytest.mark.parametrize("key, secret", [("HF_TOKEN", True), ("AWS_SECRET_ACCESS_KEY", True), ("password", True),
                                         ("api-key", True), ("LEARNING_RATE", False), ("PATH", False)])
def test_secret_keys(key, secret):
    assert is_secret_key(key) is secret


def test_redact_mapping_is_recursive():
    assert redact_mapping({"a": {"token": "x", "b": 1}, "c": 2}) == {"a": {"token": REDACTED, "b": 1}, "c": 2}
