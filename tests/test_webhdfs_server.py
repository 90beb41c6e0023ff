"""The WebHDFS test server checked by two independent clients (HdfsCLI and fsspec's webhdfs) and by raw
requests for the protocol details WebHDFS.md fixes: 307 redirects, noredirect, RemoteException bodies."""

from __future__ import annotations

import fsspec
import pytest
import requests
from hdfs import HdfsError, InsecureClient

from webhdfs_server import WebHdfsTestServer


@pytest.fixture
def hdfs_server():
    server = WebHdfsTestServer().start()
    yield server
    server.stop()


def test_hdfscli_round_trip(hdfs_server):
    client = InsecureClient(hdfs_server.url, user="alice")
    client.makedirs("/user/alice/data")
    client.write("/user/alice/data/a.txt", b"hello", overwrite=True)
    client.write("/user/alice/data/a.txt", b" world", append=True)
    with client.read("/user/alice/data/a.txt") as reader:
        assert reader.read() == b"hello world"
    with client.read("/user/alice/data/a.txt", offset=6, length=3) as reader:
        assert reader.read() == b"wor"
    assert client.list("/user/alice/data") == ["a.txt"]
    status = client.status("/user/alice/data/a.txt")
    assert status["type"] == "FILE" and status["length"] == 11 and status["owner"] == "alice"
    assert client.content("/user/alice")["fileCount"] == 1
    client.rename("/user/alice/data/a.txt", "/user/alice/data/b.txt")
    assert client.status("/user/alice/data/a.txt", strict=False) is None
    with pytest.raises(HdfsError, match="already exists"):
        client.write("/user/alice/data/b.txt", b"again", overwrite=False)
    with pytest.raises(HdfsError, match="non empty"):
        client.delete("/user/alice/data")
    assert client.delete("/user/alice", recursive=True) is True
    assert client.delete("/user/alice") is False
    # data went to the DataNode, never to the NameNode
    assert hdfs_server.count("datanode", "CREATE") == 1 and hdfs_server.count("datanode", "APPEND") == 1
    assert all(r.body_length == 0 for r in hdfs_server.requests if r.server == "namenode")


def test_fsspec_webhdfs_round_trip(hdfs_server):
    port = int(hdfs_server.url.rsplit(":", 1)[1])
    fs = fsspec.filesystem("webhdfs", host="127.0.0.1", port=port, user="bob", skip_instance_cache=True)
    fs.makedirs("/tmp/fsspec", exist_ok=True)
    with fs.open("/tmp/fsspec/blob.bin", "wb") as f:  # CREATE (empty) then APPEND, as fsspec writes
        f.write(b"x" * 100_000)
    assert fs.cat_file("/tmp/fsspec/blob.bin", start=10, end=20) == b"x" * 10
    assert fs.info("/tmp/fsspec/blob.bin")["size"] == 100_000
    assert fs.ls("/tmp/fsspec") == ["/tmp/fsspec/blob.bin"]
    fs.mv("/tmp/fsspec/blob.bin", "/tmp/fsspec/moved.bin")
    assert fs.exists("/tmp/fsspec/moved.bin") and not fs.exists("/tmp/fsspec/blob.bin")
    fs.rm("/tmp/fsspec", recursive=True)
    with pytest.raises(FileNotFoundError):
        fs.info("/tmp/fsspec")


def test_redirects_noredirect_and_remote_exceptions(hdfs_server):
    base = f"{hdfs_server.url}/webhdfs/v1"
    create = requests.put(f"{base}/d/f.txt", params={"op": "CREATE", "user.name": "alice"}, allow_redirects=False,
                          timeout=10)
    assert create.status_code == 307 and create.headers["Location"].startswith(hdfs_server.datanode_url)
    assert "user.name=alice" in create.headers["Location"]
    written = requests.put(create.headers["Location"], data=b"data", timeout=10)
    assert written.status_code == 201 and written.headers["Location"].startswith("hdfs://")
    located = requests.get(f"{base}/d/f.txt", params={"op": "OPEN", "noredirect": "true"}, timeout=10)
    assert located.status_code == 200 and requests.get(located.json()["Location"], timeout=10).content == b"data"
    missing = requests.get(f"{base}/nope", params={"op": "GETFILESTATUS"}, timeout=10)
    assert missing.status_code == 404
    assert missing.json() == {"RemoteException": {"exception": "FileNotFoundException",
                                                  "javaClassName": "java.io.FileNotFoundException",
                                                  "message": "File does not exist: /nope"}}
    bad = requests.get(f"{base}/d", params={"op": "NOSUCHOP"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["RemoteException"]["exception"] == "IllegalArgumentException"


def test_permissions_users_tokens_and_standby():
    server = WebHdfsTestServer(require_user=True, tokens={"tok-123": "carol"}).start()
    try:
        server.mkdir("/user/alice", owner="alice", permission="755")
        base = f"{server.url}/webhdfs/v1"
        anonymous = requests.get(f"{base}/", params={"op": "LISTSTATUS"}, timeout=10)
        assert anonymous.status_code == 401
        denied = requests.put(f"{base}/user/alice/x", params={"op": "MKDIRS", "user.name": "bob"}, timeout=10)
        assert denied.status_code == 403
        assert denied.json()["RemoteException"]["message"].startswith("Permission denied: user=bob, access=WRITE")
        assert InsecureClient(server.url, user="alice").makedirs("/user/alice/x") is None
        by_token = requests.get(f"{base}/", params={"op": "GETHOMEDIRECTORY", "delegation": "tok-123"}, timeout=10)
        assert by_token.json() == {"Path": "/user/carol"}
        assert requests.get(f"{base}/", params={"op": "LISTSTATUS", "delegation": "bad"}, timeout=10).status_code == 403
    finally:
        server.stop()
    standby = WebHdfsTestServer(standby=True).start()
    try:
        answer = requests.get(f"{standby.url}/webhdfs/v1/", params={"op": "LISTSTATUS"}, timeout=10)
        assert answer.status_code == 403 and answer.json()["RemoteException"]["exception"] == "StandbyException"
    finally:
        standby.stop()
