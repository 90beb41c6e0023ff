"""Kubeflow Trainer v2 jobs end to end against kmock over real HTTP: discovery picks the API, the test plays
the Trainer and JobSet controllers (and Kueue) by patching .status / .spec.suspend and creating pods; and a
real cluster when SUBMARINE_TEST_KUBECONFIG names one that runs Trainer v2."""

from __future__ import annotations

import os
import time

import pytest

pytest.importorskip("kubernetes")
pytest.importorskip("kmock")

from k8s_support import (CORE_RESOURCES, NAMESPACE, EmulatedCluster, cluster, now, trainer_cluster,  # noqa: E402,F401
                         validate_manifest, wait_for, write_kubeconfig)
from submarine_kernel.runtimes.kubernetes import labels as lbl  # noqa: E402
from submarine_kernel.algorithm import Bundle  # noqa: E402
from submarine_kernel.errors import RuntimeFailure  # noqa: E402
from submarine_kernel.render import status_text  # noqa: E402
from submarine_kernel.job_types import JobState# noqa: E402
from submarine_kernel.runtimes.kubernetes import KubernetesRuntime  # noqa: E402
from submarine_kernel.spec import build_spec  # noqa: E402

TRAINJOBS = "trainer.kubeflow.org/v1alpha1/trainjobs"
TRAINJOBS_PATH = f"/apis/trainer.kubeflow.org/v1alpha1/namespaces/{NAMESPACE}/trainjobs"
JOBSETS_PATH = f"/apis/jobset.x-k8s.io/v1alpha2/namespaces/{NAMESPACE}/jobsets"
BUNDLE = Bundle({"train.py": b"print('training')\n"})


def make_runtime(emulated, tmp_path, **traits) -> KubernetesRuntime:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", emulated.url)
    return KubernetesRuntime(kubeconfig=str(kubeconfig), request_timeout=5, **traits)


@pytest.fixture
def runtime(trainer_cluster, tmp_path):
    rt = make_runtime(trainer_cluster, tmp_path)
    yield rt
    rt.close()


def pytorch_spec(name: str, workers: int = 2):
    return build_spec(name, framework="pytorch", workers=workers, image="repo/train:1", command="python train.py")


def node_pod(job: str, index: int, phase: str, rjob: str = "node", **status) -> dict:
    """A pod as the JobSet and Job controllers create it from the (patched) runtime template."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{job}-{rjob}-0-{index}-x7k2p", "namespace": NAMESPACE,
                         "creationTimestamp": now(),
                         "labels": {lbl.MANAGED_BY_LABEL: lbl.MANAGED_BY, lbl.JOB_LABEL: job, lbl.JOBSET_NAME_LABEL: job,
                                    lbl.REPLICATED_JOB_LABEL: rjob, lbl.COMPLETION_INDEX_LABEL: str(index)},
                         "annotations": {lbl.COMPLETION_INDEX_LABEL: str(index)}},
            "spec": {"nodeName": f"gpu-node-{index}"},
            "status": {"phase": phase, "startTime": now(), **status}}


def conditions(*types: str) -> list[dict]:
    return [{"type": c, "status": "True", "reason": c, "lastTransitionTime": now(), "message": f"TrainJob is {c}"}
            for c in types]


def poll_until(runtime, ref, predicate, what):
    return wait_for(lambda: (s := runtime.poll([ref])[ref.key]) and predicate(s) and s, what=what)


@pytest.mark.parametrize("resources, kind, path, reason", [
    (CORE_RESOURCES + ("trainer.kubeflow.org/v1alpha1/trainjobs", "jobset.x-k8s.io/v1alpha2/jobsets",
                       "kubeflow.org/v1/pytorchjobs"),
     "TrainJob", TRAINJOBS_PATH, "Kubeflow Trainer v2: TrainJob (api 'auto': the cluster serves "
                                 "trainer.kubeflow.org/v1alpha1)"),
    (CORE_RESOURCES + ("kubeflow.org/v1/pytorchjobs",), "PyTorchJob",
     f"/apis/kubeflow.org/v1/namespaces/{NAMESPACE}/pytorchjobs",
     "Kubeflow training operator v1: PyTorchJob (api 'auto': the cluster serves kubeflow.org/v1, not "
     "trainer.kubeflow.org/v1alpha1)"),
    (CORE_RESOURCES, "Job", "/apis/batch/v1/namespaces/ml/jobs",
     "a plain Indexed Job: Job (api 'auto': the cluster serves neither trainer.kubeflow.org/v1alpha1 nor "
     "kubeflow.org/v1)"),
], ids=["trainer", "training-operator", "plain-job"])
def test_discovery_selects_the_api(resources, kind, path, reason, tmp_path):
    emulated = EmulatedCluster(resources)
    rt = make_runtime(emulated, tmp_path)
    try:
        ref = rt.submit(pytorch_spec("disc-job"), BUNDLE, "file:///b")
        assert ref.extra["kind"] == kind
        post = emulated.requests(lambda r: r.method == "POST")[0]
        assert post.url.path == path
        validate_manifest(post.data)
        text = status_text("disc-job", rt.poll([ref])[ref.key], "kubernetes")
        assert f"  api: {reason}" in text.splitlines()
    finally:
        rt.close()
        emulated.close()


def test_a_trainjob_goes_created_running_complete(trainer_cluster, runtime):
    ref = runtime.submit(pytorch_spec("tj-run", workers=3), BUNDLE, "file:///b")
    job = trainer_cluster.object(TRAINJOBS, NAMESPACE, "tj-run")
    validate_manifest({k: v for k, v in job.items() if k != "status"})
    configmap = trainer_cluster.object("v1/configmaps", NAMESPACE, "tj-run-algorithm")
    assert configmap["metadata"]["ownerReferences"][0]["uid"] == ref.id == job["metadata"]["uid"]
    assert runtime.poll([ref])[ref.key].state == JobState.SUBMITTED

    trainer_cluster.patch(f"{TRAINJOBS_PATH}/tj-run", {"status": {
        "conditions": conditions("Created"),
        "jobsStatus": [{"name": "node", "active": 1, "ready": 0, "succeeded": 0, "failed": 0, "suspended": 0}]}})
    for index, phase in ((0, "Running"), (1, "Running"), (2, "Pending")):
        trainer_cluster.create(f"/api/v1/namespaces/{NAMESPACE}/pods", node_pod("tj-run", index, phase))
    status = poll_until(runtime, ref, lambda s: s.state == JobState.RUNNING
                        and len([r for r in s.replicas if r.raw_state != "NoPod"]) == 3, "RUNNING")
    assert [(r.name, r.state, r.host) for r in status.replicas] == [
        ("master-0", JobState.RUNNING, "gpu-node-0"), ("worker-0", JobState.RUNNING, "gpu-node-1"),
        ("worker-1", JobState.PENDING, "gpu-node-2")]
    assert status.started and status.details["api"].startswith("Kubeflow Trainer v2: TrainJob (api 'auto'")

    trainer_cluster.patch(f"{TRAINJOBS_PATH}/tj-run", {"status": {"conditions": conditions("Created", "Complete")}})
    status = poll_until(runtime, ref, lambda s: s.terminal, "SUCCEEDED")
    assert status.state == JobState.SUCCEEDED and status.raw_state == "Complete" and status.finished

    # the pods are cleaned up; the child Job's counts still give every replica's outcome
    for index in range(3):
        trainer_cluster.run(trainer_cluster.api.request(
            "DELETE", f"/api/v1/namespaces/{NAMESPACE}/pods/tj-run-node-0-{index}-x7k2p"))
    trainer_cluster.patch(f"{TRAINJOBS_PATH}/tj-run", {"status": {"jobsStatus": [
        {"name": "node", "active": 0, "ready": 0, "succeeded": 1, "failed": 0, "suspended": 0}]}})
    status = poll_until(runtime, ref, lambda s: all(r.raw_state == "JobSucceeded" for r in s.replicas),
                        "replicas from the child Job")
    assert [r.state for r in status.replicas] == [JobState.SUCCEEDED] * 3


def test_a_failed_trainjob_names_the_failed_node(trainer_cluster, runtime):
    ref = runtime.submit(pytorch_spec("tj-fail"), BUNDLE, "file:///b")
    trainer_cluster.create(f"/api/v1/namespaces/{NAMESPACE}/pods", node_pod(
        "tj-fail", 1, "Failed", containerStatuses=[{"name": "node", "state": {"terminated": {
            "exitCode": 3, "finishedAt": now()}}}]))
    trainer_cluster.patch(f"{TRAINJOBS_PATH}/tj-fail", {"status": {"conditions": [
        {"type": "Failed", "status": "True", "reason": "JobSetFailed", "lastTransitionTime": now(), "message": ""}]}})
    status = poll_until(runtime, ref, lambda s: s.terminal and any(r.exit_code for r in s.replicas), "FAILED")
    assert status.state == JobState.FAILED and status.message == "worker-0 exited 3"


def test_kueue_holds_the_job_suspended_until_it_admits_it(trainer_cluster, tmp_path):
    runtime = make_runtime(trainer_cluster, tmp_path, queue="team-a")
    try:
        ref = runtime.submit(pytorch_spec("tj-queued"), BUNDLE, "file:///b")
        job = trainer_cluster.object(TRAINJOBS, NAMESPACE, "tj-queued")
        assert job["spec"]["suspend"] is True and job["metadata"]["labels"][lbl.QUEUE_LABEL] == "team-a"
        status = runtime.poll([ref])[ref.key]
        assert (status.state, status.raw_state, status.message) == (JobState.PENDING, "Queued",
                                                                    "waiting in queue 'team-a'")
        assert status.details["queue"] == "Kueue LocalQueue 'team-a'"
        # the Trainer reports the suspension; still waiting, not stuck
        trainer_cluster.patch(f"{TRAINJOBS_PATH}/tj-queued", {"status": {"conditions": conditions("Suspended")}})
        status = poll_until(runtime, ref, lambda s: s.raw_state == "Queued" and s.message.startswith("waiting"),
                            "still queued")
        # Kueue admits: it unsuspends; the JobSet starts its pods
        trainer_cluster.patch(f"{TRAINJOBS_PATH}/tj-queued", {"spec": {"suspend": False}, "status": {
            "conditions": [{**conditions("Suspended")[0], "status": "False", "reason": "Resumed"}],
            "jobsStatus": [{"name": "node", "active": 1, "ready": 1, "succeeded": 0, "failed": 0, "suspended": 0}]}})
        trainer_cluster.create(f"/api/v1/namespaces/{NAMESPACE}/pods", node_pod("tj-queued", 0, "Running"))
        status = poll_until(runtime, ref, lambda s: s.state == JobState.RUNNING, "RUNNING after admission")
        assert "queue" not in status.message
    finally:
        runtime.close()


def test_logs_stop_and_reattach_after_a_kernel_restart(trainer_cluster, runtime, tmp_path):
    ref = runtime.submit(pytorch_spec("tj-logs"), BUNDLE, "file:///b")
    for index in (0, 1):
        trainer_cluster.create(f"/api/v1/namespaces/{NAMESPACE}/pods", node_pod("tj-logs", index, "Running"))
    trainer_cluster.configure(lambda api: [
        api[f"get /api/v1/namespaces/{NAMESPACE}/pods/tj-logs-node-0-0-x7k2p/log"] << b"epoch 1\nepoch 2\n",
        api[f"get /api/v1/namespaces/{NAMESPACE}/pods/tj-logs-node-0-1-x7k2p/log"] << b"worker here\n"])
    assert list(runtime.logs(ref)) == ["epoch 1", "epoch 2"]  # the deciding replica: node 0, the master
    assert list(runtime.logs(ref, "worker-0")) == ["worker here"]
    request = trainer_cluster.requests(lambda r: r.url.path.endswith("tj-logs-node-0-1-x7k2p/log"))[-1]
    assert request.params["container"] == "node"

    # a new kernel: a fresh runtime with only the stored ref finds the job again
    runtime.close()
    (tmp_path / "restarted").mkdir()
    again = make_runtime(trainer_cluster, tmp_path / "restarted")
    try:
        trainer_cluster.patch(f"{TRAINJOBS_PATH}/tj-logs", {"status": {"jobsStatus": [
            {"name": "node", "active": 1, "ready": 1, "succeeded": 0, "failed": 0, "suspended": 0}]}})
        status = poll_until(again, ref, lambda s: s.state == JobState.RUNNING, "RUNNING after re-attach")
        assert [r.name for r in status.replicas] == ["master-0", "worker-0"]
        again.stop(ref)
        delete = trainer_cluster.requests(lambda r: r.method == "DELETE")[-1]
        assert delete.url.path == f"{TRAINJOBS_PATH}/tj-logs" and delete.params["propagationPolicy"] == "Background"
        assert poll_until(again, ref, lambda s: s.terminal, "STOPPED").state == JobState.STOPPED
    finally:
        again.close()


def test_the_jobs_own_training_runtime_is_created_first_then_owned(trainer_cluster, tmp_path):
    runtime = make_runtime(trainer_cluster, tmp_path, scheduler="volcano")
    try:
        ref = runtime.submit(pytorch_spec("tj-gang"), BUNDLE, "file:///b")
        posts = [r.url.path.rsplit("/", 1)[-1] for r in trainer_cluster.requests(lambda r: r.method == "POST")]
        assert posts[:2] == ["trainingruntimes", "trainjobs"]
        owned = trainer_cluster.object("trainer.kubeflow.org/v1alpha1/trainingruntimes", NAMESPACE, "tj-gang")
        assert owned["spec"]["podGroupPolicy"] == {"volcano": {}}
        assert owned["metadata"]["ownerReferences"] == [{"apiVersion": "trainer.kubeflow.org/v1alpha1",
                                                         "kind": "TrainJob", "name": "tj-gang", "uid": ref.id}]
    finally:
        runtime.close()


def test_a_refused_trainjob_removes_the_runtime_made_for_it(trainer_cluster, tmp_path):
    runtime = make_runtime(trainer_cluster, tmp_path, scheduler="coscheduling")
    trainer_cluster.configure(lambda api: (api ** 10)["post", trainer_cluster.kmock.resource(TRAINJOBS)] << 422 << {
        "kind": "Status", "code": 422, "reason": "Invalid", "message": "TrainJob is invalid: spec.trainer: bad"})
    try:
        with pytest.raises(RuntimeFailure, match="rejected TrainJob 'tj-bad'.*bad"):
            runtime.submit(pytorch_spec("tj-bad"), BUNDLE, "file:///b")
        assert trainer_cluster.object("trainer.kubeflow.org/v1alpha1/trainingruntimes", NAMESPACE, "tj-bad") is None
    finally:
        runtime.close()


def test_tensorflow_jobset_with_a_podgroup_end_to_end(trainer_cluster, tmp_path):
    runtime = make_runtime(trainer_cluster, tmp_path, scheduler="coscheduling")
    try:
        spec = build_spec("tf-set", framework="tensorflow", workers=2, ps=1, image="tf:2", command="python t.py")
        ref = runtime.submit(spec, BUNDLE, "file:///b")
        jobset = trainer_cluster.object("jobset.x-k8s.io/v1alpha2/jobsets", NAMESPACE, "tf-set")
        group = trainer_cluster.object("scheduling.x-k8s.io/v1alpha1/podgroups", NAMESPACE, "tf-set")
        assert group["spec"]["minMember"] == 3 and group["metadata"]["ownerReferences"][0]["uid"] == ref.id
        assert jobset["metadata"]["uid"] == ref.id
        for rjob, index in (("worker", 0), ("worker", 1), ("ps", 0)):
            trainer_cluster.create(f"/api/v1/namespaces/{NAMESPACE}/pods", node_pod("tf-set", index, "Running", rjob))
        trainer_cluster.patch(f"{JOBSETS_PATH}/tf-set", {"status": {"replicatedJobsStatus": [
            {"name": "worker", "active": 1, "ready": 1, "succeeded": 0, "failed": 0, "suspended": 0},
            {"name": "ps", "active": 1, "ready": 1, "succeeded": 0, "failed": 0, "suspended": 0}]}})
        status = poll_until(runtime, ref, lambda s: s.state == JobState.RUNNING
                            and all(r.state == JobState.RUNNING for r in s.replicas), "RUNNING")
        assert [r.name for r in status.replicas] == ["worker-0", "worker-1", "ps-0"]
        trainer_cluster.patch(f"{JOBSETS_PATH}/tf-set", {"status": {"conditions": [
            {"type": "Completed", "status": "True", "reason": "AllJobsCompleted", "message": "jobset completed",
             "lastTransitionTime": now()}]}})
        status = poll_until(runtime, ref, lambda s: s.terminal, "SUCCEEDED")
        assert status.state == JobState.SUCCEEDED and status.message == "jobset completed"
    finally:
        runtime.close()


def test_no_trainer_in_the_cluster_is_a_clear_error(cluster, tmp_path):
    runtime = make_runtime(cluster, tmp_path, api="trainer")
    not_found = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound",
                 "message": "the server could not find the requested resource"}  # what a real API server says
    cluster.configure(lambda api: (api ** 10)["post", cluster.kmock.resource(TRAINJOBS)] << 404 << not_found)
    try:
        with pytest.raises(RuntimeFailure, match="Kubeflow Trainer v2 is not installed in this cluster .*"
                                                 "KubernetesRuntime.api = 'training-operator' or 'job'"):
            runtime.submit(pytorch_spec("no-trainer"), BUNDLE, "file:///b")
    finally:
        runtime.close()


# -- a real cluster ----------------------------------------------------------------------------------------
@pytest.mark.cluster
@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SUBMARINE_TEST_KUBECONFIG") or not os.environ.get("SUBMARINE_TEST_TRAINER"),
                    reason="set SUBMARINE_TEST_KUBECONFIG and SUBMARINE_TEST_TRAINER=1 for a cluster with Trainer v2")
def test_a_real_trainer_cluster_runs_a_trainjob():
    """A two-node TrainJob on the cluster's torch-distributed runtime that prints its contract and ends."""
    runtime = KubernetesRuntime(kubeconfig=os.environ["SUBMARINE_TEST_KUBECONFIG"], api="trainer",
                                namespace=os.environ.get("SUBMARINE_TEST_NAMESPACE", ""),
                                queue=os.environ.get("SUBMARINE_TEST_QUEUE", ""))
    name = f"submarine-tj-{int(time.time()) % 100000}"
    spec = build_spec(name, framework="pytorch", workers=2,
                      image=os.environ.get("SUBMARINE_TEST_IMAGE", "busybox:1.36"),
                      command='cat train.py && echo "rank=$RANK of $WORLD_SIZE"')
    ref = runtime.submit(spec, BUNDLE, "file:///unused")
    try:
        status = wait_for(lambda: (s := runtime.poll([ref])[ref.key]).terminal and s, timeout=600, interval=2,
                          what="the TrainJob to end")
        assert status.state == JobState.SUCCEEDED, status
        assert "rank=0 of 2" in list(runtime.logs(ref, "master-0"))
    finally:
        runtime.remove(ref)
        runtime.close()


@pytest.mark.parametrize("kind_path", ["trainjobs", "jobs"])
def test_stop_can_suspend_instead_of_deleting(trainer_cluster, tmp_path, kind_path):
    api = "trainer" if kind_path == "trainjobs" else "job"
    runtime = make_runtime(trainer_cluster, tmp_path, stop_action="suspend", api=api)
    try:
        ref = runtime.submit(pytorch_spec(f"susp-{api}"), BUNDLE, "file:///b")
        runtime.poll([ref])
        runtime.stop(ref)
        resource = TRAINJOBS if api == "trainer" else "batch/v1/jobs"
        job = trainer_cluster.object(resource, NAMESPACE, f"susp-{api}")
        assert job["spec"]["suspend"] is True  # kept, not deleted
        assert trainer_cluster.requests(lambda r: r.method == "DELETE") == []
        # the annotation says who suspended it, so that a restarted kernel still sees STOPPED
        runtime.close()
        again = make_runtime(trainer_cluster, tmp_path, api=api)
        try:
            status = poll_until(again, ref, lambda s: s.terminal, "STOPPED")
            assert (status.state, status.raw_state) == (JobState.STOPPED, "Suspended")
        finally:
            again.close()
    finally:
        runtime.close()


def test_the_queue_position_comes_from_kueues_visibility_api(trainer_cluster, tmp_path):
    runtime = make_runtime(trainer_cluster, tmp_path, queue="team-b")
    try:
        ref = runtime.submit(pytorch_spec("tj-pos"), BUNDLE, "file:///b")
        path = f"/apis/visibility.kueue.x-k8s.io/v1beta1/namespaces/{NAMESPACE}/localqueues/team-b/pendingworkloads"
        summary = {"kind": "PendingWorkloadsSummary", "apiVersion": "visibility.kueue.x-k8s.io/v1beta1", "items": [
            {"metadata": {"name": "trainjob-other-1a2b3", "ownerReferences": [
                {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "name": "other", "uid": "u-1"}]},
             "positionInClusterQueue": 4, "positionInLocalQueue": 0, "priority": 0, "localQueueName": "team-b"},
            {"metadata": {"name": "trainjob-tj-pos-9z8y7", "ownerReferences": [
                {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "name": "tj-pos",
                 "uid": ref.id}]},
             "positionInClusterQueue": 5, "positionInLocalQueue": 1, "priority": 0, "localQueueName": "team-b"}]}
        trainer_cluster.configure(lambda api: api[f"get {path}"] << summary)
        status = runtime.poll([ref])[ref.key]
        assert (status.state, status.message) == (JobState.PENDING, "waiting in queue 'team-b' (1 ahead)")
        asked = trainer_cluster.requests(lambda r: r.url.path == path)
        assert len(asked) == 1 and asked[0].headers.get("Authorization", "").startswith("Bearer ")
        for _ in range(3):
            runtime.poll([ref])
        assert len(trainer_cluster.requests(lambda r: r.url.path == path)) == 1  # reused, not asked per poll
    finally:
        runtime.close()


def test_without_kueues_visibility_api_the_queue_is_still_named(trainer_cluster, tmp_path, monkeypatch):
    from submarine_kernel.runtimes.kubernetes import queue

    runtime = make_runtime(trainer_cluster, tmp_path, queue="team-c")
    try:
        ref = runtime.submit(pytorch_spec("tj-novis"), BUNDLE, "file:///b")
        assert runtime.poll([ref])[ref.key].message == "waiting in queue 'team-c'"  # kmock answers 404
        monkeypatch.setattr(queue, "QUEUE_POSITION_TTL", 0.0)  # positions asked for would be asked again now
        runtime.poll([ref])
        path_end = "localqueues/team-c/pendingworkloads"
        assert len(trainer_cluster.requests(lambda r: r.url.path.endswith(path_end))) == 1  # not asked again
    finally:
        runtime.close()


@pytest.mark.slow
def test_submarine_status_in_a_real_kernel_shows_the_api_and_the_queue(trainer_cluster, tmp_path):
    from kernel_support import errors, execute, text

    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", trainer_cluster.url)
    nb = execute(
        f"%config KubernetesRuntime.kubeconfig = {str(kubeconfig)!r}\n%config KubernetesRuntime.queue = 'team-a'",
        "%%submarine.python train.py --no-local\nprint('training')",
        "%submarine run --runtime kubernetes --framework pytorch --workers 2 --image repo/train:1 --name k-status "
        "--plain -- python train.py",
        "%submarine status k-status",
        # end the kernel's watch streams while the emulator still runs (a killed kernel would leave them open)
        "get_ipython().magics_manager.registry['SubmarineMagics'].session.close()",
        tmp_path=tmp_path)
    assert not any(errors(c) for c in nb.cells), [text(c) for c in nb.cells if errors(c)]
    assert trainer_cluster.object(TRAINJOBS, NAMESPACE, "k-status")["spec"]["suspend"] is True
    shown = text(nb.cells[3])
    assert "k-status on kubernetes: PENDING" in shown and "waiting in queue 'team-a'" in shown
    assert ("api: Kubeflow Trainer v2: TrainJob (api 'auto': the cluster serves trainer.kubeflow.org/v1alpha1)"
            in shown)


def test_auto_on_a_trainer_cluster_refuses_what_trainer_v2_cannot_run(trainer_cluster, runtime):
    from submarine_kernel.errors import ValidationError

    spec = build_spec("tj-mixed", framework="pytorch", workers=2, image="img:1", command="python train.py",
                      resources={"master": "cpu=1", "worker": "cpu=2"})
    with pytest.raises(ValidationError, match="a TrainJob runs every node from one template.*"
                                              "KubernetesRuntime.api = 'training-operator'"):
        runtime.submit(spec, BUNDLE, "file:///b")
    assert trainer_cluster.requests(lambda r: r.method == "POST") == []
