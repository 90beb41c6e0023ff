"""TLS verification is on by default on every client, with an explicit opt-out (YARN and WebHDFS through
http.py, the Kubernetes kubeconfig, the S3 endpoint), checked against a real HTTPS server with a self-signed
certificate; and the registry and the local runtime's files are readable by their user only."""

from __future__ import annotations

import ssl
import stat
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from submarine_kernel.errors import SubmarineError
from submarine_kernel.net.http import build_session


# -- a self-signed HTTPS server ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
def https_url(certificate):
    cert, key = certificate

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = b'{"clusterInfo": {"state": "STARTED"}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# -- http.py: YARN and WebHDFS ---------------------------------------------------------------------------
def test_cluster_sessions_verify_by_default_and_opt_out_only_when_asked(https_url, certificate):
    assert build_session().verify is True
    assert build_session(verify=None).verify is True and build_session(verify="").verify is True
    with pytest.raises(requests.exceptions.SSLError):  # an unknown CA is refused by default
        build_session().get(https_url + "/ws/v1/cluster/info")
    assert build_session(verify=False).get(https_url + "/ws/v1/cluster/info").status_code == 200
    assert build_session(verify="false").verify is False
    assert build_session(verify=str(certificate[0])).get(https_url + "/ws/v1/cluster/info").ok  # a CA bundle
    with pytest.raises(SubmarineError, match="TLS verify must be True, False or a CA bundle path"):
        build_session(verify=0)


def test_yarn_runtime_verifies_unless_verify_tls_is_false(https_url):
    from submarine_kernel.runtimes.yarn import ResourceManagerUnreachable, YarnRuntime

    runtime = YarnRuntime(rm_urls=[https_url], user="alice")
    assert runtime.verify_tls is True and runtime.client.session.verify is True
    with pytest.raises(ResourceManagerUnreachable, match="SSLError"):
        runtime.client.list_apps()
    insecure = YarnRuntime(rm_urls=[https_url], user="alice", verify_tls=False)
    assert insecure.client.session.verify is False
    assert insecure.client.request("GET", "/ws/v1/cluster/info").status_code == 200


def test_webhdfs_verifies_unless_verify_is_false(https_url):
    pytest.importorskip("fsspec")
    from submarine_kernel.storage import open_filesystem

    fs, _ = open_filesystem("hdfs://namenode:8020/user/alice", {"namenodes": [https_url], "user": "alice"})
    assert fs.session.verify is True
    fs, _ = open_filesystem("hdfs://namenode:8020/user/alice", {"namenodes": [https_url], "user": "alice",
                                                                 "verify": False})
    assert fs.session.verify is False


# -- Kubernetes: the kubeconfig decides, verification on unless it says insecure-skip-tls-verify -------------
def test_kubernetes_verifies_unless_the_kubeconfig_opts_out(https_url, tmp_path):
    pytest.importorskip("kubernetes")
    import yaml

    from submarine_kernel.runtimes.kubernetes import kinds
    from submarine_kernel.errors import TransientError
    from submarine_kernel.runtimes.kubernetes import KubernetesRuntime

    def kubeconfig(name: str, **cluster) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "k", "cluster": {"server": https_url, **cluster}}],
            "users": [{"name": "u", "user": {"token": "tls-test-token"}}],
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "ml"}}]}))
        return path

    secure = KubernetesRuntime(kubeconfig=str(kubeconfig("secure")), request_timeout=5)
    clients = secure.connect()
    assert clients.api.configuration.verify_ssl is True
    with pytest.raises(TransientError, match="cannot reach the Kubernetes API") as caught:
        clients.read_job(kinds.PLAIN_JOB, "ml", "x")
    assert "tls-test-token" not in str(caught.value)
    secure.close()
    insecure = KubernetesRuntime(kubeconfig=str(kubeconfig("insecure", **{"insecure-skip-tls-verify": True})),
                                 request_timeout=5)
    clients = insecure.connect()
    assert clients.api.configuration.verify_ssl is False
    insecure.close()


# -- S3 ----------------------------------------------------------------------------------------------------
def test_s3_verifies_by_default_and_verify_false_is_explicit():
    pytest.importorskip("s3fs")
    from submarine_kernel.errors import StorageError
    from submarine_kernel.storage.s3 import s3_options

    assert "client_kwargs" not in s3_options({"endpoint_url": "https://minio:9000"})  # botocore's default: verify
    assert s3_options({"verify": False})["client_kwargs"] == {"verify": False}
    assert s3_options({"verify": "false", "client_kwargs": {"region_name": "eu-west-1"}})["client_kwargs"] == {
        "region_name": "eu-west-1", "verify": False}
    assert s3_options({"verify": "/etc/ca.pem"})["client_kwargs"] == {"verify": "/etc/ca.pem"}
    with pytest.raises(StorageError, match="verify must be True, False or a CA bundle path"):
        s3_options({"verify": 3})


def test_s3_endpoint_with_an_unknown_ca_is_refused_unless_verify_is_false(https_url):
    pytest.importorskip("s3fs")
    from submarine_kernel.storage.s3 import open_s3

    options = {"endpoint_url": https_url, "key": "k", "secret": "s", "region": "us-east-1",
               "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 5, "read_timeout": 5}}
    fs, path = open_s3("s3://bundles/prefix", options)
    with pytest.raises(OSError, match="SSL"):
        fs.ls(path)
    insecure, path = open_s3("s3://bundles/prefix", {**options, "verify": False})
    # past TLS: our toy server is no S3, so what fails now is the answer, not the certificate
    with pytest.raises(Exception) as caught:
        insecure.ls(path)
    assert "SSL" not in str(caught.value) and "certificate" not in str(caught.value).lower()


# -- file modes --------------------------------------------------------------------------------------------
def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_registry_is_readable_by_its_user_only(tmp_path):
    from submarine_kernel.registry import Registry

    registry = Registry(tmp_path / "data" / "registry.sqlite")
    assert registry.list() == []  # the file is created on first use
    assert mode(registry.path) == 0o600
    assert mode(registry.path.parent) == 0o700


def test_local_job_files_are_readable_by_their_user_only(tmp_path):
    from core_support import TIMEOUT
    from traitlets.config import Config

    from submarine_kernel.algorithm import Bundle
    from submarine_kernel.config import data_dir
    from submarine_kernel.session import Session

    config = Config()
    config.SubmarineConfig.runtime = "local"
    config.SubmarineConfig.storage_root = (tmp_path / "store").as_uri()
    session = Session(config=config)
    try:
        spec = session.build("python train.py", name="private-files", framework="pytorch", workers=2)
        job = session.submit(spec, Bundle({"train.py": b"print('hi')\n"}))
        assert job.wait(timeout=TIMEOUT).state.value == "SUCCEEDED"
        job_dir = Path(job.ref.extra["dir"])
        assert mode(data_dir()) == 0o700 and mode(job_dir.parent) == 0o700 and mode(job_dir) == 0o700
        assert mode(job_dir / "logs") == 0o700
        logs = sorted((job_dir / "logs").iterdir())
        assert [p.name for p in logs] == ["master-0.log", "worker-0.log"]
        assert all(mode(p) == 0o600 for p in logs)
        for name in ("job.json", "supervisor.log", "status.json"):
            assert mode(job_dir / name) == 0o600, name
        assert mode(session.registry.path) == 0o600
    finally:
        session.close()
