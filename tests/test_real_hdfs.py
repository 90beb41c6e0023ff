"""The HDFS storage on a real NameNode and DataNode (tests/clusters/hadoop.py), and the WebHDFS test server
held to the real one's answers: the same requests to both, the same status codes and answer shapes."""

from __future__ import annotations

import pytest
import requests

from submarine_kernel.algorithm import Bundle
from submarine_kernel.storage import Storage
from test_real_yarn import missing_from, shape
from webhdfs_server import WebHdfsTestServer

pytestmark = [pytest.mark.real_cluster, pytest.mark.slow]


def test_bundles_round_trip_through_a_real_namenode(hadoop_cluster):
    storage = Storage(f"{hadoop_cluster.storage_root}/round-trip",
                      {"namenodes": [hadoop_cluster.namenode_url], "user": hadoop_cluster.user})
    bundle = Bundle({"train.py": b"print('hi')\n", "pkg/util.py": b"X = 1\n" * 10000})
    stored = storage.put(bundle)
    again = storage.put(bundle, verify=True)  # content-addressed: the second put finds it complete
    assert again.uri == stored.uri
    assert storage.stored_state(bundle, verify=True) == "complete"  # every file read back, sha256 compared


def test_the_fake_webhdfs_answers_the_same_requests_in_the_real_shapes(hadoop_cluster):
    fake = WebHdfsTestServer().start()
    user = hadoop_cluster.user
    base = f"/user/{user}/shape-check"
    steps = [
        ("PUT", base, {"op": "MKDIRS"}, None),
        ("GET", base, {"op": "GETFILESTATUS"}, None),
        ("PUT", f"{base}/a.txt", {"op": "CREATE", "overwrite": "true"}, b"hello"),
        ("GET", f"{base}/a.txt", {"op": "GETFILESTATUS"}, None),
        ("GET", base, {"op": "LISTSTATUS"}, None),
        ("GET", f"{base}/missing", {"op": "GETFILESTATUS"}, None),
        ("GET", f"{base}/missing", {"op": "OPEN"}, None),
        ("PUT", f"{base}/a.txt", {"op": "RENAME", "destination": f"{base}/b.txt"}, None),
        ("GET", base, {"op": "GETCONTENTSUMMARY"}, None),
        ("PUT", f"{base}/b.txt", {"op": "CREATE", "overwrite": "false"}, b"again"),
        ("DELETE", base, {"op": "DELETE", "recursive": "false"}, None),
        ("DELETE", base, {"op": "DELETE", "recursive": "true"}, None),
        ("GET", "/", {"op": "GETHOMEDIRECTORY"}, None),
        ("GET", base, {"op": "NOSUCHOP"}, None),
    ]
    try:
        for method, path, params, data in steps:
            answers = []
            for url in (hadoop_cluster.namenode_url, fake.url):
                answer = requests.request(method, f"{url}/webhdfs/v1{path}", params={**params, "user.name": user},
                                          allow_redirects=False, timeout=30)
                if answer.status_code == 307:  # the DataNode step
                    answer = requests.request(method, answer.headers["Location"], data=data, timeout=30)
                answers.append(answer)
            real, faked = answers
            where = (method, path, params, real.text[:300], faked.text[:300])
            assert real.status_code == faked.status_code, where
            if real.headers.get("Content-Type", "").startswith("application/json") and real.text.strip():
                assert missing_from(shape(real.json()), shape(faked.json())) == [], where
    finally:
        requests.delete(f"{hadoop_cluster.namenode_url}/webhdfs/v1{base}",
                        params={"op": "DELETE", "recursive": "true", "user.name": user}, timeout=30)
        fake.stop()
