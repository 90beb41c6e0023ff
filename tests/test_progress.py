"""Progress with an ETA (issue 23 item 8): the rule on fixed timestamps, what report() writes, and every view
that shows a running job's status: the live widget, `%submarine status`, `submarine-kernel status` and a plain
`--wait`'s output, each on a real local job."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import submarine_kernel as sk
from submarine_kernel import metrics, progress
from submarine_kernel.errors import SubmarineError
from submarine_kernel.progress import Progress, estimate, of_points

from core_support import unique, wait_until
from kernel_support import FrontendKernel

SLOW = pytest.mark.slow

#: a job that reports `step` of 6 every 0.4 s, loss falling; its first report comes at once
STEPPING_JOB = ("import time, submarine_kernel as sk\n"
                "for step in range(1, 7):\n"
                "    sk.report(step=step, total=6, loss=1.0 / step)\n"
                "    time.sleep(0.4)\n")


# -- the rule ----------------------------------------------------------------------------------------------
def test_the_eta_is_the_steps_left_at_the_observed_rate():
    # 10 steps in 20 s: 0.5 step/s, 80 steps left → 160 s
    assert estimate([(1000.0, 10), (1020.0, 20)], 100) == Progress(20, 100, 160.0)
    assert estimate([(1000.0, 10), (1020.0, 20)], 100).text() == "step 20/100 · ETA 2m 40s"
    assert estimate([(0.0, 0), (3600.0, 1)], 3).text() == "step 1/3 · ETA 2h 00m 00s"


def test_the_eta_is_unknown_until_two_reports_and_zero_at_the_total():
    assert estimate([], 100) is None
    assert estimate([(1000.0, 30)], 100).text() == "step 30/100 · ETA unknown"
    assert estimate([(1000.0, 30), (1000.0, 31)], 100).eta_seconds is None   # no time passed between them
    assert estimate([(1000.0, 30), (1010.0, 30)], 100).eta_seconds is None   # no step passed
    assert estimate([(1000.0, 90), (1010.0, 100)], 100).text() == "step 100/100 · ETA 0s"
    assert estimate([(1000.0, 5), (1010.0, 7)], None).text() == "step 7"     # no total: no ETA to speak of


def test_the_rate_follows_the_latest_reports():
    slow_start = [(float(t * 10), t) for t in range(10)]                     # 0.1 step/s for 90 s
    fast_now = [(90.0 + t, 9 + t) for t in range(1, progress.RATE_WINDOW + 1)]  # then 1 step/s
    latest = estimate(slow_start + fast_now, 1000)
    assert latest.step == 9 + progress.RATE_WINDOW
    assert latest.eta_seconds == pytest.approx(1000 - latest.step)


def test_the_eta_counts_down_between_reports_and_stops_at_zero():
    reports = [(1000.0, 10), (1020.0, 20)]                                   # 160 s left at the last report
    assert estimate(reports, 100, now=1020.0).eta_seconds == 160.0
    assert estimate(reports, 100, now=1050.0).eta_seconds == 130.0           # 30 s later, no new report
    assert estimate(reports, 100, now=2000.0).eta_seconds == 0.0             # overdue: 0, not negative
    assert estimate(reports, 100, now=1010.0).eta_seconds == 160.0           # a replica clock ahead of ours
    assert estimate([(1000.0, 30)], 100, now=1100.0).eta_seconds is None     # still unknown with one report


def test_the_live_header_counts_the_eta_down_while_no_report_comes(isolated_data_dir, monkeypatch):
    import importlib
    import time

    from submarine_kernel.job_types import JobRef, JobState, JobStatus
    from submarine_kernel.session import default_session
    status_module = importlib.import_module("submarine_kernel.widgets.status")  # the package has a status()

    monkeypatch.setattr(status_module, "TICK_SECONDS", 0.1)
    view = status_module.JobStatusView(default_session(), JobRef("local", "eta-job"),
                                       JobStatus(JobState.RUNNING, "running"), follow_logs=False, interval=0.05)
    try:
        now = time.time()
        view.progress.feed({"step": 2, "@time": now - 10.0, "@total": 100})
        view.progress.feed({"step": 4, "@time": now, "@total": 100})      # 0.2 step/s: 8 minutes left
        wait_until(lambda: "ETA 7m 5" in view.header.value, timeout=10, interval=0.05, what="the ETA shown")
        wait_until(lambda: "ETA 7m 57s" in view.header.value or "ETA 7m 56s" in view.header.value, timeout=10,
                   interval=0.05, what="the ETA counted down by the ticks, with no new report")
    finally:
        view.close()


def test_the_text_bar_and_the_html_bar():
    shown = Progress(30, 100, 72.0)
    assert shown.line() == "progress: [######              ] step 30/100 · ETA 1m 12s"
    assert '<progress value="30" max="100"' in shown.html() and "step 30/100 · ETA 1m 12s" in shown.html()
    assert "<progress" not in Progress(30).html() and Progress(30).line() == "progress: step 30"


# -- what a job writes -------------------------------------------------------------------------------------
def test_report_stamps_each_point_and_carries_the_total_which_metric_views_leave_out(capsys, monkeypatch):
    monkeypatch.setattr(metrics.time, "time", lambda: 1234.5678)
    sk.report(step=3, total=10, loss=0.5)
    line = capsys.readouterr().out.strip()
    assert json.loads(line.removeprefix(metrics.MARKER)) == {"step": 3, "@total": 10, "loss": 0.5,
                                                             "@time": 1234.568}
    assert metrics.parse_metric_line(line) == {"step": 3, "loss": 0.5}          # charts and tables see metrics
    assert metrics.metric_names(metrics.parse_metrics([line])) == ["loss"]
    assert of_points(metrics.parse_metrics([line], raw=True)) == Progress(3, 10, None)
    for bad in (0, 2.5, True, "10"):
        with pytest.raises(SubmarineError, match="is not a positive whole number"):
            sk.report(step=1, total=bad, loss=0.5)


def test_a_declared_epochs_or_steps_param_is_the_total_when_none_is_reported():
    points = [{"step": 2, "@time": 10.0}, {"step": 4, "@time": 20.0}]
    assert of_points(points, {"epochs": 10}).text() == "step 4/10 · ETA 30s"
    assert of_points(points, {"steps": 8, "epochs": 99}).total == 8
    assert of_points([*points, {"step": 5, "@time": 25.0, "@total": 20}], {"epochs": 10}).total == 20
    assert of_points(points, {"epochs": "ten", "lr": 0.1}).text() == "step 4"


# -- the views, on real jobs -------------------------------------------------------------------------------
def _running_job(source: str = STEPPING_JOB):
    job = sk.submit("python stepping.py", files={"stepping.py": source}, name=unique("stepping"))
    wait_until(lambda: progress.of_job(job) is not None and progress.of_job(job).eta_seconds is not None,
               timeout=60, interval=0.1, what="two progress reports")
    return job


def test_the_live_status_shows_a_bar_and_the_eta_while_the_job_runs():
    from submarine_kernel.session import default_session
    from submarine_kernel.widgets.status import JobStatusView

    job = sk.submit("python stepping.py", files={"stepping.py": STEPPING_JOB}, name=unique("live-progress"))
    view = JobStatusView(default_session(), job.ref, interval=0.05)
    try:
        wait_until(lambda: "ETA" in view.header.value and "unknown" not in view.header.value, timeout=60,
                   interval=0.05, what="an ETA in the live header")
        assert '<progress value="' in view.header.value and 'max="6"' in view.header.value
        assert "step " in view.fallback_text() and "/6 · ETA" in view.fallback_text()
        assert "@time" not in view.header.value                                # not shown as a metric
        job.wait(timeout=60)
        wait_until(lambda: view.finished, timeout=30, what="the summary")
        assert "ETA" not in view.summary.value                                  # an ended job has no ETA
        # the log box shows each report as its values, not the marker and JSON with the progress stamps
        assert "reported: " in view.log_view.value
        assert "SUBMARINE_METRIC" not in view.log_view.value and "@time" not in view.log_view.value
    finally:
        view.close()


@SLOW
def test_status_in_the_shell_and_the_notebook_shows_the_progress_line(tmp_path):
    job = _running_job(STEPPING_JOB.replace("0.4", "1.5"))  # 9 s: still running when the kernel asks
    cli = subprocess.run([sys.executable, "-m", "submarine_kernel", "status", job.name], capture_output=True,
                         text=True, timeout=60)
    assert "progress: [" in cli.stdout and "/6 · ETA " in cli.stdout, cli.stdout + cli.stderr
    with FrontendKernel(cwd=str(tmp_path)) as kernel:
        _, printed = kernel.run(f"%submarine status {job.name}")
    assert "progress: [" in printed and "/6 · ETA " in printed, printed
    job.wait(timeout=60)
    cli = subprocess.run([sys.executable, "-m", "submarine_kernel", "status", job.name], capture_output=True,
                         text=True, timeout=60)
    assert "SUCCEEDED" in cli.stdout and "progress:" not in cli.stdout     # an ended job shows no ETA


@SLOW
def test_a_plain_wait_redraws_its_status_with_the_progress(tmp_path):
    """`%submarine run --plain --wait` has no widget following the log: the wait reads the progress."""
    source = STEPPING_JOB.replace("0.4", "1.0")
    with FrontendKernel(cwd=str(tmp_path), env={"SUBMARINE_DATA_DIR": str(tmp_path / "data")}) as kernel:
        kernel.run(f"%%submarine.python stepping.py --no-local\n{source}")
        msg = kernel.kc.session.msg("execute_request", {
            "code": "%submarine run --plain --wait --name plain-progress -- python stepping.py", "silent": False,
            "store_history": True, "user_expressions": {}, "allow_stdin": False, "stop_on_error": False})
        kernel.kc.shell_channel.send(msg)
        shown = []
        while True:
            out = kernel.kc.get_iopub_msg(timeout=60)
            if out["parent_header"].get("msg_id") != msg["header"]["msg_id"]:
                continue
            if out["msg_type"] in ("display_data", "update_display_data"):
                shown.append(out["content"]["data"].get("text/plain", ""))
            elif out["msg_type"] == "status" and out["content"]["execution_state"] == "idle":
                break
    assert any("progress: [" in s and "/6 · ETA " in s for s in shown), shown
    assert "SUCCEEDED" in shown[-1] and "progress:" not in shown[-1]
