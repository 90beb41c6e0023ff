"""Faults on the cluster runtimes, injected into the test servers: lost responses and 5xx on submit
(idempotent: exactly one job, and the ref of that job), failing polls and watches (the last status kept,
stale, with "retrying N/M", then the right state), and logs read through 503s."""

from __future__ import annotations

import asyncio

import pytest
from traitlets.config import Config

from submarine_kernel import retry
from submarine_kernel.algorithm import Bundle
from submarine_kernel.errors import SubmarineError
from submarine_kernel.registry import Registry
from submarine_kernel.retry import RetryPolicy
from submarine_kernel.job_types import JobState
from submarine_kernel.session import SUBMISSION_LABEL, Session
from submarine_kernel.tracker import Tracker

from k8s_support import cluster, NAMESPACE, now, wait_for, write_kubeconfig  # noqa: F401 (cluster is a fixture)
from fault_support import yarn_session  # noqa: F401 (test_reliability imports it from here too)
from yarn_server import YarnTestServer
from yarn_rules import schema_errors

BUNDLE = Bundle({"train.py": b"print('hi')\n"})
FAST = RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    """The session's policy with tiny delays (the bound and the wording stay the same)."""
    import submarine_kernel.session as session_module

    monkeypatch.setattr(retry, "DEFAULT_POLICY", FAST)
    monkeypatch.setattr(session_module, "DEFAULT_POLICY", FAST)


def drive(tracker: Tracker, ref) -> None:
    """Follow `ref` without the tracker's thread: the test drives the rounds with poll_once."""
    with tracker._lock:
        tracker._refs[ref.key] = ref


# -- YARN ------------------------------------------------------------------------------------------------
@pytest.fixture
def yarn():
    server = YarnTestServer().start()
    yield server
    server.stop()


def yarn_submit(session: Session, name: str):
    spec = session.build("python train.py", name=name, framework="pytorch", workers=2, image="pytorch:2")
    return session.submit(spec, BUNDLE)


def test_yarn_lost_post_response_makes_one_service_and_returns_its_ref(yarn, tmp_path):
    yarn.fail_next("POST", "/app/v1/services", "drop")
    session = yarn_session(yarn, tmp_path)
    notices = []
    session.notify = notices.append
    try:
        job = yarn_submit(session, "lost-post")
        posts = [r for r in yarn.requests if r.method == "POST"]
        assert len(posts) == 2  # the first was handled, its answer lost; the retry met our own service
        assert list(yarn.services) == ["lost-post"] and len(yarn.apps) == 1
        assert job.ref.id == yarn.services["lost-post"].app_id
        token = posts[0].body["configuration"]["properties"]["submarine-kernel.submission"]
        assert posts[1].body["configuration"]["properties"]["submarine-kernel.submission"] == token
        assert schema_errors(posts[0].body) == []  # the token lives where the Services API allows it
        assert job.spec.labels[SUBMISSION_LABEL] == token
        assert len(notices) == 1 and notices[0].endswith("retrying 2/5")
        assert session.registry.get("lost-post").ref.id == job.ref.id
    finally:
        session.close()


def test_yarn_a_foreign_service_of_the_same_name_is_still_taken(yarn, tmp_path):
    other = yarn_session(yarn, tmp_path / "other")
    session = yarn_session(yarn, tmp_path)
    try:
        yarn_submit(other, "shared-name")
        with pytest.raises(SubmarineError, match="YARN service name 'shared-name' is already taken: choose "
                                                 "another --name"):
            yarn_submit(session, "shared-name")
        assert len(yarn.apps) == 1 and session.records() == []
    finally:
        other.close()
        session.close()


def test_yarn_submit_through_one_503_makes_one_service(yarn, tmp_path):
    yarn.fail_next("POST", "/app/v1/services", 503)
    session = yarn_session(yarn, tmp_path)
    try:
        job = yarn_submit(session, "after-503")
        assert len([r for r in yarn.requests if r.method == "POST"]) == 2
        assert len(yarn.apps) == 1 and job.ref.id == yarn.services["after-503"].app_id
    finally:
        session.close()


def test_yarn_a_poll_that_fails_twice_is_stale_and_retrying_then_recovers(yarn, tmp_path):
    session = yarn_session(yarn, tmp_path)
    try:
        job = yarn_submit(session, "blinking")
        session.tracker.close()  # drive the rounds here
        tracker = Tracker(session.runtime, session.registry, retry=FAST)
        seen = []
        tracker.listen(lambda ref, status: seen.append(status))
        drive(tracker, job.ref)
        tracker.poll_once()
        assert seen[-1].state == JobState.PENDING and not seen[-1].stale
        yarn.advance("blinking", "SUCCEEDED")
        yarn.fail_next("GET", "/ws/v1/cluster/apps", 503, times=2)
        tracker.poll_once()
        tracker.poll_once()
        assert [(s.state, s.stale) for s in seen[1:]] == [(JobState.PENDING, True), (JobState.PENDING, True)]
        assert "503" in seen[1].message and seen[1].message.endswith("retrying 2/5")
        assert seen[2].message.endswith("retrying 3/5")
        assert session.registry.get("blinking").state == "PENDING"  # stale statuses are not recorded
        tracker.poll_once()
        assert (seen[-1].state, seen[-1].stale) == (JobState.SUCCEEDED, False)
        assert session.registry.get("blinking").state == "SUCCEEDED" and tracker.active == []
    finally:
        session.close()


def test_yarn_an_unreachable_rm_is_retried_then_named(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    config = Config()
    config.SubmarineConfig.runtime = "yarn"
    config.SubmarineConfig.storage_root = (tmp_path / "store").as_uri()
    config.YarnRuntime.shared_file_storage = True  # the test "cluster" shares this disk
    config.YarnRuntime.rm_urls = [dead]
    config.YarnRuntime.user = "alice"
    config.YarnRuntime.registry_dns_domain = "ycluster.example.com"
    session = Session(config=config, registry=Registry(tmp_path / "registry.sqlite"))
    notices = []
    session.notify = notices.append
    try:
        with pytest.raises(SubmarineError, match=r"submitting far failed 5 times, last with: "
                                                 r"ResourceManagerUnreachable: no active ResourceManager"):
            yarn_submit(session, "far")
        assert [n.rsplit(" ", 1)[-1] for n in notices] == ["2/5", "3/5", "4/5", "5/5"]
        # the create may have reached an RM that then went away: recorded as such, settled once it answers
        records = session.records()
        assert [(r.ref.name, r.state, r.status.raw_state) for r in records] == [("far", "UNKNOWN",
                                                                                  "submit-unconfirmed")]
    finally:
        session.close()


def test_yarn_logs_are_read_through_503s(yarn, tmp_path):
    session = yarn_session(yarn, tmp_path)
    try:
        job = yarn_submit(session, "logged")
        yarn.advance("logged", "STABLE")
        record = yarn.services["logged"]
        yarn.container_logs[(yarn.container_id(record, "master", 0), "stdout.txt")] = "epoch 1\nepoch 2\n"
        yarn.fail_next("GET", "/app/v1/services/logged", 503)
        yarn.fail_next("GET", "/ws/v1/node/containerlogs/", 502)
        assert job.logs() == "epoch 1\nepoch 2"
        assert yarn.count("GET", "/ws/v1/node/containerlogs/") == 3  # stdout (502, then again) + stderr
    finally:
        session.close()


# -- Kubernetes (kmock) ------------------------------------------------------------------------------------
JOBS_PATH = f"/apis/kubeflow.org/v1/namespaces/{NAMESPACE}/pytorchjobs"
PYTORCHJOBS = "kubeflow.org/v1/pytorchjobs"


def k8s_session(cluster, tmp_path) -> Session:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.SubmarineConfig.runtime = "kubernetes"
    config.SubmarineConfig.storage_root = (tmp_path / "store").as_uri()
    config.KubernetesRuntime.kubeconfig = str(write_kubeconfig(tmp_path / "kubeconfig", cluster.url))
    config.KubernetesRuntime.request_timeout = 5.0
    return Session(config=config, registry=Registry(tmp_path / "registry.sqlite"))


def k8s_submit(session: Session, name: str):
    spec = session.build("python train.py", name=name, framework="pytorch", workers=2, image="repo/train:1")
    return session.submit(spec, BUNDLE)


def posts(cluster, resource: str) -> list:
    return cluster.requests(lambda r: r.method == "POST" and r.resource == cluster.kmock.resource(resource))


def test_k8s_lost_create_response_makes_one_job_and_returns_its_ref(cluster, tmp_path):
    cluster.lose_response("POST", JOBS_PATH)
    session = k8s_session(cluster, tmp_path)
    notices = []
    session.notify = notices.append
    try:
        job = k8s_submit(session, "lost-create")
        assert len(posts(cluster, PYTORCHJOBS)) == 2  # created, answer lost; the retry met our own job
        created = cluster.object(PYTORCHJOBS, NAMESPACE, "lost-create")
        assert job.ref.id == created["metadata"]["uid"]
        assert created["metadata"]["labels"][SUBMISSION_LABEL] == job.spec.labels[SUBMISSION_LABEL]
        configmap = cluster.object("v1/configmaps", NAMESPACE, "lost-create-algorithm")
        assert configmap["metadata"]["ownerReferences"][0]["uid"] == job.ref.id
        assert len(posts(cluster, "v1/configmaps")) == 1
        assert len(notices) == 1 and notices[0].endswith("retrying 2/5")
        assert [r.ref.id for r in session.records()] == [job.ref.id]
    finally:
        session.close()


def test_k8s_lost_configmap_response_keeps_the_job_and_finishes(cluster, tmp_path):
    cluster.lose_response("POST", f"/api/v1/namespaces/{NAMESPACE}/configmaps")
    session = k8s_session(cluster, tmp_path)
    try:
        job = k8s_submit(session, "lost-cm")
        assert len(posts(cluster, PYTORCHJOBS)) == 2 and len(posts(cluster, "v1/configmaps")) == 2
        assert cluster.object(PYTORCHJOBS, NAMESPACE, "lost-cm")["metadata"]["uid"] == job.ref.id
        assert cluster.requests(lambda r: r.method == "DELETE") == []  # not rolled back: adopted
    finally:
        session.close()


def test_k8s_a_foreign_job_of_the_same_name_is_still_taken(cluster, tmp_path):
    other = k8s_session(cluster, tmp_path / "other")
    session = k8s_session(cluster, tmp_path)
    try:
        first = k8s_submit(other, "shared-name")
        with pytest.raises(SubmarineError, match="PyTorchJob 'shared-name' in namespace 'ml': it already exists; "
                                                 "choose another job name"):
            k8s_submit(session, "shared-name")
        assert cluster.object(PYTORCHJOBS, NAMESPACE, "shared-name")["metadata"]["uid"] == first.ref.id
        assert len(posts(cluster, "v1/configmaps")) == 1 and session.records() == []
    finally:
        other.close()
        session.close()


def test_k8s_submit_through_one_503_makes_one_job(cluster, tmp_path):
    unavailable = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 503,
                   "reason": "ServiceUnavailable", "message": "etcdserver: leader changed"}
    cluster.configure(lambda api: (api ** 10)["post", cluster.kmock.resource(PYTORCHJOBS)][:1] << 503 << unavailable)
    session = k8s_session(cluster, tmp_path)
    try:
        job = k8s_submit(session, "after-503")
        assert len(posts(cluster, PYTORCHJOBS)) == 2
        assert cluster.object(PYTORCHJOBS, NAMESPACE, "after-503")["metadata"]["uid"] == job.ref.id
        assert len(posts(cluster, "v1/configmaps")) == 1
    finally:
        session.close()


def test_k8s_a_failing_watch_is_stale_and_retrying_then_recovers(cluster, tmp_path):
    release = asyncio.Event()
    unavailable = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 503,
                   "reason": "ServiceUnavailable", "message": "the server is restarting"}

    def failing_watches(api):
        async def hold():
            await release.wait()
        watch = api[cluster.kmock.action.WATCH][cluster.kmock.resource(PYTORCHJOBS)]
        watch[:2] << 503 << unavailable  # two watches fail at once
        watch[2:3] << (hold, b"")  # the third sends nothing (not even headers) until the test lets it end

    session = k8s_session(cluster, tmp_path)
    cluster.configure(failing_watches)
    try:
        job = k8s_submit(session, "flaky-watch")  # starts the list+watch of pytorchjobs
        session.tracker.close()
        tracker = Tracker(session.runtime, session.registry, retry=FAST)
        seen = []
        tracker.listen(lambda ref, status: seen.append(status))
        drive(tracker, job.ref)
        wait_for(lambda: tracker.poll_once() is not None and seen and seen[-1].stale
                 and seen[-1].message.endswith("retrying 3/5)"), what="a stale status retrying 3/5")
        assert seen[-1].state == JobState.SUBMITTED and "(503 Service Unavailable)" in seen[-1].message
        assert session.registry.get("flaky-watch").state == "SUBMITTED"  # stale statuses are not recorded
        cluster.loop.call_soon_threadsafe(release.set)
        wait_for(lambda: tracker.poll_once() is not None and not seen[-1].stale, what="the watch back")
        cluster.patch(f"{JOBS_PATH}/flaky-watch", {"status": {"conditions": [
            {"type": "Succeeded", "status": "True", "lastTransitionTime": now()}], "completionTime": now()}})
        wait_for(lambda: tracker.poll_once() is not None and seen[-1].state == JobState.SUCCEEDED,
                 what="SUCCEEDED after the watch came back")
        assert not seen[-1].stale and tracker.active == []
        assert session.registry.get("flaky-watch").state == "SUCCEEDED"
    finally:
        session.close()


def test_k8s_logs_are_read_through_a_503(cluster, tmp_path):
    session = k8s_session(cluster, tmp_path)
    try:
        job = k8s_submit(session, "logs-job")
        from submarine_kernel.runtimes.kubernetes import labels as lbl

        cluster.create(f"/api/v1/namespaces/{NAMESPACE}/pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "logs-job-master-0", "namespace": NAMESPACE, "creationTimestamp": now(),
                         "labels": {lbl.MANAGED_BY_LABEL: lbl.MANAGED_BY, lbl.JOB_LABEL: "logs-job",
                                    lbl.OPERATOR_REPLICA_TYPE_LABEL: "master", lbl.OPERATOR_REPLICA_INDEX_LABEL: "0"}},
            "status": {"phase": "Running"}})
        log_path = f"/api/v1/namespaces/{NAMESPACE}/pods/logs-job-master-0/log"
        cluster.configure(lambda api: [
            api[f"get {log_path}"][:1] << 503 << {"kind": "Status", "code": 503, "message": "kubelet busy"},
            api[f"get {log_path}"] << b"epoch 1\nepoch 2\n"])
        assert job.logs() == "epoch 1\nepoch 2"
        assert len(cluster.requests(lambda r: r.url.path == log_path)) == 2
    finally:
        session.close()
