"""The operators a user installs on top of the control plane, really running: Kubeflow Trainer v2's controller
manager (a TrainJob becomes a JobSet, which the JobSet controller runs as Jobs) and Kueue's (a job with the
queue-name label is suspended by Kueue's webhook until its LocalQueue admits it), both with their own webhooks,
on the real API server with the Job controller, the scheduler and kwok's GPU node (tests/clusters/kubernetes.py).

A control plane of its own, started only for these tests: the two operators add a build and seconds of start.
"""

from __future__ import annotations

import pytest

pytest.importorskip("kubernetes")
pytest.importorskip("cryptography")

from clusters.common import skip_or_fail  # noqa: E402
from clusters.kubernetes import GPUS_PER_NODE, KUEUE_VISIBILITY_CERTS, ClusterError, started_for_tests  # noqa: E402
from k8s_support import wait_for  # noqa: E402
from submarine_kernel.algorithm import Bundle  # noqa: E402
from submarine_kernel.job_types import JobState  # noqa: E402
from submarine_kernel.spec import build_spec  # noqa: E402

pytestmark = [pytest.mark.real_cluster, pytest.mark.slow, pytest.mark.timeout(300, func_only=True)]

BUNDLE = Bundle({"train.py": b"print('training')\n"})
QUEUE = "team-a"


@pytest.fixture(scope="session")
def operated_kubernetes(tmp_path_factory):
    """A control plane whose jobs run, with Trainer and Kueue, and one ResourceFlavor and ClusterQueue
    holding the fake node's GPUs."""
    with started_for_tests(tmp_path_factory.mktemp("kubernetes-operators"), operators=True) as plane:
        try:
            make_gpu_queue(plane)
        except ClusterError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield plane


def make_gpu_queue(plane, name="cluster-gpus", gpus=GPUS_PER_NODE) -> None:
    """One ResourceFlavor and a ClusterQueue `name` holding `gpus` of the fake node's GPUs."""
    kueue = "/apis/kueue.x-k8s.io/v1beta2"
    plane.create(f"{kueue}/resourceflavors", {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ResourceFlavor",
                                              "metadata": {"name": "gpu-nodes"}})
    plane.create(f"{kueue}/clusterqueues", {
        "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ClusterQueue", "metadata": {"name": name},
        "spec": {"namespaceSelector": {}, "resourceGroups": [{
            "coveredResources": ["cpu", "memory", "nvidia.com/gpu"],
            "flavors": [{"name": "gpu-nodes", "resources": [
                {"name": "cpu", "nominalQuota": "64"}, {"name": "memory", "nominalQuota": "512Gi"},
                {"name": "nvidia.com/gpu", "nominalQuota": str(gpus)}]}]}]}})


@pytest.fixture
def namespace(operated_kubernetes, request):
    return operated_kubernetes.namespace_for(request.node.name)


@pytest.fixture
def runtimes(operated_kubernetes, namespace):
    with operated_kubernetes.runtimes(namespace, api="trainer") as make:
        yield make


def local_queue(plane, namespace, cluster_queue="cluster-gpus"):
    plane.create(f"/apis/kueue.x-k8s.io/v1beta2/namespaces/{namespace}/localqueues", {
        "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "LocalQueue",
        "metadata": {"name": QUEUE, "namespace": namespace}, "spec": {"clusterQueue": cluster_queue}})


def spec_for(name, gpus=1, workers=2):
    return build_spec(name, framework="pytorch", workers=workers, image="repo/train:1", command="python train.py",
                      resources=f"gpu={gpus},cpu=1,memory=1G")


def until(runtime, ref, predicate, what, timeout=120):
    return wait_for(lambda: (s := runtime.poll([ref])[ref.key]) and predicate(s) and s, what=what, timeout=timeout)


def test_a_trainjob_becomes_a_jobset_through_the_trainer_controller_and_succeeds(operated_kubernetes, runtimes,
                                                                                  namespace):
    runtime = runtimes()
    ref = runtime.submit(spec_for("torch-run"), BUNDLE, "file:///b")
    assert ref.extra["kind"] == "TrainJob"
    status = until(runtime, ref, lambda s: s.terminal, "the TrainJob to finish")
    assert status.state == JobState.SUCCEEDED, status
    jobset = operated_kubernetes.get_json(f"/apis/jobset.x-k8s.io/v1alpha2/namespaces/{namespace}/jobsets/torch-run")
    owner, = jobset["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("TrainJob", "torch-run")
    assert [r.name for r in status.replicas] == ["master-0", "worker-0"], status.replicas
    assert status.replicas[0].state == JobState.SUCCEEDED, status.replicas


def test_a_queued_trainjob_is_suspended_by_kueue_admitted_and_runs(operated_kubernetes, runtimes, namespace):
    local_queue(operated_kubernetes, namespace)
    runtime = runtimes(queue=QUEUE)
    ref = runtime.submit(spec_for("queued-run"), BUNDLE, "file:///b")
    workloads = f"/apis/kueue.x-k8s.io/v1beta2/namespaces/{namespace}/workloads"
    workload = wait_for(lambda: next(iter(operated_kubernetes.get_json(workloads)["items"]), None),
                        what="Kueue to make the Workload")
    assert workload["spec"]["queueName"] == QUEUE
    admitted = wait_for(lambda: next((c for c in (operated_kubernetes.get_json(workloads)["items"][0].get("status")
                                                  or {}).get("conditions", [])
                                      if c["type"] == "Admitted" and c["status"] == "True"), None),
                        what="Kueue to admit the Workload")
    assert admitted
    status = until(runtime, ref, lambda s: s.terminal, "the admitted TrainJob to finish")
    assert status.state == JobState.SUCCEEDED, status


def test_a_job_over_the_queues_quota_waits_queued(operated_kubernetes, runtimes, namespace):
    local_queue(operated_kubernetes, namespace)
    runtime = runtimes(queue=QUEUE)
    ref = runtime.submit(spec_for("too-big", gpus=GPUS_PER_NODE, workers=2), BUNDLE, "file:///b")
    status = until(runtime, ref, lambda s: s.raw_state == "Queued", "the TrainJob to wait in the queue")
    assert status.state == JobState.PENDING and QUEUE in status.message, status
    trainjob = operated_kubernetes.get_json(f"/apis/trainer.kubeflow.org/v1alpha1/namespaces/{namespace}"
                                            "/trainjobs/too-big")
    assert trainjob["spec"]["suspend"] is True


def test_queued_jobs_show_their_place_from_kueues_visibility_api_and_run_in_turn(operated_kubernetes, runtimes,
                                                                                 namespace):
    if not operated_kubernetes.visibility_port:
        skip_or_fail(f"Kueue's visibility API is not served: it cannot write its certificate folder "
                     f"{KUEUE_VISIBILITY_CERTS}")
    # a ClusterQueue with room for one 2-GPU job at a time: the first is admitted, the others wait in line
    make_gpu_queue(operated_kubernetes, "one-job-at-a-time", gpus=2)
    local_queue(operated_kubernetes, namespace, "one-job-at-a-time")
    runtime = runtimes(queue=QUEUE)
    refs = [runtime.submit(spec_for(name, gpus=1), BUNDLE, "file:///b") for name in ("first", "second", "third")]
    place = {0: f"waiting in queue {QUEUE!r} (0 ahead)", 1: f"waiting in queue {QUEUE!r} (1 ahead)"}

    def line():
        """(admitted, next, last) once Kueue has admitted one and the visibility API places the others. Kueue
        orders by its Workloads' creation, which its controller makes in whatever order it sees the TrainJobs,
        so not necessarily in the order they were submitted."""
        statuses = runtime.poll(refs)
        admitted = [ref for ref in refs if statuses[ref.key].raw_state != "Queued"]
        waiting = {statuses[ref.key].message: ref for ref in refs if ref not in admitted}
        return len(admitted) == 1 and set(waiting) == set(place.values()) and (
            admitted[0], waiting[place[0]], waiting[place[1]])

    admitted, following, last = wait_for(line, what="one job admitted and the other two placed in line", timeout=120)
    # the admitted one ends and frees the quota: the next is admitted and runs, the last moves up
    assert until(runtime, admitted, lambda s: s.terminal, "the admitted job to finish").state == JobState.SUCCEEDED
    until(runtime, following, lambda s: s.raw_state != "Queued", "the next job to be admitted")
    until(runtime, last, lambda s: s.message == place[0], "the last job to move up")
    for ref in (following, last):  # stopped rather than run to the end: that path is the tests' above
        runtime.stop(ref)
        assert until(runtime, ref, lambda s: s.terminal, f"{ref.name} to stop").state == JobState.STOPPED


def test_a_trainjob_the_trainer_webhook_refuses_is_a_rejected_job_not_refused_credentials(runtimes, namespace,
                                                                                         operated_kubernetes):
    from submarine_kernel.errors import RuntimeFailure

    runtime = runtimes(trainer_runtimes={"pytorch": "no-such-runtime"})
    # Trainer's webhook and Kueue's (which checks every TrainJob's runtime too) both refuse it; the API server
    # calls validating webhooks in parallel and answers with whichever denial comes first
    refused = (r"the Kubernetes API rejected TrainJob 'no-runtime' .*admission webhook "
               r"\"(validator\.trainjob\.trainer\.kubeflow\.org|vtrainjob\.kb\.io)\" denied the request: .*"
               r"no-such-runtime")
    with pytest.raises(RuntimeFailure, match=refused) as caught:
        runtime.submit(spec_for("no-runtime"), BUNDLE, "file:///b")
    assert "credentials" not in str(caught.value), caught.value
    assert not operated_kubernetes.get_json(f"/api/v1/namespaces/{namespace}/configmaps?labelSelector="
                                            "app.kubernetes.io/managed-by%3Dsubmarine-kernel")["items"]


@pytest.mark.parametrize("framework", ["pytorch", "xgboost"])
def test_the_pods_the_trainer_controller_makes_give_each_replica_the_contract(operated_kubernetes, runtimes,
                                                                             framework, tmp_path):
    """TrainJob → JobSet → Jobs → pods, each made by its real controller; kwok runs no container, so each pod
    is started here as the kubelet would (tests/test_contract.py `check_real_pods`). Trainer adds its
    framework's own variables (torchrun's PET_*, XGBoost's DMLC_*) next to the contract's."""
    from test_contract import CONTROLLER_VARIABLES, check_real_pods

    seen, added = check_real_pods(operated_kubernetes, runtimes(), framework, tmp_path)
    assert added == CONTROLLER_VARIABLES[f"TrainJob/{framework}"], added
    # where Trainer's variables and the contract's mean the same, they agree (one process per replica)
    same = {"pytorch": {"PET_NODE_RANK": "RANK", "PET_NNODES": "WORLD_SIZE", "PET_MASTER_PORT": "MASTER_PORT"},
            "xgboost": {"DMLC_TASK_ID": "RANK", "DMLC_NUM_WORKER": "WORLD_SIZE", "DMLC_TRACKER_PORT": "MASTER_PORT"}}
    for env in seen.values():
        assert {theirs: env[theirs] for theirs in same[framework]} == \
            {theirs: env[ours] for theirs, ours in same[framework].items()}, env
        host = env["PET_MASTER_ADDR" if framework == "pytorch" else "DMLC_TRACKER_URI"]
        assert env["MASTER_ADDR"].startswith(host + "."), (host, env["MASTER_ADDR"])  # ours adds <namespace>.svc
        # no GPU asked: one process per node, as the contract's LOCAL_RANK=0 says (with GPUs it is their count)
        assert env.get("PET_NPROC_PER_NODE", "1") == "1", env
