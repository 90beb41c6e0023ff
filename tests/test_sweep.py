"""Sweep expansion (pure) and the scheduler that keeps N runs in flight, driven by tracker events."""

from __future__ import annotations

import pytest

from submarine_kernel.errors import ValidationError
from submarine_kernel.params import ParamDecl
from submarine_kernel.job_types import JobRef, JobState, JobStatus
from submarine_kernel.sweep import Range, SweepScheduler, expand, grid, parse_random_space, random_search

DECLS = {"lr": ParamDecl("lr", 0.1, minimum=0.0, maximum=1.0), "epochs": ParamDecl("epochs", 3),
         "opt": ParamDecl("opt", "sgd", choices=("sgd", "adam")), "tag": ParamDecl("tag", "x")}


def test_grid_crosses_every_axis_first_axis_slowest():
    assert grid({"a": [1, 2], "b": ["x", "y"]}) == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"},
                                                    {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]
    with pytest.raises(ValidationError, match="more than 3"):
        grid({"a": [1, 2], "b": [1, 2]}, limit=3)


def test_expand_grid_keeps_base_values_and_types_values_by_their_param():
    runs = expand("grid", {"lr": "0.01, 0.1", "epochs": "1,2", "opt": "", "tag": "  "}, DECLS,
                  {"lr": 0.5, "epochs": 3, "opt": "adam", "tag": "x"})
    assert runs == [{"lr": 0.01, "epochs": 1, "opt": "adam", "tag": "x"},
                    {"lr": 0.01, "epochs": 2, "opt": "adam", "tag": "x"},
                    {"lr": 0.1, "epochs": 1, "opt": "adam", "tag": "x"},
                    {"lr": 0.1, "epochs": 2, "opt": "adam", "tag": "x"}]
    assert expand("grid", {"epochs": "2, 2, 3"}, DECLS, {"epochs": 1}) == [{"epochs": 2}, {"epochs": 3}]


def test_expand_reports_every_problem_of_every_field_at_once():
    with pytest.raises(ValidationError) as caught:
        expand("grid", {"lr": "0.1, 2, abc", "epochs": "1.5", "opt": "rmsprop", "nope": "1"}, DECLS, {})
    problems = caught.value.problems
    assert "param lr=2.0 is above its maximum 1" in problems
    assert "param lr='abc' is not a number" in problems
    assert "param epochs='1.5' is not a whole number" in problems
    assert "param opt='rmsprop' is not one of sgd, adam" in problems
    assert "cannot sweep 'nope': it is not a parameter of this form" in problems
    with pytest.raises(ValidationError, match="nothing to sweep"):
        expand("grid", {"lr": ""}, DECLS, {"lr": 0.1})
    with pytest.raises(ValidationError, match="unknown sweep mode 'bayes'"):
        expand("bayes", {"lr": "0.1"}, DECLS, {})


def test_random_ranges_and_choices():
    assert parse_random_space("0.001..0.5", DECLS["lr"]) == Range(0.001, 0.5)
    assert parse_random_space("log:1e-4..1e-1", DECLS["lr"]) == Range(1e-4, 1e-1, log=True)
    assert parse_random_space("1..5", DECLS["epochs"]) == Range(1, 5, integer=True)
    assert parse_random_space("sgd, adam", DECLS["opt"]) == ["sgd", "adam"]
    for text, message in [("0.5..0.1", "is empty: put the lower bound first"), ("0..2", "above its maximum"),
                          ("log:0..0.1", "log range must be above 0"), ("a..b", "ranges look like")]:
        with pytest.raises(ValidationError, match=message):
            parse_random_space(text, DECLS["lr"])
    with pytest.raises(ValidationError, match="has no range"):
        parse_random_space("a..b", DECLS["tag"])


def test_random_search_is_reproducible_and_inside_its_space():
    space = {"lr": Range(1e-4, 1e-1, log=True), "epochs": Range(1, 3, integer=True), "opt": ["sgd", "adam"]}
    draws = random_search(space, 20, seed=7)
    assert draws == random_search(space, 20, seed=7) and len(draws) == 20
    assert all(1e-4 <= d["lr"] <= 1e-1 and d["epochs"] in (1, 2, 3) and d["opt"] in ("sgd", "adam")
               for d in draws)
    assert isinstance(draws[0]["epochs"], int)
    runs = expand("random", {"lr": "0.01..0.02"}, DECLS, {"lr": 0.1, "epochs": 3}, samples=3, seed=1)
    assert len(runs) == 3 and all(0.01 <= r["lr"] <= 0.02 and r["epochs"] == 3 for r in runs)
    with pytest.raises(ValidationError, match="1 to 200 samples, not 0"):
        random_search(space, 0)


class FakeTracker:
    """The part of Tracker the scheduler uses; `end(ref)` plays a status event."""

    def __init__(self):
        self.listeners = []
        self.statuses = {}

    def listen(self, listener):
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def last(self, ref):
        return self.statuses.get(ref.key)

    def end(self, ref, state=JobState.SUCCEEDED):
        self.statuses[ref.key] = JobStatus(state)
        for listener in list(self.listeners):
            listener(ref, self.statuses[ref.key])


class FakeJob:
    def __init__(self, number):
        self.ref = JobRef("local", f"run-{number}")


def test_scheduler_keeps_the_limit_and_submits_the_next_when_one_ends():
    tracker, submitted = FakeTracker(), []

    def submit(params):
        if params["lr"] == "bad":
            from submarine_kernel.errors import SubmarineError

            raise SubmarineError("refused")
        submitted.append(params)
        return FakeJob(len(submitted))

    changes = []
    runs = [{"lr": 1}, {"lr": 2}, {"lr": "bad"}, {"lr": 3}, {"lr": 4}]
    scheduler = SweepScheduler(tracker, runs, submit, limit=2, on_change=lambda s: changes.append(s.summary()))
    scheduler.start()
    assert [p["lr"] for p in submitted] == [1, 2]                  # only the limit goes out
    tracker.statuses["local/run-1"] = JobStatus(JobState.RUNNING)  # a status that is not an end changes nothing
    tracker.listeners[0](JobRef("local", "run-1"), JobStatus(JobState.RUNNING))
    assert len(submitted) == 2
    tracker.end(scheduler.jobs[0].ref)
    assert [p["lr"] for p in submitted] == [1, 2, 3]               # the bad run was skipped and recorded
    assert scheduler.errors == ["run {'lr': 'bad'}: refused"]
    tracker.end(JobRef("local", "someone-else"))                   # other jobs' events are ignored
    assert len(submitted) == 3
    tracker.end(scheduler.jobs[1].ref, JobState.FAILED)
    tracker.end(scheduler.jobs[2].ref)
    tracker.end(scheduler.jobs[3].ref)
    assert scheduler.done and len(submitted) == 4 and not tracker.listeners  # it stops listening when done
    assert scheduler.summary() == "sweep: 4/5 submitted, 0 running, 1 FAILED, 3 SUCCEEDED, 1 not submitted"
    assert changes and changes[-1] == scheduler.summary()


def test_scheduler_counts_a_job_that_ended_before_it_was_recorded():
    tracker = FakeTracker()

    def submit(params):
        job = FakeJob(params["n"])
        tracker.statuses[job.ref.key] = JobStatus(JobState.SUCCEEDED)  # ended during submit
        return job

    scheduler = SweepScheduler(tracker, [{"n": 1}, {"n": 2}, {"n": 3}], submit, limit=1).start()
    assert scheduler.done and scheduler.submitted == 3
    with pytest.raises(ValidationError, match="1 or more"):
        SweepScheduler(tracker, [], submit, limit=0)
