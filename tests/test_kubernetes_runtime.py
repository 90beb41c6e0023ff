"""The Kubernetes runtime end to end against kmock's KubernetesEmulator over real HTTP, the test playing
the training operator (it patches .status and creates the pods); and against a real cluster when
SUBMARINE_TEST_KUBECONFIG names one."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

pytest.importorskip("kubernetes")  # at collection, so the first test does not pay for the import
pytest.importorskip("kmock")

from k8s_support import cluster, NAMESPACE, TOKEN, now, wait_for, write_kubeconfig  # noqa: E402,F401 (cluster is a fixture)
from submarine_kernel.runtimes.kubernetes import labels as lbl  # noqa: E402
from submarine_kernel.algorithm import Bundle  # noqa: E402
from submarine_kernel.errors import RuntimeFailure, SubmarineError, TransientError, ValidationError  # noqa: E402
from submarine_kernel.job_types import JobState# noqa: E402
from submarine_kernel.runtimes.kubernetes import KubernetesRuntime  # noqa: E402
from submarine_kernel.spec import build_spec  # noqa: E402

PYTORCHJOBS = "kubeflow.org/v1/pytorchjobs"
JOBS_PATH = f"/apis/kubeflow.org/v1/namespaces/{NAMESPACE}/pytorchjobs"
BUNDLE = Bundle({"train.py": b"print('training')\n", "utils/data.py": b"X = 1\n"})


@pytest.fixture
def kubeconfig(cluster, tmp_path):
    return write_kubeconfig(tmp_path / "kubeconfig", cluster.url)


@pytest.fixture
def runtime(kubeconfig):
    rt = KubernetesRuntime(kubeconfig=str(kubeconfig), request_timeout=5)
    yield rt
    rt.close()


def pytorch_spec(name: str, workers: int = 2, **kwargs):
    return build_spec(name, framework="pytorch", workers=workers, image="repo/train:1", command="python train.py",
                      labels={"submarine-kernel/user": "jane"}, **kwargs)


def posts(cluster, resource: str) -> list:
    return cluster.requests(lambda r: r.method == "POST" and r.resource == cluster.kmock.resource(resource))


def watches(cluster, resource: str) -> list:
    return cluster.requests(lambda r: r.action == cluster.kmock.action.WATCH
                            and r.resource == cluster.kmock.resource(resource))


def lists(cluster, resource: str) -> list:
    return cluster.requests(lambda r: r.action == cluster.kmock.action.LIST
                            and r.resource == cluster.kmock.resource(resource))


def operator_pod(job: str, rtype: str, index: int, phase: str, **status) -> dict:
    """A pod as the training operator creates it from our template (labels copied, plus its own)."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{job}-{rtype}-{index}", "namespace": NAMESPACE, "creationTimestamp": now(),
                         "labels": {lbl.MANAGED_BY_LABEL: lbl.MANAGED_BY, lbl.JOB_LABEL: job,
                                    lbl.OPERATOR_JOB_NAME_LABEL: job, lbl.OPERATOR_REPLICA_TYPE_LABEL: rtype,
                                    lbl.OPERATOR_REPLICA_INDEX_LABEL: str(index)}},
            "spec": {"nodeName": f"gpu-node-{index}"},
            "status": {"phase": phase, "startTime": now(), **status}}


def play_operator(cluster, name: str, *conditions: str, **status) -> None:
    cluster.patch(f"{JOBS_PATH}/{name}", {"status": {
        "conditions": [{"type": c, "status": "True", "lastTransitionTime": now(), "message": f"job is {c}"}
                       for c in conditions], **status}})


def test_create_watch_and_finish(cluster, runtime):
    ref = runtime.submit(pytorch_spec("mnist-run"), BUNDLE, "file:///bundles/abc")
    job = cluster.object(PYTORCHJOBS, NAMESPACE, "mnist-run")
    configmap = cluster.object("v1/configmaps", NAMESPACE, "mnist-run-algorithm")
    assert ref.id == job["metadata"]["uid"] and ref.extra["namespace"] == NAMESPACE
    assert configmap["metadata"]["ownerReferences"] == [
        {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "name": "mnist-run", "uid": ref.id}]
    first_post = cluster.requests(lambda r: r.method == "POST")[0]
    assert first_post.resource == cluster.kmock.resource(PYTORCHJOBS)  # the job first, then what it owns
    assert runtime.poll([ref])[ref.key].state == JobState.SUBMITTED

    play_operator(cluster, "mnist-run", "Created", "Running", startTime=now(),
                  replicaStatuses={"Master": {"active": 1}, "Worker": {"active": 1}})
    cluster.create(f"/api/v1/namespaces/{NAMESPACE}/pods", operator_pod("mnist-run", "master", 0, "Running"))
    cluster.create(f"/api/v1/namespaces/{NAMESPACE}/pods", operator_pod(
        "mnist-run", "worker", 0, "Pending",
        containerStatuses=[{"name": "pytorch", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]))
    status = wait_for(lambda: (s := runtime.poll([ref])[ref.key]).state == JobState.RUNNING
                      and len([r for r in s.replicas if r.raw_state != "NoPod"]) == 2 and s, what="RUNNING")
    assert status.raw_state == "Running" and not status.stale
    master, worker = status.replicas
    assert (master.name, master.state, master.host) == ("master-0", JobState.RUNNING, "gpu-node-0")
    assert (worker.name, worker.state, worker.raw_state) == ("worker-0", JobState.PENDING, "ImagePullBackOff")
    assert "worker-0: ImagePullBackOff (check the image name" in status.message

    before = len(cluster.requests(lambda r: True))
    for _ in range(5):
        runtime.poll([ref])
    assert len(cluster.requests(lambda r: True)) == before  # answered from the watch cache

    play_operator(cluster, "mnist-run", "Created", "Running", "Succeeded", completionTime=now())
    status = wait_for(lambda: (s := runtime.poll([ref])[ref.key]).terminal and s, what="SUCCEEDED")
    assert status.state == JobState.SUCCEEDED and status.finished and status.message == "job is Succeeded"


def test_one_watch_per_namespace_serves_every_job(cluster, runtime):
    refs = [runtime.submit(pytorch_spec(f"many-{i}", workers=1), BUNDLE, "file:///b") for i in range(4)]
    statuses = runtime.poll(refs)
    assert sorted(statuses) == sorted(r.key for r in refs)
    for i in (0, 3):
        play_operator(cluster, f"many-{i}", "Running")
    wait_for(lambda: [s.state for s in runtime.poll(refs).values()].count(JobState.RUNNING) == 2, what="2 running")
    assert len(watches(cluster, PYTORCHJOBS)) == 1 and len(lists(cluster, PYTORCHJOBS)) == 1
    assert len(watches(cluster, "v1/pods")) == 1


def test_logs_per_replica_with_tail_and_follow(cluster, runtime):
    ref = runtime.submit(pytorch_spec("logs-job"), BUNDLE, "file:///b")
    for rtype in ("master", "worker"):
        cluster.create(f"/api/v1/namespaces/{NAMESPACE}/pods", operator_pod("logs-job", rtype, 0, "Running"))
    cluster.configure(lambda api: [
        api[f"get /api/v1/namespaces/{NAMESPACE}/pods/logs-job-master-0/log"] << b"epoch 1\nepoch 2\n",
        api[f"get /api/v1/namespaces/{NAMESPACE}/pods/logs-job-worker-0/log"] << b"worker says hi\nbye",
    ])
    assert list(runtime.logs(ref)) == ["epoch 1", "epoch 2"]  # the deciding replica: master-0
    assert list(runtime.logs(ref, "worker-0", tail=10, follow=True)) == ["worker says hi", "bye"]
    request = cluster.requests(lambda r: r.url.path.endswith("logs-job-worker-0/log"))[-1]
    assert request.params["tailLines"] == "10" and request.params["container"] == "pytorch"
    assert request.params["follow"].lower() == "true"
    with pytest.raises(SubmarineError, match="has no replica 'worker-7': use one of master-0, worker-0"):
        runtime.logs(ref, "worker-7")


def test_stop_deletes_in_the_background(cluster, runtime):
    ref = runtime.submit(pytorch_spec("stop-job"), BUNDLE, "file:///b")
    runtime.poll([ref])
    runtime.stop(ref)
    delete = cluster.requests(lambda r: r.method == "DELETE")[-1]
    assert delete.url.path == f"{JOBS_PATH}/stop-job" and delete.params["propagationPolicy"] == "Background"
    status = wait_for(lambda: (s := runtime.poll([ref])[ref.key]).terminal and s, what="STOPPED")
    assert status.state == JobState.STOPPED
    runtime.stop(ref)  # stopping a job that is gone is fine


def test_a_dropped_watch_resumes_from_the_last_resource_version(cluster, runtime):
    release = asyncio.Event()

    def drop_first_watch(api):
        def current_job(request):  # one event with the job as stored now, then the connection drops
            obj = api.objects[(cluster.kmock.resource(PYTORCHJOBS), NAMESPACE, "drop-job")].raw
            return json.dumps({"type": "MODIFIED", "object": dict(obj)}).encode() + b"\n"

        async def then_drop():
            await release.wait()
        api[cluster.kmock.action.WATCH][cluster.kmock.resource(PYTORCHJOBS)][:1] << (current_job, then_drop)

    cluster.configure(drop_first_watch)
    ref = runtime.submit(pytorch_spec("drop-job"), BUNDLE, "file:///b")
    runtime.poll([ref])
    seen = cluster.object(PYTORCHJOBS, NAMESPACE, "drop-job")["metadata"]["resourceVersion"]
    watch = runtime.watch(NAMESPACE, "pytorchjobs")
    wait_for(lambda: watch.resource_version == seen, what="the event of the first watch")
    play_operator(cluster, "drop-job", "Running")  # happens while the first watch is stuck, then drops
    cluster.loop.call_soon_threadsafe(release.set)
    wait_for(lambda: runtime.poll([ref])[ref.key].state == JobState.RUNNING, what="RUNNING after the drop")
    second = watches(cluster, PYTORCHJOBS)[1]
    assert second.params["resourceVersion"] == seen
    assert len(lists(cluster, PYTORCHJOBS)) == 1  # resumed, not listed again


def test_410_gone_lists_again(cluster, runtime):
    release = asyncio.Event()
    expired = {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410,
                                           "reason": "Expired", "message": "too old resource version: 1 (900)"}}

    def expire_first_watch(api):
        async def wait():
            await release.wait()
        api[cluster.kmock.action.WATCH][cluster.kmock.resource(PYTORCHJOBS)][:1] << (
            b"", wait, json.dumps(expired).encode() + b"\n")

    cluster.configure(expire_first_watch)
    ref = runtime.submit(pytorch_spec("gone-job"), BUNDLE, "file:///b")
    runtime.poll([ref])
    play_operator(cluster, "gone-job", "Running", "Failed")  # the expired watch never delivers this
    assert runtime.poll([ref])[ref.key].state == JobState.SUBMITTED
    cluster.loop.call_soon_threadsafe(release.set)
    status = wait_for(lambda: (s := runtime.poll([ref])[ref.key]).terminal and s, what="FAILED after relisting")
    assert status.state == JobState.FAILED
    assert len(lists(cluster, PYTORCHJOBS)) == 2


def test_a_taken_name_is_a_clear_error(cluster, runtime):
    runtime.submit(pytorch_spec("dup-job"), BUNDLE, "file:///b")
    with pytest.raises(SubmarineError, match="PyTorchJob 'dup-job' in namespace 'ml': it already exists; "
                                             "choose another job name"):
        runtime.submit(pytorch_spec("dup-job"), BUNDLE, "file:///b")
    assert len(posts(cluster, "v1/configmaps")) == 1


def test_403_names_the_credentials_but_never_their_values(cluster, runtime, kubeconfig):
    forbidden = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403, "reason": "Forbidden",
                 "message": 'pytorchjobs.kubeflow.org is forbidden: User "jane" cannot create resource '
                            '"pytorchjobs" in API group "kubeflow.org" in the namespace "ml"'}
    cluster.configure(lambda api: (api ** 10)[cluster.kmock.action.CREATE] << 403 << forbidden)
    with pytest.raises(RuntimeFailure) as caught:
        runtime.submit(pytorch_spec("secret-job"), BUNDLE, "file:///b")
    message = str(caught.value)
    assert f"kubeconfig {kubeconfig}, context 'emulated', user 'jane'" in message
    assert 'User "jane" cannot create resource "pytorchjobs"' in message
    assert TOKEN not in message and TOKEN not in repr(caught.value) and caught.value.__cause__ is None
    assert TOKEN not in repr(runtime) and TOKEN not in str(runtime.connect())
    assert posts(cluster, "v1/configmaps") == []


def test_a_webhook_denial_is_a_rejected_job_not_refused_credentials(cluster, runtime):
    # the shape a real API server answers when an operator's admission webhook denies a create (403, the
    # webhook's name first: tests/test_real_kubernetes_operators.py meets it from Trainer's and Kueue's)
    denied = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403, "reason": "Forbidden",
              "message": 'admission webhook "vpytorchjob.kb.io" denied the request: spec.runPolicy: Invalid value'}
    cluster.configure(lambda api: (api ** 10)[cluster.kmock.action.CREATE] << 403 << denied)
    with pytest.raises(RuntimeFailure, match=r"the Kubernetes API rejected PyTorchJob 'denied-job' in namespace "
                                             r"'ml': admission webhook \"vpytorchjob\.kb\.io\" denied") as caught:
        runtime.submit(pytorch_spec("denied-job"), BUNDLE, "file:///b")
    assert "credentials" not in str(caught.value)


def test_a_missing_training_operator_names_the_plain_job_fallback(cluster, runtime):
    not_found = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound",
                 "message": "the server could not find the requested resource"}
    cluster.configure(lambda api: (api ** 10)["post", cluster.kmock.resource(PYTORCHJOBS)] << 404 << not_found)
    with pytest.raises(RuntimeFailure, match="training operator is not installed.*"
                                             "KubernetesRuntime.api = 'job' to run a plain Job"):
        runtime.submit(pytorch_spec("no-crd-job"), BUNDLE, "file:///b")


def test_invalid_names_fail_before_any_request(cluster, kubeconfig, tmp_path):
    # checked once, where the spec is built (Session.build runs the runtime's check); submit trusts it
    from traitlets.config import Config

    from submarine_kernel.registry import Registry
    from submarine_kernel.session import Session

    config = Config()
    config.SubmarineConfig.runtime = "kubernetes"
    config.SubmarineConfig.storage_root = (tmp_path / "store").as_uri()
    config.KubernetesRuntime.kubeconfig = str(kubeconfig)
    session = Session(config=config, registry=Registry(tmp_path / "registry.sqlite"))
    try:
        with pytest.raises(ValidationError, match="DNS-1035"):
            session.build("python train.py", name="Not_A_DNS_Name", framework="pytorch", workers=2,
                          image="repo/train:1")
    finally:
        session.close()
    assert cluster.requests(lambda r: True) == []


def test_a_failed_configmap_rolls_the_job_back(cluster, runtime):
    cluster.configure(lambda api: (api ** 10)["post", cluster.kmock.resource("v1/configmaps")] << 422 << {
        "kind": "Status", "code": 422, "reason": "Invalid", "message": "ConfigMap is invalid: data: Too long"})
    with pytest.raises(RuntimeFailure, match="rejected ConfigMap 'roll-job-algorithm'.*Too long"):
        runtime.submit(pytorch_spec("roll-job"), BUNDLE, "file:///b")
    assert cluster.object(PYTORCHJOBS, NAMESPACE, "roll-job") is None


def test_plain_job_end_to_end(cluster, kubeconfig):
    runtime = KubernetesRuntime(kubeconfig=str(kubeconfig), training_operator=False, request_timeout=5)
    try:
        spec = build_spec("plain-job", framework="tensorflow", workers=2, image="tf:2", command="python train.py")
        ref = runtime.submit(spec, BUNDLE, "file:///b")
        job = cluster.object("batch/v1/jobs", NAMESPACE, "plain-job")
        service = cluster.object("v1/services", NAMESPACE, "plain-job")
        assert service["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"] == ref.id
        for index, phase in ((0, "Succeeded"), (1, "Running")):
            cluster.create(f"/api/v1/namespaces/{NAMESPACE}/pods", {
                "metadata": {"name": f"plain-job-{index}-x1y2z", "creationTimestamp": now(),
                             "labels": {lbl.MANAGED_BY_LABEL: lbl.MANAGED_BY, lbl.JOB_LABEL: "plain-job",
                                        lbl.COMPLETION_INDEX_LABEL: str(index)}},
                "spec": {"nodeName": "node-a"},
                "status": {"phase": phase, "containerStatuses": [
                    {"name": "submarine", "state": {"terminated": {"exitCode": 0, "finishedAt": now()}}
                     if phase == "Succeeded" else {"running": {}}}]}})
        cluster.patch(f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/plain-job", {"status": {"active": 1}})
        status = wait_for(lambda: (s := runtime.poll([ref])[ref.key]).state == JobState.RUNNING and s, what="run")
        assert [(r.name, r.state, r.exit_code) for r in status.replicas] == [
            ("worker-0", JobState.SUCCEEDED, 0), ("worker-1", JobState.RUNNING, None)]
        cluster.patch(f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/plain-job", {"status": {
            "completionTime": now(), "conditions": [{"type": "SuccessCriteriaMet", "status": "True"},
                                                    {"type": "Complete", "status": "True"}]}})
        status = wait_for(lambda: (s := runtime.poll([ref])[ref.key]).terminal and s, what="Complete")
        assert status.state == JobState.SUCCEEDED and status.raw_state == "Complete"
        # successPolicy decided by index 0: the Job controller ends worker-1, which is not left RUNNING
        assert [(r.name, r.state) for r in status.replicas] == [
            ("worker-0", JobState.SUCCEEDED), ("worker-1", JobState.STOPPED)]
    finally:
        runtime.close()


def test_tensorboard_deployment_and_links(cluster, kubeconfig):
    runtime = KubernetesRuntime(kubeconfig=str(kubeconfig), dashboard_url="https://dash/{namespace}/{name}",
                                tensorboard_url="https://tb.example.com/{namespace}/{name}")
    try:
        url = runtime.start_tensorboard("mnist-job", "s3://bucket/ckpt/mnist")
        assert url == "https://tb.example.com/ml/mnist-job"
        deployment = cluster.object("apps/v1/deployments", NAMESPACE, "mnist-job-tensorboard")
        assert "s3://bucket/ckpt/mnist" in deployment["spec"]["template"]["spec"]["containers"][0]["command"]
        assert cluster.object("v1/services", NAMESPACE, "mnist-job-tensorboard") is not None
        assert runtime.start_tensorboard("mnist-job", "s3://bucket/ckpt/other")  # again: replaced, not refused
        assert runtime.stop_tensorboard("mnist-job") is True
        assert cluster.object("apps/v1/deployments", NAMESPACE, "mnist-job-tensorboard") is None
        assert runtime.stop_tensorboard("mnist-job") is False
        ref = runtime.submit(pytorch_spec("linked-job"), BUNDLE, "file:///b")
        assert runtime.links(ref) == {"dashboard": "https://dash/ml/linked-job",
                                      "tensorboard": "https://tb.example.com/ml/linked-job"}
        runtime.dashboard_url = "https://dash/{project}"
        with pytest.raises(SubmarineError, match=r"dashboard_url .* use only \{name\}"):
            runtime.links(ref)
        with pytest.raises(ValidationError, match="cannot read"):
            runtime.start_tensorboard("x", "/local/path")
    finally:
        runtime.close()


def test_an_unreachable_cluster_is_a_one_line_error(tmp_path):
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9")
    runtime = KubernetesRuntime(kubeconfig=str(kubeconfig), request_timeout=2)
    with pytest.raises(RuntimeFailure, match="cannot reach the Kubernetes API at http://127.0.0.1:9") as caught:
        runtime.submit(pytorch_spec("far-job"), BUNDLE, "file:///b")
    assert TOKEN not in str(caught.value) and "\n" not in str(caught.value)
    assert isinstance(caught.value, TransientError)  # the session retries it with backoff
    with pytest.raises(RuntimeFailure, match="has no context 'nope'"):
        KubernetesRuntime(kubeconfig=str(kubeconfig), context="nope").submit(pytorch_spec("j"), BUNDLE, "file:///b")
    runtime.close()


def test_close_stops_the_watch_threads(cluster, runtime):
    ref = runtime.submit(pytorch_spec("close-job"), BUNDLE, "file:///b")
    runtime.poll([ref])
    watches = runtime.watches()
    assert len(watches) == 2 and all(w.alive for w in watches)  # the jobs and the pods of namespace ml
    runtime.close()
    wait_for(lambda: not any(w.alive for w in watches), what="the watch threads to end")


# -- a real cluster ----------------------------------------------------------------------------------------
@pytest.mark.cluster
@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SUBMARINE_TEST_KUBECONFIG"), reason="SUBMARINE_TEST_KUBECONFIG is not set")
def test_a_real_cluster_runs_a_plain_job():
    """A two-replica plain Job (no training operator needed) that prints its contract and ends."""
    runtime = KubernetesRuntime(kubeconfig=os.environ["SUBMARINE_TEST_KUBECONFIG"], training_operator=False,
                                namespace=os.environ.get("SUBMARINE_TEST_NAMESPACE", ""),
                                ttl_seconds_after_finished=600)
    name = f"submarine-test-{int(time.time()) % 100000}"
    spec = build_spec(name, framework="custom", workers=2,
                      image=os.environ.get("SUBMARINE_TEST_IMAGE", "busybox:1.36"),
                      command='cat train.py && echo "rank=$RANK of $WORLD_SIZE"')
    ref = runtime.submit(spec, BUNDLE, "file:///unused")
    try:
        status = wait_for(lambda: (s := runtime.poll([ref])[ref.key]).terminal and s, timeout=300, interval=2,
                          what="the job to end")
        assert status.state == JobState.SUCCEEDED, status
        lines = list(runtime.logs(ref, "worker-0"))
        assert "print('training')" in lines and "rank=0 of 2" in lines
    finally:
        runtime.remove(ref)
        runtime.close()
