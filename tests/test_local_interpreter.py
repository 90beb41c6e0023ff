"""Replicas run the interpreter of the kernel or CLI that submitted the job, whatever PATH the server has."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

import submarine_kernel as sk
from submarine_kernel.errors import ValidationError
from submarine_kernel.job_types import JobState

from core_support import TIMEOUT, configure_local, stop_leftovers, unique  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("stop_leftovers")

#: a PATH on which `python` is not the test's interpreter (Debian's own, or none at all)
BARE_PATH = "/usr/bin:/bin"
WHICH_PYTHON = ("python -c 'import sys; print(\"python=\" + sys.executable)' && "
                "python3 -c 'import sys, submarine_kernel; print(\"python3=\" + sys.executable)'")
FILES = {"README.txt": "a job needs no files of its own here; one keeps the bundle non-empty\n"}


def test_python_and_python3_resolve_to_the_submitting_interpreter(monkeypatch):
    monkeypatch.setenv("PATH", BARE_PATH)
    job = sk.submit(WHICH_PYTHON, name=unique("which"), framework="custom", files=FILES)
    status = job.wait(timeout=TIMEOUT)
    log = job.logs("worker-0")
    assert status.state == JobState.SUCCEEDED, (status.message, log)
    assert f"python={sys.executable}" in log and f"python3={sys.executable}" in log


def test_the_interpreter_folder_leads_the_replicas_path(monkeypatch):
    monkeypatch.setenv("PATH", BARE_PATH)
    job = sk.submit("echo PATH=$PATH", name=unique("path"), framework="custom", files=FILES)
    assert job.wait(timeout=TIMEOUT).state == JobState.SUCCEEDED
    path = job.logs("worker-0").split("PATH=", 1)[1].strip().split(os.pathsep)
    assert path[1] == os.path.dirname(sys.executable)  # after the job's own python/python3 shims
    assert path[2:] == BARE_PATH.split(os.pathsep)


def test_local_runtime_python_setting_overrides_and_shows_in_the_dry_run(tmp_path):
    wrapper = tmp_path / "my-python"
    wrapper.write_text(f"#!/bin/sh\nSUBMARINE_TEST_WRAPPER=yes exec {shlex.quote(sys.executable)} \"$@\"\n")
    wrapper.chmod(0o755)
    configure_local(python=str(wrapper))
    command = "python -c 'import os; print(\"wrapper=\" + os.environ[\"SUBMARINE_TEST_WRAPPER\"])'"
    preview = sk.submit(command, name=unique("wrap"), framework="custom", files=FILES, dry_run=True)
    assert f"# python, python3: {wrapper} (LocalRuntime.python)" in preview
    job = sk.submit(command, name=unique("wrap"), framework="custom", files=FILES)
    assert job.wait(timeout=TIMEOUT).state == JobState.SUCCEEDED
    assert "wrapper=yes" in job.logs("worker-0")


def test_the_dry_run_names_the_default_interpreter():
    preview = sk.submit("python train.py", name=unique("dry"), files={"train.py": "pass\n"}, dry_run=True)
    assert f"# python, python3: {sys.executable} (LocalRuntime.python)" in preview


def test_a_python_setting_that_is_not_an_interpreter_is_refused_before_anything_starts(tmp_path):
    configure_local(python=str(tmp_path / "nope"))
    name = unique("nope")
    with pytest.raises(ValidationError, match=r"LocalRuntime.python = '.*nope' is not an executable file"):
        sk.submit("python -c pass", name=name, framework="custom", files=FILES)
    assert name not in [job.name for job in sk.jobs()]


@pytest.mark.slow
def test_headless_run_from_a_venv_that_is_not_on_path(tmp_path):
    """`/path/to/venv/bin/submarine-kernel run nb.ipynb` without activating the venv: the job imports torch."""
    cli = Path(sys.executable).with_name("submarine-kernel")
    if not cli.exists():
        pytest.skip(f"no submarine-kernel script beside {sys.executable}")
    nb = new_notebook(cells=[new_code_cell(textwrap.dedent("""\
        %%submarine.python check.py --no-local
        import sys, torch
        print("replica environment", sys.prefix, "torch", torch.__version__)
        """)), new_code_cell("%submarine run --framework custom --name venv-check --wait -- python check.py")])
    path = tmp_path / "venv.ipynb"
    nbformat.write(nb, path)
    env = {**os.environ, "PATH": BARE_PATH}
    done = subprocess.run([str(cli), "run", str(path), "--output", str(tmp_path / "out.ipynb")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    log = subprocess.run([str(cli), "logs", "venv-check"], env=env, capture_output=True, text=True, timeout=60)
    # the CLI's own environment (its script may name python3.11 where pytest runs python: same prefix)
    assert f"replica environment {sys.prefix} torch" in log.stdout, log.stdout + log.stderr
