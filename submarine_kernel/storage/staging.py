"""Hidden working folders of local-disk uploads (`.staging-*`, `.discard-*`) and their clean-up.

Each name carries its writer's pid and host, so a later upload can tell a folder left by a killed upload
(its process is gone) from a live one, which is never touched. Folders from another host, or in an older
naming, are removed only once they are a day old.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import socket
import time
from pathlib import Path

PREFIXES = (".staging-", ".discard-")
#: a working folder whose owner cannot be checked (another host, an older name) is stale after this long
STALE_AFTER_SECONDS = 24 * 3600


def host_tag() -> str:
    """This host, as the short tag working-folder names carry."""
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def name(kind: str, folder: str) -> str:
    """`.staging-<folder>-<pid>-<host tag>-<token>` (kind "staging" or "discard")."""
    return f".{kind}-{folder}-{os.getpid()}-{host_tag()}-{secrets.token_hex(4)}"


def _owner(entry: str) -> tuple[int, str] | None:
    parts = entry.rsplit("-", 3)
    if len(parts) != 4 or not parts[1].isdigit() or len(parts[2]) != 8:
        return None
    return int(parts[1]), parts[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def is_stale(entry: str, path: Path, now: float | None = None) -> bool:
    """Whether the working folder `entry` (at `path`) belongs to no live upload."""
    owner = _owner(entry)
    if owner is not None and owner[1] == host_tag():
        return owner[0] != os.getpid() and not _alive(owner[0])
    try:
        age = (now or time.time()) - path.stat().st_mtime
    except FileNotFoundError:
        return False
    return age > STALE_AFTER_SECONDS


def clean_stale(root: str) -> list[str]:
    """Remove the working folders under `root` that no live upload owns; returns their names."""
    removed = []
    try:
        entries = os.listdir(root)
    except FileNotFoundError:
        return removed
    for entry in entries:
        path = Path(root) / entry
        if entry.startswith(PREFIXES) and is_stale(entry, path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(entry)
    return removed
