"""The Kubernetes runtime against a real kube-apiserver 1.36 with etcd 3.6 (tests/clusters/kubernetes.py),
with the CRDs of Kubeflow Trainer v2, JobSet and the training operator v1 installed: every object kind the
runtime creates goes through the API server's validation (OpenAPI schemas, CEL rules, pruning, Job and Pod
validation), and create, list, watch, stop, adopt-on-conflict and recover run against it.

No controllers run here: jobs stay as created (SUBMITTED, or PENDING while queued). kmock
(test_kubernetes_runtime.py) keeps the faults a real server does not produce on demand.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

pytest.importorskip("kubernetes")
pytest.importorskip("cryptography")

from clusters.kubernetes import real_kubernetes  # noqa: E402,F401 (a fixture)
from k8s_support import wait_for  # noqa: E402
from submarine_kernel.algorithm import Bundle  # noqa: E402
from submarine_kernel.errors import RuntimeFailure, SubmarineError  # noqa: E402
from submarine_kernel.job_types import SUBMISSION_LABEL, JobState  # noqa: E402
from submarine_kernel.names import job_name_problems  # noqa: E402
from submarine_kernel.runtimes.kubernetes.client import shutdown  # noqa: E402
from submarine_kernel.runtimes.kubernetes.kinds import TRAINJOB  # noqa: E402
from submarine_kernel.spec import build_spec  # noqa: E402

pytestmark = [pytest.mark.real_cluster, pytest.mark.slow,
              pytest.mark.timeout(300, func_only=True)]  # the session's first build is not a test's time

BUNDLE = Bundle({"train.py": b"print('training')\n", "utils/data.py": b"X = 1\n"})
SECRET_ENV = {"API_TOKEN": "real-cluster-secret-7d2e"}
PLURALS = {"Job": "jobs", "ConfigMap": "configmaps", "Secret": "secrets", "Service": "services",
           "TrainJob": "trainjobs", "TrainingRuntime": "trainingruntimes", "JobSet": "jobsets",
           "PyTorchJob": "pytorchjobs", "TFJob": "tfjobs", "XGBoostJob": "xgboostjobs"}


@pytest.fixture
def namespace(real_kubernetes, request) -> str:
    return real_kubernetes.namespace_for(request.node.name)


@pytest.fixture
def runtimes(real_kubernetes, namespace):
    """make(**traits): a KubernetesRuntime on the real API server in the test's namespace; all closed after."""
    with real_kubernetes.runtimes(namespace) as make:
        yield make


def spec_for(name: str, framework: str = "pytorch", token: str = "tok-1", **options):
    options.setdefault("workers", 2)
    return build_spec(name, framework=framework, image="repo/train:1", command="python train.py",
                      env=SECRET_ENV, labels={"submarine-kernel/user": "jane", SUBMISSION_LABEL: token}, **options)


def object_path(obj: dict[str, Any], namespace: str) -> str:
    api_version, kind = obj["apiVersion"], obj["kind"]
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    return f"{base}/namespaces/{namespace}/{PLURALS[kind]}/{obj['metadata']['name']}"


def stored(plane, obj: dict[str, Any], namespace: str) -> dict | None:
    import urllib.error

    try:
        return plane.get_json(object_path(obj, namespace))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def not_kept(sent: Any, kept: Any, where: str = "") -> list[str]:
    """Where the stored object differs from what was sent: pruned fields, changed values. Fields the server
    adds (defaults, status, metadata) are fine."""
    if isinstance(sent, dict):
        if not isinstance(kept, dict):
            return [f"{where}: sent a mapping, stored {kept!r}"]
        return [problem for key, value in sent.items() if value is not None
                for problem in ([f"{where}.{key} was pruned"] if key not in kept
                                else not_kept(value, kept[key], f"{where}.{key}"))]
    if isinstance(sent, list):
        if not isinstance(kept, list) or len(kept) != len(sent):
            return [f"{where}: sent {sent!r}, stored {kept!r}"]
        return [p for i, (a, b) in enumerate(zip(sent, kept)) for p in not_kept(a, b, f"{where}[{i}]")]
    return [] if sent == kept else [f"{where}: sent {sent!r}, stored {kept!r}"]


def assert_stored_as_sent(plane, obj: dict[str, Any], namespace: str) -> dict:
    found = stored(plane, obj, namespace)
    assert found is not None, f"{obj['kind']} {obj['metadata']['name']} was not created"
    sent = json.loads(json.dumps(obj))
    if obj["kind"] == "Secret":  # stringData is write-only: the server keeps it base64-encoded in data
        sent["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in sent.pop("stringData", {}).items()}
    problems = not_kept(sent, found)
    assert not problems, f"the API server did not keep {obj['kind']} {obj['metadata']['name']} as sent: {problems}"
    return found


KINDS = [  # (api, framework, spec options, runtime traits, the kind the job becomes)
    ("job", "pytorch", {}, {}, "Job"),
    ("job", "tensorflow", {"ps": 1}, {"queue": "team-a"}, "Job"),
    ("training-operator", "pytorch", {}, {}, "PyTorchJob"),
    ("training-operator", "tensorflow", {"ps": 1, "chief": True}, {}, "TFJob"),
    ("training-operator", "xgboost", {}, {"queue": "team-a"}, "XGBoostJob"),
    ("trainer", "pytorch", {}, {}, "TrainJob"),
    ("trainer", "xgboost", {}, {"queue": "team-a"}, "TrainJob"),
    ("trainer", "pytorch", {}, {"priority_class": "high"}, "TrainJob"),  # with its own TrainingRuntime
    ("trainer", "tensorflow", {"ps": 1}, {"queue": "team-a"}, "JobSet"),
]


@pytest.mark.parametrize("api, framework, options, traits, kind", KINDS,
                         ids=[f"{k[0]}-{k[1]}{'-' + '-'.join(k[3]) if k[3] else ''}" for k in KINDS])
def test_every_object_is_stored_as_sent_listed_and_stopped(real_kubernetes, namespace, runtimes, api, framework,
                                                           options, traits, kind):
    runtime = runtimes(api=api, **traits)
    spec = spec_for(f"{framework[:5]}-{kind.lower()}", framework, **options)
    plan = runtime.plan(spec, BUNDLE, "file:///bundles/abc", runtime.api_choice(discover=True))
    ref = runtime.submit(spec, BUNDLE, "file:///bundles/abc")
    assert ref.extra["kind"] == kind and plan.job["kind"] == kind

    job = assert_stored_as_sent(real_kubernetes, plan.job, namespace)
    assert ref.id == job["metadata"]["uid"]
    owner = {"apiVersion": plan.job["apiVersion"], "kind": kind, "name": spec.name, "uid": ref.id}
    for obj in [*plan.before, *plan.owned_objects(job)]:
        found = assert_stored_as_sent(real_kubernetes, obj, namespace)
        assert owner in found["metadata"].get("ownerReferences", []), obj["kind"]
    assert {o["kind"] for o in plan.owned_objects(job)} >= {"ConfigMap", "Secret"}
    assert SECRET_ENV["API_TOKEN"] not in json.dumps(job)

    status = runtime.poll([ref])[ref.key]
    if traits.get("queue"):
        assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
        assert status.state == JobState.PENDING and "waiting in queue 'team-a'" in status.message, status
    else:
        assert status.state == JobState.SUBMITTED, status
    listed = {job.ref.name: job for job in runtime.list_jobs()}
    assert listed[spec.name].ref.id == ref.id and listed[spec.name].bundle_uri == "file:///bundles/abc"

    runtime.stop(ref)
    assert stored(real_kubernetes, plan.job, namespace) is None
    assert wait_for(lambda: (s := runtime.poll([ref])[ref.key]).terminal and s, what="STOPPED").state \
        == JobState.STOPPED
    runtime.stop(ref)  # a job that is gone already is stopped


@pytest.mark.parametrize("api, framework", [("trainer", "pytorch"), ("trainer", "tensorflow"), ("job", "pytorch"),
                                            ("training-operator", "pytorch")])
def test_stop_by_suspending_keeps_the_object_and_reads_stopped_after_a_restart(real_kubernetes, namespace, runtimes,
                                                                             api, framework):
    runtime = runtimes(api=api, stop_action="suspend")
    spec = spec_for(f"susp-{framework[:5]}", framework)
    ref = runtime.submit(spec, BUNDLE, "file:///b")
    runtime.poll([ref])
    runtime.stop(ref)
    job = stored(real_kubernetes, {"apiVersion": runtime.plan(spec, BUNDLE, "file:///b").job["apiVersion"],
                                   "kind": ref.extra["kind"], "metadata": {"name": spec.name}}, namespace)
    suspended = job["spec"]["runPolicy"]["suspend"] if api == "training-operator" else job["spec"]["suspend"]
    assert suspended is True and job["metadata"]["annotations"]["submarine-kernel/stopped"] == "true"
    again = runtimes(api=api)  # a restarted kernel, with the stored ref only
    status = wait_for(lambda: (s := again.poll([ref])[ref.key]).terminal and s, what="STOPPED")
    assert (status.state, status.raw_state) == (JobState.STOPPED, "Suspended")


@pytest.mark.parametrize("api", ["trainer", "job"])
def test_a_retried_submission_adopts_its_job_and_another_gets_409(real_kubernetes, namespace, runtimes, api):
    runtime = runtimes(api=api, priority_class="high" if api == "trainer" else "")
    first = runtime.submit(spec_for("adopt-me", token="tok-a"), BUNDLE, "file:///b")
    again = runtime.submit(spec_for("adopt-me", token="tok-a"), BUNDLE, "file:///b")  # its answer was lost
    assert again.id == first.id
    with pytest.raises(SubmarineError, match="'adopt-me' in namespace .*: it already exists; choose another job name"):
        runtime.submit(spec_for("adopt-me", token="tok-b"), BUNDLE, "file:///b")
    assert runtime.poll([first])[first.key].state == JobState.SUBMITTED


def test_recover_finds_a_whole_job_and_removes_a_half_created_one(real_kubernetes, namespace, runtimes):
    runtime = runtimes(api="trainer")
    spec = spec_for("recover-me")
    ref = runtime.submit(spec, BUNDLE, "file:///b")
    found = runtimes(api="trainer").find(spec, "file:///b")
    assert found is not None and found.id == ref.id and found.extra["delivery"] == "configmap"

    real_kubernetes.request("DELETE", f"/api/v1/namespaces/{namespace}/configmaps/recover-me-algorithm")
    assert runtimes(api="trainer").find(spec, "file:///b") is None  # half-created: removed
    assert stored(real_kubernetes, {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
                                    "metadata": {"name": "recover-me"}}, namespace) is None


def test_a_dropped_watch_resumes_from_its_resource_version_even_after_a_compaction(real_kubernetes, namespace,
                                                                                   runtimes):
    runtime = runtimes(api="job")
    ref, watch = submitted_and_watched(runtime, "watch-me", namespace, "jobs")
    seen = watch.resource_version

    shutdown(watch._response)  # the connection drops: resumed from the last resourceVersion, not listed again
    wait_for(lambda: watch.watches == 2, what="the watch to resume")
    annotate(real_kubernetes, namespace, "watch-me", "after-the-drop")
    wait_for(lambda: annotation(watch, "watch-me") == "after-the-drop", what="the change made after the drop")
    assert watch.lists == 1 and int(watch.resource_version) > int(seen)

    # A resourceVersion etcd has compacted away does not get 410 Gone from kube-apiserver 1.36: its watch
    # cache, not etcd, serves the watch and still holds the events since. (410 comes for a resourceVersion
    # older than the cache itself: the next test.)
    stale = watch.resource_version
    annotate(real_kubernetes, namespace, "watch-me", "before-the-compaction")
    real_kubernetes.compact_etcd()
    wait_for(lambda: annotation(watch, "watch-me") == "before-the-compaction", what="the last change")
    watch.resource_version = stale
    shutdown(watch._response)
    wait_for(lambda: watch.watches == 3 and watch.connected, what="the watch from a compacted resourceVersion")
    assert annotation(watch, "watch-me") == "before-the-compaction" and watch.lists == 1 and not watch.error
    assert runtime.poll([ref])[ref.key].state == JobState.SUBMITTED


def test_a_watch_resumed_from_before_the_servers_watch_cache_gets_410_and_lists_again(real_kubernetes, namespace,
                                                                                     runtimes):
    runtime = runtimes(api="trainer")
    ref, watch = submitted_and_watched(runtime, "gone-watch", namespace, "trainjobs")
    annotate(real_kubernetes, namespace, "gone-watch", "before-the-drop", "/apis/trainer.kubeflow.org/v1alpha1",
             "trainjobs")
    wait_for(lambda: annotation(watch, "gone-watch") == "before-the-drop", what="the change")
    # The TrainJob watch cache began when its CRD was established: a resourceVersion from before it is too old
    # for the API server, which answers a 200 stream whose first event is an ERROR with code 410 (Expired,
    # "too old resource version: 1 (N)"); the watch lists again and resumes from the list's version.
    watch.resource_version = "1"
    shutdown(watch._response)
    wait_for(lambda: watch.lists == 2 and watch.connected and watch.watches >= 3,
             what="the watch to list again after 410 Gone")
    assert not watch.error and int(watch.resource_version) > 1
    assert annotation(watch, "gone-watch") == "before-the-drop"
    assert runtime.poll([ref])[ref.key].state == JobState.SUBMITTED


def submitted_and_watched(runtime, name: str, namespace: str, plural: str):
    """(the ref of a job submitted as `name`, the runtime's watch of `plural` once it is connected)."""
    ref = runtime.submit(spec_for(name), BUNDLE, "file:///b")
    runtime.poll([ref])
    watch = runtime.watch(namespace, plural)
    wait_for(lambda: watch.watches == 1 and watch._response is not None, what="the first watch")
    return ref, watch


def annotate(plane, namespace: str, name: str, value: str, api: str = "/apis/batch/v1", plural: str = "jobs") -> None:
    plane.request("PATCH", f"{api}/namespaces/{namespace}/{plural}/{name}",
                  {"metadata": {"annotations": {"seen": value}}})


def annotation(watch, name: str) -> str | None:
    return ((watch.lookup(name)[0] or {}).get("metadata", {}).get("annotations") or {}).get("seen")


def test_a_user_without_access_gets_403_naming_the_credentials_but_never_the_token(real_kubernetes, namespace,
                                                                                 runtimes):
    runtime = runtimes(api="trainer", context="viewer")
    with pytest.raises(RuntimeFailure) as caught:
        runtime.submit(spec_for("no-access"), BUNDLE, "file:///b")
    message = str(caught.value)
    assert f"kubeconfig {real_kubernetes.kubeconfig}, context 'viewer', user 'viewer'" in message
    assert 'User "viewer" cannot create resource "trainjobs"' in message
    assert real_kubernetes.viewer_token not in message and caught.value.__cause__ is None


@pytest.mark.parametrize("name", ["Not_A_DNS_Name", "x" * 64, "9starts-with-a-digit"])
def test_the_api_server_refuses_the_names_check_refuses(real_kubernetes, namespace, runtimes, name):
    """The one job name rule (`names.job_name_problems`, which Session.build applies on every runtime) and
    check()'s host-name lengths refuse these before any request; the API server (CEL on the TrainJob's name)
    agrees."""
    runtime = runtimes(api="trainer")
    spec = spec_for("good-name")
    assert runtime.check(spec) == []
    bad = json.loads(json.dumps(runtime.plan(spec, BUNDLE, "file:///b").job))
    bad["metadata"]["name"] = name
    refused = [*job_name_problems(name), *runtime.check(spec.replace(name=name))]
    assert any("DNS-1035" in p or "characters long" in p for p in refused), refused
    with pytest.raises(RuntimeFailure, match="rejected TrainJob"):
        runtime.connect().create(bad, TRAINJOB)


def test_a_cluster_without_the_metrics_api_says_so_in_one_line(real_kubernetes, namespace, runtimes):
    """The suite's API server serves no metrics.k8s.io (no metrics-server): a job's usage is that one line."""
    from submarine_kernel import usage
    from submarine_kernel.runtimes.kubernetes.pod_metrics import NOT_SERVED

    runtime = runtimes(api="job")
    ref = runtime.submit(spec_for("usage-none", "pytorch"), BUNDLE, "file:///bundles/abc")
    try:
        samples = runtime.usage([ref])[ref.key]
        assert samples["notes"] == [NOT_SERVED] and samples["replicas"] == {}, samples
        assert usage.peaks_text(usage.summary(samples)) == NOT_SERVED
    finally:
        runtime.stop(ref)
