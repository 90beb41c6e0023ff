"""Jobs that really run through their states: the real API server with kube-controller-manager (the Job
controller, garbage collector, service accounts), kube-scheduler and kwok, which fakes a node with 8
`nvidia.com/gpu` and moves its pods Pending -> Running -> Succeeded (tests/clusters/kubernetes.py).

Each replica's row, stop (delete, and suspend), re-attach after a kernel restart and `find` read the objects
the controllers made, not ones a test wrote.
"""

from __future__ import annotations


import pytest

pytest.importorskip("kubernetes")
pytest.importorskip("cryptography")

from clusters.kubernetes import FAKE_NODE, started_for_tests  # noqa: E402
from k8s_support import wait_for  # noqa: E402
from submarine_kernel.algorithm import Bundle  # noqa: E402
from submarine_kernel.job_types import JobState  # noqa: E402
from submarine_kernel.spec import build_spec  # noqa: E402

pytestmark = [pytest.mark.real_cluster, pytest.mark.slow, pytest.mark.timeout(300, func_only=True)]

BUNDLE = Bundle({"train.py": b"print('training')\n"})
NODE = FAKE_NODE["metadata"]["name"]


@pytest.fixture(scope="session")
def running_kubernetes(tmp_path_factory):
    """A control plane of its own whose jobs run (the API-only one keeps jobs as created)."""
    with started_for_tests(tmp_path_factory.mktemp("kubernetes-jobs"), controllers=True) as plane:
        yield plane


@pytest.fixture
def runtimes(running_kubernetes, request):
    """make(**traits): plain-Job runtimes (unless `api` says otherwise) in a namespace of the test's own."""
    with running_kubernetes.runtimes(running_kubernetes.namespace_for(request.node.name), api="job") as make:
        yield make


def spec_for(name: str, gpus: int = 1, workers: int = 2):
    return build_spec(name, framework="pytorch", workers=workers, image="repo/train:1", command="python train.py",
                      resources=f"gpu={gpus},cpu=1,memory=1G")


def until(runtime, ref, predicate, what, timeout=120):
    return wait_for(lambda: (s := runtime.poll([ref])[ref.key]) and predicate(s) and s, what=what, timeout=timeout)


def test_an_indexed_job_runs_on_a_gpu_node_and_succeeds(runtimes):
    runtime = runtimes()
    ref = runtime.submit(spec_for("gpu-run"), BUNDLE, "file:///b")
    status = until(runtime, ref, lambda s: s.terminal, "the Job to finish")
    assert status.state == JobState.SUCCEEDED, status
    assert [(r.name, r.host) for r in status.replicas] == [("master-0", NODE), ("worker-0", NODE)]
    master, worker = status.replicas
    # successPolicy: index 0 decides; the Job controller ends the worker wherever kwok had got it to
    assert master.state == JobState.SUCCEEDED and worker.state in (JobState.SUCCEEDED, JobState.STOPPED), worker

    again = runtimes()  # a restarted kernel re-attaches from the stored ref alone
    assert until(again, ref, lambda s: s.terminal, "re-attached").state == JobState.SUCCEEDED
    assert again.find(spec_for("gpu-run"), "file:///b") is None  # no submission token: not ours to adopt


def test_more_gpus_than_the_node_has_stays_pending_and_stop_deletes_pods_with_the_job(running_kubernetes, runtimes):
    runtime = runtimes()
    ref = runtime.submit(spec_for("too-big", gpus=16), BUNDLE, "file:///b")
    status = until(runtime, ref, lambda s: len([r for r in s.replicas if r.raw_state != "NoPod"]) == 2,
                   "both pods to exist")
    assert status.state == JobState.PENDING and all(r.state == JobState.PENDING for r in status.replicas), status
    runtime.stop(ref)
    assert until(runtime, ref, lambda s: s.terminal, "STOPPED").state == JobState.STOPPED
    namespace = ref.extra["namespace"]
    wait_for(lambda: not running_kubernetes.get_json(f"/api/v1/namespaces/{namespace}/pods")["items"],
             what="the garbage collector to delete the pods")


def test_suspending_a_running_job_ends_its_pods_and_keeps_it(running_kubernetes, runtimes):
    runtime = runtimes(stop_action="suspend")
    ref = runtime.submit(spec_for("susp-run", workers=1), BUNDLE, "file:///b")
    namespace = ref.extra["namespace"]
    wait_for(lambda: running_kubernetes.get_json(f"/api/v1/namespaces/{namespace}/pods")["items"],
             what="the Job controller to make the pod")
    runtime.stop(ref)
    status = until(runtimes(), ref, lambda s: s.terminal, "STOPPED after a restart")
    assert (status.state, status.raw_state) == (JobState.STOPPED, "Suspended")
    job = running_kubernetes.get_json(f"/apis/batch/v1/namespaces/{namespace}/jobs/susp-run")
    assert job["spec"]["suspend"] is True


def test_a_tensorflow_jobset_runs_through_the_jobset_controller(running_kubernetes, runtimes):
    runtime = runtimes(api="trainer")
    spec = build_spec("tf-set", framework="tensorflow", workers=2, ps=1, image="tf:2", command="python train.py")
    ref = runtime.submit(spec, BUNDLE, "file:///b")
    assert ref.extra["kind"] == "JobSet"
    status = until(runtime, ref, lambda s: s.terminal, "the JobSet to finish")
    assert status.state == JobState.SUCCEEDED, status
    assert [r.name for r in status.replicas] == ["worker-0", "worker-1", "ps-0"], status.replicas
    assert status.replicas[0].state == JobState.SUCCEEDED and all(r.state.terminal for r in status.replicas)
    namespace = ref.extra["namespace"]
    jobs = running_kubernetes.get_json(f"/apis/batch/v1/namespaces/{namespace}/jobs")["items"]
    assert sorted(j["metadata"]["name"] for j in jobs) == ["tf-set-ps-0", "tf-set-worker-0"]


def test_a_replicas_log_is_read_through_the_api_server_from_the_node(running_kubernetes, runtimes):
    """pods/log goes API server -> the node's kubelet endpoint, which is kwok's server here, serving the file
    the harness writes as every container's log."""
    runtime = runtimes()
    ref = runtime.submit(spec_for("logged-run"), BUNDLE, "file:///b")
    until(runtime, ref, lambda s: s.terminal, "the Job to finish")
    lines = ["epoch 1 loss=0.9", "epoch 2 loss=0.4", "done"]
    running_kubernetes.write_pod_log(lines)
    assert list(runtime.logs(ref)) == lines
    # the deciding replica: the Job controller may have ended the worker's pod once index 0 succeeded
    assert list(runtime.logs(ref, replica="master-0", tail=1)) == ["done"]


@pytest.mark.parametrize("api, framework", [*(("job", f) for f in ("tensorflow", "pytorch", "xgboost", "custom")),
                                            ("trainer", "tensorflow"), ("trainer", "custom")])
def test_the_pods_the_job_and_jobset_controllers_make_give_each_replica_the_contract(running_kubernetes, runtimes,
                                                                                    api, framework, tmp_path):
    """kwok runs no container, so each pod the real controllers made is started here as the kubelet would
    start it (tests/test_contract.py `check_real_pods`); a plain Job and a JobSet (the trainer API's form
    for TensorFlow and custom jobs) add only the Job controller's completion index."""
    from test_contract import CONTROLLER_VARIABLES, check_real_pods

    _, added = check_real_pods(running_kubernetes, runtimes(api=api), framework, tmp_path)
    assert added == CONTROLLER_VARIABLES["Job" if api == "job" else "JobSet"], added
