"""Deleting a job's checkpoint folder (`%submarine clean --checkpoint`, the form's clean-checkpoint box),
refusing paths that are not clearly one job's folder.

The path is resolved first (`..`, `.`, doubled slashes and, on local disk, symlinks), and every check runs
on the resolved path: `/data/victim/a/b/../..` is `/data/victim`, two levels deep, and refused.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

from ..errors import SubmarineError, ValidationError
from .filesystems import open_filesystem

#: Zeppelin refused to delete checkpoint paths this shallow or shallower
MIN_CHECKPOINT_DEPTH = 4


def resolved_checkpoint_path(path: str) -> str:
    """The path with `.`/`..` segments and doubled slashes resolved (symlinks too, on local disk)."""
    if "://" in path:
        parts = urlsplit(path)
        if parts.scheme == "file":
            return Path(os.path.realpath(parts.path)).as_uri()
        resolved = posixpath.normpath(parts.path or "/") if parts.path else ""
        return urlunsplit(parts._replace(path=resolved.replace("//", "/")))
    return os.path.realpath(os.path.expanduser(path))


def checkpoint_depth(path: str) -> int:
    """Number of path parts below the file system root (`hdfs://nn/user/a/job` → 3), once resolved."""
    path = resolved_checkpoint_path(path)
    return len([p for p in urlsplit(path).path.split("/") if p]) if "://" in path else \
        len([p for p in path.split("/") if p])


def clean_checkpoint(path: str, options: Mapping[str, Any] | None = None) -> bool:
    """Delete a job's checkpoint folder; refuse a path that is not clearly one job's folder (too shallow once
    resolved, a file, or a folder that holds the working directory or the home folder)."""
    if not path:
        raise ValidationError("no checkpoint path is set: pass --checkpoint PATH")
    resolved = resolved_checkpoint_path(path)
    shown = repr(path) if resolved == path else f"{path!r} (that is {resolved!r})"
    depth = checkpoint_depth(resolved)
    if depth < MIN_CHECKPOINT_DEPTH:
        raise ValidationError(f"refusing to delete checkpoint path {shown}: it is only {depth} levels deep; "
                              f"use a folder at least {MIN_CHECKPOINT_DEPTH} levels deep that belongs to the job")
    if "://" not in resolved or resolved.startswith("file://"):
        local = urlsplit(resolved).path if "://" in resolved else resolved
        for precious in (os.getcwd(), os.path.expanduser("~")):
            if os.path.realpath(precious) == local or os.path.realpath(precious).startswith(local.rstrip("/") + "/"):
                raise ValidationError(f"refusing to delete checkpoint path {shown}: it holds {precious}; "
                                      "pass the job's own checkpoint folder")
    fs, fs_path = open_filesystem(resolved, options)
    if not fs.exists(fs_path):
        return False
    if not fs.isdir(fs_path):
        raise ValidationError(f"refusing to delete checkpoint path {shown}: it is a file, not a job's folder")
    try:
        fs.rm(fs_path, recursive=True)
    except FileNotFoundError:
        pass  # removed meanwhile (another clean): it is gone either way
    except OSError as exc:
        raise SubmarineError(f"could not delete all of checkpoint folder {resolved}: {exc.strerror or exc}") from None
    return True
