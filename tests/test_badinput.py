"""The bad-input corpus (tests/badinput/): one clear error each, and no side effect at all."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_notebook

from kernel_support import FrontendKernel

pytestmark = pytest.mark.slow
CORPUS = yaml.safe_load((Path(__file__).parent / "badinput" / "magics.yaml").read_text())
PROBE = ("import submarine_kernel.session as s\n"
         "b = s.default_session().collector.bundle()\n"
         "print(len(s.default_session().collector.parts), b.digest)")


#: a code cell without its `source` (nbformat reads it, with a warning): an AttributeError on main
NO_SOURCE_NOTEBOOK = ('{"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": null}],'
                      ' "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')


def test_the_corpus_is_large_and_unique():
    ids = [case["id"] for case in CORPUS]
    assert len(ids) >= 40 and len(ids) == len(set(ids))


@pytest.fixture(scope="module")
def kernel_and_files(tmp_path_factory):
    """One kernel for the whole corpus, with one valid collected cell whose state must survive every case."""
    data = tmp_path_factory.mktemp("badinput-data")
    files = tmp_path_factory.mktemp("badinput-files")
    (files / "corrupt.ipynb").write_text('{"cells": [ this is not json')
    nbformat.write(new_notebook(cells=[new_code_cell("%%submarine.python ../escape.py\nx = 1")]),
                   files / "bad_title.ipynb")
    nbformat.write(new_notebook(cells=[new_code_cell("%%submarine.python t.py --remote\nx = 1")]),
                   files / "bad_header.ipynb")
    (files / "no_source.ipynb").write_text(NO_SOURCE_NOTEBOOK)
    import os

    old = os.environ.get("SUBMARINE_DATA_DIR")
    os.environ["SUBMARINE_DATA_DIR"] = str(data)   # the kernel inherits it
    try:
        with FrontendKernel() as kernel:
            reply, _ = kernel.run("%%submarine.python t.py --no-local\nprint('kept')", cell_id="valid-cell")
            assert reply["content"]["status"] == "ok"
            _, baseline = kernel.run(PROBE)
            yield kernel, data, files, baseline
    finally:
        if old is None:
            os.environ.pop("SUBMARINE_DATA_DIR", None)
        else:
            os.environ["SUBMARINE_DATA_DIR"] = old


def _registry_rows(data: Path) -> int:
    path = data / "registry.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]


@pytest.mark.parametrize("case", CORPUS, ids=[c["id"] for c in CORPUS])
def test_bad_input_gives_one_clear_error_and_no_side_effect(kernel_and_files, case):
    kernel, data, files, baseline = kernel_and_files
    cell = (case["cell"].replace("{corrupt}", str(files / "corrupt.ipynb"))
            .replace("{missing}", str(files / "missing.ipynb"))
            .replace("{bad_title_notebook}", str(files / "bad_title.ipynb"))
            .replace("{bad_header_notebook}", str(files / "bad_header.ipynb"))
            .replace("{no_source_notebook}", str(files / "no_source.ipynb"))
            .replace("{long_title}", "x" * 300 + ".py"))
    reply, printed = kernel.run(cell, cell_id=f"case-{case['id']}")
    assert reply["content"]["status"] == "error", printed
    error_lines = [line for line in printed.splitlines() if "Error" in line]
    assert len(error_lines) == 1 and error_lines[0].startswith("UsageError: "), printed
    for expected in ([case["expect"]] if isinstance(case["expect"], str) else case["expect"]):
        assert expected in error_lines[0]
    assert "Traceback" not in printed
    # nothing uploaded, nothing started, nothing recorded, collected cells untouched
    assert not (data / "bundles").exists() or not any((data / "bundles").iterdir())
    assert not (data / "jobs").exists() or not any((data / "jobs").iterdir())
    assert _registry_rows(data) == 0
    _, state = kernel.run(PROBE)
    assert state == baseline


@pytest.mark.parametrize("content, expected", [
    ('{"cells": [ broken', "is not a readable .ipynb"),
    ("", "is not a readable .ipynb"),
])
def test_headless_run_of_a_corrupt_notebook_is_one_line(tmp_path, content, expected):
    path = tmp_path / "corrupt.ipynb"
    path.write_text(content)
    result = subprocess.run([sys.executable, "-m", "submarine_kernel", "run", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and expected in result.stderr


def test_headless_run_of_a_notebook_with_a_cell_without_source_is_one_line(tmp_path):
    path = tmp_path / "no_source.ipynb"
    path.write_text(NO_SOURCE_NOTEBOOK)
    result = subprocess.run([sys.executable, "-m", "submarine_kernel", "run", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result
    assert result.stderr.count("\n") == 1 and "cell 1 has no source: re-save it" in result.stderr, result.stderr


def test_headless_run_checks_the_runtime_before_starting_a_kernel(tmp_path):
    path = tmp_path / "ok.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("print('ran')")]), path)
    result = subprocess.run([sys.executable, "-m", "submarine_kernel", "run", str(path), "--runtime", "bogus"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "ran" not in result.stdout, result
    assert result.stderr.count("\n") == 1 and "unknown runtime 'bogus'" in result.stderr, result.stderr


def test_headless_run_with_a_bad_parameter_name(tmp_path):
    path = tmp_path / "ok.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1")]), path)
    result = subprocess.run([sys.executable, "-m", "submarine_kernel", "run", str(path), "-p", "not-a-name", "1"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "parameter name 'not-a-name' is not a Python identifier" in result.stderr
