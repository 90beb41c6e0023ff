"""hdfs:// bundle storage over WebHDFS: content-addressed and atomic uploads, NameNode HA, options, secrets
kept out of errors, the Zeppelin layout; plus real-cluster checks behind SUBMARINE_TEST_WEBHDFS_URL."""

from __future__ import annotations

import os
import socket

import pytest

from submarine_kernel.algorithm import MANIFEST_NAME, Bundle
from submarine_kernel.errors import StorageError, ValidationError
from submarine_kernel.storage import Storage, clean_checkpoint, fetch_bundle, open_filesystem
from submarine_kernel.storage.webhdfs import SubmarineWebHDFS, namenode_urls

from webhdfs_server import WebHdfsTestServer

BUNDLE = Bundle({"train.py": b"print('train')\n", "pkg/util.py": b"VALUE = 1\n"}, notebook="/home/alice/My Notebook.ipynb")


@pytest.fixture
def hdfs_server():
    server = WebHdfsTestServer(require_user=True).start()
    yield server
    server.stop()


def storage(server, root="/user/alice/submarine", **options) -> Storage:
    return Storage(f"hdfs://namenode:8020{root}", {"namenodes": [server.url], "user": "alice", **options},
                   progress=False)


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_put_is_content_addressed_with_the_manifest_last_and_atomic(hdfs_server, tmp_path):
    store = storage(hdfs_server)
    result = store.put(BUNDLE)
    base = f"/user/alice/submarine/{BUNDLE.digest}"
    assert result.uri == f"hdfs://namenode:8020{base}" and not result.reused
    assert hdfs_server.read(f"{base}/pkg/util.py") == b"VALUE = 1\n"
    assert hdfs_server.nodes[f"{base}/train.py"].owner == "alice"
    # every file was written under a temporary name and renamed; the manifest is the last rename
    renames = [r for r in hdfs_server.requests if r.query.get("op") == "RENAME"]
    assert renames[-1].query["destination"] == f"{base}/{MANIFEST_NAME}"
    creates = [r.path for r in hdfs_server.requests if r.server == "namenode" and r.query.get("op") == "CREATE"]
    assert all(p.rsplit("/", 1)[1].startswith(".") and p.endswith(".tmp") for p in creates)
    assert not [p for p in hdfs_server.nodes if p.endswith(".tmp")]
    assert all(r.body_length == 0 for r in hdfs_server.requests if r.server == "namenode")
    hdfs_server.requests.clear()
    again = store.put(BUNDLE)
    assert again.reused and again.bytes_uploaded == 0 and hdfs_server.count(op="CREATE") == 0
    fetched = fetch_bundle(result.uri, tmp_path / "b", {"namenodes": [hdfs_server.url], "user": "alice"})
    assert (fetched / "pkg" / "util.py").read_bytes() == b"VALUE = 1\n"


def test_an_interrupted_upload_is_redone(hdfs_server):
    store = storage(hdfs_server)
    base = f"/user/alice/submarine/{BUNDLE.digest}"
    hdfs_server.mkdir(base, owner="alice")  # a folder without a manifest: an upload cut off half-way
    assert store.stored_state(BUNDLE) != "complete"
    assert not store.put(BUNDLE).reused
    assert store.manifest(BUNDLE.digest)["digest"] == BUNDLE.digest


def test_namenode_failover_on_connection_errors_and_standby():
    active = WebHdfsTestServer().start()
    standby = WebHdfsTestServer(standby=True).start()
    try:
        options = {"namenodes": [dead_url(), standby.url, active.url], "user": "alice"}
        fs, path = open_filesystem("hdfs://cluster/user/alice/x", options)
        fs.makedirs(path, exist_ok=True)
        fs.pipe_file(path + "/f.txt", b"ok")
        assert active.read("/user/alice/x/f.txt") == b"ok"
        assert fs.url == f"{active.url}/webhdfs/v1"  # the active NameNode is remembered
        assert standby.count(op="MKDIRS") == 1 and active.count(op="MKDIRS") == 1
        fs_down, _ = open_filesystem("hdfs://cluster/x", {"namenodes": [dead_url(), standby.url], "user": "u"})
        with pytest.raises(ConnectionError, match=r"no active WebHDFS NameNode .*standby"):
            fs_down.ls("/")
    finally:
        active.stop()
        standby.stop()


def test_errors_map_to_python_exceptions_and_storage_errors(hdfs_server):
    hdfs_server.mkdir("/locked", owner="hdfs", permission="755")
    fs, _ = open_filesystem("hdfs://nn/", {"namenodes": [hdfs_server.url], "user": "bob"})
    with pytest.raises(PermissionError, match="Permission denied: user=bob"):
        fs.makedirs("/locked/x", exist_ok=True)
    with pytest.raises(FileNotFoundError):
        fs.info("/missing")
    with pytest.raises(StorageError, match="uploading the bundle .* failed: Permission denied") as error:
        storage(hdfs_server, root="/locked/bundles", user="bob").put(BUNDLE)
    assert "\n" not in str(error.value)
    anonymous, _ = open_filesystem("hdfs://nn/", {"namenodes": [hdfs_server.url], "user": ""})
    anonymous.pars.pop("user.name", None)
    with pytest.raises(PermissionError, match="401"):
        anonymous.ls("/")


def test_delegation_tokens_are_used_and_never_shown():
    secret = "SECRETTOKEN0123456789"
    server = WebHdfsTestServer(tokens={secret: "carol"}).start()
    try:
        fs, _ = open_filesystem("hdfs://nn/", {"namenodes": [server.url], "delegation_token": secret})
        fs.makedirs("/user/carol", exist_ok=True)
        assert server.nodes["/user/carol"].owner == "carol"
        assert all(r.query.get("delegation") == secret for r in server.requests)
        gone = dead_url()
        down, _ = open_filesystem("hdfs://nn/", {"namenodes": [gone], "delegation_token": secret})
        with pytest.raises(OSError) as error:
            down.session.get(f"{gone}/webhdfs/v1/?op=LISTSTATUS&delegation={secret}", timeout=2)
        assert secret not in str(error.value) and "delegation=***" in str(error.value)
        with pytest.raises(StorageError, match="delegation token already says who you are"):
            open_filesystem("hdfs://nn/", {"namenodes": [server.url], "delegation_token": secret, "user": "x"})
    finally:
        server.stop()


def test_options_and_namenode_addresses():
    assert namenode_urls("hdfs://nn.example.com:8020/a", {}) == ["http://nn.example.com:9870"]
    assert namenode_urls("hdfs://nn.example.com/a", {"use_https": True}) == ["https://nn.example.com:9871"]
    assert namenode_urls("webhdfs://nn:50070/a", {}) == ["http://nn:50070"]
    assert namenode_urls("swebhdfs://nn/a", {}) == ["https://nn:9871"]
    assert namenode_urls("hdfs://mycluster/a", {"namenodes": "nn1:9870,nn2:9870"}) == ["http://nn1:9870",
                                                                                        "http://nn2:9870"]
    with pytest.raises(StorageError, match="unknown hdfs storage option 'nammenodes'"):
        open_filesystem("hdfs://nn/", {"nammenodes": ["http://nn:9870"]})
    fs, path = open_filesystem("hdfs://nn:8020/user/a", {"verify": False, "user": "a"})
    assert isinstance(fs, SubmarineWebHDFS) and path == "/user/a" and fs.session.verify is False
    secure, _ = open_filesystem("swebhdfs://nn/user/a", {"verify": "/etc/ssl/ca.pem", "user": "a"})
    assert secure.session.verify == "/etc/ssl/ca.pem" and secure.url.startswith("https://nn:9871")
    default, _ = open_filesystem("hdfs://nn/user/a", {"user": "a"})
    assert default.session.verify is True


def test_zeppelin_layout_keeps_one_folder_per_notebook(hdfs_server):
    store = storage(hdfs_server, layout="zeppelin")
    first = store.put(BUNDLE)
    assert first.uri == "hdfs://namenode:8020/user/alice/submarine/My_Notebook"
    assert hdfs_server.read("/user/alice/submarine/My_Notebook/train.py") == b"print('train')\n"
    assert store.put(BUNDLE).reused
    changed = Bundle({"train.py": b"print('v2')\n"}, notebook=BUNDLE.notebook)
    second = store.put(changed)
    assert second.uri == first.uri and not second.reused
    assert hdfs_server.read("/user/alice/submarine/My_Notebook/train.py") == b"print('v2')\n"
    assert "/user/alice/submarine/My_Notebook/pkg/util.py" not in hdfs_server.nodes  # replaced, not merged
    assert store.uri_for(changed) == first.uri
    named = storage(hdfs_server, layout="zeppelin", notebook_id="2EYUV26VR")
    assert named.put(Bundle({"a.py": b""})).uri.endswith("/2EYUV26VR")
    with pytest.raises(ValidationError, match="needs a notebook id"):
        storage(hdfs_server, layout="zeppelin").put(Bundle({"a.py": b""}))
    with pytest.raises(ValidationError, match="unknown storage layout"):
        storage(hdfs_server, layout="flat")


def test_clean_checkpoint_on_hdfs(hdfs_server):
    options = {"namenodes": [hdfs_server.url], "user": "alice"}
    hdfs_server.mkdir("/user/alice/ckpt/job-1/step-10", owner="alice")
    assert clean_checkpoint("hdfs://nn/user/alice/ckpt/job-1", options) is True
    assert "/user/alice/ckpt/job-1" not in hdfs_server.nodes and "/user/alice/ckpt" in hdfs_server.nodes
    assert clean_checkpoint("hdfs://nn/user/alice/ckpt/job-1", options) is False


@pytest.mark.cluster
@pytest.mark.skipif(not os.environ.get("SUBMARINE_TEST_WEBHDFS_URL"),
                    reason="set SUBMARINE_TEST_WEBHDFS_URL (and SUBMARINE_TEST_HDFS_ROOT) to test a real cluster")
def test_real_cluster_round_trip(tmp_path):
    """Upload and fetch a bundle on a real HDFS (options from SUBMARINE_TEST_HDFS_* variables)."""
    root = os.environ.get("SUBMARINE_TEST_HDFS_ROOT", "hdfs://namenode/tmp/submarine-kernel-test")
    options = {"namenodes": os.environ["SUBMARINE_TEST_WEBHDFS_URL"].split(",")}
    if os.environ.get("SUBMARINE_TEST_HDFS_USER"):
        options["user"] = os.environ["SUBMARINE_TEST_HDFS_USER"]
    if os.environ.get("SUBMARINE_TEST_KERBEROS"):
        options["kerberos"] = True
    store = Storage(root, options, progress=False)
    result = store.put(BUNDLE)
    assert store.stored_state(BUNDLE) == "complete"
    fetched = fetch_bundle(result.uri, tmp_path / "b", options)
    assert (fetched / "train.py").read_bytes() == BUNDLE.files["train.py"]
