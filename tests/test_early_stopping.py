"""Sweeps with early stopping, as a user runs them: real 2-replica local jobs that report a loss through
`submarine_kernel.report`, Optuna's median / successive-halving pruners deciding, pruned jobs stopped through the
local runtime, and the history showing them PRUNED with the steps they ran."""

from __future__ import annotations

import re
import statistics

import pytest

pytest.importorskip("optuna")

import submarine_kernel as sk
from submarine_kernel import render
from submarine_kernel.errors import SubmarineError, ValidationError
from submarine_kernel.job_types import PRUNED_AT_STEP, JobState
from submarine_kernel.params import ParamDecl
from submarine_kernel.pruning import EarlyStopping
from submarine_kernel.request import RunRequest
from submarine_kernel.runs import run_rows, states_of
from submarine_kernel.session import default_session

from core_support import imported_by_load_ext

STEPS = 8
# every replica runs it; the kernel reads the deciding replica's reports. The loss curves are parallel, shifted
# by |lr - 0.3|: a trial is worse than another at every step exactly when its shift is larger
TRAIN = f"""
import sys, time
import submarine_kernel as sk
lr = float(sys.argv[1])
for step in range(1, {STEPS + 1}):
    time.sleep(0.5)  # slow enough that a loaded machine still prunes a trial before its last step
    sk.report(step=step, loss=abs(lr - 0.3) + 1.0 / step)
"""


def shift(params) -> float:
    return abs(params["lr"] - 0.3)


def expected_pruned(records, startup=2):
    """Median stopping over runs one at a time: a run is pruned when its curve is above the median of the runs
    that ran to their end before it (MedianPruner's rule, restated for parallel curves)."""
    completed, pruned = [], []
    for record in records:
        if len(completed) >= startup and shift(record.params) > statistics.median(completed):
            pruned.append(record.ref.name)
        else:
            completed.append(shift(record.params))
    return pruned


def assert_pruned_in_history(session, records, pruned_names):
    for record in records:
        if record.ref.name in pruned_names:
            assert record.state == "STOPPED"                              # what the runtime says, kept
            assert all(r.state is JobState.STOPPED for r in record.status.replicas)  # its replicas were ended
            assert len(record.status.replicas) == 2
            steps = int(record.status.details[PRUNED_AT_STEP])
            assert 1 <= steps < STEPS and "pruned at step" in record.status.message
        else:
            assert record.state == "SUCCEEDED" and PRUNED_AT_STEP not in record.status.details
    from submarine_kernel.metrics import harvester_for
    from core_support import wait_until

    harvester = harvester_for(session)
    names = [r.ref.name for r in records]
    wait_until(lambda: all(session.registry.get(n).metrics for n in names), timeout=60, what="metrics harvested")
    records = [session.registry.get(n) for n in names]
    rows = {row.name: row for row in run_rows(records)}
    for record in records:
        row = rows[record.ref.name]
        if record.ref.name in pruned_names:
            assert row.state == "PRUNED"
            # the steps it ran: the last point its log holds is the step recorded
            assert record.metrics[-1]["step"] == int(record.status.details[PRUNED_AT_STEP])
            assert render.pruned_note(record.status) == f"at step {record.metrics[-1]['step']}"
        else:
            assert row.state == "SUCCEEDED" and record.metrics[-1]["step"] == STEPS
    assert "PRUNED" in states_of(rows.values())
    harvester.join()


def test_api_sweep_prunes_multi_replica_jobs_by_median_stopping(tmp_path):
    session = default_session()
    sweep = sk.submit_sweep("python train.py {lr}", files={"train.py": TRAIN}, workers=2, params={"lr": 0.3},
                     grid={"lr": [0.3, 0.25, 0.9, 0.4, 1.0]}, metric="loss", direction="min",
                     stop="median", concurrency=1, wait=True, timeout=300)
    records = [session.registry.get(job.name) for job in sweep.jobs]
    assert sorted(r.params["lr"] for r in records) == [0.25, 0.3, 0.4, 0.9, 1.0]  # every grid point, once
    pruned = expected_pruned(records)
    assert pruned, [r.params for r in records]   # the seed's order leaves someone to prune
    assert {k for k, state in sweep.finished.items() if state == "PRUNED"} == {f"local/{n}" for n in pruned}
    assert_pruned_in_history(session, records, pruned)
    best_job, best_value = sweep.early_stopping.best()
    assert session.registry.get(best_job.name).params["lr"] == 0.3 and best_value == pytest.approx(1 / STEPS)
    assert f"best {best_job.name}" in sweep.summary() and sweep.problems() == []


def test_successive_halving_keeps_the_best_and_stops_the_rest(tmp_path):
    session = default_session()
    sweep = sk.submit_sweep("python train.py {lr}", files={"train.py": TRAIN}, workers=2,
                     random={"lr": [0.3, 0.9, 1.0, 0.8]}, samples=4, seed=0, metric="loss", stop="asha",
                     concurrency=1, wait=True, timeout=300)
    records = [session.registry.get(job.name) for job in sweep.jobs]
    by_state = {}
    for record in records:
        by_state.setdefault(render.shown_label(record.status), []).append(record)
    assert by_state.get("PRUNED"), [(r.params, r.state) for r in records]
    assert_pruned_in_history(session, records, [r.ref.name for r in by_state["PRUNED"]])
    # a pruned run is never better than the best run that went to its end
    best = min(shift(r.params) for r in by_state["SUCCEEDED"])
    assert all(shift(r.params) > best for r in by_state["PRUNED"])


def test_form_sweep_with_early_stopping_shows_pruned_runs(tmp_path):
    from submarine_kernel.widgets.form import ParameterForm
    from submarine_kernel.widgets.history import RunHistory
    from core_support import wait_until

    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    session = default_session()
    form = ParameterForm(session, RunRequest(command=f"python {script} {{lr}}", workers=2),
                         {"lr": ParamDecl("lr", 0.3, minimum=0.0, maximum=1.0)})
    form.mode.value = "grid"
    form.concurrency.value = 1
    form.sweep_fields["lr"].value = "0.3, 0.25, 1.0, 0.9"
    assert form.stopping_row.layout.display is None                 # shown when sweeping
    form.stop_metric.value = "loss"
    form.stop_rule.value = "median"
    form.stop_direction.value = "min"
    assert not form.run_button.disabled, form.message.value
    form.run()
    scheduler = form.sweeps[0]
    wait_until(lambda: scheduler.done, timeout=300, interval=0.2, what="the sweep ends")
    records = [session.registry.get(job.name) for job in scheduler.jobs]
    pruned = expected_pruned(records)
    assert pruned and "PRUNED" in form.sweep_summary.value
    assert_pruned_in_history(session, records, pruned)
    # the form's line per earlier run says PRUNED too (the registry's status, not the tracker's, knows it)
    wait_until(lambda: ">PRUNED<" in form.earlier_html(), timeout=30, what="PRUNED in the form's earlier runs")
    history = RunHistory(session, all_notebooks=True)
    html = history.static_html(include_chart=False)
    assert html.count(">PRUNED<") == len(pruned) and "at step" in html
    history.close()
    form.close()


def test_a_metric_never_reported_is_one_line_and_the_run_counts_as_failed(tmp_path):
    sweep = sk.submit_sweep("python -c \"import submarine_kernel as sk; sk.report(step=1, acc=0.5)\"",
                     grid={"lr": [0.1, 0.2]}, params={"lr": 0.1}, metric="loss", concurrency=2, wait=True,
                     timeout=300)
    problems = sweep.problems()
    assert len(problems) == 2 and all("never reported loss: call submarine_kernel.report(step=..., loss=...)" in p
                                      for p in problems)
    assert sweep.early_stopping.best() is None


def test_the_monitor_reads_each_log_line_about_once_however_long_the_log(monkeypatch):
    """Each trial's log is followed as it grows, not read again in full every half second (which cost time in
    the square of the log's length): a job printing 2000 lines a step is read about once over."""
    import threading
    from collections import Counter

    from submarine_kernel.runtimes.local import LocalRuntime

    read: Counter = Counter()
    original = LocalRuntime.logs

    def counting(self, ref, replica=None, tail=None, follow=False):
        lines = original(self, ref, replica, tail, follow)
        if not threading.current_thread().name.startswith("submarine-sweep-pruning"):
            return lines

        def counted():
            for line in lines:
                read[ref.name] += 1
                yield line
        return counted()

    monkeypatch.setattr(LocalRuntime, "logs", counting)
    noisy = TRAIN.replace("    time.sleep(0.5)", "    print('noise\\n' * 1999 + 'noise', flush=True)\n    time.sleep(0.5)")
    sweep = sk.submit_sweep("python train.py {lr}", files={"train.py": noisy}, params={"lr": 0.3},
                            grid={"lr": [0.3, 0.5]}, metric="loss", stop="median", concurrency=2, wait=True,
                            timeout=300)
    assert sweep.problems() == [] and sweep.early_stopping.best() is not None
    for job in sweep.jobs:
        in_log = len(job.logs().splitlines())
        assert in_log > STEPS * 2000
        assert STEPS * 2000 < read[job.name] <= in_log + 10, (job.name, read[job.name], in_log)


@pytest.mark.parametrize("kwargs, message", [
    ({"stop": "hyperband"}, "unknown stopping rule 'hyperband': use median, asha (successive halving) or none"),
    ({"direction": "down"}, "direction 'down' is neither min nor max"),
    ({"metric": ""}, "metric '' cannot be optimised"),
    ({"metric": "step"}, "metric 'step' cannot be optimised"),
])
def test_bad_stopping_inputs_are_one_line_and_submit_nothing(kwargs, message):
    session = default_session()
    before = len(session.registry.list())
    with pytest.raises(ValidationError) as caught:
        sk.submit_sweep("python -c pass", grid={"lr": [0.1, 0.2]}, **{"metric": "loss", **kwargs})
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert len(session.registry.list()) == before
    with pytest.raises(ValidationError, match="exactly one of grid"):
        sk.submit_sweep("python -c pass", grid={"lr": [1]}, random={"lr": "0..1"})
    for kwargs, expect in [({"grid": {"lr": 5}}, "sweep lr=5: give a list of values or a range text"),
                           ({"grid": {"lr": [1]}, "concurrency": 0}, "the concurrency limit must be 1 or more, not 0"),
                           ({"random": {"lr": "0.5..0.1"}}, "range 0.5..0.1 is empty: put the lower bound first"),
                           ({"random": {"lr": "0.1..0.5"}, "samples": 0}, "1 to 200 samples, not 0")]:
        with pytest.raises(ValidationError, match=re.escape(expect)):
            sk.submit_sweep("python t.py {lr}", metric="loss", **kwargs)
    assert len(session.registry.list()) == before


def test_the_form_flags_a_bad_stopping_rule_beside_run():
    from submarine_kernel.widgets.form import ParameterForm

    form = ParameterForm(default_session(), RunRequest(command="python t.py {lr}"), {"lr": ParamDecl("lr", 0.1)})
    form.mode.value = "grid"
    form.sweep_fields["lr"].value = "0.1, 0.2"
    form.stop_metric.value = "step"
    assert form.run_button.disabled and "metric &#x27;step&#x27; cannot be optimised" in form.message.value
    form.stop_metric.value = "loss"
    assert not form.run_button.disabled
    form.close()


def test_rules_are_optunas_pruners():
    import optuna

    assert isinstance(EarlyStopping("loss").pruner(optuna), optuna.pruners.MedianPruner)
    assert isinstance(EarlyStopping("acc", "max", "successive-halving").pruner(optuna),
                      optuna.pruners.SuccessiveHalvingPruner)
    assert EarlyStopping("acc", "maximize").direction == "max"
    with pytest.raises(ValidationError, match="reduction_factor=1 must be a whole number of at least 2"):
        EarlyStopping("loss", reduction_factor=1)


def test_optuna_missing_is_one_line(monkeypatch):
    import sys

    from submarine_kernel import pruning

    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(SubmarineError, match=r"early stopping needs Optuna: pip install 'submarine-kernel\[sweep\]'"):
        pruning._optuna()


def test_load_ext_imports_neither_optuna_nor_pruning():
    assert imported_by_load_ext(["submarine_kernel.pruning", "optuna"]) == []
