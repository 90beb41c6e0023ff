"""Secrets corpus: secret env values, secret params and storage credentials, through dry runs and real
submissions on the local runtime, Kubernetes (kmock) and YARN (test server). The secret string must appear in
none of: printed output and log records, exception messages, the registry file, local log and status files,
dry-run text; on Kubernetes only in the job's own Secret, which the pods reference.

Choices (see docs/kubernetes.md and docs/yarn.md): on Kubernetes secret-looking env values and params live in a
Secret `<job>-secrets` owned by the job (`valueFrom.secretKeyRef`); a secret param on the command line is read
from its SUBMARINE_PARAM_* variable by the shell; params.json moves from the ConfigMap into that Secret
(projected into the same folder, so the training code reads the real value). YARN's Services API has no secret
store: the service JSON sent to the RM carries the values the user asked for, but they are never printed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from traitlets.config import Config

from submarine_kernel.algorithm import Bundle
from submarine_kernel.errors import SubmarineError
from submarine_kernel.registry import Registry
from submarine_kernel.session import Session

from k8s_support import cluster, NAMESPACE, validate_manifest, wait_for, write_kubeconfig  # noqa: F401 (cluster is a fixture)
from yarn_server import YarnTestServer
from yarn_rules import schema_errors

SECRET = "hunter2-sentinel-7Qx"
ENV = {"AWS_SECRET_ACCESS_KEY": SECRET, "HF_TOKEN": SECRET + "-hf", "DB_PASSWORD": SECRET + "-db",
       "PLAIN_SETTING": "visible"}
PARAMS = {"api_token": SECRET + "-param", "learning_rate": 0.1}
TRAIN = b"import json, os\nprint('trained', sorted(json.load(open('params.json'))))\n"


def bundle() -> Bundle:
    return Bundle({"train.py": TRAIN})


def assert_clean(*texts, where: str = "") -> None:
    for text in texts:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        assert SECRET not in str(text), f"the secret leaked into {where or 'output'}: {str(text)[:300]!r}"


def build(session: Session, name: str, **extra):
    return session.build("python train.py", name=name, framework="pytorch", workers=2, image="repo/train:1",
                         env=dict(ENV), params=dict(PARAMS), **extra)


def session_for(tmp_path, runtime: str, storage_options: dict | None = None, **traits) -> Session:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.SubmarineConfig.runtime = runtime
    config.SubmarineConfig.storage_root = (tmp_path / "store").as_uri()
    if storage_options is not None:
        config.SubmarineConfig.storage_options = storage_options
    section = {"kubernetes": "KubernetesRuntime", "yarn": "YarnRuntime", "local": "LocalRuntime"}[runtime]
    if runtime == "yarn":
        config.YarnRuntime.shared_file_storage = True  # the test "cluster" shares this disk
    for key, value in traits.items():
        setattr(config[section], key, value)
    return Session(config=config, registry=Registry(tmp_path / "registry.sqlite"))


@pytest.fixture
def watched(capsys, caplog):
    """Everything printed or logged during the test, checked at the end."""
    caplog.set_level(logging.INFO)  # botocore DEBUG logs request headers (documented: leave it off)
    caplog.set_level(logging.DEBUG, logger="submarine_kernel")
    yield
    out, err = capsys.readouterr()
    assert_clean(out, err, caplog.text, where="printed output or logs")


# -- local ---------------------------------------------------------------------------------------------
def test_local_dry_run_and_submission_keep_secrets_out(tmp_path, watched):
    from core_support import TIMEOUT

    session = session_for(tmp_path, "local")
    try:
        spec = build(session, "local-secret")
        text = session.dry_run(spec, bundle())
        assert_clean(text, where="the local dry run")
        assert "--api_token" in text and "***" in text
        job = session.submit(spec, bundle())
        assert job.wait(timeout=TIMEOUT).state.value == "SUCCEEDED", job.logs()
        assert "trained ['api_token', 'learning_rate']" in job.logs()
        assert_clean(job.logs(), job.logs("worker-0"), where="the replica logs")
        job_dir = Path(job.ref.extra["dir"])
        for path in [*sorted((job_dir / "logs").iterdir()), job_dir / "status.json", job_dir / "supervisor.log"]:
            assert_clean(path.read_bytes(), where=str(path))
        wait_for(lambda: session.registry.get("local-secret").state == "SUCCEEDED", timeout=20, what="recorded")
        assert_clean((tmp_path / "registry.sqlite").read_bytes(), where="the registry")
        record = session.registry.get("local-secret")
        assert record.spec.env["AWS_SECRET_ACCESS_KEY"] == "***" and record.params["api_token"] == "***"
        assert record.spec.env["PLAIN_SETTING"] == "visible" and record.params["learning_rate"] == 0.1
    finally:
        session.close()


# -- Kubernetes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("api", ["training-operator", "job", "trainer"])
def test_kubernetes_dry_run_shows_a_secret_with_hidden_values(tmp_path, watched, api):
    session = session_for(tmp_path, "kubernetes", namespace=NAMESPACE, api=api)
    try:
        text = session.dry_run(build(session, "k8s-dry", dry_run=True), bundle())
        assert_clean(text, where="the Kubernetes dry run")
        import yaml

        objects = [o for o in yaml.safe_load_all(text) if o]
        secret = next(o for o in objects if o["kind"] == "Secret")
        assert secret["metadata"]["name"] == "k8s-dry-secrets"
        assert set(secret["stringData"]) == {"AWS_SECRET_ACCESS_KEY", "HF_TOKEN", "DB_PASSWORD",
                                             "SUBMARINE_PARAM_API_TOKEN", "params.json"}
        assert set(secret["stringData"].values()) == {"***"}
        assert '"${SUBMARINE_PARAM_API_TOKEN}"' in text and "visible" in text
        for obj in objects:
            validate_manifest(obj)
    finally:
        session.close()


@pytest.mark.parametrize("api", ["training-operator", "job", "trainer"])
def test_every_kubernetes_api_gives_the_pods_the_real_params_json(tmp_path, watched, api):
    # The stored bundle's params.json shows `***`; the one the pods read comes from the job's Secret and must
    # carry the real value, whichever API the job is built for (Trainer v2 used to copy the redacted one).
    session = session_for(tmp_path, "kubernetes", namespace=NAMESPACE, api=api)
    try:
        spec = build(session, "k8s-params", dry_run=True)
        stored = bundle().with_params(spec.params_file())
        assert json.loads(stored.files["params.json"])["api_token"] == "***"
        plan = session.runtime().plan(spec, stored, "file:///store/abc")
        secret = next(o for o in plan.objects(redact=False) if o["kind"] == "Secret")
        assert json.loads(secret["stringData"]["params.json"]) == {"api_token": SECRET + "-param",
                                                                   "learning_rate": 0.1}
        configmap = next(o for o in plan.objects() if o["kind"] == "ConfigMap")
        assert "params.json" not in configmap["data"]
    finally:
        session.close()


@pytest.mark.parametrize("operator", [True, False], ids=["operator", "plain-job"])
def test_kubernetes_submission_puts_secrets_only_in_the_owned_secret(cluster, tmp_path, watched, operator):
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", cluster.url)
    session = session_for(tmp_path, "kubernetes", kubeconfig=str(kubeconfig), request_timeout=5.0,
                          training_operator=operator)
    try:
        job = session.submit(build(session, "k8s-secret"), bundle())
        resource = "kubeflow.org/v1/pytorchjobs" if operator else "batch/v1/jobs"
        created = cluster.object(resource, NAMESPACE, "k8s-secret")
        configmap = cluster.object("v1/configmaps", NAMESPACE, "k8s-secret-algorithm")
        secret = cluster.object("v1/secrets", NAMESPACE, "k8s-secret-secrets")
        assert_clean(json.dumps(created), where="the job object")
        assert_clean(json.dumps(configmap), where="the ConfigMap")
        assert "params.json" not in configmap["data"] and "train.py" in configmap["data"]
        assert secret["metadata"]["ownerReferences"][0]["uid"] == job.ref.id
        assert secret["stringData"]["AWS_SECRET_ACCESS_KEY"] == SECRET  # the real value, for the pods
        assert json.loads(secret["stringData"]["params.json"])["api_token"] == SECRET + "-param"
        container = next(iter(created["spec"].get("pytorchReplicaSpecs", {}).values()), None) if operator else None
        pod = (container or created["spec"])["template"]["spec"]
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        if operator:
            assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"] == {
                "secretKeyRef": {"name": "k8s-secret-secrets", "key": "AWS_SECRET_ACCESS_KEY"}}
            assert env["SUBMARINE_PARAM_API_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == \
                "SUBMARINE_PARAM_API_TOKEN"
        else:
            assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "k8s-secret-secrets"
        sources = pod["volumes"][0]["projected"]["sources"]
        assert sources[1] == {"secret": {"name": "k8s-secret-secrets",
                                         "items": [{"key": "params.json", "path": "params.json"}]}}
        wait_for(lambda: session.registry.get("k8s-secret") is not None, what="recorded")
        assert_clean((tmp_path / "registry.sqlite").read_bytes(), where="the registry")
        # an error after the job exists (a taken name) says nothing of the values either
        with pytest.raises(SubmarineError) as caught:
            session.submit(build(session, "k8s-secret"), bundle())
        assert_clean(str(caught.value), repr(caught.value), where="the error")
    finally:
        session.close()


def test_kubernetes_api_errors_and_kubeconfig_contents_stay_out(cluster, tmp_path, watched):
    from k8s_support import TOKEN

    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", cluster.url)
    forbidden = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403, "reason": "Forbidden",
                 "message": "secrets is forbidden: User \"jane\" cannot create resource \"secrets\""}
    cluster.configure(lambda api: (api ** 10)["post", cluster.kmock.resource("v1/secrets")] << 403 << forbidden)
    session = session_for(tmp_path, "kubernetes", kubeconfig=str(kubeconfig), request_timeout=5.0)
    try:
        with pytest.raises(SubmarineError) as caught:
            session.submit(build(session, "k8s-forbidden"), bundle())
        message = str(caught.value)
        assert "cannot create resource \\\"secrets\\\"" in message or 'cannot create resource "secrets"' in message
        assert_clean(message, repr(caught.value), where="the 403 error")
        assert TOKEN not in message and caught.value.__cause__ is None
        assert cluster.object("kubeflow.org/v1/pytorchjobs", NAMESPACE, "k8s-forbidden") is None  # rolled back
        assert session.records() == []
    finally:
        session.close()


# -- YARN ---------------------------------------------------------------------------------------------
@pytest.fixture
def yarn():
    server = YarnTestServer().start()
    yield server
    server.stop()


def test_yarn_dry_run_hides_secrets_and_the_submission_never_prints_them(yarn, tmp_path, watched):
    session = session_for(tmp_path, "yarn", rm_urls=[yarn.url], user="alice",
                          registry_dns_domain="ycluster.example.com")
    try:
        spec = build(session, "yarn-secret")
        text = session.dry_run(spec, bundle())
        assert_clean(text, where="the YARN dry run")
        assert "--api_token" in text and "***" in text and "visible" in text
        job = session.submit(spec, bundle())
        posted = yarn.services["yarn-secret"].spec
        assert schema_errors(posted) == []
        # documented: the RM receives what the user asked for (no secret store in the Services API)
        assert posted["components"][0]["configuration"]["env"]["AWS_SECRET_ACCESS_KEY"] == SECRET
        yarn.advance("yarn-secret", "FAILED", "master-0 exited with code 1")
        status = job.wait(timeout=20)
        assert_clean(json.dumps(status.to_dict()), where="the status")
        wait_for(lambda: session.registry.get("yarn-secret").state == "FAILED", what="recorded")
        assert_clean((tmp_path / "registry.sqlite").read_bytes(), where="the registry")
        with pytest.raises(SubmarineError) as caught:  # a taken name: the error names no value
            session.submit(build(session, "yarn-secret"), bundle())
        assert_clean(str(caught.value), where="the error")
    finally:
        session.close()


# -- storage credentials ------------------------------------------------------------------------------
def test_s3_credentials_stay_out_of_dry_runs_errors_and_the_registry(tmp_path, watched, monkeypatch):
    pytest.importorskip("s3fs")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID",
                 "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    options = {"endpoint_url": dead, "key": "AKIASENTINELKEY", "secret": SECRET + "-s3", "token": SECRET + "-st",
               "region": "us-east-1"}
    for runtime in ("local", "kubernetes", "yarn"):
        config = Config()
        config.SubmarineConfig.runtime = runtime
        config.SubmarineConfig.storage_root = "s3://bundles/submarine"
        config.SubmarineConfig.storage_options = options
        config.KubernetesRuntime.namespace = NAMESPACE
        config.KubernetesRuntime.kubeconfig = str(write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9"))
        config.YarnRuntime.rm_urls = ["http://127.0.0.1:9"]
        config.YarnRuntime.registry_dns_domain = "ycluster.example.com"
        session = Session(config=config, registry=Registry(tmp_path / f"{runtime}.sqlite"))
        try:
            spec = build(session, f"s3-{runtime}")
            text = session.dry_run(spec, bundle())
            assert_clean(text, where=f"the {runtime} dry run")
            assert "AKIASENTINELKEY" not in text
            # the upload cannot reach the endpoint: one StorageError line, without the credentials
            with pytest.raises(SubmarineError, match="cannot reach the bundle storage") as caught:
                session.submit(spec, bundle())
            assert_clean(str(caught.value), repr(caught.value), where="the upload error")
            assert session.records() == []
        finally:
            session.close()
        assert_clean((tmp_path / f"{runtime}.sqlite").read_bytes(), where="the registry")
