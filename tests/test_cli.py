"""`submarine-kernel` as a shell user runs it: real subprocesses against a registry with real local jobs."""

from __future__ import annotations

import argparse
import os
import re
import subprocess

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

import submarine_kernel as sk
from submarine_kernel import cli

from core_support import installed_command

#: a PyTorch job whose worker fails while the master (the deciding replica) is healthy and reporting
FAILING_WORKER = """\
import os, sys, time
from submarine_kernel import report
if os.environ["SUBMARINE_ROLE"] == "worker":
    print("worker boom", flush=True)
    time.sleep(1.5)  # the master has printed and reported by then
    sys.exit(3)
print("master training", flush=True)
report(step=1, loss=0.5)
report(step=2, loss=0.25)
time.sleep(60)
"""


def shell(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    exe = installed_command("submarine-kernel") or pytest.fail("submarine-kernel is not installed: pip install -e .")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, env=os.environ)


@pytest.fixture
def failed_job():
    job = sk.submit("python job.py", files={"job.py": FAILING_WORKER}, framework="pytorch", workers=2,
                    params={"lr": 0.5}, name="cli-failing")
    status = job.wait(timeout=90)
    assert status.state.value == "FAILED", status
    return job


def test_every_option_has_help_text():
    undocumented = []

    def walk(parser: argparse.ArgumentParser, path: str):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction) and not action.help:
                undocumented.append(f"{path} {action.dest}")

    walk(cli._parser(), "submarine-kernel")
    assert undocumented == []
    shown = " ".join(shell("logs", "--help").stdout.split())  # argparse wraps help text
    for text in ("--replica REPLICA replica such as worker-1 (default: the deciding replica, e.g. master-0)",
                 "--all every replica's log", "--tail N only the last N lines", "--follow keep printing",
                 "--metrics also print the SUBMARINE_METRIC lines", "name job name (default: the newest job)"):
        assert text in shown


def test_without_jobs_status_and_logs_say_what_to_do():
    for command in ("status", "logs"):
        result = shell(command)
        assert result.returncode == 2
        assert result.stderr.strip() == ("submarine-kernel: error: no jobs in the registry yet: submit one from "
                                         "a notebook, or run one with submarine-kernel run NOTEBOOK.ipynb")
    assert shell("list").stdout.strip() == "no jobs yet"


def test_unknown_job_and_stop_without_name_speak_shell(failed_job):
    unknown = shell("status", "nosuchjob")
    assert unknown.returncode == 2 and "%submarine" not in unknown.stderr
    assert "no job named 'nosuchjob' in the registry: submarine-kernel list shows the known jobs" in unknown.stderr
    stop = shell("stop")
    assert stop.returncode == 2 and "stop needs the job's name" in stop.stderr and "submarine-kernel list" in stop.stderr
    negative = shell("list", "--limit", "-1")
    assert negative.returncode == 2 and "-1 is below 0: give a whole number of 0 or more" in negative.stderr


def test_list_status_and_logs_default_to_the_newest_job(failed_job):
    older = sk.submit("python ok.py", files={"ok.py": "print('ok')\n"}, name="cli-older", wait=True)
    # the failing job is older than `older`; submit one more failing run so that the newest has a known name
    newest = sk.submit("python job.py", files={"job.py": FAILING_WORKER}, framework="pytorch", workers=2,
                       params={"lr": 0.1}, name="cli-newest", wait=True)

    listed = shell("list")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["name", "runtime", "state", "submitted", "elapsed", "params", "notebook"]
    assert [r.split()[0] for r in rows] == [newest.name, older.name, failed_job.name]
    assert "lr=0.1" in rows[0] and "lr=0.5" in rows[2]
    limited = shell("list", "--limit", "1").stdout.splitlines()
    assert len(limited) == 3 and limited[-1] == "(2 older job(s) not shown: --limit 0 shows every job)"

    status = shell("status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].startswith(f"{newest.name} on local: FAILED")
    assert lines[-1] == f"  see: submarine-kernel logs {newest.name} --replica worker-0"

    logs = shell("logs")
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.splitlines() == [f"==> {newest.name} master-0 <==", "master training"]
    assert "SUBMARINE_METRIC" not in logs.stdout
    assert "2 SUBMARINE_METRIC line(s) of master-0 hidden: --metrics shows them" in logs.stderr
    with_metrics = shell("logs", "--metrics")
    # the raw report lines, each stamped with the time it was written (for the progress's ETA)
    assert re.findall(r'SUBMARINE_METRIC (\{"step": \d, "loss": [\d.]+), "@time": [\d.]+\}', with_metrics.stdout) == [
        '{"step": 1, "loss": 0.5', '{"step": 2, "loss": 0.25']


def test_logs_of_a_named_replica_and_of_every_replica(failed_job):
    worker = shell("logs", failed_job.name, "--replica", "worker-0")
    assert worker.stdout.splitlines() == [f"==> {failed_job.name} worker-0 <==", "worker boom"]
    every = shell("logs", failed_job.name, "--all", "--tail", "1")
    assert every.stdout.splitlines() == [f"==> {failed_job.name} master-0 <==", "master training", "",
                                         f"==> {failed_job.name} worker-0 <==", "worker boom"]
    bad = shell("logs", failed_job.name, "--replica", "worker-7")
    assert bad.returncode == 2 and "has no replica 'worker-7': use one of master-0, worker-0" in bad.stderr
    follow_all = shell("logs", failed_job.name, "--all", "--follow")
    assert follow_all.returncode == 2 and "give --replica NAME instead of --all" in follow_all.stderr


@pytest.mark.slow
def test_headless_run_prints_one_line_per_state_and_the_result(tmp_path):
    nb = new_notebook(cells=[
        new_code_cell("%%submarine.python job.py --no-local\n" + FAILING_WORKER),
        new_code_cell("%submarine run --framework pytorch --workers 2 --name headless-fail -- python job.py"),
        new_code_cell("%%submarine.python ok.py --no-local\nprint('fine')"),
        new_code_cell("%submarine run --workers 1 --name headless-ok --wait -- python ok.py"),
        new_code_cell("%submarine status headless-ok"),
    ])
    path = tmp_path / "flow.ipynb"
    nbformat.write(nb, path)
    result = shell("run", str(path), timeout=240)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == ""  # no "[IPKernelApp] WARNING | Kernel is running over TCP without encryption"
    assert "Parent appears to have exited" not in result.stdout
    states = {}
    for line in result.stdout.splitlines():
        match = re.match(r"^(headless-\w+) on local: ([A-Z]+)", line)
        if match:
            states.setdefault(match[1], []).append(match[2])
    for name, seen in states.items():
        assert len(seen) == len(set(seen)), f"{name} printed a state twice: {seen}"
        assert seen[0] == "SUBMITTED"
    assert states["headless-ok"][-1] == "SUCCEEDED" and states["headless-fail"][-1] == "FAILED"
    assert result.stdout.splitlines()[-1] == ("submarine-kernel: job headless-fail ended FAILED: worker-0 exited "
                                              "with code 3: worker boom (submarine-kernel logs headless-fail --replica worker-0)")  # its last line
    assert "SUBMARINE_METRIC" not in result.stdout


@pytest.mark.slow
def test_headless_success_ends_with_one_result_line(tmp_path):
    nb = new_notebook(cells=[new_code_cell("%%submarine.python ok.py --no-local\nprint('fine')"),
                             new_code_cell("%submarine run --name headless-only -- python ok.py")])
    nbformat.write(nb, tmp_path / "ok.ipynb")
    result = shell("run", str(tmp_path / "ok.ipynb"), "--output", str(tmp_path / "out.ipynb"), timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[-2].startswith("headless-only on local: SUCCEEDED")
    assert lines[-1] == f"submarine-kernel: done: every cell ran, 1 job(s) SUCCEEDED; executed notebook in {tmp_path / 'out.ipynb'}"
    assert [ln.split(": ")[1].split()[0] for ln in lines if ln.startswith("headless-only on local:")][0] == "SUBMITTED"
