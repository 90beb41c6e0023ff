"""Values arrive as typed and declarations hold (issue 15 items 4, 5), replica limits (7), the smaller breaks
(8) and secret params kept out of bundles (issue 13 item 7), each through a frontend with cell ids, one
without, and nbclient on the saved notebook."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from kernel_support import MODES, play

pytestmark = pytest.mark.slow


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
    form = ("from submarine_kernel.request import RunRequest\n"
            "import submarine_kernel.session as s\n"
            "try:\n    s.default_session().run(RunRequest(command='python t.py', params={'lr': 3.0}))\n"
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
    assert results[3][0] and "kind: TrainJob" in results[3][1] and "numNodes: 1000" in results[3][1]
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
