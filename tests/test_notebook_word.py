"""The notebook's word is kept (issue 15), through real kernels: a frontend that sends cell ids (JupyterLab),
one that sends none (consoles), and nbclient on the saved notebook (`submarine-kernel run`).

Here: failing cells fail (item 1), live and saved notebooks collect the same files (item 2), a job without
files runs (item 3). Values, limits and the smaller breaks are in test_notebook_values.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kernel_support import FrontendKernel, run_saved as _nbclient, save_notebook as _save, text

pytestmark = pytest.mark.slow

BUNDLE_PROBE = ("import json, submarine_kernel.session as s\n"
                "b = s.default_session().bundle()\n"
                "print('BUNDLE', json.dumps({'digest': b.digest, "
                "'files': {k: v.decode() for k, v in b.files.items()}}))")


def _bundle(printed: str) -> dict:
    line = next(line for line in printed.splitlines() if line.startswith("BUNDLE "))
    return json.loads(line[len("BUNDLE "):])



# -- item 1: a failing %%submarine.python cell fails ---------------------------------------------------
FAILING = "%%submarine.python prep.py\nprint('before')\nraise RuntimeError('x')"


@pytest.mark.parametrize("cell_ids", [True, False], ids=["cell-ids", "no-cell-ids"])
def test_a_raising_cell_fails_as_a_plain_cell_would_and_is_still_collected(cell_ids):
    with FrontendKernel(cell_ids=cell_ids) as kernel:
        reply, printed = kernel.run(FAILING, cell_id="prep")
        shown = kernel.errors
        _, plain = kernel.run("raise RuntimeError('x')", cell_id="plain")
        plain_shown = kernel.errors
        _, probe = kernel.run(BUNDLE_PROBE, cell_id="probe")
    content = reply["content"]
    assert content["status"] == "error"
    assert (content["ename"], content["evalue"]) == ("RuntimeError", "x")
    assert shown == plain_shown == [("RuntimeError", "x")]      # one traceback, as a plain cell shows it
    assert "before" in printed and "collected into prep.py" in printed
    assert _bundle(probe)["files"]["prep.py"] == "print('before')\nraise RuntimeError('x')\n"


def test_a_raising_cell_stops_nbclient_and_fails_the_headless_run(tmp_path):
    from nbclient.exceptions import CellExecutionError

    path = _save(tmp_path / "broken.ipynb", [FAILING, "print('next cell ran')"], ["a", "b"])
    with pytest.raises(CellExecutionError, match="RuntimeError"):
        _nbclient(path)
    run = subprocess.run([sys.executable, "-m", "submarine_kernel", "run", str(path)], capture_output=True,
                         text=True, timeout=180)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "next cell ran" not in run.stdout


def test_a_failing_syntax_error_fails_too():
    with FrontendKernel() as kernel:
        reply, _ = kernel.run("%%submarine.python bad.py\ndef broken(:\n", cell_id="bad")
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "SyntaxError"


# -- item 2: the same notebook, the same bundle, however it runs ---------------------------------------
CELLS = [
    "%%submarine.python order.py --no-local\nFIRST = 1",
    "x = 2",
    "%%submarine.python order.py --no-local\nSECOND = 2",
    '%%submarine.python "my model.py" --no-local\n%submarine.python\nMODEL = 1',
    "%%submarine.python zep.py\n%submarine.python\nZ = 3\nprint('zep ran', Z)",
]
IDS = ["first", "plain", "second", "model", "zep"]
EXPECTED_FILES = {"order.py": "FIRST = 1\n\nSECOND = 2\n", "my model.py": "MODEL = 1\n",
                  "zep.py": "Z = 3\nprint('zep ran', Z)\n"}


@pytest.fixture
def saved(tmp_path):
    return _save(tmp_path / "order.ipynb", CELLS + [BUNDLE_PROBE], IDS + ["probe"])


@pytest.mark.parametrize("cell_ids", [True, False], ids=["cell-ids", "no-cell-ids"])
def test_live_cells_run_out_of_order_collect_in_notebook_order(saved, cell_ids):
    """The second order.py cell runs first and the first one runs twice: the notebook's order and one
    part per cell, with or without cell ids."""
    with FrontendKernel(cell_ids=cell_ids, env={"JPY_SESSION_NAME": str(saved)}, cwd=str(saved.parent)) as kernel:
        replies = []
        for index in (2, 0, 0, 3, 4):
            reply, printed = kernel.run(CELLS[index], cell_id=IDS[index])
            replies.append((reply["content"]["status"], printed))
        _, probe = kernel.run(BUNDLE_PROBE, cell_id="probe")
        _, saved_probe = kernel.run(
            f"import submarine_kernel.session as s\nprint('SAVED', s.default_session().bundle(notebook={str(saved)!r}).digest)",
            cell_id="saved-probe")
    assert all(status == "ok" for status, _ in replies), replies
    assert "zep ran 3" in replies[-1][1]                             # the interpreter line is not run here
    live = _bundle(probe)
    assert live["files"] == EXPECTED_FILES
    assert f"SAVED {live['digest']}" in saved_probe                  # --notebook saved.ipynb: the same bytes


def test_nbclient_on_the_saved_notebook_gives_the_same_bundle(saved):
    nb = _nbclient(saved)
    probe = _bundle(text(nb.cells[-1]))
    assert probe["files"] == EXPECTED_FILES
    from submarine_kernel.algorithm import collect_notebook

    assert probe["digest"] == collect_notebook(saved).digest


def test_an_edited_cell_without_ids_is_a_new_part_as_the_readme_says():
    with FrontendKernel(cell_ids=False) as kernel:
        kernel.run("%%submarine.python t.py --no-local\nv = 1")
        kernel.run("%%submarine.python t.py --no-local\nv = 1")           # the same text: replaced
        _, edited = kernel.run("%%submarine.python t.py --no-local\nv = 2")  # edited: a new part
        _, probe = kernel.run(BUNDLE_PROBE)
    assert "part 2 of 2" in edited
    assert _bundle(probe)["files"]["t.py"] == "v = 1\n\nv = 2\n"


# -- item 3 (and issue 13 item 9): a job without files is legal and runs -------------------------------
NO_FILES_RUN = "%submarine run --name nocells --wait -- echo hi from the image"


@pytest.mark.parametrize("cell_ids", [True, False], ids=["cell-ids", "no-cell-ids"])
def test_a_run_with_nothing_collected_runs_and_stores_no_bundle(isolated_data_dir, cell_ids):
    with FrontendKernel(cell_ids=cell_ids) as kernel:
        reply, printed = kernel.run(NO_FILES_RUN, cell_id="run")
        _, logs = kernel.run("%submarine logs nocells", cell_id="logs")
        _, status = kernel.run("%submarine status nocells", cell_id="status")
        _, dry = kernel.run("%submarine run --name nocells-k8s --runtime kubernetes --image busybox --dry-run -- echo hi\n"
                            "%submarine run --name nocells-yarn --runtime yarn --image busybox --dry-run -- echo hi", cell_id="dry")
    assert reply["content"]["status"] == "ok", printed
    assert "submitted nocells to local (no algorithm files)" in printed
    assert "nocells on local: SUCCEEDED" in status
    assert "hi from the image" in logs
    assert "ConfigMap" in dry and "echo hi" in dry and "Error" not in dry
    bundles = isolated_data_dir / "bundles"
    assert not bundles.exists() or not any(bundles.iterdir())      # an empty bundle is never stored


def test_nbclient_runs_a_notebook_whose_job_has_no_files(tmp_path, isolated_data_dir):
    path = _save(tmp_path / "nofiles.ipynb", [NO_FILES_RUN], ["run"])
    nb = _nbclient(path)
    assert "SUCCEEDED" in text(nb.cells[0])
    bundles = isolated_data_dir / "bundles"
    assert not bundles.exists() or not any(bundles.iterdir())


def test_the_api_submits_a_command_without_files(isolated_data_dir):
    import submarine_kernel as sk

    job = sk.submit("echo hello", name="api-nofiles")
    assert job.wait(timeout=60).state.value == "SUCCEEDED"
    assert "hello" in job.logs()
    assert job.upload.uri == ""
    bundles = isolated_data_dir / "bundles"
    assert not bundles.exists() or not any(bundles.iterdir())
