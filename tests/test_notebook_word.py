"""The notebook's word is kept (issue 15), through real kernels: a frontend that sends cell ids (JupyterLab),
one that sends none (consoles), and nbclient on the saved notebook (`submarine-kernel run`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from kernel_support import FrontendKernel, text
from submarine_kernel.kernelspec import spec_manager

pytestmark = pytest.mark.slow

BUNDLE_PROBE = ("import json, submarine_kernel.session as s\n"
                "b = s.default_session().bundle()\n"
                "print('BUNDLE', json.dumps({'digest': b.digest, "
                "'files': {k: v.decode() for k, v in b.files.items()}}))")


def _bundle(printed: str) -> dict:
    line = next(line for line in printed.splitlines() if line.startswith("BUNDLE "))
    return json.loads(line[len("BUNDLE "):])


def _save(path: Path, sources: list[str], ids: list[str]) -> Path:
    nb = new_notebook(cells=[new_code_cell(source, id=cell_id) for source, cell_id in zip(sources, ids)])
    nbformat.write(nb, path)
    return path


def _nbclient(path: Path, **options):
    """Run a saved notebook with nbclient (which sends no cell ids), as `submarine-kernel run` does."""
    from jupyter_client.manager import AsyncKernelManager

    nb = nbformat.read(path, as_version=4)
    km = AsyncKernelManager(kernel_name="submarine", kernel_spec_manager=spec_manager())
    client = NotebookClient(nb, km=km, timeout=120, resources={"metadata": {"path": str(path.parent)}}, **options)
    client.execute(env={**os.environ, "JPY_SESSION_NAME": str(path)})
    return nb


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


# -- one scenario, three clients -------------------------------------------------------------------------
MODES = ["cell-ids", "no-cell-ids", "nbclient"]


def play(cells: list[str], mode: str, tmp_path: Path) -> list[tuple[bool, str]]:
    """(succeeded, printed text) of each cell, run by a frontend with or without cell ids, or by nbclient on
    the saved notebook with errors allowed."""
    path = _save(tmp_path / f"{mode}.ipynb", cells, [f"c{i}" for i in range(len(cells))])
    if mode == "nbclient":
        nb = _nbclient(path, allow_errors=True)
        from kernel_support import errors

        return [(not errors(cell), text(cell)) for cell in nb.cells]
    results = []
    with FrontendKernel(cell_ids=mode == "cell-ids", env={"JPY_SESSION_NAME": str(path)},
                        cwd=str(tmp_path)) as kernel:
        for index, source in enumerate(cells):
            reply, printed = kernel.run(source, cell_id=f"c{index}")
            results.append((reply["content"]["status"] == "ok", printed))
    return results


SHOW = ("%%submarine.python show.py --no-local\nimport json, os, sys\nprint('ARGV', sys.argv[1:])\n"
        "print('ENV', *(os.environ['SUBMARINE_PARAM_' + n] for n in ('MODEL_VERSION', 'BIG', 'HEXID', 'LR')))\n"
        "print('JSON', json.dumps(json.load(open('params.json')), sort_keys=True))")


@pytest.mark.parametrize("mode", MODES)
def test_values_reach_the_job_as_typed_and_declared_ones_convert_for_params_json(mode, tmp_path):
    results = play([
        SHOW,
        "%submarine param lr=0.1 --min 0 --max 1",
        "%submarine run --name typed --wait -p model_version 1.10 -p big 1e3 -p hexid 0x1F -p lr 1e-1 "
        "-- python show.py",
        "%submarine logs typed",
    ], mode, tmp_path)
    assert all(ok for ok, _ in results), results
    logs = results[-1][1]
    assert "ARGV ['--lr', '1e-1', '--model_version', '1.10', '--big', '1e3', '--hexid', '0x1F']" in logs
    assert "ENV 1.10 1e3 0x1F 1e-1" in logs
    assert 'JSON {"big": "1e3", "hexid": "0x1F", "lr": 0.1, "model_version": "1.10"}' in logs


@pytest.mark.parametrize("mode", MODES)
def test_declarations_hold_on_every_path(mode, tmp_path, isolated_data_dir):
    api = ("import submarine_kernel as sk\ntry:\n    sk.submit('python t.py', params={'lr': 7}, dry_run=True)\n"
           "except sk.SubmarineError as exc:\n    print('API', exc)")
    form = ("from submarine_kernel.launch import RunRequest, launch\nimport submarine_kernel.session as s\n"
            "try:\n    launch(s.default_session(), RunRequest(command='python t.py', params={'lr': 3.0}))\n"
            "except Exception as exc:\n    print('FORM', type(exc).__name__, exc)")
    results = play([
        "%submarine param lr=0.1 --min 0 --max 1",
        "%submarine run --dry-run -p lr 7 -- python t.py",
        "lr = 5",
        "%submarine run --dry-run -- python t.py",
        api,
        form,
        "%submarine run --dry-run -p lr abc -- python t.py",
        "%submarine run --dry-run -p lr 0.1 -p LR 0.9 -- python t.py",
        "%submarine run --dry-run -p a 1 -p a 2 -- python t.py",
        "lr = 0.5\n%submarine run --dry-run -- python t.py",
    ], mode, tmp_path)
    assert results[0][0]
    assert not results[1][0] and "param lr=7.0 is above its maximum 1" in results[1][1]
    assert not results[3][0] and "param lr=5.0 is above its maximum 1" in results[3][1]
    assert "API param lr=7.0 is above its maximum 1" in results[4][1]
    assert "FORM ValidationError param lr=3.0 is above its maximum 1" in results[5][1]
    assert not results[6][0] and "param lr='abc' is not a number" in results[6][1]
    assert not results[7][0] and "params lr and LR both become SUBMARINE_PARAM_LR" in results[7][1]
    assert not results[8][0] and "-p a is given twice ('1' and '2')" in results[8][1]
    assert results[9][0] and "--lr 0.5" in results[9][1]
    jobs = isolated_data_dir / "jobs"
    assert not jobs.exists() or not any(jobs.iterdir())


def test_the_headless_run_checks_declarations_too(tmp_path, isolated_data_dir):
    cell = new_code_cell("lr = 0.1", metadata={"tags": ["parameters"]})
    nb = new_notebook(cells=[cell, new_code_cell("%submarine param lr=0.1 --min 0 --max 1"),
                             new_code_cell("%submarine run --name headless-lr --wait -- python -c pass")])
    nbformat.write(nb, tmp_path / "declared.ipynb")
    run = subprocess.run([sys.executable, "-m", "submarine_kernel", "run", str(tmp_path / "declared.ipynb"),
                          "-p", "lr", "7"], capture_output=True, text=True, timeout=180)
    assert run.returncode == 1 and "param lr=7.0 is above its maximum 1" in run.stdout + run.stderr
    jobs = isolated_data_dir / "jobs"
    assert not jobs.exists() or not any(jobs.iterdir())


# -- item 7: replica counts have a configurable per-runtime limit, checked before anything is built -----
@pytest.mark.parametrize("mode", MODES)
def test_replica_counts_are_limited_per_runtime_and_the_limit_is_configurable(mode, tmp_path, isolated_data_dir):
    results = play([
        "%submarine run --workers 30000 --dry-run -- python t.py",
        "%submarine run --runtime yarn --image i --workers 99999999999999999999 --dry-run -- python t.py",
        "%submarine run --runtime kubernetes --image i --workers 100000000 --dry-run -- python t.py",
        "%submarine run --runtime kubernetes --image i --workers 1000 --dry-run -- python t.py",
        "%config KubernetesRuntime.max_replicas = 20",
        "%submarine run --runtime kubernetes --image i --framework tensorflow --workers 20 --ps 1 --dry-run "
        "-- python t.py",
        "import submarine_kernel as sk\ntry:\n    sk.submit('python t.py', workers=10**20, runtime='yarn', "
        "image='i', dry_run=True)\nexcept sk.SubmarineError as exc:\n    print('API', exc)",
    ], mode, tmp_path)
    assert not results[0][0] and ("asks for 30000 replicas, more than the local runtime allows (256): ask for "
                                  "fewer, or raise LocalRuntime.max_replicas") in results[0][1]
    assert not results[1][0] and "asks for 99999999999999999999 replicas" in results[1][1]
    assert not results[2][0] and "more than the kubernetes runtime allows (10000)" in results[2][1]
    assert results[3][0] and "PyTorchJob" in results[3][1]
    assert not results[5][0] and "asks for 21 replicas, more than the kubernetes runtime allows (20)" in results[5][1]
    assert "API the job asks for 100000000000000000000 replicas" in results[6][1]


# -- item 8: the smaller breaks --------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_smaller_breaks_are_one_line_each_and_templates_keep_their_braces(mode, tmp_path, isolated_data_dir):
    results = play([
        "%submarine logs somejob --tail -3",
        "%submarine config runtime=kubernets",
        "%submarine config",
        "%submarine run --framework pytorch --workers 2 --chief-resources memory=1G -- python t.py",
        "%submarine run --env A=1 --env A=2 -- python t.py",
        "%submarine list --limit -1",
        "%submarine form --concurrency 0",
        "%submarine run --name braces --wait -p x 1 -- python -c 'import sys; print(\"ARG\", sys.argv[1])' "
        "'{{\"a\": {x}}}'\n%submarine logs braces",
        "%submarine run --dry-run -- prog --json '{{\"a\": {x}}}'",
        "%submarine run --framework pytorch --workers 1 --worker-resources memory=2G --dry-run -- python t.py",
    ], mode, tmp_path)
    assert not results[0][0] and "argument --tail: -3 is below 0" in results[0][1]
    assert not results[1][0] and "unknown runtime 'kubernets': use one of" in results[1][1]
    assert "kubernets" not in results[2][1]                               # the setting kept its value
    assert not results[3][0] and "this pytorch job has no chief" in results[3][1]
    assert not results[4][0] and "--env A is given twice" in results[4][1]
    assert not results[5][0] and "-1 is below 1" in results[5][1]
    assert not results[6][0] and "0 is below 1" in results[6][1]
    assert results[7][0] and 'ARG {"a": 1}' in results[7][1], results[7][1]
    assert not results[8][0] and "uses {x} but no such param is set" in results[8][1]
    assert results[9][0]                        # the single PyTorch replica takes the worker resources
    assert "Traceback" not in "".join(printed for _, printed in results)


def test_the_cli_refuses_a_negative_tail_in_one_line():
    run = subprocess.run([sys.executable, "-m", "submarine_kernel", "logs", "somejob", "--tail", "-3"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "argument --tail: -3 is below 0" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("mode", MODES)
def test_yarn_refuses_a_bundle_on_this_machine_before_uploading(mode, tmp_path, isolated_data_dir):
    results = play([
        "%%submarine.python t.py --no-local\nprint(1)",
        "%submarine run --runtime yarn --image i --dry-run -- python t.py",
        "%config YarnRuntime.rm_urls = ['http://127.0.0.1:9']",
        "%submarine run --runtime yarn --image i --name yarn-local-root -- python t.py",
        "%config YarnRuntime.shared_file_storage = True",
        "%submarine run --runtime yarn --image i --dry-run -- python t.py",
    ], mode, tmp_path)
    assert results[1][0] and "a real submission still needs" in results[1][1] \
        and "NodeManagers cannot fetch it" in results[1][1]
    assert not results[3][0] and "NodeManagers cannot fetch it" in results[3][1]
    assert "cannot fetch" not in results[5][1]
    bundles = isolated_data_dir / "bundles"
    assert not bundles.exists() or not any(bundles.iterdir())          # refused before any upload


@pytest.mark.parametrize("mode", MODES)
def test_a_param_with_a_newline_keeps_the_list_on_one_row(mode, tmp_path):
    results = play([
        "import submarine_kernel as sk\njob = sk.submit('echo {msg}', params={'msg': 'a\\nb'}, name=f'nl-{id(sk)}',"
        " wait=True)\nprint(job.status().state.value)",
        "%submarine list",
    ], mode, tmp_path)
    assert results[0][0] and "SUCCEEDED" in results[0][1], results[0][1]
    rows = [line for line in results[1][1].splitlines() if line.startswith("nl-")]
    assert len(rows) == 1 and "msg=a\\nb" in rows[0]


def test_a_form_seeded_from_the_newest_run_does_not_carry_its_one_off_params(isolated_data_dir):
    import submarine_kernel as sk
    from submarine_kernel.session import default_session
    from submarine_kernel.widgets import make_form

    sk.submit("python -c pass", params={"seed": 3}, name="seeded-one", wait=True)
    sk.submit("python -c pass --lr {lr}", params={"lr": 0.5, "seed": 4}, name="seeded-two", wait=True)
    session = default_session()
    form = make_form(session)
    assert form.request().params == {"lr": 0.5}                         # the command needs lr, not seed
    chosen = make_form(session, from_job="seeded-one")
    assert chosen.request().params == {"seed": 3}                       # an explicit --from keeps them


# -- issue 13 item 7: secret params never go into a bundle ------------------------------------------------
SECRET_VALUE = "s3cr3t-" + "sentinel-9Zq"
SHOW_SECRET = ("%%submarine.python secret.py --no-local\nimport json, os, stat\np = json.load(open('params.json'))\n"
               "print('REAL', p['api_key'] == os.environ['SUBMARINE_PARAM_API_KEY'], len(p['api_key']), p['lr'],\n"
               "      oct(stat.S_IMODE(os.stat('params.json').st_mode)))")


@pytest.mark.parametrize("mode", MODES)
def test_secret_params_reach_replicas_privately_and_never_the_bundle_store(mode, tmp_path, isolated_data_dir):
    results = play([
        SHOW_SECRET,
        f"%submarine run --name secret-job --wait -p api_key {SECRET_VALUE} -p lr 0.1 -- python secret.py",
        "%submarine logs secret-job",
    ], mode, tmp_path)
    assert all(ok for ok, _ in results), results
    assert f"REAL True {len(SECRET_VALUE)} 0.1 0o600" in results[-1][1]   # the replica's own copy: real, private
    stored = list((isolated_data_dir / "bundles").rglob("params.json"))
    assert stored and all(json.loads(p.read_text()) == {"api_key": "***", "lr": "0.1"} for p in stored)
    for path in (isolated_data_dir / "bundles").rglob("*"):
        if path.is_file():
            assert SECRET_VALUE.encode() not in path.read_bytes(), path
    assert SECRET_VALUE not in "".join(printed for _, printed in results)


def test_headless_values_are_typed_by_the_parameters_cell_and_otherwise_kept_as_typed(tmp_path):
    from submarine_kernel.headless import inject_parameters

    nb = new_notebook(cells=[new_code_cell("epochs = 1\nlr = 0.1", metadata={"tags": ["parameters"]})])
    inject_parameters(nb, {"epochs": "3", "lr": "1e-3", "model_version": "1.10", "hexid": "0x1F"})
    assert nb.cells[1].source.splitlines()[1:] == ["epochs = 3", "lr = 0.001", "model_version = '1.10'",
                                                   "hexid = '0x1F'"]
    nbformat.write(new_notebook(cells=[new_code_cell("epochs = 1", metadata={"tags": ["parameters"]})]),
                   tmp_path / "typed.ipynb")
    run = subprocess.run([sys.executable, "-m", "submarine_kernel", "run", str(tmp_path / "typed.ipynb"),
                          "-p", "epochs", "many"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "param epochs='many' is not a whole number" in run.stderr
    assert run.stderr.count("\n") == 1
