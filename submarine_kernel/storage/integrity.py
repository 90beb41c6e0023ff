"""Checks a stored bundle must pass before it is trusted: a readable manifest that lists its files, names that
stay inside the bundle, and contents whose sha256 matches the manifest.

A bundle that fails is *damaged*: fetching it raises DamagedBundle (nothing of it is written), and the next
upload of the same content replaces it instead of reusing it. Replicas that fetch the files themselves (YARN's
localization, a Kubernetes init container) run the same check in their shell (`replica_check`), against the
sha256 of each file as submitted, which travels with the job, not with the store.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import shlex
from typing import Any, Iterable, Mapping

from ..algorithm import MANIFEST_NAME
from ..errors import StorageError


class DamagedBundle(StorageError):
    """A stored bundle whose manifest or files do not match: it is treated as absent and uploaded again."""


def parse_manifest(raw: bytes, where: str) -> dict:
    """The manifest as a dict whose `files` entries each have a safe name, a size and a sha256."""
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise DamagedBundle(f"the manifest of bundle {where} is not JSON ({exc}): submit again to re-upload it") \
            from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, list) or not all(isinstance(e, dict) for e in files):
        raise DamagedBundle(f"the manifest of bundle {where} lists no files: submit again to re-upload it")
    for entry in files:
        name = entry.get("name")
        if not isinstance(name, str) or not is_inside(name):
            raise DamagedBundle(f"the manifest of bundle {where} names {name!r}, a path outside the bundle: "
                                "refusing it; submit again to re-upload the bundle")
        if not isinstance(entry.get("sha256"), str) or not isinstance(entry.get("size"), int):
            raise DamagedBundle(f"the manifest of bundle {where} has no size or sha256 for {name!r}: "
                                "submit again to re-upload it")
    return manifest


def is_inside(name: str) -> bool:
    """Whether `name` is a relative path that stays inside the bundle folder."""
    if not name or "\x00" in name or "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return False
    normalized = posixpath.normpath(name)
    return normalized not in (".", MANIFEST_NAME) and not normalized.startswith("../") and normalized != ".."


def check_file(entry: dict[str, Any], data: bytes, where: str) -> None:
    """Raise DamagedBundle unless `data` is the file the manifest entry describes."""
    if len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise DamagedBundle(f"{entry['name']} in bundle {where} does not match its manifest (changed in the "
                            "store after upload): submit again to re-upload it")


def same_files(manifest: dict, expected: dict) -> bool:
    """Whether two manifests describe the same files (their `created` times may differ)."""
    def files(m):
        return sorted((e.get("name"), e.get("size"), e.get("sha256")) for e in m.get("files") or ()
                      if isinstance(e, dict))
    return manifest.get("digest") == expected.get("digest") and files(manifest) == files(expected)


#: the exit status of a replica whose algorithm files do not match what was submitted
REPLICA_CHECK_EXIT = 3


def replica_check(digests: Mapping[str, str], folders: Iterable[str] = ("",)) -> str:
    """A POSIX shell snippet that checks each file of `digests` (name → sha256 as submitted, e.g.
    `Bundle.file_sha256`) under each of `folders` (relative to the current directory) with coreutils' or
    busybox's `sha256sum -c`, printing only what differs and a line that says what to do, and exiting
    REPLICA_CHECK_EXIT when anything does."""
    lines = [f"{digest}  {posixpath.join(folder, name) if folder else name}"
             for folder in folders for name, digest in sorted(digests.items())]
    if not lines:
        return "true"
    listing = "printf '%s\\n' " + " ".join(shlex.quote(line) for line in lines)
    return ("{ SUBMARINE_CHECK=$(" + listing + " | sha256sum -c - 2>&1) || { "
            "printf '%s\\n' \"$SUBMARINE_CHECK\" | grep -v ': OK$' >&2; "
            "echo 'submarine-kernel: the algorithm files differ from those submitted (changed in the store after "
            f"upload): submit the job again' >&2; exit {REPLICA_CHECK_EXIT}; }}; }}")
