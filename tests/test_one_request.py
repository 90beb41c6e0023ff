"""One request type, one builder, one check: the magics, the Python API and the form build a RunRequest the same
way, a declared param's bounds hold on every path, and a submit checks its spec exactly once."""

from __future__ import annotations

import re

import pytest

import submarine_kernel as sk
from submarine_kernel import params
from submarine_kernel.errors import ValidationError, field_of
from submarine_kernel.job_types import JobState
from submarine_kernel.request import RunRequest
from submarine_kernel.runtimes.base import register_runtime
from submarine_kernel.runtimes.local import LocalRuntime
from submarine_kernel.session import default_session

from core_support import TIMEOUT, stop_leftovers, unique  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("stop_leftovers")


class CountingRuntime(LocalRuntime):
    """The local runtime, counting how often a spec is checked against its rules."""

    name = "counting-local"
    checks = 0

    def check(self, spec):
        type(self).checks += 1
        return super().check(spec)


@pytest.fixture
def counting():
    register_runtime(CountingRuntime.name, CountingRuntime)
    CountingRuntime.checks = 0
    return CountingRuntime


def declare_lr_at_most_one(session):
    session.params["lr"] = params.declare("lr", "0.1", None, None, "1")


def test_a_declared_bound_is_refused_the_same_way_by_the_api_the_form_and_a_dry_run():
    session = default_session()
    declare_lr_at_most_one(session)
    request = RunRequest(command="python t.py --lr {lr}", params={"lr": "5"})
    with pytest.raises(ValidationError) as built:
        session.build(request, dry_run=True)  # what `%submarine run --dry-run -p lr 5` builds
    assert "param lr=5.0 is above its maximum 1" in str(built.value)
    assert session.check(request) == built.value.problems  # the form's check, word for word
    with pytest.raises(ValidationError, match="above its maximum 1"):
        sk.submit("python t.py --lr {lr}", files={"t.py": "pass\n"}, params={"lr": 5}, dry_run=True)


def test_keywords_and_a_request_build_the_same_spec():
    session = default_session()
    by_keywords = session.build("python t.py", name="same-spec", workers=2, resources="memory=1G,vcores=1",
                                params={"epochs": 2}, dry_run=True)
    by_request = session.build(RunRequest(command="python t.py", name="same-spec", workers=2,
                                          resources="memory=1G,vcores=1", params={"epochs": 2}), dry_run=True)
    assert by_keywords == by_request


def test_an_unknown_run_option_is_one_line():
    with pytest.raises(ValidationError, match="unknown run option 'worker'"):
        default_session().build("python t.py", worker=2)


def test_the_api_path_checks_the_spec_once_per_submit(counting):
    job = sk.submit("python -c pass", files={"a.py": "pass\n"}, name=unique("once"), runtime=counting.name)
    assert counting.checks == 1
    assert job.wait(timeout=TIMEOUT).state == JobState.SUCCEEDED


def test_the_form_path_checks_the_spec_once_per_run(counting):
    session = default_session()
    request = RunRequest(command="python -c pass", name=unique("form-once"), runtime=counting.name)
    job = session.run(request, bundle=session.bundle(files={"a.py": "pass\n"}))  # the form's Run
    assert counting.checks == 1
    assert job.wait(timeout=TIMEOUT).state == JobState.SUCCEEDED


def test_a_keystroke_check_settles_nothing_and_asks_no_cluster(monkeypatch):
    # the form checks on every change: settling may call a cluster (Runtime.find), so only a run settles
    session = default_session()
    settled = []
    monkeypatch.setattr(session, "settle", lambda: settled.append(1) or [])
    assert session.check(RunRequest(command="python t.py", runtime="yarn", name="Bad_Name")) != []
    assert session.check(RunRequest(command="python t.py", name="typing")) == []
    assert settled == []
    session.run(RunRequest(command="python t.py", name="typing"), dry_run=True, files={})
    assert settled == []  # a dry run submits nothing, so nothing needs settling either


@pytest.mark.parametrize("runtime", ["local", "yarn", "kubernetes"])
@pytest.mark.parametrize("name, words", [("My_Job", "is not a DNS-1035 label"), ("9lives", "is not a DNS-1035 label"),
                                         ("ends-", "is not a DNS-1035 label"), ("x" * 64, "keep it to 63")])
def test_one_job_name_rule_on_every_runtime(runtime, name, words):
    # a name that runs locally runs on every cluster: each runtime refuses the same names with the same words
    with pytest.raises(ValidationError, match=re.escape(words)) as caught:
        default_session().build("python t.py", name=name, runtime=runtime, image="img", dry_run=True)
    assert all(field_of(p) == "name" for p in caught.value.problems)
