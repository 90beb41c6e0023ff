"""Bundle storage through fsspec: any URL (file://, s3://, hdfs://, ...) under a root.

A bundle lives at `<root>/<digest>/`; its manifest is written last and marks it complete, so an upload
cut off half-way never looks complete and is simply redone. An identical bundle is never uploaded twice.
Which file system opens the root is `filesystems.open_filesystem`'s job.

Layouts (storage option `layout`): "content" (the default) keeps each bundle at `<root>/<digest>/`;
"zeppelin" keeps Zeppelin's `<root>/<notebook id>/<title>`: one folder per notebook, replaced when the
bundle changes (old folder removed first, files, manifest last), so a folder with a manifest is always a
complete bundle, but an older job's bundle URI then shows the newer files.
"""

from __future__ import annotations

import concurrent.futures
import errno
import hashlib
import json
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from . import integrity, staging
from ..algorithm import MANIFEST_NAME, Bundle
from ..errors import StorageError, TransientError, ValidationError, disk_full
from ..retry import DEFAULT_POLICY
from ..names import notebook_stem
from ..secrets import redact_url
from .filesystems import open_filesystem

#: uploads at least this large show a progress bar
PROGRESS_THRESHOLD = 4 * 1024 * 1024
#: where a bundle lives under the root: by content digest, or Zeppelin's one folder per notebook
LAYOUTS = ("content", "zeppelin")


@dataclass(frozen=True)
class UploadResult:
    uri: str
    digest: str
    bytes_uploaded: int
    reused: bool


class Storage:
    """Content-addressed bundle store under one root URL."""

    def __init__(self, root: str, options: Mapping[str, Any] | None = None, progress: bool = True):
        if not root:
            raise ValidationError("the storage root is empty: set SubmarineConfig.storage_root")
        self.root = root.rstrip("/")
        self.options = dict(options or {})
        self.layout = self.options.pop("layout", None) or "content"
        self.notebook_id = self.options.pop("notebook_id", None)
        if self.layout not in LAYOUTS:
            raise ValidationError(f"unknown storage layout {self.layout!r}: use one of {', '.join(LAYOUTS)}")
        self.progress = progress
        self._fs = None
        self._root_path = None
        self._connect_started = False
        self._connecting = None  # the future of an object store's client being made (connect_soon)
        self._open_error: BaseException | None = None  # opening failed in connect_soon: raised by the next use
        self.on_retry = None  # called with "uploading x: ...; retrying 2/5"

    @property
    def fs(self):
        if self._fs is None:
            if self._open_error is not None:
                error, self._open_error = self._open_error, None
                raise error
            self._fs, self._root_path = open_filesystem(self.root, self.options)
        return self._fs

    @property
    def root_path(self) -> str:
        self.fs  # noqa: B018 - opens lazily
        return self._root_path.rstrip("/")

    def uri(self, digest: str) -> str:
        return f"{self.root}/{digest}"

    def folder_for(self, bundle: Bundle) -> str:
        """The folder under the root that holds `bundle`: its digest, or its notebook id (Zeppelin layout)."""
        if self.layout == "content":
            return bundle.digest
        name = self.notebook_id or (notebook_stem(bundle.notebook).removesuffix(".ipynb")
                                    if bundle.notebook else "")
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".")
        if not name:
            raise ValidationError("the zeppelin storage layout needs a notebook id and this bundle has none: set "
                                  "SubmarineConfig.storage_options = {'layout': 'zeppelin', 'notebook_id': 'NAME'}")
        return name

    def uri_for(self, bundle: Bundle) -> str:
        """Where `bundle` is (or would be) stored; no storage call."""
        return self.uri(self.folder_for(bundle))

    def _path(self, digest: str, name: str = "") -> str:
        return posixpath.join(self.root_path, digest, name) if name else posixpath.join(self.root_path, digest)

    def _read_manifest(self, folder: str) -> bytes:
        # from byte 0: one ranged GET on object stores, where a plain read first asks for the size (a HEAD)
        return self.fs.cat_file(self._path(folder, MANIFEST_NAME), start=0)

    def stored_state(self, bundle: Bundle, folder: str | None = None, verify: bool = False) -> str:
        """"complete", "absent" (nothing, an unfinished upload, or another bundle in a Zeppelin folder) or
        "damaged" (the manifest or a file no longer matches): one listing, which says whether a manifest is
        there and gives the sizes to compare, then one GET of the manifest when it is (a fresh upload asks
        once); `verify` also reads every file back and compares its sha256."""
        folder = folder or self.folder_for(bundle)
        where = redact_url(self.uri(folder))
        find_below = getattr(self.fs, "find_below", None)  # one request on S3 (storage/s3.py)
        try:
            listed = find_below(self._path(folder)) if find_below else self.fs.find(self._path(folder), detail=True)
        except FileNotFoundError:
            listed = {}
        sizes = {posixpath.relpath(path, self._path(folder)): info.get("size") for path, info in listed.items()}
        if MANIFEST_NAME not in sizes:
            return "absent"
        try:
            manifest = integrity.parse_manifest(self._read_manifest(folder), where)
        except FileNotFoundError:
            return "absent"  # removed since the listing
        except integrity.DamagedBundle:
            return "damaged"
        if manifest.get("digest") != bundle.digest:
            return "absent" if folder != bundle.digest else "damaged"
        if not integrity.same_files(manifest, bundle.manifest()):
            return "damaged"
        if any(sizes.get(e["name"]) != e["size"] for e in manifest["files"]):
            return "damaged"
        if verify:
            try:
                for entry in manifest["files"]:
                    integrity.check_file(entry, self.fs.cat_file(self._path(folder, entry["name"])), where)
            except (integrity.DamagedBundle, FileNotFoundError):
                return "damaged"
        return "complete"

    def put(self, bundle: Bundle, verify: bool = False) -> UploadResult:
        """Upload `bundle` unless an identical one is already complete.

        The manifest goes last, so an interrupted upload never looks complete. Where the file system renames
        folders atomically (local disk), the upload is staged under a hidden temporary name and renamed into
        place; object stores, where a rename is a full copy, rely on the manifest alone. Concurrent uploads of
        the same content all succeed: the first complete copy wins and nothing is deleted under a reader.
        A damaged stored copy (see integrity.py) is replaced, with a warning; `verify` reads a stored copy
        back in full before reusing it (after a fetch found it damaged).
        """
        self.connect_soon()
        digest = bundle.digest  # hashed (if not yet) while an object store's client is being made
        folder = self.folder_for(bundle)
        if self._connecting is not None:
            concurrent.futures.wait([self._connecting])  # a failure shows in the listing below, as without it
        try:
            state = self.stored_state(bundle, folder, verify)
        except OSError as exc:  # storage unreachable: one clear line, not a traceback
            raise StorageError(f"cannot reach the bundle storage {redact_url(self.root)}: {exc}; "
                               "check the storage root, endpoint and credentials") from None
        if state == "complete":
            return UploadResult(self.uri(folder), digest, 0, True)
        if state == "damaged":
            self._notify(f"the stored bundle {redact_url(self.uri(folder))} is damaged (a file or its manifest "
                         "changed in the store): uploading it again")
        staged = self._renames_atomically()
        write_folder = staging.name("staging", folder) if staged else folder
        bar = self._progress_bar(bundle.size)
        reused = False
        try:
            if staged:
                staging.clean_stale(self.root_path)
            final = self._path(folder)
            if not staged and (folder != digest or state == "damaged") and self.fs.exists(final):
                self.fs.rm(final, recursive=True)  # Zeppelin layout's older bundle, or a damaged copy
            sent = self._write(bundle, write_folder, bar, keep_existing=not staged and folder == digest)
            if staged:
                reused = self._move_into_place(bundle, write_folder, folder, verify)
        except BaseException as exc:  # Ctrl-C included: leave no staging folder behind
            if staged:
                self._discard(write_folder)
            if isinstance(exc, OSError) and disk_full(exc):
                raise StorageError(f"disk full: the bundle ({bundle.size / 2**20:.1f} MiB) does not fit in "
                                   f"{redact_url(self.root)}: free space there, or set the storage root to "
                                   "another disk") from None
            if isinstance(exc, (OSError, TransientError)):
                raise StorageError(f"uploading the bundle to {redact_url(self.uri(folder))} failed: {exc}; "
                                   "check the storage root and credentials, then run again") from None
            raise
        finally:
            if bar is not None:
                bar.close()
        return UploadResult(self.uri(folder), digest, 0 if reused else sent, reused)

    def connect_soon(self) -> None:
        """Start making an object store's client in the background (storage/s3.py: tenths of a second), once,
        so that what comes before an upload (hashing the bundle, recording the job) hides it; `put` waits for
        it. Other file systems need nothing made."""
        if self._connect_started:
            return
        self._connect_started = True
        try:
            fs = self.fs
        except Exception as exc:  # raised where the storage is first really used (put), as without this
            self._open_error = exc
            return
        connect_soon = getattr(fs, "connect_soon", None)
        self._connecting = connect_soon() if connect_soon is not None else None

    def _move_into_place(self, bundle: Bundle, staged: str, folder: str, verify: bool = False) -> bool:
        """Rename the staged folder to `folder`; True when a complete copy got there first (ours is dropped).

        A plain rename never replaces a non-empty folder, so two uploads cannot break each other; a folder
        that is there but not this complete bundle (an older Zeppelin bundle, a damaged copy) is first renamed
        aside and then removed."""
        source, final = self._path(staged), self._path(folder)
        for _ in range(5):
            try:
                os.rename(source, final)
                return False
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
            if self.stored_state(bundle, folder, verify) == "complete":
                self._discard(staged)
                return True
            aside = staging.name("discard", folder)
            try:
                os.rename(final, self._path(aside))
            except FileNotFoundError:
                continue
            self._discard(aside)
        raise OSError(f"{final} kept changing while this upload tried to move into place")

    def _notify(self, message: str) -> None:
        if self.on_retry is not None:
            self.on_retry(message)
        else:
            import warnings

            warnings.warn(message, stacklevel=3)

    def _write(self, bundle: Bundle, folder: str, bar, keep_existing: bool = False) -> int:
        """Write every file, then the manifest, under `folder`; returns the bytes sent.

        With `keep_existing` (a content-addressed folder written in place), a file that is already there is
        left alone: it holds these bytes, perhaps written by a concurrent upload of the same content, and
        rewriting it could hide it from a reader for a moment.

        Async file systems (s3fs) get all files in one concurrent `pipe`, as a raw s3fs upload would send
        them; others get them one by one. Either way the manifest is written only after every file.
        """
        base = self._path(folder)
        targets = {self._path(folder, name): data for name, data in bundle.files.items()}
        manifest = bundle.manifest_bytes()
        manifest_target = self._path(folder, MANIFEST_NAME)
        sha256_of = None  # the manifest's hashes, for a file system that has the store check them (S3)
        if _pipe_takes(self.fs, "sha256_of"):
            sha256_of = {self._path(folder, name): sha for name, sha in bundle.file_sha256.items()}
            sha256_of[manifest_target] = hashlib.sha256(manifest).hexdigest()
        if not getattr(self.fs, "async_impl", False):  # object stores (s3fs, gcsfs...) have no folders to make
            for parent in dict.fromkeys([base, *(posixpath.dirname(t) for t in targets)]):
                self.fs.makedirs(parent, exist_ok=True)
        per_part = bar is not None and _pipe_takes(self.fs, "callback")
        batches = [targets] if getattr(self.fs, "async_impl", False) else [{t: d} for t, d in targets.items()]
        for batch in batches:
            what = f"uploading {len(batch)} files" if len(batch) > 1 else \
                f"uploading {posixpath.relpath(next(iter(batch)), base)}"
            DEFAULT_POLICY.call(self._piper(batch, bar, per_part, keep_existing, sha256_of), what,
                                on_retry=self.on_retry)
            if bar is not None and not per_part:
                bar.update(sum(len(d) for d in batch.values()))
        DEFAULT_POLICY.call(self._piper({manifest_target: manifest}, None, False, keep_existing, sha256_of),
                            "uploading the manifest", on_retry=self.on_retry)
        return sum(len(d) for d in targets.values()) + len(manifest)

    def _piper(self, batch: Mapping[str, bytes], bar, per_part: bool, keep_existing: bool = False,
               sha256_of: Mapping[str, str] | None = None) -> Callable[[], None]:
        """One upload attempt of `batch`; with `per_part` the bar moves with each part sent (S3 multipart),
        and a retried attempt first takes back what the failed one counted; `sha256_of` (the manifest's
        hashes, for a file system that checks them on arrival) goes with the files."""
        counted = [0]
        extra: dict[str, Any] = {"sha256_of": sha256_of} if sha256_of else {}

        def progress(n: int) -> None:
            counted[0] += n
            bar.update(n)

        def attempt() -> None:
            if counted[0]:
                bar.update(-counted[0])
                counted[0] = 0
            if len(batch) == 1:
                (target, data), = batch.items()
                if keep_existing and not getattr(self.fs, "async_impl", False):
                    _create_once(self.fs, target, data)
                    return
                self.fs.pipe_file(target, data, **extra, **({"callback": progress} if per_part else {}))
            else:
                self.fs.pipe(dict(batch), **extra, **({"callback": progress} if per_part else {}))
        return attempt

    def _renames_atomically(self) -> bool:
        from fsspec.implementations.local import LocalFileSystem

        return isinstance(self.fs, LocalFileSystem)

    def _discard(self, folder: str) -> None:
        try:
            self.fs.rm(self._path(folder), recursive=True)
        except OSError:
            pass  # a leftover hidden staging folder never looks like a bundle

    def _progress_bar(self, total: int):
        if not self.progress or total < PROGRESS_THRESHOLD:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, unit="B", unit_scale=True, desc="upload bundle", leave=False)

    def manifest(self, digest: str) -> dict:
        try:
            return json.loads(self.fs.cat_file(self._path(digest, MANIFEST_NAME)))
        except FileNotFoundError:
            raise StorageError(f"bundle {digest} is not complete in {redact_url(self.root)}: upload it again") from None


def fetch_bundle(uri: str, destination: str | Path, options: Mapping[str, Any] | None = None) -> Path:
    """Download the bundle at `uri` into `destination`; refuse an incomplete or damaged one.

    Every file is checked against the manifest's size and sha256 before anything is written, and a name
    that would leave `destination` is refused (DamagedBundle: the next submit uploads the bundle again)."""
    fs, path = open_filesystem(uri, options)
    path = path.rstrip("/")
    where = redact_url(uri)
    try:
        manifest = integrity.parse_manifest(fs.cat_file(posixpath.join(path, MANIFEST_NAME)), where)
    except FileNotFoundError:
        raise StorageError(f"bundle {where} has no manifest (an unfinished upload): upload it again") from None
    contents = {}
    for entry in manifest["files"]:
        try:
            data = fs.cat_file(posixpath.join(path, entry["name"]))
        except FileNotFoundError:
            raise integrity.DamagedBundle(f"{entry['name']} of bundle {where} is missing from the store: "
                                          "submit again to re-upload it") from None
        integrity.check_file(entry, data, where)
        contents[entry["name"]] = data
    destination = Path(destination)
    for name, data in contents.items():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return destination


def _create_once(fs, target: str, data: bytes) -> None:
    """Write `target` unless it exists; a concurrent writer creating it first is no failure."""
    if fs.exists(target):
        return
    try:
        fs.pipe_file(target, data, mode="create")
    except OSError:  # FileExistsError, or a rename refused because the target appeared meanwhile
        if not fs.exists(target):
            raise


def _pipe_takes(fs, keyword: str) -> bool:
    """Whether `fs.pipe_file` takes `keyword`: our S3 file system reports progress per part (`callback`)
    and has S3 check each file against the manifest's hash (`sha256_of`); others take neither."""
    import inspect

    try:
        return keyword in inspect.signature(fs.pipe_file).parameters
    except (TypeError, ValueError):
        return False
