"""The notebook face, driven through a real Jupyter kernel (nbclient + the Submarine kernelspec)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from core_support import installed_command
from kernel_support import FrontendKernel, errors, execute, html, text

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


TRAIN = """%%submarine.python train.py --no-local
import os
print("role", os.environ["SUBMARINE_ROLE"], "rank", os.environ["RANK"], "lr", os.environ.get("SUBMARINE_PARAM_LR"))
"""


def test_full_cycle_in_a_real_kernel(tmp_path):
    nb = execute(
        "%load_ext submarine_kernel",                              # already preloaded: must be harmless
        "%%submarine.python helpers.py\nGREETING = 'hello from helpers'\nprint(GREETING)",
        TRAIN,
        "%submarine run --name cycle-job --workers 2 -p lr 0.5 --wait -- python train.py --lr {lr}",
        "%submarine status cycle-job",
        "%submarine list",
        "%submarine logs cycle-job --replica worker-0",
        "%submarine logs cycle-job --tail 1",
        "%submarine stop cycle-job",
        "%submarine clean",
        tmp_path=tmp_path)
    cells = nb.cells
    assert not any(errors(c) for c in cells), [text(c) for c in cells if errors(c)]
    assert "hello from helpers" in text(cells[1])                 # python cell also ran in the kernel
    assert "collected into helpers.py" in text(cells[1])
    assert "collected into train.py" in text(cells[2]) and "role" not in text(cells[2])  # --no-local
    run = text(cells[3])
    assert "submitted cycle-job to local" in run and "SUCCEEDED" in run
    assert "master-0" in html(cells[3]) and "worker-0" in html(cells[3])
    transient = [o for o in cells[3].outputs if o.output_type == "display_data"]
    assert transient, "run shows one output that updates in place"
    assert "cycle-job on local: SUCCEEDED" in text(cells[4])
    assert "cycle-job" in text(cells[5]) and "lr=0.5" in text(cells[5])
    assert "role worker rank 1 lr 0.5" in text(cells[6])
    assert text(cells[7]).strip().splitlines() == ["==> cycle-job master-0 <==", "role master rank 0 lr 0.5"]
    assert "cycle-job is SUCCEEDED" in text(cells[8])
    assert "forgot 2 collected cell(s)" in text(cells[9])


@pytest.mark.parametrize("source, expected", [
    ("%submarine bogus", "unknown subcommand 'bogus'"),
    ("%submarine run --resources memory=8X -- python t.py", "memory='8X' has a bad unit"),
    ("%submarine run --workers 2", "has no launch command"),
    ("%submarine run --runtime nowhere -- python t.py", "unknown runtime 'nowhere'"),
    ("%submarine run --workers two -- python t.py", "invalid int value: 'two'"),
    ("%submarine logs no-such-job", "no job named 'no-such-job'"),
    ("%submarine run --name Bad_Name --runtime kubernetes --dry-run -- python t.py", "DNS-1035"),
    ("%submarine", "no subcommand"),
    ("%submarine param lr=0.1 --max 1\n%submarine run --dry-run -p lr 5 -- python t.py --lr {lr}",
     "param lr=5.0 is above its maximum 1"),  # the form refuses it in the same words (test_one_request)
])
def test_user_errors_are_one_line_without_traceback(tmp_path, source, expected):
    nb = execute(source, tmp_path=tmp_path)
    (error,) = errors(nb.cells[0])
    assert error.startswith("UsageError: ") and expected in error
    assert not [o for o in nb.cells[0].outputs if o.output_type == "error"], "no traceback"


def test_a_user_error_still_fails_the_cell(tmp_path):
    from nbclient.exceptions import CellExecutionError

    with pytest.raises(CellExecutionError, match="unknown subcommand"):
        execute("%submarine bogus", tmp_path=tmp_path, allow_errors=False)


def test_untitled_cell_warns_and_is_not_collected(tmp_path):
    nb = execute("%%submarine.python\nx = 1", "%submarine run --dry-run -- python t.py", tmp_path=tmp_path)
    assert "The In [1] cell has no title and was not collected" in text(nb.cells[0])  # "cell", not Zeppelin's "paragraph"
    assert not errors(nb.cells[0])


def test_rerun_replaces_the_cells_part_and_dry_run_submits_nothing(isolated_data_dir):
    with FrontendKernel() as kernel:
        _, first = kernel.run("%%submarine.python train.py --no-local\nprint('v1')", cell_id="cell-a")
        _, again = kernel.run("%%submarine.python train.py --no-local\nprint('v2')", cell_id="cell-a")
        _, other = kernel.run("%%submarine.python train.py --no-local\nprint('tail')", cell_id="cell-b")
        reply, dry = kernel.run("%submarine run --dry-run --workers 2 -- python train.py", cell_id="cell-c")
        _, files = kernel.run("import submarine_kernel.session as s\n"
                              "print(s.default_session().collector.bundle().files['train.py'].decode())")
        help_reply, _ = kernel.run("%submarine?")
    assert "part 1 of 1" in first and "part 1 of 1" in again and "part 2 of 2" in other
    assert files.strip() == "print('v2')\n\nprint('tail')"       # replaced in place, then joined in order
    assert reply["content"]["status"] == "ok"
    assert "master-0" in dry and "worker-0" in dry and "RANK=1" in dry
    assert not (isolated_data_dir / "jobs").exists() or not any((isolated_data_dir / "jobs").iterdir())
    assert not (isolated_data_dir / "bundles").exists()
    help_text = json.dumps(help_reply["content"].get("payload", []))
    assert "--dry-run" in help_text and "--worker-resources" in help_text


def test_config_traits_and_usage(tmp_path):
    nb = execute(
        "%config SubmarineMagics.workers = 3",
        "%config LocalRuntime.success_grace = 2.5",
        "%submarine config framework=tensorflow",
        "%%submarine.python t.py --no-local\npass",
        "%submarine run --dry-run --ps 1 -- python t.py",
        "%submarine usage",
        "%submarine config nonsense=1",
        tmp_path=tmp_path)
    assert "tensorflow" in text(nb.cells[2])
    dry = text(nb.cells[4])
    assert dry.count("TF_CONFIG") == 4                      # 3 workers (from the trait) + 1 ps
    assert "%submarine run" in text(nb.cells[5]) and "--worker-resources" in text(nb.cells[5])
    assert "cannot set 'nonsense=1'" in errors(nb.cells[6])[0]


def test_html_is_escaped(tmp_path):
    nb = execute(
        "%%submarine.python t.py --no-local\npass",
        "%submarine run --name xss-job --label 'k=<script>' -p evil '<img src=x onerror=alert(1)>' --wait "
        "-- python t.py",
        "%submarine list",
        tmp_path=tmp_path)
    page = html(nb.cells[1]) + html(nb.cells[2])
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_extension_load_unload_reload(tmp_path):
    nb = execute(
        "%unload_ext submarine_kernel.preload",  # what the Submarine kernel loaded at start
        "%submarine list",
        "%load_ext submarine_kernel",
        "%load_ext submarine_kernel",
        "%reload_ext submarine_kernel",
        "%submarine list",
        "import sys; print(sorted(m for m in ('kubernetes', 's3fs', 'boto3', 'requests_gssapi') if m in sys.modules))",
        tmp_path=tmp_path)
    assert errors(nb.cells[1])  # unloaded: %submarine is gone
    assert not errors(nb.cells[5])
    assert text(nb.cells[6]).strip() == "[]"


def test_shell_cell_runs_locally_and_fails_clearly(tmp_path):
    nb = execute("%%submarine.sh prepare.sh\necho from-shell", "%%submarine.sh broken.sh\nexit 3", tmp_path=tmp_path)
    assert "from-shell" in text(nb.cells[0]) and "collected into prepare.sh" in text(nb.cells[0])
    assert "exited with code 3" in errors(nb.cells[1])[0]


def test_kernelspec_install_into_prefix_is_found_and_starts(tmp_path):
    from jupyter_client.kernelspec import KernelSpecManager

    prefix = tmp_path / "prefix"
    result = subprocess.run([sys.executable, "-m", "submarine_kernel", "install", "--prefix", str(prefix)],
                            capture_output=True, text=True, check=True)
    assert "installed kernelspec submarine" in result.stdout
    manager = KernelSpecManager(kernel_dirs=[str(prefix / "share" / "jupyter" / "kernels")])
    spec = manager.get_kernel_spec("submarine")
    assert spec.display_name == "Python 3 (Submarine)"
    with FrontendKernel(kernel_spec_manager=manager) as kernel:
        reply, printed = kernel.run("print(sorted(get_ipython().magics_manager.magics['line']))\n%submarine list")
    assert reply["content"]["status"] == "ok"
    assert "'submarine'" in printed and "no jobs yet" in printed


def test_headless_run_with_parameters_and_failing_job(tmp_path):
    nb = new_notebook(cells=[
        new_code_cell("code = 0", metadata={"tags": ["parameters"]}),
        new_code_cell("%%submarine.python job.py --no-local\nimport sys\nsys.exit(int(sys.argv[1]))"),
        new_code_cell("%submarine run --workers 1 -p code $code -- python job.py {code}"),
    ])
    path = tmp_path / "flow.ipynb"
    nbformat.write(nb, path)
    ok = subprocess.run([sys.executable, "-m", "submarine_kernel", "run", str(path), "--output",
                         str(tmp_path / "out.ipynb")], capture_output=True, text=True, timeout=240)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "SUCCEEDED" in ok.stdout
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert "injected-parameters" not in json.dumps(executed)  # no parameters given: nothing injected

    failing = subprocess.run([sys.executable, "-m", "submarine_kernel", "run", str(path), "-p", "code", "4",
                              "--output", str(tmp_path / "out2.ipynb")], capture_output=True, text=True, timeout=240)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "FAILED" in failing.stdout and "exited with code 4" in failing.stdout
    executed = nbformat.read(tmp_path / "out2.ipynb", as_version=4)
    assert executed.cells[1].metadata.tags == ["injected-parameters"] and "code = 4" in executed.cells[1].source


def test_headless_run_fails_on_a_failing_cell_and_on_a_missing_notebook(tmp_path):
    nb = new_notebook(cells=[new_code_cell("raise ValueError('boom')")])
    nbformat.write(nb, tmp_path / "bad.ipynb")
    bad = subprocess.run([sys.executable, "-m", "submarine_kernel", "run", str(tmp_path / "bad.ipynb")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "boom" in bad.stdout
    missing = subprocess.run([sys.executable, "-m", "submarine_kernel", "run", str(tmp_path / "nope.ipynb")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_a_headless_run_that_fails_late_still_saves_the_earlier_cells_static_history_and_chart(tmp_path):
    """A cell failing after `%submarine history` stops the run, but the saved notebook still shows the history's
    table and chart as static outputs (the freeze cell runs before the kernel goes), not widget slots a reader
    without a kernel sees blank."""
    nb = new_notebook(cells=[
        new_code_cell("%load_ext submarine_kernel"),
        new_code_cell("%%submarine.python fit.py --no-local\nfrom submarine_kernel import report\n"
                      "for step in range(3):\n    report(step=step, loss=1.0 / (step + 1))"),
        new_code_cell("%submarine run --name late-failure --wait -- python fit.py"),
        new_code_cell("%submarine history"),
        new_code_cell("raise ValueError('late boom')"),
    ])
    nbformat.write(nb, tmp_path / "late.ipynb")
    result = subprocess.run([sys.executable, "-m", "submarine_kernel", "run", str(tmp_path / "late.ipynb"),
                             "--output", str(tmp_path / "late.out.ipynb")],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "SUBMARINE_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 1 and "late boom" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
    executed = nbformat.read(tmp_path / "late.out.ipynb", as_version=4)
    assert len(executed.cells) == len(nb.cells)  # the freeze cell is not saved
    assert executed.cells[-1].outputs[0].ename == "ValueError"
    mimes = {m for c in executed.cells for o in c.get("outputs", []) for m in o.get("data", {})}
    assert "application/vnd.jupyter.widget-view+json" not in mimes
    history = executed.cells[3]
    assert "submarine-history-static" in history.outputs[0].data["text/html"]
    assert "late-failure" in history.outputs[0].data["text/html"]
    assert len(history.outputs[1].data["application/vnd.plotly.v1+json"]["data"]) == 1  # the run's loss


def test_quickstart_notebook_runs_headless(tmp_path):
    cli = installed_command("submarine-kernel") or pytest.fail("submarine-kernel is not installed: pip install -e .")
    result = subprocess.run([cli, "run", str(REPO / "notebooks" / "quickstart.ipynb"),
                             "-p", "epochs", "1", "--output", str(tmp_path / "quickstart.out.ipynb")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    succeeded = [line for line in result.stdout.splitlines() if re.match(r"^\S+-quickstart-\w+ on local: SUCCEEDED", line)]
    assert len(succeeded) == len({line.split()[0] for line in succeeded}) == 2  # two jobs, each ends once
    assert result.stdout.splitlines()[-1] == ("submarine-kernel: done: every cell ran, 2 job(s) SUCCEEDED; "
                                              f"executed notebook in {tmp_path / 'quickstart.out.ipynb'}")
    executed = nbformat.read(tmp_path / "quickstart.out.ipynb", as_version=4)
    # what a reader without a kernel sees: static outputs only, no saved widget state, a small file
    mimes = {m for c in executed.cells for o in c.get("outputs", []) for m in o.get("data", {})}
    assert "application/vnd.jupyter.widget-view+json" not in mimes and "widgets" not in executed.metadata
    assert (tmp_path / "quickstart.out.ipynb").stat().st_size < 150_000
    # the history's outputs turned static before the kernel went (as a shutdown in Lab does): its table, then its
    # chart as plotly's own output, not the empty slot it had while live; the run's own freeze cell is not saved
    assert len(executed.cells) == len(nbformat.read(REPO / "notebooks" / "quickstart.ipynb", as_version=4).cells) + 1
    history = next(c for c in executed.cells if c.source.strip() == "%submarine history")
    assert "submarine-history-static" in history.outputs[0].data["text/html"]
    assert "application/vnd.plotly.v1+json" in history.outputs[1].data                 # one trace per run
    assert len(history.outputs[1].data["application/vnd.plotly.v1+json"]["data"]) == 2
    shown = [text(c) for c in executed.cells if c.cell_type == "code"]
    assert any("rank 1/2 epoch 0" in t for t in shown)
    # a first run shows nothing that is not the user's: no "already loaded", no library warnings
    assert not [t for t in shown if "already loaded" in t or "Warning" in t], shown


def test_tensorboard_and_clean_subcommands(tmp_path):
    checkpoint = tmp_path / "a" / "b" / "c" / "ckpt"
    checkpoint.mkdir(parents=True)
    (checkpoint / "model.pt").write_text("weights")
    nb = execute(
        "%%submarine.python t.py --no-local\npass",
        f"%submarine run --name tb-job --checkpoint {checkpoint} --wait -- python t.py",
        "%submarine tensorboard run",
        "%submarine tensorboard stop",
        "%submarine clean --checkpoint",
        "%submarine clean --jobs",
        "%submarine status tb-job",
        tmp_path=tmp_path)
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        assert errors(nb.cells[2]) == ["UsageError: TensorBoard is not installed in this environment: "
                                       "pip install tensorboard"]
    else:
        assert "TensorBoard: http://127.0.0.1:" in text(nb.cells[2])
    assert "no TensorBoard was running" in text(nb.cells[3]) or "TensorBoard stopped" in text(nb.cells[3])
    assert f"deleted checkpoint {checkpoint}" in text(nb.cells[4]) and not checkpoint.exists()
    assert "removed what 1 finished job(s) left" in text(nb.cells[5])
    assert "UNKNOWN" in text(nb.cells[6]) and "gone" in text(nb.cells[6])  # its local folder was removed
