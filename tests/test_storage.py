"""Bundle storage through fsspec: content-addressed upload, re-runs, interrupted uploads, checkpoints."""

from __future__ import annotations

import json
import uuid

import fsspec
import pytest
from pathlib import Path

from submarine_kernel.algorithm import MANIFEST_NAME, Bundle
from submarine_kernel.errors import StorageError, ValidationError
from submarine_kernel.secrets import redact_url
from submarine_kernel.storage import Storage, checkpoint_depth, clean_checkpoint, fetch_bundle

FILES = {"train.py": b"print('train')\n", "utils/data.py": b"X = 1\n", "run.sh": b"echo hi\n"}


@pytest.fixture
def root(tmp_path):
    return (tmp_path / "bundles").as_uri()


def test_upload_at_root_digest(tmp_path, root):
    bundle = Bundle(FILES)
    result = Storage(root).put(bundle)
    assert result.uri == f"{root}/{bundle.digest}"
    assert result.digest == bundle.digest and not result.reused
    folder = tmp_path / "bundles" / bundle.digest
    for name, data in FILES.items():
        assert (folder / name).read_bytes() == data
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert manifest == bundle.manifest()
    assert result.bytes_uploaded == bundle.size + len(bundle.manifest_bytes())
    assert Storage(root).stored_state(bundle) == "complete"
    assert Storage(root).manifest(bundle.digest)["digest"] == bundle.digest


def test_unchanged_rerun_uploads_nothing(root):
    store = Storage(root)
    first = store.put(Bundle(FILES, created="2020-01-01T00:00:00+00:00"))
    again = Storage(root).put(Bundle(FILES, cells={"train.py": ("new-id",)}))  # new cell ids and time
    assert again.bytes_uploaded == 0 and again.reused
    assert again.uri == first.uri
    changed = store.put(Bundle({**FILES, "train.py": b"print('changed')\n"}))
    assert changed.bytes_uploaded > 0 and changed.uri != first.uri


def test_bare_path_root_is_local(tmp_path):
    store = Storage(str(tmp_path / "plain"))
    result = store.put(Bundle(FILES))
    assert (tmp_path / "plain" / result.digest / MANIFEST_NAME).exists()


def test_interrupted_upload_never_looks_complete(tmp_path, root, monkeypatch):
    bundle = Bundle(FILES)
    store = Storage(root)
    real_pipe = store.fs.pipe_file
    calls = []

    def failing_pipe(path, data, *args, **kwargs):
        calls.append(path)
        if len(calls) > 1:
            raise OSError("connection reset by peer")
        return real_pipe(path, data, *args, **kwargs)

    monkeypatch.setattr(store.fs, "pipe_file", failing_pipe)
    with pytest.raises(StorageError) as info:
        store.put(bundle)
    message = str(info.value)
    assert "uploading the bundle" in message and "connection reset by peer" in message and "run again" in message
    assert store.stored_state(bundle) != "complete"
    if root.startswith("file:"):  # staged under a hidden temporary name: nothing at all where the bundle goes
        assert sorted(p.name for p in Path(root[len("file://"):]).iterdir()) == []
    with pytest.raises(StorageError, match="no manifest .*upload it again"):
        fetch_bundle(f"{root}/{bundle.digest}", tmp_path / "fetched")
    with pytest.raises(StorageError, match="not complete"):
        store.manifest(bundle.digest)

    monkeypatch.setattr(store.fs, "pipe_file", real_pipe)  # the network is back: the retry completes
    retry = store.put(bundle)
    assert not retry.reused and retry.bytes_uploaded > 0
    assert store.stored_state(bundle) == "complete"
    fetch_bundle(retry.uri, tmp_path / "fetched")
    assert {p.relative_to(tmp_path / "fetched").as_posix(): p.read_bytes()
            for p in (tmp_path / "fetched").rglob("*") if p.is_file()} == FILES


def test_interrupted_by_any_exception_leaves_no_manifest(root, monkeypatch):
    bundle = Bundle(FILES)
    store = Storage(root)
    real_pipe = store.fs.pipe_file
    seen = []

    def interrupted(path, data, *args, **kwargs):
        seen.append(path)
        if len(seen) == 2:
            raise KeyboardInterrupt
        return real_pipe(path, data, *args, **kwargs)

    monkeypatch.setattr(store.fs, "pipe_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.put(bundle)
    assert store.stored_state(bundle) != "complete"
    assert store.put(bundle).bytes_uploaded > 0
    assert seen[-1].endswith(MANIFEST_NAME)  # manifest written last
    assert store.stored_state(bundle) == "complete"


def test_fetch_bundle_writes_files_without_manifest(tmp_path, root):
    bundle = Bundle(FILES)
    uri = Storage(root).put(bundle).uri
    dest = fetch_bundle(uri, tmp_path / "dest")
    assert (dest / "utils" / "data.py").read_bytes() == FILES["utils/data.py"]
    assert not (dest / MANIFEST_NAME).exists()
    assert fetch_bundle(uri + "/", tmp_path / "dest2") == tmp_path / "dest2"  # a trailing '/' is the same URI
    assert (tmp_path / "dest2" / "train.py").read_bytes() == FILES["train.py"]


def test_fetch_missing_bundle(tmp_path, root):
    with pytest.raises(StorageError, match="has no manifest"):
        fetch_bundle(f"{root}/{'0' * 64}", tmp_path / "x")


def test_memory_url_works(tmp_path):
    root = f"memory://submarine-test-{uuid.uuid4().hex}/bundles"
    store = Storage(root)
    bundle = Bundle(FILES)
    result = store.put(bundle)
    assert result.uri == f"{root}/{bundle.digest}"
    assert store.stored_state(bundle) == "complete"
    assert Storage(root).put(bundle).bytes_uploaded == 0
    fetch_bundle(result.uri, tmp_path / "from-memory")
    assert (tmp_path / "from-memory" / "run.sh").read_bytes() == FILES["run.sh"]
    fs = fsspec.filesystem("memory")
    fs.rm(root.split("://", 1)[1], recursive=True)


def test_empty_root_refused():
    with pytest.raises(ValidationError, match="storage root is empty"):
        Storage("")


def test_unknown_protocol_is_a_storage_error():
    with pytest.raises(StorageError, match="cannot open storage 'nosuchproto://x/y': .*nosuchproto"):
        Storage("nosuchproto://x/y").put(Bundle(FILES))


def test_a_store_that_cannot_open_early_fails_where_it_is_used(monkeypatch):
    """Session.submit starts the storage's client early (`connect_soon`); a store that cannot even open (an
    unreachable server at connect) says so in put's one line, not at that early start."""
    from submarine_kernel.storage import filesystems

    opened = []

    def unreachable(url, options):
        opened.append(url)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setitem(filesystems._FACTORIES, "downproto", unreachable)
    storage = Storage("downproto://server/bundles")
    storage.connect_soon()  # nothing raised yet
    storage.connect_soon()  # started once
    with pytest.raises(StorageError, match=r"^cannot reach the bundle storage downproto://server/bundles: "
                                           r"\[Errno 111\] Connection refused; check the storage root"):
        storage.put(Bundle(FILES))
    assert opened == ["downproto://server/bundles"]  # tried once: the early failure is the one reported


def test_redact_url():
    assert redact_url("s3://KEY:SECRET@bucket/x") == "s3://***@bucket/x"
    assert redact_url("file:///tmp/x") == "file:///tmp/x"


# -- clean checkpoint ----------------------------------------------------------------------------------
@pytest.mark.parametrize("path, depth", [("/", 0), ("/tmp", 1), ("/user/a/b", 3), ("file:///a/b/c", 3),
                                         ("hdfs://nn:8020/user/a/job", 3), ("/user/a/b/c", 4)])
def test_checkpoint_depth(path, depth):
    assert checkpoint_depth(path) == depth


@pytest.mark.parametrize("path", ["/", "/tmp", "/home/user", "/user/alice/models", "file:///tmp/a/b",
                                  "hdfs://namenode:8020/user/alice/ckpt"])
def test_clean_checkpoint_refuses_shallow_paths(path):
    with pytest.raises(ValidationError) as info:
        clean_checkpoint(path)
    message = str(info.value)
    assert repr(path) in message and "levels deep" in message and "at least 4" in message


def test_clean_checkpoint_refuses_empty_path():
    with pytest.raises(ValidationError, match="no checkpoint path is set: pass --checkpoint"):
        clean_checkpoint("")


def test_clean_checkpoint_removes_a_deep_path(tmp_path):
    ckpt = tmp_path / "jobs" / "job-1" / "ckpt"
    (ckpt / "step-1").mkdir(parents=True)
    (ckpt / "step-1" / "model.pt").write_bytes(b"weights")
    sibling = tmp_path / "jobs" / "job-2"
    sibling.mkdir()
    assert checkpoint_depth(str(ckpt)) >= 4
    assert clean_checkpoint(str(ckpt)) is True
    assert not ckpt.exists() and sibling.exists()
    assert clean_checkpoint(ckpt.as_uri()) is False  # already gone


def test_clean_checkpoint_by_file_url(tmp_path):
    ckpt = tmp_path / "a" / "b" / "c"
    ckpt.mkdir(parents=True)
    (ckpt / "x").write_text("1")
    assert clean_checkpoint(ckpt.as_uri()) is True
    assert not ckpt.exists()
