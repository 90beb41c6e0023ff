"""Deleting a job's checkpoint folder (`%submarine clean --checkpoint`, the form's clean-checkpoint box),
refusing paths too shallow to belong to one job.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import urlsplit

from ..errors import ValidationError
from .filesystems import open_filesystem

#: Zeppelin refused to delete checkpoint paths this shallow or shallower
MIN_CHECKPOINT_DEPTH = 4


def checkpoint_depth(path: str) -> int:
    """Number of path parts below the file system root (`hdfs://nn/user/a/job` → 3)."""
    return len([p for p in urlsplit(path).path.split("/") if p]) if "://" in path else \
        len([p for p in path.split("/") if p])


def clean_checkpoint(path: str, options: Mapping[str, Any] | None = None) -> bool:
    """Delete a job's checkpoint folder; refuse paths too shallow to belong to one job."""
    if not path:
        raise ValidationError("no checkpoint path is set: pass --checkpoint PATH")
    depth = checkpoint_depth(path)
    if depth < MIN_CHECKPOINT_DEPTH:
        raise ValidationError(f"refusing to delete checkpoint path {path!r}: it is only {depth} levels deep; "
                              f"use a folder at least {MIN_CHECKPOINT_DEPTH} levels deep that belongs to the job")
    fs, fs_path = open_filesystem(path, options)
    if not fs.exists(fs_path):
        return False
    fs.rm(fs_path, recursive=True)
    return True
