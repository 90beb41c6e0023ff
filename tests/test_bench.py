"""bench/run.py always prints its table: a section that cannot run reports why in its own row."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "run.py"


@pytest.fixture
def bench(monkeypatch):
    spec = importlib.util.spec_from_file_location("submarine_bench_run", BENCH)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script puts tests/ on sys.path
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    # its own sections only
    for name in ("bench_table", "kernel_timing", "tracking_bench", "storage_bench", "kubernetes_bench",
                 "hadoop_bench", "sweep_bench", "usage_bench"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    spec.loader.exec_module(module)
    return module


def _register(bench, name, func):
    bench.section(name)(func)


def test_a_crashing_and_a_skipped_section_still_leave_the_measured_rows(bench, capsys):
    def measured(args):
        return [bench.Row("measured", "figure", f"{args.repeat} repeat(s)", "base", "1.00", "any", True)]

    def crashing(args):
        raise RuntimeError("the test server refused the connection\nsecond line of detail")

    def needs_a_peer(args):
        import submarine_kernel_no_such_peer  # noqa: F401
        return []

    _register(bench, "measured", measured)
    _register(bench, "crashing", crashing)
    _register(bench, "peer", needs_a_peer)
    rc = bench.main(["--only", "measured,crashing,peer", "--repeat", "2"])
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split(" | ")[0].strip() == "section"
    rows = {line.split(" | ")[0].strip(): [c.strip() for c in line.split(" | ")] for line in lines[2:]}
    assert rows["measured"][2] == "2 repeat(s)" and rows["measured"][6] == "yes"
    assert rows["crashing"][1:3] == ["not measured", "RuntimeError: the test server refused the connection"]
    assert rows["crashing"][6] == "NO"
    assert rows["peer"][1] == "skipped"
    assert "submarine_kernel_no_such_peer is not installed" in rows["peer"][2] and rows["peer"][6] == ""
    assert rc == 1  # a section that crashed is a failed bench, a skipped one is not
    assert "crashing: could not be measured" in err and "Traceback" not in err


def test_traceback_on_request_and_bad_repeat(bench, capsys):
    def crashing(args):
        raise ValueError("bad figure")

    _register(bench, "crashing", crashing)
    assert bench.main(["--only", "crashing", "--traceback"]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" in err and "ValueError: bad figure" in out
    with pytest.raises(SystemExit):
        bench.main(["--repeat", "0"])
    assert "--repeat must be at least 1" in capsys.readouterr().err


def test_the_real_hadoop_section_says_what_it_needs_without_java_or_maven(bench, monkeypatch):
    from clusters import hadoop

    monkeypatch.setattr(hadoop, "missing_tools", lambda *names: ["mvn"])
    rows = bench.SECTIONS["hadoop"](type("Args", (), {"repeat": 1})())
    assert [(r.section, r.metric, r.ok) for r in rows] == [("real Hadoop", "skipped", None)]
    assert rows[0].value.startswith("needs java/mvn: ") and "mvn" in rows[0].value
