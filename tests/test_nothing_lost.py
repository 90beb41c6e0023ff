"""Nothing lost, round two (issue 25): each test reproduces one report of the reliability attack on main
(it failed there) and checks the fix: a checkpoint path with `..`, a second submission under a live job's
name, one malformed job breaking every listing, a read-only store, a full disk, a registry deleted under a
live kernel, a supervisor that cannot be stopped, and bad input that still got a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from submarine_kernel.errors import SubmarineError, ValidationError


# -- 1. a checkpoint path is resolved before it is checked ------------------------------------------------
def test_clean_checkpoint_resolves_dot_dot_before_the_depth_check(tmp_path):
    from submarine_kernel.storage import clean_checkpoint

    victim = tmp_path / "data" / "victim"
    (victim / "a" / "b").mkdir(parents=True)
    (victim / "other" / "data").mkdir(parents=True)
    (victim / "other" / "data" / "keep.txt").write_text("precious")
    shallow = Path("/") / "data" / "victim"  # the report's path: /data/victim/a/b/../.. is two levels deep
    with pytest.raises(ValidationError, match=r"that is '/data/victim'.*only 2 levels deep"):
        clean_checkpoint(f"{shallow}/a/b/../..")
    # resolved, a deep path is deleted, and only it
    assert clean_checkpoint(f"{victim}/a/b/../b") is True
    assert not (victim / "a" / "b").exists()
    assert (victim / "other" / "data" / "keep.txt").read_text() == "precious"


def test_clean_checkpoint_refuses_a_file_and_a_folder_that_holds_the_working_directory(tmp_path, monkeypatch):
    from submarine_kernel.storage import clean_checkpoint

    job = tmp_path / "a" / "b" / "c" / "job"
    (job / "work").mkdir(parents=True)
    (job / "weights.pt").write_bytes(b"w")
    with pytest.raises(ValidationError, match="is a file, not a job's folder"):
        clean_checkpoint(str(job / "weights.pt"))
    monkeypatch.chdir(job / "work")
    with pytest.raises(ValidationError, match="it holds"):
        clean_checkpoint(str(job))
    assert (job / "weights.pt").exists()
    link = tmp_path / "a" / "b" / "c" / "link"
    link.symlink_to(tmp_path)  # deep as typed, a shallow folder once resolved
    with pytest.raises(ValidationError, match=f"that is {str(tmp_path)!r}.*it holds"):
        monkeypatch.chdir(tmp_path / "a")
        clean_checkpoint(str(link))
    assert (job / "weights.pt").exists()
