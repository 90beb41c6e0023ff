"""Notebook cells → a Bundle of algorithm files, as Zeppelin's Submarine interpreter collected them.

A cell's title is its file name; cells with the same title are joined in notebook order; a re-run cell
replaces its own part; untitled cells are skipped with a warning that names their position.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import posixpath
import re
import shlex
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

#: the cell magics' kinds: `%%submarine.python` and `%%submarine.sh` (Zeppelin's `%submarine.python|sh`)
CELL_KINDS = ("python", "sh")
CELL_MAGICS = tuple(f"submarine.{kind}" for kind in CELL_KINDS)
MAX_TITLE_BYTES = 255
#: Cells hold code; data belongs in --input storage. Larger cells would bloat every upload and ConfigMap.
MAX_CELL_BYTES = 8 * 1024 * 1024

# Zeppelin's paragraph line `%submarine.sh(k1=v1,k2=v2) abc` (one `%`); the `%%submarine.python|sh` cell
# magic line has its own parser below (`split_cell`), the one for live cells and saved notebooks.
_ZEPPELIN_LINE = re.compile(r"^\s*%submarine(?:\.\w+)?(?:\([^)]*\))?(?P<rest>.*)$")


class UntitledCellWarning(UserWarning):
    """A cell without a title was not collected."""


def strip_interpreter_line(source: str) -> str:
    """Drop a leading `%%submarine.python TITLE` line; keep what follows `%submarine.sh(k=v)` on it."""
    cell = split_cell(source)
    if cell is not None:
        return cell[2]
    first, sep, rest = source.partition("\n")
    match = _ZEPPELIN_LINE.match(first)
    if not match:
        return source
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
    def file_sha256(self) -> dict[str, str]:
        """name → sha256 (hex) of each file, as the manifest lists them (computed once per bundle)."""
        return {name: digest.hex() for name, digest in self._file_hashes.items()}

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
        """A copy that also carries `params.json`, the third way params reach a job. Secret-looking params
        (api_key, password, token...) are `***` there: the bundle goes to shared storage, so their values reach
        replicas only through the runtime's secret mechanism (see `params_json`)."""
        if not params:
            return self
        from .secrets import redact_mapping

        files = dict(self.files)
        files[PARAMS_NAME] = params_json(redact_mapping(dict(params)))
        return Bundle(files=files, cells=self.cells, notebook=self.notebook, created=self.created)


def params_json(params: Mapping[str, object]) -> bytes:
    """`params.json` as a job reads it. The bundle's copy has secrets redacted; runtimes with a private place
    for the real values (a Kubernetes Secret, the local runtime's 0700 job folder) write this one there."""
    return json.dumps(dict(params), indent=2, sort_keys=True, default=str).encode("utf-8")


class AlgorithmCollector:
    """Collects titled cells as they run in a live kernel, or from a saved notebook.

    A part is known by its cell id (JupyterLab sends one with every request) or, from a client that sends
    none (consoles, nbclient), by its kind, title and text, so running the same cell again replaces it
    in place. `bundle` orders parts by notebook position: their own, or the one the saved notebook gives
    their id (or their text); parts the saved notebook does not have yet follow, in first-run order.
    """

    def __init__(self, notebook: str | None = None):
        self.notebook = notebook
        self._parts: dict[str, CellPart] = {}

    def add(self, title: str | None, source: str, *, cell_id: str | None = None, kind: str = "python",
            position: int | None = None, where: str | None = None) -> CellPart | None:
        """Collect one cell body (without its `%%submarine` line); returns None (and warns, naming `where`
        or the position) when it has no title."""
        if title is None or not title.strip():
            where = where or (f"[{position}]" if position is not None else f"(cell {cell_id})")
            warnings.warn(f"The {where} cell has no title and was not collected: "
                          f"give it a file name, e.g. %%submarine.{kind} train.py", UntitledCellWarning, stacklevel=2)
            return None
        title = validate_title(title)
        if "\x00" in source:
            raise ValidationError(f"the cell for {title!r} contains a NUL byte: remove it")
        size = len(source.encode("utf-8", errors="surrogatepass"))
        if size > MAX_CELL_BYTES:
            raise ValidationError(f"the cell for {title!r} is {size // (1024 * 1024)} MiB: keep algorithm cells under "
                                  f"{MAX_CELL_BYTES // (1024 * 1024)} MiB and pass data with --input instead")
        body = strip_interpreter_line(source)
        if cell_id is None:  # no id from the client: the same text is the same cell
            cell_id = "text-" + hashlib.sha256(f"{kind}\x00{title}\x00{_normalized(body)}".encode(
                "utf-8", errors="surrogatepass")).hexdigest()[:16]
        part = CellPart(cell_id, title, body, kind, position)
        self._parts[cell_id] = part  # dict keeps first-insertion order, so a re-run stays in place
        return part

    def remove(self, cell_id: str) -> None:
        self._parts.pop(cell_id, None)

    def clear(self) -> None:
        self._parts.clear()

    @property
    def parts(self) -> list[CellPart]:
        return self.ordered_parts()

    def ordered_parts(self, saved: Iterable["SavedCell"] = ()) -> list[CellPart]:
        """Parts in notebook order: by their own position, else the saved notebook's position of their id or
        (for parts without a client id) of a cell with the same kind, title and text; the rest keep
        first-run order after them."""
        saved = list(saved)
        by_id = {cell.cell_id: cell.position for cell in saved if cell.cell_id}
        by_text: dict[tuple, int] = {}
        for cell in saved:
            by_text.setdefault((cell.kind, cell.title, _normalized(strip_interpreter_line(cell.body))), cell.position)

        def key(item):
            seq, part = item
            position = part.position
            if position is None:
                position = by_id.get(part.cell_id)
            if position is None and part.cell_id.startswith("text-"):
                position = by_text.get((part.kind, part.title, _normalized(part.source)))
            return (0, position, seq) if position is not None else (1, 0, seq)

        return [part for _, part in sorted(enumerate(self._parts.values()), key=key)]

    def titles(self) -> list[str]:
        return list(dict.fromkeys(p.title for p in self.parts))

    def bundle(self, saved: Iterable["SavedCell"] = ()) -> Bundle:
        """Join the parts by title, in notebook order (see `ordered_parts`), separated by a blank line."""
        texts: dict[str, list[str]] = {}
        cells: dict[str, list[str]] = {}
        for part in self.ordered_parts(saved):
            texts.setdefault(part.title, []).append(part.source.strip("\n"))
            cells.setdefault(part.title, []).append(part.cell_id)
        files = {title: ("\n\n".join(chunks) + "\n").encode("utf-8") for title, chunks in texts.items()}
        return Bundle(files=files, cells={t: tuple(c) for t, c in cells.items()}, notebook=self.notebook)


def _normalized(body: str) -> str:
    return body.strip("\n")


# -- the `%%submarine.python TITLE [--no-local]` line: one parser for live cells and saved notebooks -------
_CELL_MAGIC_LINE = re.compile(r"^\s*%%submarine\.(" + "|".join(CELL_KINDS) + r")(?:[ \t]+(.*))?$")


@dataclass(frozen=True)
class CellHeader:
    """The options of a `%%submarine.python|sh` line."""

    kind: str
    title: str | None
    no_local: bool = False
    python: bool = False  # run the body without collecting it


class _CellLineParser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print usage and exit the kernel
        raise ValidationError(message)


def _cell_line_parser(kind: str) -> argparse.ArgumentParser:
    parser = _CellLineParser(prog=f"%%submarine.{kind}", add_help=False)
    parser.add_argument("--python", action="store_true", help="run the body without collecting it")
    parser.add_argument("--no-local", action="store_true", help="collect the cell without running it here")
    parser.add_argument("title", nargs="?", help="algorithm file the cell belongs to, e.g. train.py")
    return parser


def parse_cell_header(kind: str, line: str) -> CellHeader:
    """`train.py --no-local` (what follows `%%submarine.python`) → CellHeader; quotes group words
    (`"my model.py"`); ValidationError saying how to write it otherwise."""
    usage = f"write %%submarine.{kind} TITLE [--no-local]"
    try:
        words = shlex.split(line)
        args = _cell_line_parser(kind).parse_args(words)
    except ValueError as exc:
        raise ValidationError(f"%%submarine.{kind} {line.strip()}: {exc}: close the quotes") from None
    except ValidationError as exc:
        raise ValidationError(f"%%submarine.{kind} {line.strip()}: {exc}; {usage}") from None
    return CellHeader(kind, args.title, args.no_local, args.python)


def split_cell(source: str) -> tuple[str, str, str] | None:
    """A saved cell's `(kind, header line, body)` when its first line is `%%submarine.python|sh`, else None."""
    first, _, body = source.partition("\n")
    match = _CELL_MAGIC_LINE.match(first)
    if not match:
        return None
    return match.group(1), match.group(2) or "", body


@dataclass(frozen=True)
class SavedCell:
    """One `%%submarine` cell of a saved notebook."""

    cell_id: str | None
    position: int
    kind: str
    title: str | None
    body: str
    header: CellHeader


def saved_cells(cells: Iterable[tuple[str | None, str]], strict: bool = True) -> list[SavedCell]:
    """The `%%submarine` cells among `(cell_id, source)` pairs; a bad header raises (strict) or is skipped."""
    found = []
    for position, (cell_id, source) in enumerate(cells):
        split = split_cell(source)
        if split is None:
            continue
        kind, line, body = split
        try:
            header = parse_cell_header(kind, line)
        except ValidationError as exc:
            if strict:
                raise ValidationError(f"cell [{position}] of the notebook: {exc}") from None
            continue
        found.append(SavedCell(cell_id, position, kind, header.title, body, header))
    return found


def collect_cells(cells: Iterable[tuple[str | None, str]], notebook: str | None = None) -> Bundle:
    """Collect `(cell_id, source)` pairs whose first line is a `%%submarine.python|sh` magic, as the live
    kernel would collect them (the same header parser, the same body)."""
    collector = AlgorithmCollector(notebook)
    for cell in saved_cells(cells):
        if cell.header.python:
            continue
        collector.add(cell.title, cell.body, cell_id=cell.cell_id or f"cell-{cell.position}", kind=cell.kind,
                      position=cell.position)
    return collector.bundle()


def read_notebook(path: str | Path):
    import nbformat  # only needed for saved notebooks

    import warnings

    try:
        with warnings.catch_warnings():  # a missing cell id is nbformat's warning to the notebook's author, not ours
            warnings.simplefilter("ignore")
            nb = nbformat.read(str(path), as_version=4)
    except FileNotFoundError:
        raise ValidationError(f"notebook {str(path)!r} does not exist: check the path") from None
    except Exception as exc:  # nbformat raises several unrelated types for corrupt files
        raise ValidationError(f"notebook {str(path)!r} is not a readable .ipynb ({type(exc).__name__}): "
                              "re-save it from Jupyter") from None
    # nbformat reads a notebook that breaks its schema (it only warns): what the code below reads is checked
    for index, cell in enumerate(nb.get("cells") or []):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str) or \
                not isinstance(cell.get("source"), str):
            what = "is not a cell" if not isinstance(cell, dict) else \
                "has no cell_type" if not isinstance(cell.get("cell_type"), str) else "has no source"
            raise ValidationError(f"notebook {str(path)!r}: cell {index + 1} {what}: re-save it from Jupyter")
    if not isinstance(nb.get("cells"), list):
        raise ValidationError(f"notebook {str(path)!r} has no cells list: re-save it from Jupyter")
    return nb


def _code_cells(nb) -> list[tuple[str | None, str]]:
    return [(cell.get("id"), cell.source) for cell in nb.cells if cell.cell_type == "code"]


def collect_notebook(path: str | Path) -> Bundle:
    """Collect every `%%submarine.python TITLE` / `%%submarine.sh TITLE` cell of a saved .ipynb."""
    return collect_cells(_code_cells(read_notebook(path)), notebook=str(path))


def notebook_order(path: str | None) -> list[SavedCell]:
    """The `%%submarine` cells of the live kernel's saved notebook, for ordering; [] when it cannot be read.

    `path` is the kernel's notebook (JPY_SESSION_NAME), which a server may give relative to its root: the
    kernel runs in the notebook's folder, so its base name there is tried as well."""
    if not path or not str(path).endswith(".ipynb"):
        return []
    candidates = [Path(path)]
    if not Path(path).is_absolute():
        candidates.append(Path.cwd() / Path(path).name)
    for candidate in candidates:
        if candidate.is_file():
            try:
                return saved_cells(_code_cells(read_notebook(candidate)), strict=False)
            except ValidationError:
                return []
    return []
