"""What the real-cluster harnesses share: where built things are cached, free ports, and skip-or-fail.

A machine without the toolchain a cluster needs (Java and Maven for Hadoop, Go for Kubernetes) skips those
tests with one line; CI (``CI`` set, as `.ci/run` runs) fails instead, so a green CI always ran them.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> None:
    """Skip the test with a one-line reason, or fail it under CI, where a cluster test must run."""
    if in_ci():
        pytest.fail(f"CI needs the real cluster: {reason}", pytrace=False)
    pytest.skip(reason)


def missing_tools(*names: str) -> list[str]:
    """The named commands that are not on PATH."""
    return [name for name in names if shutil.which(name) is None]


def cache_dir(*parts: str) -> Path:
    """A folder in the user's cache (``$XDG_CACHE_HOME`` or ``~/.cache``) for built binaries and downloads."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "submarine-kernel"
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
