"""Notebook cells → a Bundle of algorithm files, as Zeppelin's Submarine interpreter collected them.

A cell's title is its file name; cells with the same title are joined in notebook order; a re-run cell
replaces its own part; untitled cells are skipped with a warning that names their position.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import posixpath
import re
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable, Mapping

from .errors import TitleError, ValidationError

#: Names the project writes next to the user's files; a cell may not claim them.
MANIFEST_NAME = ".submarine-manifest.json"
PARAMS_NAME = "params.json"
RESERVED_NAMES = frozenset({MANIFEST_NAME, PARAMS_NAME})

CELL_MAGICS = ("submarine.python", "submarine.sh")
MAX_TITLE_BYTES = 255
#: Cells hold code; data belongs in --input storage. Larger cells would bloat every upload and ConfigMap.
MAX_CELL_BYTES = 8 * 1024 * 1024

# `%submarine.sh(k1=v1,k2=v2) abc` or `%%submarine.python train.py` at the start of a cell.
_INTERPRETER_LINE = re.compile(r"^\s*%{1,2}submarine(?:\.(?P<kind>\w+))?(?:\([^)]*\))?(?P<rest>.*)$")


class UntitledCellWarning(UserWarning):
    """A cell without a title was not collected."""


def strip_interpreter_line(source: str) -> str:
    """Drop a leading `%%submarine.python TITLE` line; keep what follows `%submarine.sh(k=v)` on it."""
    first, sep, rest = source.partition("\n")
    match = _INTERPRETER_LINE.match(first)
    if not match:
        return source
    if first.lstrip().startswith("%%"):
        return rest
    kept = match.group("rest").strip()
    return kept + sep + rest if kept else rest


def validate_title(title: str | None) -> str:
    """Return the title as a normalized relative POSIX path, or raise TitleError saying what to fix."""
    if title is None or not title.strip():
        raise TitleError("the cell title is empty: give the file name, e.g. %%submarine.python train.py")
    if "\x00" in title:
        raise TitleError(f"the cell title {title!r} contains a NUL byte: use a plain file name")
    if "\\" in title:
        raise TitleError(f"the cell title {title!r} contains a backslash: use '/' between folders")
    if len(title.encode("utf-8")) > MAX_TITLE_BYTES:
        raise TitleError(f"the cell title is {len(title.encode())} bytes long: keep it under {MAX_TITLE_BYTES}")
    if title.startswith("/") or re.match(r"^[A-Za-z]:", title):
        raise TitleError(f"the cell title {title!r} is an absolute path: use a path relative to the bundle")
    parts = title.split("/")
    if ".." in parts:
        raise TitleError(f"the cell title {title!r} leaves the bundle with '..': use a path inside it")
    normalized = posixpath.normpath(title)
    if normalized in (".", "") or title.endswith("/") or parts[-1] == ".":
        raise TitleError(f"the cell title {title!r} names a folder, not a file: add a file name")
    if any(p.strip() != p or not p for p in parts if p != "."):
        raise TitleError(f"the cell title {title!r} has an empty or space-padded path part: remove the spaces")
    if normalized in RESERVED_NAMES:
        raise TitleError(f"the cell title {title!r} is reserved by submarine-kernel: choose another file name")
    return normalized


@dataclass
class CellPart:
    """One cell's contribution to one algorithm file."""

    cell_id: str
    title: str
    source: str
    kind: str = "python"
    position: int | None = None


@dataclass(frozen=True)
class Bundle:
    """The algorithm files of one job, with a manifest and a content digest."""

    files: Mapping[str, bytes]
    cells: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    notebook: str | None = None
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat())

    @cached_property
    def _file_hashes(self) -> dict[str, bytes]:
        """sha256 of each file, computed once: the digest and the manifest both need them (a bundle's files
        are not changed after it is made)."""
        return {name: hashlib.sha256(data).digest() for name, data in self.files.items()}

    @cached_property
    def digest(self) -> str:
        """sha256 over the sorted (name, content hash) pairs: changes iff a name or a content changes."""
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(name.encode("utf-8") + b"\x00" + self._file_hashes[name])
        return h.hexdigest()

    @property
    def size(self) -> int:
        return sum(len(data) for data in self.files.values())

    def manifest(self) -> dict:
        return {
            "digest": self.digest,
            "created": self.created,
            "notebook": self.notebook,
            "files": [
                {
                    "name": name,
                    "size": len(data),
                    "sha256": self._file_hashes[name].hex(),
                    "cells": list(self.cells.get(name, ())),
                }
                for name, data in sorted(self.files.items())
            ],
        }

    def manifest_bytes(self) -> bytes:
        return json.dumps(self.manifest(), indent=2, sort_keys=True).encode("utf-8")

    def with_params(self, params: Mapping[str, object]) -> "Bundle":
        """A copy that also carries `params.json`, the third way params reach a job."""
        if not params:
            return self
        files = dict(self.files)
        files[PARAMS_NAME] = json.dumps(dict(params), indent=2, sort_keys=True).encode("utf-8")
        return Bundle(files=files, cells=self.cells, notebook=self.notebook, created=self.created)

    def write_to(self, directory: str | Path) -> None:
        """Write every file under `directory` (folders created as needed)."""
        root = Path(directory)
        for name, data in self.files.items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


class AlgorithmCollector:
    """Collects titled cells as they run in a live kernel, or from a saved notebook.

    Parts keep the order in which their cell ids were first seen (or the notebook position when known);
    re-running a cell replaces its part in place.
    """

    def __init__(self, notebook: str | None = None):
        self.notebook = notebook
        self._parts: dict[str, CellPart] = {}
        self._anonymous = 0

    def add(self, title: str | None, source: str, *, cell_id: str | None = None, kind: str = "python",
            position: int | None = None, where: str | None = None) -> CellPart | None:
        """Collect one cell; returns None (and warns, naming `where` or the position) when it has no title."""
        if title is None or not title.strip():
            where = where or (f"[{position}]" if position is not None else f"(cell {cell_id})")
            warnings.warn(f"The title of the {where} paragraph is empty and was not submitted: "
                          f"give it a file name, e.g. %%submarine.{kind} train.py", UntitledCellWarning, stacklevel=2)
            return None
        title = validate_title(title)
        if "\x00" in source:
            raise ValidationError(f"the cell for {title!r} contains a NUL byte: remove it")
        size = len(source.encode("utf-8", errors="surrogatepass"))
        if size > MAX_CELL_BYTES:
            raise ValidationError(f"the cell for {title!r} is {size // (1024 * 1024)} MiB: keep algorithm cells under "
                                  f"{MAX_CELL_BYTES // (1024 * 1024)} MiB and pass data with --input instead")
        if cell_id is None:
            self._anonymous += 1
            cell_id = f"anonymous-{self._anonymous}"
        part = CellPart(cell_id, title, strip_interpreter_line(source), kind, position)
        self._parts[cell_id] = part  # dict keeps first-insertion order, so a re-run stays in place
        return part

    def remove(self, cell_id: str) -> None:
        self._parts.pop(cell_id, None)

    def clear(self) -> None:
        self._parts.clear()

    @property
    def parts(self) -> list[CellPart]:
        parts = list(self._parts.values())
        if all(p.position is not None for p in parts):
            parts.sort(key=lambda p: p.position)
        return parts

    def titles(self) -> list[str]:
        return list(dict.fromkeys(p.title for p in self.parts))

    def bundle(self) -> Bundle:
        """Join the parts by title, in order, separated by a blank line."""
        texts: dict[str, list[str]] = {}
        cells: dict[str, list[str]] = {}
        for part in self.parts:
            texts.setdefault(part.title, []).append(part.source.strip("\n"))
            cells.setdefault(part.title, []).append(part.cell_id)
        files = {title: ("\n\n".join(chunks) + "\n").encode("utf-8") for title, chunks in texts.items()}
        return Bundle(files=files, cells={t: tuple(c) for t, c in cells.items()}, notebook=self.notebook)


def parse_cell_magic_line(line: str) -> tuple[str, str | None, str] | None:
    """`%%submarine.python train.py --no-local` → ('python', 'train.py', '--no-local'); None if not ours."""
    match = re.match(r"^\s*%%submarine\.(python|sh)\b(.*)$", line)
    if not match:
        return None
    words = match.group(2).split()
    title = next((w for w in words if not w.startswith("--")), None)
    flags = " ".join(w for w in words if w.startswith("--"))
    return match.group(1), title, flags


def collect_cells(cells: Iterable[tuple[str | None, str]], notebook: str | None = None) -> Bundle:
    """Collect `(cell_id, source)` pairs whose first line is a `%%submarine.python|sh` magic."""
    collector = AlgorithmCollector(notebook)
    for position, (cell_id, source) in enumerate(cells):
        parsed = parse_cell_magic_line(source.partition("\n")[0])
        if parsed is None:
            continue
        kind, title, _flags = parsed
        collector.add(title, source, cell_id=cell_id or f"cell-{position}", kind=kind, position=position)
    return collector.bundle()


def collect_notebook(path: str | Path) -> Bundle:
    """Collect every `%%submarine.python TITLE` / `%%submarine.sh TITLE` cell of a saved .ipynb."""
    import nbformat  # only needed for saved notebooks

    try:
        nb = nbformat.read(str(path), as_version=4)
    except FileNotFoundError:
        raise ValidationError(f"notebook {str(path)!r} does not exist: check the path") from None
    except Exception as exc:  # nbformat raises several unrelated types for corrupt files
        raise ValidationError(f"notebook {str(path)!r} is not a readable .ipynb ({type(exc).__name__}): "
                              "re-save it from Jupyter") from None
    code_cells = [(cell.get("id"), cell.source) for cell in nb.cells if cell.cell_type == "code"]
    return collect_cells(code_cells, notebook=str(path))
