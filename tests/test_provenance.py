"""How to make a run again: each run keeps what it was made from, and two runs' records can be compared.

As a user works: a notebook in a git repository, run headless through a real kernel, edited, run again with
another param; then `submarine-kernel diff` and `%submarine history --diff` in a notebook."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

import submarine_kernel as sk
from submarine_kernel import provenance
from submarine_kernel.job_types import JobRef
from submarine_kernel.registry import Registry


def cli(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "submarine_kernel", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def test_two_runs_of_a_notebook_in_git_and_their_difference(tmp_path, isolated_data_dir):
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "dev@example.com")
    git(repo, "config", "user.name", "dev")
    notebook = repo / "train.ipynb"
    nbformat.write(new_notebook(cells=[
        new_code_cell("lr = 0.1", metadata={"tags": ["parameters"]}),
        new_code_cell("%%submarine.python train.py --no-local\nimport sys\nprint('lr', sys.argv[1:])"),
        new_code_cell("%submarine run -p lr $lr -- python train.py"),
    ]), notebook)
    git(repo, "add", "train.ipynb")
    git(repo, "commit", "-qm", "first")
    commit = git(repo, "rev-parse", "HEAD")

    first = cli("run", "train.ipynb", cwd=repo)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace("print('lr'", "print('learning rate'")
    nbformat.write(nb, notebook)  # not committed: the second run comes from a dirty work tree
    second = cli("run", "train.ipynb", "-p", "lr", "0.5", cwd=repo)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]

    registry = Registry()
    newer, older = registry.list()[:2]
    record = registry.provenance(older.ref)
    assert record["git"] == {"available": True, "repository": str(repo.resolve()), "commit": commit,
                             "branch": git(repo, "rev-parse", "--abbrev-ref", "HEAD"), "dirty": False,
                             "notebook": "train.ipynb", "notebook_dirty": False, "changed": [], "files_diff": ""}
    assert record["python"]["version"] == platform.python_version()
    assert record["packages"]["submarine-kernel"] == importlib.metadata.version("submarine-kernel")
    assert record["packages"]["nbformat"] == importlib.metadata.version("nbformat")
    assert record["params"] == {"lr": "0.1"} and record["image"] == ""
    assert older.bundle_uri.rstrip("/").endswith(record["bundle"]["digest"])  # the stored bundle's own digest
    assert list(record["bundle"]["files"]) == ["train.py"]
    changed = registry.provenance(newer.ref)["git"]
    assert changed["dirty"] and changed["notebook_dirty"] and changed["changed"] == ["train.ipynb"]
    assert changed["files_diff"] == ("--- a/train.py\n+++ b/train.py\n@@ -1,2 +1,2 @@\n import sys\n"
                                     "-print('lr', sys.argv[1:])\n+print('learning rate', sys.argv[1:])\n")

    diff = cli("diff", older.ref.name, newer.ref.name, cwd=repo, timeout=60)
    assert diff.returncode == 0, diff.stderr
    lines = diff.stdout.splitlines()
    assert lines[0] == f"{older.ref.name}: commit {commit[:12]} on {changed['branch']}, clean; " \
                       f"Python {platform.python_version()}; {len(record['packages'])} packages"
    assert lines[1].startswith(f"{newer.ref.name}: commit {commit[:12]} on {changed['branch']}, dirty, collected "
                               "files differ from the commit; Python")
    table = {line.split("  ")[0]: line.split() for line in lines[3:10]}
    assert table["work tree dirty"][-2:] == ["no", "yes"]
    assert table["param lr"][-2:] == ["0.1", "0.5"]
    assert "file train.py" in table and "bundle digest" in table
    assert not any(line.startswith(("git commit", "package ", "python ")) for line in lines)  # those are the same
    assert f"==> {newer.ref.name}: its collected files against commit {commit[:12]} <==" in lines
    assert "+print('learning rate', sys.argv[1:])" in lines

    # the same comparison from a notebook
    nbformat.write(new_notebook(cells=[new_code_cell(f"%submarine history --diff {older.ref.name} {newer.ref.name}")]),
                   tmp_path / "compare.ipynb")
    shown = cli("run", "compare.ipynb", "--output", "compare.out.ipynb", cwd=tmp_path)
    assert shown.returncode == 0, shown.stdout[-2000:]
    output = nbformat.read(tmp_path / "compare.out.ipynb", as_version=4).cells[0].outputs[0].text
    assert output.rstrip("\n") == diff.stdout.rstrip("\n")


def test_a_run_without_a_notebook_or_git_says_so_and_old_runs_have_no_record(tmp_path, isolated_data_dir):
    job = sk.submit("python job.py", files={"job.py": "print('hi')"}, name="no-notebook")
    job.wait(timeout=90)
    record = Registry().provenance(job.ref)
    assert record["git"] == {"available": False, "reason": "the run names no notebook"}
    assert record["packages"]["submarine-kernel"] == importlib.metadata.version("submarine-kernel")

    outside = tmp_path / "loose.ipynb"
    outside.write_text("{}")
    state = provenance.git_state(str(outside), {})
    assert state["available"] is False and state["reason"].startswith("loose.ipynb is not in a git repository")

    old = SimpleNamespace(name="old-run", ref=JobRef(job.ref.runtime, "old-run"))  # recorded before records

    assert provenance.compare(Registry(), old, job) == ("old-run kept no record of what it was made from "
                                                         "(submitted before runs kept one): run it again to compare")
    assert "the records are the same" in provenance.compare(Registry(), job, job)


def test_differences_name_each_package_python_and_image_change():
    a = {"git": {"commit": "a" * 40, "dirty": False}, "python": {"version": "3.11.7", "implementation": "cpython"},
         "packages": {"numpy": "1.26.4", "torch": "2.13.0", "old": "1.0"}, "image": "img:1",
         "params": {"lr": 0.1}, "bundle": {"digest": "d" * 64, "files": {"train.py": "1" * 64}}}
    b = {"git": {"commit": "b" * 40, "dirty": False}, "python": {"version": "3.12.1", "implementation": "cpython"},
         "packages": {"numpy": "2.0.0", "torch": "2.13.0", "new": "0.1"}, "image": "img:2",
         "params": {"lr": 0.1}, "bundle": {"digest": "d" * 64, "files": {"train.py": "1" * 64}}}
    assert provenance.differences(a, b) == [
        ("git commit", "a" * 40, "b" * 40),
        ("image", "img:1", "img:2"),
        ("python version", "3.11.7", "3.12.1"),
        ("package new", "-", "0.1"),
        ("package numpy", "1.26.4", "2.0.0"),
        ("package old", "1.0", "-"),
    ]
    assert provenance.differences(a, a) == []
