"""What the notebook shows while and after a job runs (issue 23): reasons, interrupts, refusals, logs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core_support import installed_command
from kernel_support import FrontendKernel, errors, execute, html, text

SLOW = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


# -- item 5: a failure's reason where the user looks ------------------------------------------------------
def test_last_line_skips_metric_lines_and_is_capped(tmp_path):
    from submarine_kernel import metrics
    from submarine_kernel.runtimes.local import supervisor

    assert supervisor.METRIC_MARKER == metrics.MARKER  # the supervisor cannot import it: one rule, checked
    log = tmp_path / "r.log"
    log.write_text("step 1\nTraceback (most recent call last):\nValueError: bad lr\n\n"
                   'SUBMARINE_METRIC {"loss": 1}\n')
    assert supervisor.last_line(str(log)) == "ValueError: bad lr"
    log.write_text("x" * 1000 + "\n")
    assert len(supervisor.last_line(str(log))) == supervisor.LAST_LINE_CHARS
    assert supervisor.last_line(str(tmp_path / "missing.log")) == ""


@SLOW
def test_a_typo_in_the_launch_command_is_named_in_waits_error_the_summary_and_the_cli(tmp_path):
    nb = execute(
        "%%submarine.python train.py --no-local\nprint('training')",
        "%submarine run --name typo-job --wait -- python trian.py",
        tmp_path=tmp_path)
    error = errors(nb.cells[1])
    assert len(error) == 1 and error[0].startswith("UsageError: job typo-job ended FAILED: master-0 exited with "
                                                   "code 2: ") and "can't open file" in error[0] and "trian.py" in error[0]
    assert "trian.py" in html(nb.cells[1])  # the static summary says it too
    cli = subprocess.run([sys.executable, "-m", "submarine_kernel", "status", "typo-job"], capture_output=True,
                         text=True, timeout=60)
    assert "can't open file" in cli.stdout and "trian.py" in cli.stdout, cli.stdout + cli.stderr


# -- item 6: refusals that used to pass silently ----------------------------------------------------------------
def test_unknown_name_suggests_the_close_ones():
    from submarine_kernel.hints import unknown_name

    assert unknown_name("param", "lerning_rate", ["learning_rate", "epochs"]) == \
        "unknown param 'lerning_rate'; did you mean 'learning_rate'?"
    assert unknown_name("field", "zzz", ["lr", "loss"]) == "unknown field 'zzz': use one of loss, lr"


def test_a_history_filter_on_an_unknown_field_is_refused_not_zero_runs(isolated_data_dir):
    from submarine_kernel.errors import ValidationError
    from submarine_kernel.registry import Registry
    from submarine_kernel.runs import filter_rows, parse_filter, run_rows
    from submarine_kernel.spec import build_spec

    registry = Registry()
    spec = build_spec("hist-1", framework="custom", command="python t.py", workers=1, params={"lr": 0.1})
    registry.record("local", spec, "", None)
    rows = run_rows(registry.list())
    assert len(filter_rows(rows, conditions=parse_filter("lr>0.01"))) == 1
    with pytest.raises(ValidationError, match=r"unknown field 'lrr'; did you mean 'lr'\?"):
        filter_rows(rows, conditions=parse_filter("lrr>0.01"))


@SLOW
def test_run_refuses_nothing_collected_and_param_typos_and_warns_of_an_unknown_script(tmp_path):
    nb = execute(
        "%submarine run --name nothing-yet -- python train.py",
        "%submarine param learning_rate=0.1",
        "%%submarine.python train.py --no-local\nprint('hi')",
        "%submarine run --dry-run -p lerning_rate 0.2 -- python train.py",
        "%submarine run --dry-run -- python trian.py",
        "%submarine clean\n%submarine run --name after-clean -- python train.py",
        tmp_path=tmp_path)
    assert errors(nb.cells[0]) == ["UsageError: nothing is collected in this kernel yet (or since %submarine "
                                   "clean) for train.py: run the %%submarine.python cells first, or pass "
                                   "--notebook SAVED.ipynb"]
    assert errors(nb.cells[3]) == ["UsageError: unknown param 'lerning_rate'; did you mean 'learning_rate'? (a new "
                                   "param needs no declaration, but one this close is likely a typo)"]
    assert not errors(nb.cells[4])
    assert ("submarine: warning: the launch command names trian.py, which is neither collected nor in this "
            "folder (collected: train.py)") in text(nb.cells[4])
    assert errors(nb.cells[5])[0].startswith("UsageError: nothing is collected")
    assert "nothing-yet" not in text(nb.cells[5])


def test_headless_run_refuses_a_param_the_parameters_cell_does_not_declare(tmp_path):
    from nbformat.v4 import new_code_cell, new_notebook

    from submarine_kernel.errors import ValidationError
    from submarine_kernel.headless import inject_parameters

    nb = new_notebook(cells=[new_code_cell("steps = 10\nlr = 0.1", metadata={"tags": ["parameters"]})])
    with pytest.raises(ValidationError, match=r"unknown param 'stepz'; did you mean 'steps'\?"):
        inject_parameters(nb, {"stepz": "3"})
    inject_parameters(nb, {"steps": "3"})
    assert nb.cells[1].source.endswith("steps = 3\n")
    cli = subprocess.run([sys.executable, "-m", "submarine_kernel", "run", str(_saved(tmp_path, nb)), "-p", "stepz",
                          "3"], capture_output=True, text=True, timeout=60)
    assert cli.returncode == 2 and "unknown param 'stepz'; did you mean 'steps'?" in cli.stderr


def _saved(tmp_path, nb):
    import nbformat

    path = tmp_path / "p.ipynb"
    nbformat.write(nb, path)
    return path


# -- item 3: Stop while `--wait` blocks the cell ---------------------------------------------------------------
def _reply_to(kernel, msg_id: str) -> dict:
    while True:
        reply = kernel.kc.get_shell_msg(timeout=120)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


def _widget_comm(kernel, description: str) -> str:
    """The comm id of the first widget opened with this description (a Button's label), from IOPub."""
    while True:
        msg = kernel.kc.get_iopub_msg(timeout=60)
        if msg["msg_type"] == "comm_open" and \
                msg["content"].get("data", {}).get("state", {}).get("description") == description:
            return msg["content"]["comm_id"]


def click(kernel, comm_id: str) -> None:
    """What a browser sends when a Button is clicked: a comm message on the shell channel."""
    kernel.kc.shell_channel.send(kernel.kc.session.msg("comm_msg", {
        "comm_id": comm_id, "data": {"method": "custom", "content": {"event": "click"}}}))


@SLOW
def test_the_stop_button_stops_a_job_while_its_wait_cell_blocks_the_kernel(tmp_path):
    with FrontendKernel(cwd=str(tmp_path), env={"JPY_SESSION_NAME": str(tmp_path / "stop.ipynb")}) as kernel:
        reply, _ = kernel.run("%%submarine.python job.py --no-local\nimport time\ntime.sleep(300)")
        assert reply["content"]["status"] == "ok"
        msg_id = kernel.kc.execute("%submarine run --name stop-me --wait -- python job.py")
        click(kernel, _widget_comm(kernel, "Stop"))
        reply = _reply_to(kernel, msg_id)
        assert reply["content"]["status"] == "error"
        assert "job stop-me ended STOPPED: stopped on request" in reply["content"]["evalue"]
        reply, printed = kernel.run("print('next cell runs')")  # the kernel answers as before
        assert reply["content"]["status"] == "ok" and "next cell runs" in printed


# -- item 4: an interrupt during `--wait` detaches in one line ---------------------------------------------------
@SLOW
def test_interrupting_a_wait_cell_says_in_one_line_that_the_job_still_runs_and_how_to_stop_it(tmp_path):
    with FrontendKernel(cwd=str(tmp_path), env={"JPY_SESSION_NAME": str(tmp_path / "int.ipynb")}) as kernel:
        kernel.run("%%submarine.python job.py --no-local\nimport time\ntime.sleep(300)")
        msg_id = kernel.kc.execute("%submarine run --name int-job --wait -- python job.py")
        _widget_comm(kernel, "Stop")  # the job's status is out: the cell now waits
        kernel.km.interrupt_kernel()
        shown = []
        while True:
            msg = kernel.kc.get_iopub_msg(timeout=60)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                shown.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                shown.extend(msg["content"]["traceback"])
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        reply = _reply_to(kernel, msg_id)
        assert reply["content"]["status"] == "error"
        said = [line for line in "".join(shown).splitlines() if line.strip() and not line.startswith("submarine: ")]
        assert said == ["UsageError: stopped waiting for int-job: the job still runs (its output above keeps "
                        "updating); stop it with %submarine stop int-job"]
        reply, printed = kernel.run("%submarine status int-job\n%submarine stop int-job")
        assert "int-job on local: RUNNING" in printed and "int-job is STOPPED" in printed


# -- item 9: %submarine logs matches the CLI, and is capped ---------------------------------------------------
LOGGY = ("%%submarine.python loggy.py --no-local\n"
         "import submarine_kernel as sk\n"
         "for i in range(2100):\n"
         "    print(f'line {i}')\n"
         "    if i % 100 == 0:\n"
         "        sk.report(step=i, loss=1 / (i + 1))\n"
         "print('last words')\n"
         "sk.report(step=2100, loss=0.0)\n")


@SLOW
def test_notebook_logs_have_the_cli_header_hide_metrics_count_shown_lines_and_are_capped(tmp_path):
    from submarine_kernel.magics.submarine import NOTEBOOK_LOG_LINES

    nb = execute(
        LOGGY,
        "%submarine run --name loggy --workers 2 --framework pytorch --wait -- python loggy.py",
        "%submarine logs loggy --tail 2",
        "%submarine logs loggy --tail 2 --metrics",
        "%submarine logs loggy --all --tail 1",
        "%submarine logs loggy",
        tmp_path=tmp_path)
    assert not errors(nb.cells[1])

    def streams(cell, name):
        return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == name)
    assert streams(nb.cells[2], "stdout").splitlines() == ["==> loggy master-0 <==", "line 2099", "last words"]
    assert "SUBMARINE_METRIC line(s) of master-0 hidden: --metrics shows them" in streams(nb.cells[2], "stderr")
    with_metrics = streams(nb.cells[3], "stdout").splitlines()
    assert with_metrics[1] == "last words" and with_metrics[2].startswith("SUBMARINE_METRIC")
    assert streams(nb.cells[4], "stdout").splitlines() == [
        "==> loggy master-0 <==", "last words", "", "==> loggy worker-0 <==", "last words"]
    capped = streams(nb.cells[5], "stdout").splitlines()
    assert len(capped) == 1 + NOTEBOOK_LOG_LINES and capped[-1] == f"line {NOTEBOOK_LOG_LINES - 1}"
    assert ("101 more line(s) of master-0 not shown here: `%submarine logs loggy --replica master-0 --tail N` "
            "shows the last N") in streams(nb.cells[5], "stderr")


# -- item 14: the examples run in a plain Python 3 kernel after the README's install ---------------------------
def test_example_notebooks_name_the_python3_kernel_and_load_the_extension_themselves():
    import nbformat

    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert nb.metadata.kernelspec.name == "python3", path  # ipykernel ships it: nothing to install first
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert first.source.startswith("%load_ext submarine_kernel"), path


@SLOW
def test_nbconvert_executes_the_quickstart_without_installing_a_kernelspec(tmp_path):
    jupyter = installed_command("jupyter") or pytest.fail("jupyter is not installed: pip install -e '.[test]'")
    env = {**os.environ, "JUPYTER_PATH": "", "JUPYTER_DATA_DIR": str(tmp_path / "data")}  # no submarine spec
    result = subprocess.run([jupyter, "nbconvert", "--to", "notebook", "--execute", "--output-dir", str(tmp_path),
                             str(REPO / "notebooks" / "quickstart.ipynb")], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "quickstart.ipynb").exists()


# -- item 7: one colour per shown run ---------------------------------------------------------------------
def test_runs_compared_together_never_share_a_colour(isolated_data_dir):
    from submarine_kernel.registry import Registry
    from submarine_kernel.runs import distinct_colors, run_rows
    from submarine_kernel.spec import build_spec

    registry = Registry()
    for name in ("run-0", "run-14", "run-21"):  # the same colour when it came from a hash of the name
        registry.record("local", build_spec(name, framework="custom", command="python t.py", workers=1), "", None)
    rows = run_rows(registry.list())
    assert len({row.color for row in rows}) == 3
    rows[1].ordinal = rows[0].ordinal + 12  # 12 runs apart: the same own colour, yet distinct when shown together
    assert rows[1].color == rows[0].color
    colors = distinct_colors(rows)
    assert len(set(colors.values())) == 3 and colors[rows[0].name] == rows[0].color


# -- item 13: a saved chart reads offline ------------------------------------------------------------------
def test_a_charts_html_fallback_is_an_inline_svg_with_every_run_and_loads_nothing():
    from submarine_kernel.chart import figure_bundle, metric_figure

    figure = metric_figure({"run-a": [(0, 1.0), (1, 0.5)], "run-b": [(0, 2.0), (1, 0.25)]}, "loss",
                           {"run-a": "#0969da", "run-b": "#cf222e"}, log_y=True)
    html = figure_bundle(figure, "loss")["text/html"]
    assert "<script" not in html and "cdn" not in html.lower() and "http" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert html.count("<polyline") == 2 and 'stroke="#cf222e"' in html and "run-b" in html
    assert len(html) < 5000  # a saved notebook stays small


# -- item 12: what a saved notebook keeps ---------------------------------------------------------------------
@SLOW
def test_a_finished_jobs_replaced_widget_is_closed_so_its_state_is_not_saved(tmp_path):
    nb = execute(
        "%%submarine.python ok.py --no-local\nprint('ok')",
        "%submarine run --name closed-job --wait -- python ok.py",
        "from ipywidgets.widgets.widget import _instances\nprint('open widgets', len(_instances))",
        tmp_path=tmp_path)
    assert not errors(nb.cells[1]) and 'data-state="SUCCEEDED"' in html(nb.cells[1])
    assert text(nb.cells[2]).strip() == "open widgets 0"


# -- item 8: a status that moves and says what it knows ---------------------------------------------------------
def test_the_live_header_ticks_while_nothing_else_changes(isolated_data_dir, monkeypatch):
    import datetime as dt
    import importlib
    import time

    from submarine_kernel.job_types import JobRef, JobState, JobStatus
    from submarine_kernel.session import default_session
    status_module = importlib.import_module("submarine_kernel.widgets.status")  # the package has a status()

    monkeypatch.setattr(status_module, "TICK_SECONDS", 0.1)
    started = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)).isoformat(timespec="seconds")
    view = status_module.JobStatusView(default_session(), JobRef("local", "tick-job"),
                                       JobStatus(JobState.RUNNING, "running", started=started),
                                       follow_logs=False, interval=0.05)
    try:
        first = view.header.value
        time.sleep(2.5)
        assert view.header.value != first and "elapsed" in view.header.value  # the elapsed time moved on
    finally:
        view.close()


def test_the_log_box_says_the_job_starts_or_runs_until_its_first_line(isolated_data_dir):
    """The first seconds of a job (interpreter start, imports) print nothing: an empty box read as a hang."""
    import submarine_kernel as sk
    from core_support import unique, wait_until
    from submarine_kernel.session import default_session
    from submarine_kernel.widgets.status import JobStatusView

    release = isolated_data_dir / "release"
    job = sk.submit("python quiet.py", name=unique("quiet"), files={"quiet.py": (
        f"import os, time\nwhile not os.path.exists({str(release)!r}): time.sleep(0.1)\nprint('first words')\n")})
    view = JobStatusView(default_session(), job.ref, interval=0.05)
    try:
        wait_until(lambda: "master-0 is running and has printed nothing yet" in view.log_view.value, timeout=60,
                   what="the running job's empty log explained")
        release.write_text("go")
        wait_until(lambda: "first words" in view.log_view.value, timeout=60, what="the first line")
        assert "printed nothing" not in view.log_view.value
    finally:
        view.close()


@SLOW
def test_status_in_the_notebook_and_the_shell_shows_the_last_metrics_and_a_starting_job_says_so(tmp_path):
    from submarine_kernel.runtimes.local import supervisor

    assert supervisor.STARTING == "starting replicas"
    nb = execute(
        "%%submarine.python m.py --no-local\nimport submarine_kernel as sk\nsk.report(step=1, loss=0.5)\n"
        "sk.report(step=2, loss=0.25)",
        "%submarine run --name metric-job --wait -- python m.py",
        "%submarine status metric-job",
        tmp_path=tmp_path)
    assert "last reported: loss=0.2500, step=2" in text(nb.cells[2]) or \
        "last reported: step=2, loss=0.2500" in text(nb.cells[2]), text(nb.cells[2])
    cli = subprocess.run([sys.executable, "-m", "submarine_kernel", "status", "metric-job"], capture_output=True,
                         text=True, timeout=60)
    assert "last reported:" in cli.stdout and "loss=0.2500" in cli.stdout, cli.stdout + cli.stderr


# -- item 11, the status view: the replica table at the left, a replica picker for the log ----------------------
def test_the_log_box_follows_the_replica_the_user_picks_the_deciding_one_by_default():
    import submarine_kernel as sk
    from core_support import unique, wait_until
    from submarine_kernel.session import default_session
    from submarine_kernel.widgets.status import JobStatusView

    job = sk.submit("python whoami.py", workers=2, name=unique("picker"), files={"whoami.py": (
        "import os, time\nprint('I am', os.environ['SUBMARINE_ROLE'], flush=True)\ntime.sleep(4)\n")})
    view = JobStatusView(default_session(), job.ref, interval=0.05)
    try:
        wait_until(lambda: "I am master" in view.log_view.value, timeout=60, what="the master's log")
        assert list(view.replica_picker.options) == ["master-0", "worker-0"]
        assert view.replica_picker.value == "master-0" and view.replica_picker.layout.display != "none"
        view.replica_picker.value = "worker-0"
        wait_until(lambda: "I am worker" in view.log_view.value, timeout=60, what="the worker's log")
        assert "I am master" not in view.log_view.value and "log of worker-0" in view.logs_box.get_title(0)
    finally:
        view.close()


def test_the_replica_table_sits_at_the_left_not_centred_by_jupyterlabs_table_css():
    from submarine_kernel import render
    from submarine_kernel.job_types import JobState, JobStatus, ReplicaStatus

    # JupyterLab's `.jp-RenderedHTMLCommon table` sets margin-left/right: auto; an inline style wins over it
    status = JobStatus(JobState.RUNNING, "running",
                       replicas=[ReplicaStatus("master-0", "master", 0, JobState.RUNNING, "running")])
    for shown in (render.replicas_html(status), render.status_html("j", status)):
        assert '<table class="submarine-table submarine-replicas" style="margin-left:0;margin-right:auto">' in shown
        assert '<th style="text-align:left">replica</th>' in shown and '<td style="text-align:left">master-0' in shown
