"""The widgets without a browser: form → JobSpec, validation flags, Re-run, history, status batching,
the HTML/text fallbacks, and the magics that show them in a real kernel."""

from __future__ import annotations


import ipywidgets as w
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from submarine_kernel import params as params_mod
from submarine_kernel.errors import Problem, ValidationError, field_of
from submarine_kernel.request import RERUN_LABEL, RunRequest
from submarine_kernel.params import ParamDecl
from submarine_kernel.job_types import JobRef, JobState, JobStatus, ReplicaStatus
from submarine_kernel.session import default_session
from submarine_kernel.widgets.form import ParameterForm
from submarine_kernel.widgets.param_fields import param_widget
from submarine_kernel.widgets.history import RunHistory
from submarine_kernel.widgets.status import JobStatusView
from submarine_kernel.chart import PLOTLY_MIME

from core_support import unique, wait_until

DECLS = {"lr": ParamDecl("lr", 0.1, minimum=0.0, maximum=1.0), "epochs": ParamDecl("epochs", 2),
         "opt": ParamDecl("opt", "sgd", choices=("sgd", "adam")), "amp": ParamDecl("amp", False),
         "tag": ParamDecl("tag", "base")}


def make_form(**request):
    defaults = {"command": "python train.py --lr {lr} --epochs {epochs}", "params": {}}
    return ParameterForm(default_session(), RunRequest(**{**defaults, **request}), DECLS)


def test_each_param_gets_the_widget_of_its_type():
    kinds = {name: type(param_widget(decl)) for name, decl in DECLS.items()}
    assert kinds == {"lr": w.Text, "epochs": w.Text, "opt": w.Dropdown, "amp": w.Checkbox, "tag": w.Text}


def test_form_values_become_the_job_spec():
    form = make_form(workers=2, input_path="/data/in", resources={"default": "memory=1G", "worker": "vcores=2"})
    form.param_fields["lr"].value = "0.25"
    form.param_fields["opt"].value = "adam"
    form.fields["checkpoint_path"].value = "/tmp/ck/run"
    spec = form.request().build(default_session())
    assert spec.framework == "pytorch" and set(spec.roles) == {"master", "worker"}
    # --workers counts the master too, so it takes the worker resources (issue 10), not the job-wide default
    assert spec.roles["worker"].resources.cpus == 2 and spec.roles["master"].resources.cpus == 2
    assert spec.input_path == "/data/in" and spec.checkpoint_path == "/tmp/ck/run"
    assert spec.params == {"lr": 0.25, "epochs": 2, "opt": "adam", "amp": False, "tag": "base"}
    assert spec.launch_command("master") == "python train.py --lr 0.25 --epochs 2"
    assert not form.run_button.disabled and form.message.value == ""


def test_invalid_values_are_flagged_beside_their_fields_and_block_run():
    form = make_form()
    form.param_fields["lr"].value = "3.0"
    form.fields["workers"].value = 0
    form.fields["resources.worker"].value = "memory=8X"
    form.fields["command"].value = "python train.py --lr {lr} --seed {seed}"
    assert form.run_button.disabled
    assert "above its maximum 1" in form.flags["lr"].value
    assert "must be at least 1" in form.flags["workers"].value and "--workers" not in form.flags["workers"].value
    assert "memory=&#x27;8X&#x27; has a bad unit" in form.flags["resources.worker"].value
    assert "{seed}" in form.flags["command"].value
    assert "Fix before running" in form.message.value
    assert form.run() == [] and form.jobs == []                  # Run refuses while anything is wrong
    form.param_fields["lr"].value = "0.5"
    form.fields["workers"].value = 1
    form.fields["resources.worker"].value = ""
    form.fields["command"].value = "python train.py --lr {lr}"
    assert not form.run_button.disabled and all(not f.value for f in form.flags.values())


def test_problems_are_placed_by_their_field_not_by_their_words(monkeypatch):
    with pytest.raises(ValidationError) as caught:
        default_session().build("python train.py {seed}", name="Bad_Name", runtime="yarn", workers=2, ps=1,
                                resources={"worker": "memory=8X"}, params={"bad name": 1})
    fields = {field_of(p) for p in caught.value.problems}
    assert {"name", "ps", "resources.worker", "params.bad name", "command"} <= fields
    # words that name no field (and would once have matched another's pattern) land where the field says
    form = make_form()
    monkeypatch.setattr(form.session, "check", lambda *a, **k: [Problem("the runtime and its resources differ", "image")])
    form.check()
    assert "the runtime and its resources differ" in form.flags["image"].value
    assert not form.flags["runtime"].value and not form.flags["resources.default"].value


def test_sweep_fields_are_checked_and_expanded():
    form = make_form()
    form.mode.value = "grid"
    assert form.run_button.disabled and "nothing to sweep" in form.message.value
    form.sweep_fields["lr"].value = "0.1, 0.2"
    form.sweep_fields["opt"].value = "sgd, adam"
    assert not form.run_button.disabled
    assert [(r["lr"], r["opt"]) for r in form._sweep_runs()] == [(0.1, "sgd"), (0.1, "adam"), (0.2, "sgd"),
                                                                 (0.2, "adam")]
    form.sweep_fields["lr"].value = "0.1, 7"
    assert form.run_button.disabled and "param lr=7.0 is above its maximum 1" in form.message.value
    form.mode.value = "random"
    form.sweep_fields["lr"].value = "log:0.001..0.1"
    form.samples.value = 3
    runs = form._sweep_runs()
    assert len(runs) == 3 and all(0.001 <= r["lr"] <= 0.1 for r in runs)


def test_rerun_fills_the_form_with_a_past_runs_values(tmp_path):
    session = default_session()
    spec = RunRequest(command="python t.py --lr {lr}", framework="tensorflow", workers=3, ps=1,
                      resources={"ps": "memory=2G", "worker": "memory=4G"}, input_path="/in",
                      params={"lr": 0.75, "epochs": 5}).build(session)
    request = RunRequest.from_spec(spec, "local")
    assert (request.workers, request.ps, request.framework) == (3, 1, "tensorflow")
    assert request.resources == {"ps": "memory=2G", "worker": "memory=4G"}
    form = make_form()
    form.fill(request)
    assert form.param_fields["lr"].value == "0.75" and form.param_fields["epochs"].value == "5"
    assert form.fields["workers"].value == 3 and form.fields["framework"].value == "tensorflow"
    assert form.request().build(session).roles["ps"].resources.memory_mib == 2048


def test_parameters_come_from_the_tagged_cell_and_declarations(tmp_path):
    path = tmp_path / "nb.ipynb"
    nbformat.write(new_notebook(cells=[
        new_code_cell("import os\nlr = 0.05\nepochs: int = 3\nname = 'x'\nlayers = [1, 2]\nuse_amp = True",
                      metadata={"tags": ["parameters"]}),
        new_code_cell("lr = 99")]), path)
    found = params_mod.notebook_parameters(path)
    assert found == {"lr": 0.05, "epochs": 3, "name": "x", "use_amp": True}   # lists have no widget
    assert params_mod.notebook_parameters(tmp_path / "missing.ipynb") == {}
    declared = {"lr": params_mod.declare("lr", "0.1", minimum="0", maximum="1")}
    merged = params_mod.merge(found, declared, current={"lr": 0.3, "epochs": "three"})
    assert merged["lr"].default == 0.3 and merged["lr"].maximum == 1      # declaration wins, kernel value shown
    assert merged["epochs"].default == 3                                  # a value of another type is ignored
    for words, message in [(("x", "1", None, "5"), "below its minimum 5"),
                           (("x", "a", ["a", "b"], "1"), "both --choices and --min/--max"),
                           (("x", "abc", None, "1"), "not a number, so it cannot have"),
                           (("1x", "1"), "not a valid|invalid"), (("x", "1", None, "3", "2"), "above --max")]:
        with pytest.raises(ValidationError, match=message):
            params_mod.declare(*words)
    assert params_mod.declare("opt", "sgd", ["sgd", "adam"]).kind == "choice"


def add_run(session, params, points, state=JobState.SUCCEEDED, submitted="2024-01-01T00:00:00+00:00",
            labels=None, name=None):
    spec = RunRequest(command="python t.py", params=params, name=name or "").build(session)
    if labels:
        spec = spec.replace(labels={**spec.labels, **labels})
    ref = JobRef("local", spec.name)
    session.registry.add(ref, spec, None, session.notebook,
                         JobStatus(state, submitted=submitted, started=submitted, finished=submitted))
    session.registry.add_metrics(ref, points)
    return ref


def test_history_rows_compare_chart_and_escaping():
    session = default_session()
    names = []
    for lr, evil in ((0.1, "<b>x</b>"), (0.2, "<img src=x onerror=alert(1)>")):
        ref = add_run(session, {"lr": lr, "note": evil}, [{"step": s, "loss": lr * (3 - s)} for s in range(3)])
        names.append(ref.name)
    view = RunHistory(session)
    assert [r.ref.name for r in view.records] == names[::-1]
    assert len(view.selected) == 2 and view.metric.value == "loss"
    traces = view.chart_data[PLOTLY_MIME]["data"]
    assert sorted(t["name"] for t in traces) == sorted(names) and traces[0]["x"] == [0, 1, 2]
    assert view.chart_data[PLOTLY_MIME]["layout"]["xaxis"]["dtick"] == 1      # whole steps on the x axis
    colors = {t["name"]: t["line"]["color"] for t in traces}
    cells = "".join(c.value for row in view.table.cells for c in row)
    assert all(f"color:{colors[n]}" in cells for n in names)                  # the same colour as in the chart
    assert "&lt;img src=x onerror=alert(1)&gt;" in cells + view.compare.value
    assert "<img" not in cells + view.compare.value
    loss = [c.key for c in view.table.columns].index("loss")                 # a column per metric
    assert "0.2000 <small" in view.table.cells[0][loss].value and "(0.2000 … 0.6000)" in cells  # last (min … max)
    bundle = view._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "<table" in bundle["text/html"]
    header, newest = bundle["text/plain"].splitlines()[:2]
    assert header.split() == ["run", "state", "submitted", "duration", "lr", "note", "loss"]
    assert newest.split()[-1] == "0.2000" and "<img" not in bundle["text/html"]
    form = make_form()
    view.form = form
    view.select([r.ref.key for r in view.records[:2]])
    assert view.rerun() is None and "2 are ticked: untick all but the one" in view.message.value
    view.select([view.records[0].ref.key])
    request = view.rerun()
    assert request.params["lr"] == 0.2 and form.param_fields["lr"].value == "0.2"
    assert request.rerun_of == view.records[0].ref.name
    view.close()


def test_runs_table_filters_sorts_pages_and_picks_with_checkboxes():
    from submarine_kernel.runs import run_color

    session = default_session()
    refs = []
    for i in range(30):
        state = JobState.FAILED if i % 10 == 3 else JobState.SUCCEEDED
        refs.append(add_run(session, {"lr": 0.01 * (i + 1), "opt": "adam" if i % 2 else "sgd"},
                            [{"step": s, "loss": 1.0 / (i + 1 + s)} for s in range(5)], state,
                            submitted=f"2024-01-01T00:{i:02d}:00+00:00",
                            labels={RERUN_LABEL: "origin-run"} if i == 29 else None))
    view = RunHistory(session)
    table = view.table
    assert len(table.shown) == 30 and len([b for b in table.checkboxes if b.layout.display != "none"]) == 25
    assert "30 of 30 runs · page 1/2" in table.page_label.value
    assert table.shown[0].key == refs[-1].key and "re-run of origin-run" in table.cells[0][0].value
    table.go(1)
    assert len([b for b in table.checkboxes if b.layout.display != "none"]) == 5
    table.state.value = "FAILED"
    assert {r.state for r in table.shown} == {"FAILED"} and len(table.shown) == 3
    table.state.value = "any state"
    table.filter.value = "opt=adam, lr>0.2"
    assert all(r.params["opt"] == "adam" and r.params["lr"] > 0.2 for r in table.shown) and len(table.shown) == 5
    table.filter.value = "loss.min<0.05"
    assert {r.name for r in table.shown} == {ref.name for ref in refs[-14:]}
    for bad in ("lr>>2", "just words"):
        table.filter.value = bad
        assert "is not FIELD OP VALUE" in table.filter_note.value and len(table.shown) == 30
    table.filter.value = ""
    table.sort.value = "loss"
    table.descending.value = False                                  # smallest last loss first
    assert table.shown[0].key == refs[-1].key and table.descending.description == "↑"
    table.sort.value = "lr"
    assert [r.params["lr"] for r in table.shown[:2]] == [0.01, 0.02]
    assert len(view.selected) == 2                                  # the two newest until the user picks
    table.select([])
    table.checkboxes[0].value = True                                # the user picks runs by their checkbox
    table.checkboxes[1].value = True
    table.checkboxes[0].value = False
    assert [r.ref.key for r in view.selected] == [table.shown[1].key]
    add_run(session, {"lr": 0.5, "opt": "sgd", "wd": 0.1}, [{"step": 0, "acc": 0.5}], submitted="2024-01-02T00:00:00+00:00")
    picked = table.shown[1].key
    view.refresh()                                  # a refresh (new run, new columns) keeps what the user set
    assert table.sort.value == "lr" and not table.descending.value and "wd" in table.sort.options
    assert [r.ref.key for r in view.selected] == [picked] and table.checkboxes[1].value
    by_time = sorted(table.rows, key=lambda r: (r.record.submitted, r.name))  # submission order
    assert len({r.color for r in by_time[:12]}) == 12 and by_time[0].color == run_color(0)  # 12 in a row: distinct
    view.log_y.value = True
    assert view.chart_data[PLOTLY_MIME]["layout"]["yaxis"]["type"] == "log"
    view.close()


def test_status_view_batches_updates_and_escapes():
    session = default_session()
    ref = JobRef("local", "no-such-job-<x>")
    view = JobStatusView(session, ref, JobStatus(JobState.SUBMITTED, "submitted"), follow_logs=False, interval=3600)
    sent = []
    view.header.observe(lambda change: sent.append(change["new"]), names="value")
    running = [ReplicaStatus("master-0", "master", 0, JobState.RUNNING)]
    for i in range(50):                                       # a burst within one interval: one delivery
        view.update(JobStatus(JobState.RUNNING, f"running {i}", replicas=running))
    view._batcher.push({"lines": [f"line {i} <tag>" for i in range(300)],
                        "metrics": {"step": 3, "loss": 0.5}})
    assert len(sent) <= 1
    view.update(JobStatus(JobState.SUCCEEDED, "succeeded <b>", replicas=running))  # the end shows at once
    assert "SUCCEEDED" in view.header.value and "succeeded &lt;b&gt;" in view.header.value
    assert "no-such-job-&lt;x&gt;" in view.header.value and "loss=0.5000" in view.header.value
    assert len(view.lines) == 200 and view.lines[-1] == "line 299 <tag>"          # bounded log tail
    assert "line 299 &lt;tag&gt;" in view.log_view.value and "line 99 " not in view.log_view.value
    assert view.stop_button.layout.display == "none"                      # nothing left to stop
    assert view.finished and list(view.children) == [view.summary]           # collapsed to the summary
    assert 'data-state="SUCCEEDED"' in view.summary.value and "loss=0.5000" in view.summary.value
    assert "%submarine logs no-such-job-&lt;x&gt;" in view.summary.value    # the full log's command
    assert "line 299 &lt;tag&gt;" in view.summary.value and "line 249 " not in view.summary.value
    bundle = view._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html", "application/vnd.jupyter.widget-view+json"}
    assert "no-such-job-<x> on local: SUCCEEDED" in bundle["text/plain"] and "loss=0.5000" in bundle["text/plain"]
    view.close()


def test_status_shows_the_state_once_running_replicas_and_clears_stopping():
    session = default_session()
    running = [ReplicaStatus("worker-0", "worker", 0, JobState.RUNNING)]
    view = JobStatusView(session, JobRef("local", "state-words"), JobStatus(JobState.SUBMITTED, "submitted",
                                                                           replicas=running),
                         follow_logs=False, interval=0)
    assert 'data-state="RUNNING"' in view.header.value and ">RUNNING<" in view.header.value
    assert "submitted</small>" not in view.header.value                     # the raw word only when it adds
    view.note.value = "<small>stopping…</small>"
    view.update(JobStatus(JobState.STOPPED, "stopped"))
    assert view.note.value == "" and view.stop_button.layout.display == "none"
    assert ">STOPPED<" in view.header.value and "stopped</small>" not in view.header.value
    assert "file://" not in view.summary.value                               # the log is inline instead
    view.close()


def test_a_status_view_built_after_the_tracker_saw_the_job_run_still_shows_its_replicas():
    """The tracker tells listeners only of changes: a view built with the submission's status after the tracker
    had published RUNNING (a race in the browser under load) must still catch up, not stay without its
    replica table while the job runs on unchanged."""
    import submarine_kernel as sk

    session = default_session()
    job = sk.submit("python -c 'import time; time.sleep(60)'", name=unique("late-view"), workers=2)
    try:
        wait_until(lambda: (s := session.tracker.last(job.ref)) is not None and s.state is JobState.RUNNING
                   and all(r.state is JobState.RUNNING for r in s.replicas), timeout=60, what="running replicas")
        view = JobStatusView(session, job.ref, JobStatus(JobState.SUBMITTED, "submitted"), follow_logs=False,
                             interval=0)
        try:
            wait_until(lambda: "submarine-replicas" in view.replicas.value and ">RUNNING<" in view.header.value,
                       timeout=10, interval=0.1, what="the replica table of the running job")
        finally:
            view.close()
    finally:
        job.stop()


def test_form_run_submits_through_the_session_and_remembers_params():
    form = make_form(command="python -c pass", name=unique("form"))
    form.param_fields["epochs"].value = "7"
    (job,) = form.run()
    assert job.wait(timeout=120).state.value == "SUCCEEDED"
    record = default_session().registry.get(job.name)
    assert record.params["epochs"] == 7 and record.params["opt"] == "sgd"
    assert "submitted" in form.message.value and [v.ref for v in form.latest.children] == [job.ref]


def test_form_sweep_submits_every_run_under_the_limit():
    session = default_session()
    form = make_form(command="python -c pass", checkpoint_path="/tmp/sweep-ck/base")
    form.mode.value = "grid"
    form.concurrency.value = 2
    form.sweep_fields["epochs"].value = "1, 2, 3"
    form.run()
    scheduler = form.sweeps[0]
    wait_until(lambda: scheduler.done, timeout=120, interval=0.1, what="the sweep ends")
    records = [session.registry.get(job.name) for job in scheduler.jobs]
    assert sorted(r.params["epochs"] for r in records) == [1, 2, 3]
    assert len({r.spec.checkpoint_path for r in records}) == 3     # each run its own checkpoint folder
    assert "3/3 submitted" in scheduler.summary() and "3 SUCCEEDED" in scheduler.summary()
    # a live row per trial that ran last (two at once), one line per earlier trial, not three status boxes
    assert {v.ref.key for v in form.latest.children} <= {job.ref.key for job in scheduler.jobs[1:]}
    shown = {v.ref.key for v in form.latest.children}
    wait_until(lambda: form.earlier.value.count("SUCCEEDED") == 3 - len(shown), timeout=30, interval=0.2,
               what="the earlier runs' final states in the form")
    assert all(job.name in form.earlier.value for job in scheduler.jobs if job.ref.key not in shown)

    # Re-run of one sweep run is that one run: single mode, its values, the sweep's checkpoint folder
    record = records[0]
    form.fill(RunRequest.from_record(record))
    assert form.mode.value == "single run" and all(f.value == "" for f in form.sweep_fields.values())
    assert form.fields["checkpoint_path"].value == "/tmp/sweep-ck/base"
    assert form.param_fields["epochs"].value == str(record.params["epochs"])
    (job,) = form.run()
    assert job.wait(timeout=120).state.value == "SUCCEEDED"
    rerun = session.registry.get(job.name)
    assert rerun.spec.labels[RERUN_LABEL] == record.ref.name and rerun.spec.checkpoint_path == "/tmp/sweep-ck/base"
    assert rerun.params["epochs"] == record.params["epochs"]


def test_form_details_types_bounds_and_fields_in_use():
    decls = {**DECLS, "layers": ParamDecl("layers", 3, minimum=1)}
    form = ParameterForm(default_session(), RunRequest(command="python t.py --layers {layers}"), decls)
    assert "whole number, 1.." in form.param_hints["layers"].value
    assert "number, 0..1" in form.param_hints["lr"].value and "one of sgd, adam" in form.param_hints["opt"].value
    form.param_fields["layers"].value = "2.7"                   # not turned into 27
    assert form.problems() == ["param layers='2.7' is not a whole number"]
    assert "not a whole number" in form.flags["layers"].value
    assert form.run_button.disabled
    form.param_fields["layers"].value = "-2"                    # the declared --min 1
    assert "param layers=-2 is below its minimum 1" in form.flags["layers"].value
    form.param_fields["layers"].value = "4"
    form.fields["workers"].value = 0                            # one message, not three
    assert form.problems() == ["--workers 0 is not a positive whole number: ask for at least 1"]  # one problem
    assert "Workers: must be at least 1" in form.message.value                  # in the form's words
    form.fields["workers"].value = 2
    assert not form.run_button.disabled and form.request().params["layers"] == 4

    def shown(key):
        return form.rows[key].layout.display != "none"
    form.fields["framework"].value = "pytorch"
    form.fields["runtime"].value = "local"
    assert not shown("ps") and not shown("chief") and not shown("image") and not shown("resources.ps")
    assert shown("resources.master") and shown("resources.worker")
    form.fields["framework"].value = "tensorflow"
    assert shown("ps") and not shown("resources.ps") and not shown("resources.master")
    form.fields["ps"].value = 1
    form.fields["resources.ps"].value = "memory=2G"
    assert shown("resources.ps") and form.request().build(default_session()).roles["ps"].resources.memory_mib == 2048
    form.fields["framework"].value = "pytorch"                  # hidden fields do not count
    assert form.request().ps == 0 and "ps" not in form.request().resources and not form.run_button.disabled


@pytest.mark.slow
def test_magics_show_form_param_and_history_with_fallbacks(tmp_path):
    from test_magics_kernel import errors, execute, html, text

    nb = execute(
        "import sys; print('ipywidgets' in sys.modules)",
        "%submarine param lr=0.1 --min 0 --max 1",
        "%submarine param opt=sgd --choices sgd,adam",
        "%%submarine.python train.py --no-local\nimport sys, submarine_kernel as sk\n"
        "for s in range(3): sk.report(step=s, loss=float(sys.argv[1]) / (s + 1))",
        "%submarine run --name magic-widgets --wait -- python train.py {lr}",
        "%submarine form",
        "%submarine history",
        "%submarine param lr=3 --min 0 --max 1",
        "%submarine run --plain --name magic-plain --wait -- python train.py {lr}",
        # what the kernel's shutdown does (the browser test shuts a real one down): here nbclient sees it
        "from submarine_kernel.widgets import static; print(static.freeze_all())",
        tmp_path=tmp_path)
    cells = nb.cells
    assert text(cells[0]).strip() == "False"                     # %load_ext did not import ipywidgets
    assert not any(errors(c) for c in cells[:7] + cells[8:]), [text(c) for c in cells if errors(c)]
    assert "param lr = 0.1 (float, 0..1)" in text(cells[1]) and "one of sgd, adam" in text(cells[2])
    run_mimes = {m for o in cells[4].outputs for m in o.get("data", {})}
    # the ended job's widget output was replaced by its static summary: a saved notebook shows the result
    assert run_mimes == {"text/html", "text/plain"} and "SUCCEEDED" in text(cells[4])
    assert 'data-state="SUCCEEDED"' in html(cells[4]) and "loss=0.03333" in html(cells[4])
    assert "%submarine logs magic-widgets" in html(cells[4])
    assert "python train.py {lr}" in text(cells[5]) and "param opt" in html(cells[5])
    history_lines = text(cells[6]).splitlines()
    assert history_lines[0].split()[4:6] == ["lr", "opt"]                   # a column per param
    assert any(line.startswith("magic-widgets") and "0.1  sgd" in line for line in history_lines)
    assert "above its maximum 1" in errors(cells[7])[0]
    plain_mimes = {m for o in cells[8].outputs for m in o.get("data", {})}
    assert "application/vnd.jupyter.widget-view+json" not in plain_mimes and "SUCCEEDED" in text(cells[8])
    # the form and the history are static now; the history's chart is a plotly output of its own
    assert text(cells[9]).strip() == "2"
    for cell in cells[5:7]:
        assert "application/vnd.jupyter.widget-view+json" not in {m for o in cell.outputs for m in o.get("data", {})}
    assert "submarine-form-static" in html(cells[5]) and "submarine-history-static" in html(cells[6])
    chart = [o["data"][PLOTLY_MIME] for o in cells[6].outputs if PLOTLY_MIME in o.get("data", {})]
    assert [t["name"] for t in chart[0]["data"]] == ["magic-widgets"] and chart[0]["data"][0]["x"] == [0, 1, 2]


# -- issue 23 items 10 and 11: sweeps from the form, and errors in the form's words ------------------------------
def test_form_errors_are_worded_for_the_form_not_as_command_line_flags():
    form = make_form()
    form.fields["workers"].value = 0
    form.fields["command"].value = "python train.py --seed {seed}"
    shown = form.message.value
    assert "Workers: must be at least 1" in shown and "Launch command: uses {seed}, which is no parameter" in shown
    assert "--workers" not in shown and "-p seed" not in shown
    assert form.flags["workers"].value.endswith("must be at least 1</span>")   # beside the field: no label
    form.fields["framework"].value = "tensorflow"
    form.fields["ps"].value = -1
    assert "Parameter servers: must be 0 or more" in form.message.value
    # the problem itself still reads as the command line's (the magics and the CLI show it)
    assert [p for p in form.problems() if field_of(p) == "workers"] == [
        "--workers 0 is not a positive whole number: ask for at least 1"]
    # a runtime's own check too: a name a local job already has
    import submarine_kernel as sk
    taken = sk.submit("python -c pass", name=unique("taken")).name
    form = make_form(name=taken)
    assert f"Job name: a local job named &#x27;{taken}&#x27; already exists: choose another" in form.message.value
    assert "--name" not in form.message.value


def test_sweep_boxes_show_examples_of_their_fields_type():
    form = make_form()
    for mode in ("grid", "random"):
        form.mode.value = mode
        epochs, lr = form.sweep_fields["epochs"].placeholder, form.sweep_fields["lr"].placeholder
        assert "." not in epochs.replace("..", "") and "1, 2, 4" in epochs, epochs  # a whole-number field
        assert "0.0, 0.5, 1.0" in lr, lr                                          # a number within its 0..1
        assert form.sweep_fields["opt"].placeholder == "values: sgd, adam"
    assert form.sweep_fields["epochs"].placeholder == "range 1..4, or values 1, 2, 4"
    form.mode.value = "grid"
    form.sweep_fields["epochs"].value = form.sweep_fields["epochs"].placeholder.removeprefix("values: ")
    assert form.check() == [] and form.request().params["epochs"] == 2             # the example is valid as typed


def test_the_sweep_preview_counts_the_runs_as_the_boxes_are_edited():
    form = make_form()
    assert form.sweep_preview.value == ""                                         # a single run promises nothing
    form.mode.value = "grid"
    assert form.sweep_fields["epochs"].continuous_update                           # counted while typing
    form.sweep_fields["epochs"].value = "1, 2, 3"
    assert "3 runs will be submitted, at most 2 at once" in form.sweep_preview.value
    form.sweep_fields["opt"].value = "sgd, adam"
    assert "6 runs will be submitted" in form.sweep_preview.value
    form.sweep_fields["epochs"].value = "1, x"                                    # wrong: no count, a flag
    assert form.sweep_preview.value == "" and form.run_button.disabled
    form.sweep_fields["epochs"].value = ""
    form.mode.value = "random"
    form.samples.value = 5
    form.sweep_fields["lr"].value = "0.01..0.5"
    assert "5 runs will be submitted" in form.sweep_preview.value
    form.stop_metric.value = "loss"
    assert "trials losing on loss are stopped early" in form.sweep_preview.value
    form.mode.value = "single run"
    assert form.sweep_preview.value == ""


def test_every_running_trial_of_a_form_sweep_has_a_live_row_and_a_later_single_run_leaves_the_heading():
    form = make_form(command="python -c 'import time; time.sleep(3)'")
    form.mode.value = "grid"
    form.concurrency.value = 2
    form.sweep_fields["epochs"].value = "1, 2, 3"
    form.run()
    scheduler = form.sweeps[0]
    wait_until(lambda: len(scheduler.jobs) == 2, timeout=60, what="two trials submitted")
    running = {job.ref.key for job in scheduler.jobs}
    assert {v.ref.key for v in form.latest.children} == running                      # both trials live, not one
    assert all(not v.finished for v in form.latest.children) and "sweep:" in form.sweep_summary.value
    assert form.earlier.value.count("<tr") <= 1 and all(j.name not in form.earlier.value for j in scheduler.jobs)

    form.mode.value = "single run"                                               # while the sweep still runs
    (single,) = form.run()
    assert [v.ref for v in form.latest.children] == [single.ref] and form.sweep_summary.value == ""
    wait_until(lambda: scheduler.done, timeout=120, interval=0.1, what="the sweep ends")
    # the sweep's third trial and its ends never bring its heading back above the single run
    assert [v.ref for v in form.latest.children] == [single.ref] and form.sweep_summary.value == ""
    wait_until(lambda: all(job.name in form.earlier.value for job in scheduler.jobs), timeout=30,
               what="every trial in the list of earlier runs")
