"""`submarine-kernel import-zeppelin` as a user runs it: real Zeppelin notes of both formats (tests/protocols/zeppelin,
from apache/zeppelin) and a Submarine note in the interpreter's shape (tests/zeppelin), then the produced notebook
through a real kernel and a real local job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from submarine_kernel import zeppelin

from core_support import imported_by_load_ext

HERE = Path(__file__).parent
UPSTREAM = HERE / "protocols" / "zeppelin"
SHINY = UPSTREAM / "2. Shiny App_2EZ66TM57.zpln"  # 0.9+ format
REMOTE = UPSTREAM / "RemoteProcesses" / "note.json"  # 0.8 format
SUBMARINE = HERE / "zeppelin" / "Distributed MNIST_2G8TFDIST.zpln"
INTERPRETER_JSON = HERE / "zeppelin" / "interpreter.json"


def cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "submarine_kernel", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def warnings_of(result: subprocess.CompletedProcess) -> list[str]:
    lines = result.stderr.splitlines()
    assert all(line.startswith("submarine-kernel: warning: ") for line in lines), result.stderr
    return [line.removeprefix("submarine-kernel: warning: ") for line in lines]


def sources(nb) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def test_a_submarine_note_becomes_a_notebook_whose_job_runs(tmp_path, isolated_data_dir):
    imported = cli("import-zeppelin", str(SUBMARINE), "--interpreter-json", str(INTERPRETER_JSON), "--runtime", "local",
                   "--output", "mnist.ipynb", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == ("wrote mnist.ipynb: 9 cells (7 code, 1 markdown, 1 raw) from Zeppelin note "
                                       "'Distributed MNIST' (2G8TFDIST)")
    assert warnings_of(imported) == [
        "paragraph [8] (paragraph_1591700000000_100000009) has no text: skipped",
        "The title of the [4] paragraph is empty and was not submitted to HDFS: kept as an untitled "
        "%%submarine.python cell, which the kernel does not collect either; give it a file name, e.g. "
        "%%submarine.python train.py",
    ]
    nb = nbformat.read(tmp_path / "mnist.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "submarine"
    assert nb.metadata.zeppelin == {"note_id": "2G8TFDIST", "name": "Distributed MNIST", "format": "zpln",
                                    "source": SUBMARINE.name}
    kinds = [(cell.cell_type, cell.source.split("\n", 1)[0]) for cell in nb.cells]
    assert kinds == [
        ("markdown", "## Distributed MNIST on Submarine"),
        ("code", "%%submarine.python mnist_data.py"),
        ("code", "%%submarine.python train.py"),
        ("code", "%%submarine.python"),  # untitled, as in the note
        ("code", "%%submarine.sh prepare.sh"),
        ("raw", "%spark.pyspark"),
        ("code", "%%submarine.python train.py"),
        ("code", "%%submarine.sh zeppelin_launch.sh --no-local"),  # the PS ran another command than the workers
        ("code", "# The Submarine settings of Zeppelin note 'Distributed MNIST' (2G8TFDIST), from its %submarine "
                 "paragraph [1] and the interpreter's properties"),
    ]
    assert nb.cells[1].id == "20200609-103215_2002511349"  # the paragraph's own id
    assert all(cell.get("outputs", []) == [] for cell in nb.cells)  # Zeppelin's results are dropped
    settings = nb.cells[-1].source.splitlines()
    assert settings[1:] == [
        "%submarine config runtime=local framework=tensorflow image=tensorflow/tensorflow:1.13.1",
        "%submarine run --workers 2 --ps 1 --worker-resources memory=4G,vcores=2,gpu=0 "
        "--ps-resources memory=2G,vcores=1,gpu=0 --input hdfs://ns1/user/alice/mnist "
        "--checkpoint hdfs://ns1/user/alice/checkpoints/2G8TFDIST -- sh zeppelin_launch.sh",
        "# Zeppelin started a TensorBoard on the checkpoint path: %submarine tensorboard run",
    ]

    ran = cli("run", "mnist.ipynb", "--output", "out.ipynb", cwd=tmp_path, timeout=240)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "1 job(s) SUCCEEDED" in ran.stdout.splitlines()[-1]
    assert "The In [3] cell has no title and was not collected" in ran.stdout + ran.stderr
    logs = cli("logs", "--all", cwd=tmp_path)
    assert logs.returncode == 0, logs.stderr
    for index in (0, 1):  # the workers' command, Hadoop Submarine's %input_path% / %checkpoint_path% filled in
        assert (f"role=worker index={index} workers=2 ps=1 data-dir=hdfs://ns1/user/alice/mnist "
                "job-dir=hdfs://ns1/user/alice/checkpoints/2G8TFDIST\ntrained on 128 examples") in logs.stdout
    assert "role=ps index=0 workers=2 ps=1 data-dir=hdfs://ns1/user/alice/mnist job-dir=None\nparameter server up" \
        in logs.stdout


def test_a_zpln_note_of_zeppelin_0_9(tmp_path):
    result = cli("import-zeppelin", str(SHINY), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.strip() == ("wrote 2. Shiny App.ipynb: 5 cells (1 markdown, 4 raw) from Zeppelin note "
                                     "'2. Shiny App' (2EZ66TM57)")
    nb = nbformat.read(tmp_path / "2. Shiny App.ipynb", as_version=4)
    note = json.loads(SHINY.read_text())
    assert [cell.id for cell in nb.cells] == [p["id"] for p in note["paragraphs"]]
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("[Shiny](https://shiny.rstudio.com")
    # other interpreters' paragraphs stay as written (binding and its local properties included)
    assert [cell.source.split("\n", 1)[0] for cell in nb.cells[1:]] == [
        "%r.shiny(type=server)", "%r.shiny(type=ui)", "%r.shiny(type=run)", "%r.shiny"]
    assert nb.cells[1].metadata.zeppelin == {"paragraph_id": "paragraph_1580562566379_-876908296",
                                             "interpreter": "r.shiny", "title": "Shiny Server"}
    assert "output$summary <- renderPrint({" in nb.cells[1].source  # Zeppelin's \u003c escapes read back


def test_a_note_json_of_zeppelin_0_8_by_file_or_folder(tmp_path):
    by_file = cli("import-zeppelin", str(REMOTE), "--output", "by-file.ipynb", cwd=tmp_path)
    by_folder = cli("import-zeppelin", str(REMOTE.parent), "--output", "by-folder.ipynb", cwd=tmp_path)
    for result in (by_file, by_folder):
        assert result.returncode == 0, result.stderr
        assert warnings_of(result) == ["paragraph [4] (20180730-143556_600647597) has no text: skipped"]
        assert "4 cells (1 markdown, 3 raw) from Zeppelin note 'RemoteProcesses' (RemoteProcesses)" in result.stdout
    nb = nbformat.read(tmp_path / "by-file.ipynb", as_version=4)
    assert (tmp_path / "by-folder.ipynb").read_text() == (tmp_path / "by-file.ipynb").read_text()
    assert nb.metadata.zeppelin.format == "note.json"
    assert sources(nb)[1:] == [("raw", "%python\nimport time\ntime.sleep(300)"),
                               ("raw", "%spark.pyspark\nimport time\ntime.sleep(300)"),
                               ("raw", "%sh\nsleep 300s")]
    assert nb.cells[0].source.startswith("### Description\nThis notebook contains paragraphs")


def test_the_default_output_is_the_note_name_and_is_not_overwritten(tmp_path):
    first = cli("import-zeppelin", str(REMOTE), cwd=tmp_path)
    assert first.returncode == 0 and (tmp_path / "RemoteProcesses.ipynb").is_file()
    (tmp_path / "RemoteProcesses.ipynb").write_text("my edits")
    again = cli("import-zeppelin", str(REMOTE), cwd=tmp_path)
    assert again.returncode == 2
    assert again.stderr.strip() == ("submarine-kernel: error: 'RemoteProcesses.ipynb' exists: give another --output, "
                                    "or --force to replace it")
    assert (tmp_path / "RemoteProcesses.ipynb").read_text() == "my edits"
    forced = cli("import-zeppelin", str(REMOTE), "--force", cwd=tmp_path)
    assert forced.returncode == 0 and nbformat.read(tmp_path / "RemoteProcesses.ipynb", as_version=4).cells


def _write(path: Path, content) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


BAD = {
    "missing": (None, "note '{path}' does not exist: check the path"),
    "not-json": ('{"paragraphs": [', "'{path}' is not JSON (Expecting value at line 1, column 17): give a Zeppelin "
                                     "note (.zpln or note.json)"),
    "array": ([{"text": "%md hi"}], "'{path}' holds a JSON list, not a Zeppelin note object"),
    "no-paragraphs": ({"name": "x", "id": "2ABCDEFGH"}, "'{path}' has no 'paragraphs' list: it is JSON but not a "
                                                        "Zeppelin note"),
    "paragraphs-not-list": ({"paragraphs": {"a": 1}}, "'{path}' has no 'paragraphs' list: it is JSON but not a "
                                                      "Zeppelin note"),
    "empty": ({"paragraphs": [], "id": "2ABCDEFGH"}, "note '{path}' has no paragraphs: nothing to import"),
    "nothing-importable": ({"paragraphs": [{"id": "p1"}, {"text": ""}]},
                           "note '{path}' has no paragraph that could be imported"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_note_is_one_error_line_and_writes_nothing(tmp_path, case):
    content, message = BAD[case]
    notes = tmp_path / "notes"
    notes.mkdir()
    path = notes / "bad_2ABCDEFGH.zpln"
    if content is not None:
        _write(path, content)
    result = cli("import-zeppelin", str(path), "--output", "out.ipynb", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "submarine-kernel: error: " + message.format(path=path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]


@pytest.mark.parametrize("options, message", [
    (["--property", "tf.worker.services.num"], "--property 'tf.worker.services.num' is not KEY=VALUE: write e.g. "
                                               "--property tf.worker.services.num=2"),
    (["--property", "tf.workers=2"], "unknown Submarine interpreter property 'tf.workers': use one of "
                                     "tf.parameter.services.num, "),
    (["--interpreter-json", "nope.json"], "interpreter settings 'nope.json' do not exist: give Zeppelin's "
                                          "conf/interpreter.json"),
    (["--interpreter-json", str(SHINY)], f"'{SHINY}' has no 'interpreterSettings': give Zeppelin's "
                                         "conf/interpreter.json"),
    (["--runtime", "yarm"], "unknown runtime 'yarm': use one of "),
    (["--output", "note.txt"], "--output 'note.txt' does not end in .ipynb: give the notebook's file name"),
    (["--output", "missing/x.ipynb"], "the folder 'missing' does not exist: create it or give another --output"),
])
def test_bad_options_are_one_error_line_and_write_nothing(tmp_path, options, message):
    result = cli("import-zeppelin", str(SUBMARINE), *options, cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("submarine-kernel: error: " + message)
    assert list(tmp_path.iterdir()) == []


def test_a_partial_note_is_imported_with_one_warning_per_problem(tmp_path):
    note = {"id": "2PARTIAL1", "name": "folder/Partial", "paragraphs": [
        "not a paragraph",
        {"id": "p-number", "text": 42},
        {"id": "p-none"},
        {"id": "p-default", "text": "val x = 1"},  # 0.8: the default interpreter lives in the server's settings
        {"id": "p-unknown", "text": "%submarine.scala\nprintln(1)", "title": "x.scala"},
        {"id": "p-sh", "text": "%submarine.sh\necho untitled"},
        {"id": "p-escape", "text": "%submarine.python\nprint(1)", "title": "../escape.py"},
        {"id": "p-title", "text": "%submarine.python\nprint(2)", "title": ["not", "text"]},
        {"id": "p-ok", "text": "%submarine.python print('same line')\nprint(3)", "title": "my model.py"},
        {"id": "p-dash", "text": "%submarine\n", "settings": {"params": {"Worker Launch Command": "python {script}"}}},
    ]}
    path = _write(tmp_path / "note.json", note)
    result = cli("import-zeppelin", str(path), "--runtime", "local", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert warnings_of(result) == [
        "paragraph [0] is a JSON str, not a paragraph object: skipped",
        "paragraph [1] (p-number) has a int as its text, not a string: skipped",
        "paragraph [2] (p-none) has no text: skipped",
        "paragraph [7] (p-title) has a list as its title: imported as untitled",
        "paragraph [3] (p-default) names no interpreter and the note gives no default (0.7/0.8 notes keep it in the "
        "server's settings): kept as a raw cell",
        "paragraph [4] (p-unknown) uses %submarine.scala, which the Submarine interpreter did not have (it had "
        "%submarine, %submarine.python and %submarine.sh): kept as a raw cell",
        "The title of the [5] paragraph is empty and was not submitted to HDFS: kept as an untitled %%submarine.sh "
        "cell, which the kernel does not collect either; give it a file name, e.g. %%submarine.sh train.py",
        "paragraph [6] (p-escape): the cell title '../escape.py' leaves the bundle with '..': use a path inside it "
        "(kept as written: the kernel refuses it until it is renamed)",
        "The title of the [7] paragraph is empty and was not submitted to HDFS: kept as an untitled "
        "%%submarine.python cell, which the kernel does not collect either; give it a file name, e.g. "
        "%%submarine.python train.py",
        "the launch command holds {name} placeholders: each needs a param (-p NAME VALUE), or write them as "
        "${NAME} shell variables",
    ]
    nb = nbformat.read(tmp_path / "Partial.ipynb", as_version=4)
    assert sources(nb) == [
        ("raw", "val x = 1"),
        ("raw", "%submarine.scala\nprintln(1)"),
        ("code", "%%submarine.sh\necho untitled"),
        ("code", "%%submarine.python ../escape.py\nprint(1)"),
        ("code", "%%submarine.python\nprint(2)"),
        ("code", "%%submarine.python 'my model.py'\nprint('same line')\nprint(3)"),
        ("code", "# The Submarine settings of Zeppelin note 'Partial' (2PARTIAL1), from its %submarine paragraph [9]\n"
                 "%submarine config runtime=local framework=tensorflow\n"
                 "%submarine run --workers 1 -- python {script}"),
    ]


def test_a_note_without_launch_command_says_what_to_add(tmp_path):
    note = {"id": "2NOLAUNCH", "name": "n", "paragraphs": [
        {"id": "a", "text": "%submarine.python\nprint(1)", "title": "train.py"}]}
    result = cli("import-zeppelin", str(_write(tmp_path / "note.json", note)), cwd=tmp_path)
    assert result.returncode == 0
    assert warnings_of(result) == ["the note gives no worker launch command (the %submarine dashboard's Worker "
                                   "Launch Cmd): no %submarine run cell was written; add one, e.g. %submarine run "
                                   "-- python train.py"]
    assert sources(nbformat.read(tmp_path / "n.ipynb", as_version=4)) == [
        ("code", "%%submarine.python train.py\nprint(1)")]


def test_settings_from_the_dashboards_form_params_and_properties(tmp_path):
    """The interpreter's first, form-based UI kept its values as dynamic form params; one command for every role
    needs no launcher; `${username}` is the dashboard's user, as the interpreter replaced it."""
    note = {"id": "2FORMPARA", "name": "forms", "paragraphs": [
        {"id": "t", "title": "train.py", "text": "%submarine.python\nprint(1)"},
        {"id": "d", "user": "bob", "text": "%submarine\nJOB RUN", "settings": {"params": {
            "Input Path(input_path)": "hdfs:///data", "Worker Launch Command": "python train.py %input_path%",
            "PS Launch Command": "python train.py %input_path%", "CLEAN_CHECKPOINT": "true"}}},
    ]}
    result = cli("import-zeppelin", str(_write(tmp_path / "forms_2FORMPARA.zpln", note)), "--property",
                 "machinelearing.distributed.enable=true", "--property", "tf.worker.services.num=3", "--property",
                 "tf.parameter.services.num=2", "--property", "tf.checkpoint.path=hdfs:///user/${username}/ckpt",
                 "--property", "tf.worker.services.gpu=1", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    nb = nbformat.read(tmp_path / "forms.ipynb", as_version=4)
    assert nb.cells[-1].source.splitlines()[1:] == [
        "%submarine config runtime=yarn framework=tensorflow",
        "# Zeppelin cleaned the checkpoint before each run; to do the same:",
        "# %submarine clean --checkpoint hdfs:///user/bob/ckpt/2FORMPARA",
        "%submarine run --workers 3 --ps 2 --worker-resources gpu=1 --input hdfs:///data "
        "--checkpoint hdfs:///user/bob/ckpt/2FORMPARA -- python train.py $SUBMARINE_INPUT_PATH",
    ]


def test_a_failed_write_leaves_the_old_notebook_and_no_temporary_file(tmp_path, monkeypatch):
    """The disk filling up mid-write (ENOSPC at fsync) cannot be produced on demand: patched here."""
    target = tmp_path / "kept.ipynb"
    target.write_text("the user's notebook")
    imported = zeppelin.convert(zeppelin.read_note(SHINY))

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zeppelin.os, "fsync", full_disk)
    with pytest.raises(OSError):
        zeppelin.write_atomically(imported.notebook, target)
    assert target.read_text() == "the user's notebook"
    assert [p.name for p in tmp_path.iterdir()] == ["kept.ipynb"]


def test_load_ext_imports_neither_the_importer_nor_provenance():
    assert imported_by_load_ext(["submarine_kernel.zeppelin", "submarine_kernel.provenance", "nbformat"]) == []


def test_the_fixtures_are_the_upstream_files():
    """The copies are byte for byte the blobs tests/protocols/README.md names (Zeppelin's escapes included)."""
    import hashlib
    import re

    readme = (HERE / "protocols" / "README.md").read_text()
    for path in (SHINY, REMOTE):
        name = path.relative_to(HERE / "protocols").as_posix()
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}`"))
        blob = re.search(r"git blob `([0-9a-f]{40})`", row).group(1)
        data = path.read_bytes()
        assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == blob, name
