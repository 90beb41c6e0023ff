"""Job names and history stay per notebook when nbconvert or papermill executes it (real runs, real kernels)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from submarine_kernel.names import default_job_name, notebook_label
from submarine_kernel.notebook_path import detect, from_command_line
from submarine_kernel.registry import Registry

from core_support import installed_command


def test_session_name_and_vscode_come_first():
    assert detect({}, {"JPY_SESSION_NAME": "/w/a.ipynb"}) == "/w/a.ipynb"
    assert detect({"__vsc_ipynb_file__": "/w/v.ipynb"}, {}) == "/w/v.ipynb"


@pytest.mark.parametrize("argv, expected", [
    (["/venv/bin/python", "/venv/bin/jupyter-nbconvert", "--to", "notebook", "--execute", "nb/a.ipynb",
      "--output", "out.ipynb"], "/home/u/nb/a.ipynb"),
    (["python", "-m", "nbconvert", "--execute", "--inplace", "/abs/b.ipynb"], "/abs/b.ipynb"),
    (["/venv/bin/python", "/venv/bin/papermill", "-p", "lr", "x.ipynb", "in.ipynb", "out.ipynb", "-k", "python3"],
     "/home/u/in.ipynb"),
    (["papermill", "--cwd", "/tmp", "s3://bucket/train.ipynb", "s3://bucket/out.ipynb"], "s3://bucket/train.ipynb"),
    (["papermill", "-", "out.ipynb"], None),                        # notebook on stdin: nothing names it
    (["/usr/bin/python", "script.py", "a.ipynb"], None),             # not nbconvert or papermill
])
def test_the_input_notebook_on_the_parents_command_line(argv, expected):
    assert from_command_line(argv, "/home/u", "/home/u/nb") == expected


def test_several_nbconvert_inputs_are_told_apart_by_the_kernels_folder():
    argv = ["jupyter-nbconvert", "--execute", "x/a.ipynb", "y/b.ipynb"]
    assert from_command_line(argv, "/w", "/w/y") == "/w/y/b.ipynb"
    assert from_command_line(["jupyter-nbconvert", "--execute", "a.ipynb", "b.ipynb"], "/w", "/w") is None


def test_names_and_labels_use_the_notebooks_own_name_not_its_folders():
    path = "/tmp/pytest-of-someone/pytest-123/test_a_rather_long_folder_name0/sub/Train Model.ipynb"
    assert notebook_label(path) == "train-model"
    assert re.match(r"^jane-train-model-\w+$", default_job_name("jane", path))
    assert notebook_label("C:\\Users\\jane\\mnist.ipynb") == "mnist"


def test_a_notebooks_tensorboard_is_named_by_the_one_short_name_rule():
    from submarine_kernel.names import job_name_problems
    from submarine_kernel.session import Session

    session = Session(notebook="/home/jane/work/Train Model.ipynb")
    try:
        assert session.tensorboard_name() == "tensorboard-train-model"
        session.notebook = "/w/" + "a" * 37 + "-" * 3 + "b" * 20 + ".ipynb"  # cut at 50 inside a run of '-'
        assert job_name_problems(session.tensorboard_name()) == [], session.tensorboard_name()
        session.notebook = None
        assert session.tensorboard_name() == "tensorboard-session"
    finally:
        session.close()


def _notebook(path: Path, marker: str) -> None:
    nbformat.write(new_notebook(cells=[
        new_code_cell("%load_ext submarine_kernel"),
        new_code_cell(f"%%submarine.python job.py --no-local\nprint({marker!r})"),
        new_code_cell("%submarine run --wait -- python job.py"),
        new_code_cell("%submarine list"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}), path)


def _listed(path: Path) -> str:
    executed = nbformat.read(path, as_version=4)
    return "".join(o.get("data", {}).get("text/plain", "") + o.get("text", "") for o in executed.cells[3].outputs)


def _run(args: list[str], cwd: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JPY_SESSION_NAME"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


@pytest.mark.slow
def test_nbconvert_and_papermill_runs_name_jobs_after_their_notebook(tmp_path):
    papermill = installed_command("papermill") or pytest.skip("papermill is not installed: pip install -e '.[test]'")
    (tmp_path / "sub").mkdir()
    _notebook(tmp_path / "sub" / "Train Model.ipynb", "first")
    _notebook(tmp_path / "other.ipynb", "second")
    # relative paths, from another folder than the notebook's: the kernel resolves them as the tool did
    _run([sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute", "sub/Train Model.ipynb",
          "--output", "converted.ipynb"], cwd=tmp_path)
    _run([papermill, "other.ipynb", "sub/papermilled.ipynb", "-k", "python3"], cwd=tmp_path)

    records = Registry().list()
    by_notebook = {r.notebook: r.ref.name for r in records}
    assert set(by_notebook) == {str(tmp_path / "sub" / "Train Model.ipynb"), str(tmp_path / "other.ipynb")}
    user = re.escape(records[0].ref.name.split("-")[0])
    assert re.match(rf"^{user}-train-model-\w+$", by_notebook[str(tmp_path / "sub" / "Train Model.ipynb")])
    assert re.match(rf"^{user}-other-\w+$", by_notebook[str(tmp_path / "other.ipynb")])
    # each notebook's `%submarine list` shows its own job only
    converted = _listed(tmp_path / "sub" / "converted.ipynb")
    papermilled = _listed(tmp_path / "sub" / "papermilled.ipynb")
    assert by_notebook[str(tmp_path / "sub" / "Train Model.ipynb")] in converted
    assert by_notebook[str(tmp_path / "other.ipynb")] not in converted
    assert by_notebook[str(tmp_path / "other.ipynb")] in papermilled
    assert by_notebook[str(tmp_path / "sub" / "Train Model.ipynb")] not in papermilled
