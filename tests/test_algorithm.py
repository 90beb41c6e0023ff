"""Algorithm bundles: cells → files, titles, interpreter lines, saved notebooks, manifest and digest."""

from __future__ import annotations

import hashlib
import json
import warnings

import nbformat
import pytest

from submarine_kernel.algorithm import (
    MANIFEST_NAME,
    PARAMS_NAME,
    AlgorithmCollector,
    Bundle,
    UntitledCellWarning,
    collect_cells,
    collect_notebook,
    strip_interpreter_line,
    validate_title,
)
from submarine_kernel.errors import SubmarineError, TitleError, ValidationError


# -- joining cells -------------------------------------------------------------------------------------
def test_same_title_joined_in_order_with_blank_line():
    c = AlgorithmCollector()
    c.add("train.py", "%%submarine.python train.py\nimport os\n", cell_id="a")
    c.add("model.py", "%%submarine.python model.py\nclass M: pass\n", cell_id="b")
    c.add("train.py", "%%submarine.python train.py\nprint(os.getcwd())\n", cell_id="c")
    bundle = c.bundle()
    assert bundle.files["train.py"] == b"import os\n\nprint(os.getcwd())\n"
    assert bundle.files["model.py"] == b"class M: pass\n"
    assert c.titles() == ["train.py", "model.py"]
    assert bundle.cells["train.py"] == ("a", "c")


def test_rerun_same_cell_id_replaces_in_place():
    c = AlgorithmCollector()
    c.add("train.py", "first = 1", cell_id="a")
    c.add("train.py", "second = 2", cell_id="b")
    c.add("train.py", "first = 'edited'", cell_id="a")  # re-run of cell a
    c.add("train.py", "first = 'edited again'", cell_id="a")
    assert c.bundle().files["train.py"] == b"first = 'edited again'\n\nsecond = 2\n"
    assert c.bundle().cells["train.py"] == ("a", "b")


def test_rerun_can_move_a_cell_to_another_title():
    c = AlgorithmCollector()
    c.add("a.py", "x = 1", cell_id="1")
    c.add("b.py", "x = 1", cell_id="1")
    assert set(c.bundle().files) == {"b.py"}


def test_untitled_cell_warns_with_its_position_and_is_not_collected():
    c = AlgorithmCollector()
    c.add("train.py", "x = 1", cell_id="a", position=0)
    with pytest.warns(UntitledCellWarning) as record:
        assert c.add(None, "y = 2", cell_id="b", position=3) is None
        assert c.add("   ", "z = 3", cell_id="c", position=4) is None
    messages = [str(w.message) for w in record]
    assert "[3]" in messages[0] and "cell has no title" in messages[0] and "not collected" in messages[0]
    assert "[4]" in messages[1]
    assert "%%submarine.python train.py" in messages[0]  # says how to fix it
    assert c.bundle().files == {"train.py": b"x = 1\n"}


def test_untitled_cell_in_collect_cells_names_its_notebook_position():
    cells = [("a", "%%submarine.python train.py\nx = 1"), ("b", "print('plain cell')"),
             ("c", "%%submarine.python\ny = 2")]
    with pytest.warns(UntitledCellWarning, match=r"\[2\]"):
        bundle = collect_cells(cells)
    assert bundle.files == {"train.py": b"x = 1\n"}


# -- interpreter lines ---------------------------------------------------------------------------------
def test_sh_interpreter_line_with_args_keeps_the_rest_of_the_line():
    assert strip_interpreter_line("%submarine.sh(k1=v1,k2=v2) abc\nnext") == "abc\nnext"
    assert strip_interpreter_line("%submarine.sh(k1=v1,k2=v2) abc") == "abc"
    assert strip_interpreter_line("%submarine.sh\necho hi") == "echo hi"


def test_cell_magic_line_is_dropped():
    assert strip_interpreter_line("%%submarine.python x.py\nimport os\n") == "import os\n"
    assert strip_interpreter_line("%%submarine.sh run.sh --flag\necho hi") == "echo hi"


def test_source_without_interpreter_line_is_untouched():
    src = "import os\n%submarine.sh later lines are kept\n"
    assert strip_interpreter_line(src) == src


def test_collector_strips_interpreter_line():
    c = AlgorithmCollector()
    c.add("run.sh", "%submarine.sh(k1=v1,k2=v2) abc\ndef", cell_id="a", kind="sh")
    c.add("x.py", "%%submarine.python x.py\nprint(1)", cell_id="b")
    assert c.bundle().files == {"run.sh": b"abc\ndef\n", "x.py": b"print(1)\n"}


# -- titles --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("title, words", [
    ("/etc/passwd", ["absolute"]),
    ("C:/x.py", ["absolute"]),
    ("../escape.py", ["'..'"]),
    ("utils/../../escape.py", ["'..'"]),
    ("utils\\data.py", ["backslash", "'/'"]),
    ("a\x00b.py", ["NUL"]),
    ("", ["empty", "%%submarine.python train.py"]),
    ("   ", ["empty"]),
    ("a" * 256 + ".py", ["259 bytes", "255"]),
    (MANIFEST_NAME, ["reserved", "another file name"]),
    (PARAMS_NAME, ["reserved"]),
    ("utils/", ["'utils/'"]),
    (".", ["folder"]),
    (" train.py", ["space"]),
])
def test_bad_titles_refused_with_a_clear_message(title, words):
    with pytest.raises(TitleError) as info:
        validate_title(title)
    assert isinstance(info.value, SubmarineError)
    for word in words:
        assert word in str(info.value)


def test_bad_title_names_the_title():
    with pytest.raises(TitleError, match=r"'\.\./x\.py'"):
        validate_title("../x.py")


def test_multibyte_title_limit_counts_bytes():
    title = "é" * 128  # 256 bytes, 128 characters
    with pytest.raises(TitleError, match="256 bytes"):
        validate_title(title)
    assert validate_title("é" * 127) == "é" * 127


@pytest.mark.parametrize("title, normalized", [
    ("train.py", "train.py"), ("utils/data.py", "utils/data.py"), ("./train.py", "train.py"),
    ("a/./b.py", "a/b.py"), ("a" * 255, "a" * 255),
])
def test_good_titles_normalized(title, normalized):
    assert validate_title(title) == normalized


def test_collector_refuses_bad_title():
    c = AlgorithmCollector()
    with pytest.raises(TitleError, match="absolute"):
        c.add("/abs.py", "x", cell_id="a")
    assert c.parts == []


# -- saved notebooks -----------------------------------------------------------------------------------
def _notebook(tmp_path, sources, name="demo.ipynb"):
    nb = nbformat.v4.new_notebook()
    cells = []
    for source in sources:
        if source.startswith("#md "):
            cells.append(nbformat.v4.new_markdown_cell(source[4:]))
        else:
            cells.append(nbformat.v4.new_code_cell(source))
    nb.cells = cells
    path = tmp_path / name
    nbformat.write(nb, str(path))
    return path, nb


def test_collect_saved_notebook_in_order(tmp_path):
    path, nb = _notebook(tmp_path, [
        "%%submarine.python train.py\nimport helper",
        "#md %%submarine.python ignored.py\nnot code",
        "print('not a submarine cell')",
        "%%submarine.sh run.sh\necho start",
        "%%submarine.python utils/helper.py\nVALUE = 1",
        "%%submarine.python train.py\nprint(helper.VALUE)",
    ])
    bundle = collect_notebook(path)
    assert list(bundle.files) == ["train.py", "run.sh", "utils/helper.py"]
    assert bundle.files["train.py"] == b"import helper\n\nprint(helper.VALUE)\n"
    assert bundle.files["run.sh"] == b"echo start\n"
    assert bundle.notebook == str(path)
    assert bundle.cells["train.py"] == (nb.cells[0].id, nb.cells[5].id)


def test_collect_saved_notebook_warns_for_untitled_cell(tmp_path):
    path, _ = _notebook(tmp_path, ["%%submarine.python a.py\nx = 1", "%%submarine.python\ny = 1"])
    with pytest.warns(UntitledCellWarning, match=r"\[1\]"):
        bundle = collect_notebook(path)
    assert list(bundle.files) == ["a.py"]


def test_collect_saved_notebook_bad_title(tmp_path):
    path, _ = _notebook(tmp_path, ["%%submarine.python ../evil.py\nx = 1"])
    with pytest.raises(TitleError, match=r"'\.\./evil\.py'.*'\.\.'"):
        collect_notebook(path)


def test_corrupt_notebook_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text('{"cells": [ not json')
    with pytest.raises(ValidationError) as info:
        collect_notebook(path)
    message = str(info.value)
    assert "broken.ipynb" in message and "not a readable .ipynb" in message and "re-save" in message


def test_missing_notebook_is_a_clear_error(tmp_path):
    with pytest.raises(ValidationError, match="does not exist: check the path"):
        collect_notebook(tmp_path / "nope.ipynb")


# -- manifest and digest -------------------------------------------------------------------------------
def test_manifest_fields():
    c = AlgorithmCollector(notebook="work/demo.ipynb")
    c.add("train.py", "print(1)", cell_id="c1")
    c.add("utils/data.py", "X = 2", cell_id="c2")
    bundle = c.bundle()
    manifest = bundle.manifest()
    assert manifest["digest"] == bundle.digest
    assert manifest["notebook"] == "work/demo.ipynb"
    assert manifest["created"] == bundle.created
    entries = {e["name"]: e for e in manifest["files"]}
    assert set(entries) == {"train.py", "utils/data.py"}
    data = bundle.files["train.py"]
    assert entries["train.py"] == {"name": "train.py", "size": len(data),
                                   "sha256": hashlib.sha256(data).hexdigest(), "cells": ["c1"]}
    assert entries["utils/data.py"]["cells"] == ["c2"]
    assert json.loads(bundle.manifest_bytes()) == manifest
    assert bundle.size == sum(len(d) for d in bundle.files.values())


def test_digest_ignores_creation_time_cell_ids_and_notebook():
    a = Bundle({"train.py": b"x", "b.py": b"y"}, cells={"train.py": ("1",)}, notebook="a.ipynb",
               created="2020-01-01T00:00:00+00:00")
    b = Bundle({"b.py": b"y", "train.py": b"x"}, cells={"train.py": ("other",)}, notebook=None,
               created="2030-01-01T00:00:00+00:00")
    assert a.digest == b.digest


def test_digest_changes_with_name_or_content():
    base = Bundle({"train.py": b"x", "b.py": b"y"})
    assert Bundle({"train.py": b"x ", "b.py": b"y"}).digest != base.digest  # content
    assert Bundle({"train2.py": b"x", "b.py": b"y"}).digest != base.digest  # name
    assert Bundle({"train.py": b"x"}).digest != base.digest  # a file fewer
    assert Bundle({"train.py": b"x", "b.py": b"y", "c.py": b""}).digest != base.digest  # an empty file more
    # no ambiguity between moving bytes from a name into a content
    assert Bundle({"ab": b"c"}).digest != Bundle({"a": b"bc"}).digest


def test_digest_same_for_recollected_cells_with_new_ids():
    first = collect_cells([("x1", "%%submarine.python t.py\nprint(1)")])
    second = collect_cells([("y9", "%%submarine.python t.py\nprint(1)")])
    assert first.digest == second.digest


def test_with_params_adds_params_json_and_changes_digest(tmp_path):
    bundle = Bundle({"train.py": b"x"})
    assert bundle.with_params({}) is bundle
    with_params = bundle.with_params({"lr": 0.1, "name": "a b"})
    assert json.loads(with_params.files[PARAMS_NAME]) == {"lr": 0.1, "name": "a b"}
    assert with_params.digest != bundle.digest


def test_nul_in_source_refused():
    with pytest.raises(ValidationError, match="NUL byte"):
        AlgorithmCollector().add("train.py", "x = '\x00'", cell_id="a")


def test_no_warning_for_titled_cells():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        collect_cells([("a", "%%submarine.python t.py\nprint(1)")])


# -- one header parser and the saved notebook's order (issue 15 item 2) ---------------------------------
def test_the_cell_header_parser_reads_quotes_flags_and_refuses_the_rest():
    from submarine_kernel.algorithm import parse_cell_header

    header = parse_cell_header("python", '"my model.py" --no-local')
    assert (header.title, header.no_local, header.python) == ("my model.py", True, False)
    assert parse_cell_header("sh", "").title is None
    with pytest.raises(ValidationError, match="unrecognized arguments: --remote"):
        parse_cell_header("python", "t.py --remote")
    with pytest.raises(ValidationError, match="close the quotes"):
        parse_cell_header("python", "'t.py")


def test_saved_order_places_known_parts_and_keeps_unsaved_ones_after_in_first_run_order():
    from submarine_kernel.algorithm import AlgorithmCollector, saved_cells

    saved = saved_cells([("a", "%%submarine.python t.py\nA = 1"), ("x", "plain = 1"),
                         ("b", "%%submarine.python t.py\nB = 2")])
    collector = AlgorithmCollector()
    collector.add("t.py", "NEW = 0", cell_id="new")            # not saved yet
    collector.add("t.py", "B = 2", cell_id="b")
    collector.add("t.py", "A = 1", cell_id=None)               # a client without ids: matched by its text
    assert collector.bundle(saved).files["t.py"] == b"A = 1\n\nB = 2\n\nNEW = 0\n"
    assert collector.bundle().files["t.py"] == b"NEW = 0\n\nB = 2\n\nA = 1\n"   # no saved notebook: first-run


def test_a_saved_cell_with_a_bad_header_names_its_position():
    with pytest.raises(ValidationError, match=r"cell \[1\] of the notebook: .*unrecognized arguments: --oops"):
        collect_cells([("a", "x = 1"), ("b", "%%submarine.python t.py --oops\nx = 1")])
