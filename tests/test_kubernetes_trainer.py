"""Kubeflow Trainer v2 manifests (no cluster): TrainJob for PyTorch/XGBoost, JobSet for TensorFlow, a job's own
TrainingRuntime, Kueue queues and gang scheduling; every object against its upstream CRD (tests/protocols)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from k8s_support import validate_manifest, write_kubeconfig
from submarine_kernel.runtimes.kubernetes import labels as lbl
from submarine_kernel.runtimes.kubernetes import manifests as m
from submarine_kernel.runtimes.kubernetes import volumes
from submarine_kernel.algorithm import Bundle
from submarine_kernel.runtimes.kubernetes import KubernetesRuntime
from submarine_kernel.spec import build_spec

BUNDLE = Bundle({"train.py": b"print('training')\n", "utils/data.py": b"X = 1\n"})
PRINT_ENV = f"{sys.executable} -c 'import json, os; print(json.dumps(dict(os.environ)))'"
GPU = "cpu=4,memory=16384M,nvidia.com/gpu=1"


def runtime(**traits) -> KubernetesRuntime:
    traits.setdefault("namespace", "ml")
    traits.setdefault("api", "trainer")
    return KubernetesRuntime(**traits)


def validate_all(plan: m.JobPlan) -> list[str]:
    kinds = []
    for obj in plan.objects():
        validate_manifest(obj)
        kinds.append(obj["kind"])
    return kinds


def node_env(job: dict, index: int, workdir: str) -> dict[str, str]:
    """Run a TrainJob's trainer command with /bin/sh as node `index` would (the launch command prints the
    environment it ends with)."""
    trainer = job["spec"]["trainer"]
    env = {e["name"]: e["value"] for e in trainer["env"]}
    env.update(JOB_COMPLETION_INDEX=str(index), PATH=os.environ["PATH"])
    command = [c.replace("cd /workspace ||", f"cd {workdir} ||") for c in trainer["command"]]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("framework, runtime_name", [("pytorch", "torch-distributed"),
                                                     ("xgboost", "xgboost-distributed")])
def test_a_trainjob_points_at_the_framework_runtime_and_matches_the_crd(framework, runtime_name, tmp_path):
    spec = build_spec("tj-job", framework=framework, workers=3, image="repo/train:1", command=PRINT_ENV,
                      resources={"worker": GPU}, params={"lr": 0.1})
    plan = runtime().plan(spec, BUNDLE, "file:///b")
    assert validate_all(plan) == ["TrainJob", "ConfigMap"]
    job = plan.job
    assert job["spec"]["runtimeRef"] == {"name": runtime_name, "kind": "ClusterTrainingRuntime",
                                         "apiGroup": "trainer.kubeflow.org"}
    trainer = job["spec"]["trainer"]
    assert trainer["numNodes"] == 3 and trainer["image"] == "repo/train:1"
    assert trainer["resourcesPerNode"]["limits"] == {"cpu": "4", "memory": "16384Mi", "nvidia.com/gpu": "1"}
    # the algorithm files and our pod labels come in through a runtime patch of the node replicated Job
    patch = job["spec"]["runtimePatches"][0]
    assert patch["manager"] == "submarine.apache.org/submarine-kernel"  # domain-prefixed: Trainer's webhook
    node = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]
    assert node["name"] == "node"
    pod = node["template"]["spec"]["template"]
    assert pod["metadata"]["labels"][lbl.JOB_LABEL] == "tj-job"
    assert pod["spec"]["volumes"][0]["configMap"]["name"] == "tj-job-algorithm"
    assert {v["mountPath"] for v in pod["spec"]["containers"][0]["volumeMounts"]} >= {
        "/workspace/submarine_algorithm", "/workspace/train.py"}
    # every node sees the environment contract: node 0 is the deciding replica and rank 0
    ranks = []
    for index in range(3):
        env = node_env(job, index, str(tmp_path))
        assert env["MASTER_ADDR"] == "tj-job-node-0-0.tj-job.ml.svc" and env["WORLD_SIZE"] == "3"
        assert env["SUBMARINE_JOB_NAME"] == "tj-job" and env["SUBMARINE_PARAM_LR"] == "0.1"
        ranks.append((env["RANK"], env["SUBMARINE_ROLE"], env["SUBMARINE_REPLICA_INDEX"]))
    assert ranks == [("0", "master", "0"), ("1", "worker", "0"), ("2", "worker", "1")]
    assert plan.replicas == ["master-0", "worker-0", "worker-1"]
    assert plan.container == "node"


def test_tensorflow_runs_as_a_jobset_with_tf_config_from_the_stable_pod_names():
    spec = build_spec("tf-v2", framework="tensorflow", workers=3, ps=1, chief=True, image="tf:2",
                      command="python train.py")
    plan = runtime().plan(spec, BUNDLE, "file:///b")
    assert validate_all(plan) == ["JobSet", "ConfigMap"]
    jobset = plan.job["spec"]
    assert [r["name"] for r in jobset["replicatedJobs"]] == ["chief", "worker", "ps"]
    assert jobset["successPolicy"] == {"operator": "All", "targetReplicatedJobs": ["chief"]}  # ps never exit
    assert jobset["network"]["enableDNSHostnames"] is True
    hosts = {"chief": ["tf-v2-chief-0-0.tf-v2.ml.svc:2222"],
             "worker": ["tf-v2-worker-0-0.tf-v2.ml.svc:2222", "tf-v2-worker-0-1.tf-v2.ml.svc:2222"],
             "ps": ["tf-v2-ps-0-0.tf-v2.ml.svc:2222"]}
    for rjob in jobset["replicatedJobs"]:
        role = rjob["name"]
        job = rjob["template"]["spec"]
        assert job["completionMode"] == "Indexed" and job["completions"] == len(hosts[role])
        container = job["template"]["spec"]["containers"][0]
        env = container["env"]
        names = [e["name"] for e in env]
        assert env[names.index("SUBMARINE_REPLICA_INDEX")] == {"name": "SUBMARINE_REPLICA_INDEX", "valueFrom": {
            "fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}
        assert names.index("SUBMARINE_REPLICA_INDEX") < names.index("TF_CONFIG")  # the kubelet expands earlier ones
        raw = next(e["value"] for e in env if e["name"] == "TF_CONFIG")
        for index in range(len(hosts[role])):
            # what the kubelet passes: $(VAR) of an earlier variable expanded
            tf_config = json.loads(raw.replace("$(SUBMARINE_REPLICA_INDEX)", str(index)))
            assert tf_config == {"cluster": hosts, "task": {"type": role, "index": index}, "environment": "cloud"}
    assert plan.replicas == ["chief-0", "worker-0", "worker-1", "ps-0"]


def test_custom_jobs_on_a_jobset_get_ranks_across_roles():
    spec = build_spec("cu-v2", framework="custom", workers=2, image="img", command="echo hi")
    plan = runtime().plan(spec, BUNDLE, "file:///b")
    validate_all(plan)
    container = plan.job["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MASTER_ADDR"] == "cu-v2-worker-0-0.cu-v2.ml.svc" and env["WORLD_SIZE"] == "2"
    assert env["RANK"] == "$(SUBMARINE_REPLICA_INDEX)"  # worker i is rank i: the kubelet's expansion does it
    out = subprocess.run(container["command"], env={"JOB_COMPLETION_INDEX": "1", "PATH": os.environ["PATH"]},
                         capture_output=True, text=True, check=True)
    assert out.stdout == "hi\n"


@pytest.mark.parametrize("traits, reason", [
    ({"scheduler": "coscheduling"}, "gang scheduling with coscheduling"),
    ({"bundle_delivery": "storage"}, "an init container fetches the algorithm files"),
    ({"priority_class": "high"}, "a priority class is set"),
])
def test_what_a_patch_cannot_add_comes_from_the_jobs_own_training_runtime(traits, reason):
    spec = build_spec("own-rt", framework="pytorch", workers=2, image="img:1", command="python train.py")
    rt = runtime(**traits)
    plan = rt.plan(spec, BUNDLE, "s3://bucket/bundles/x")
    kinds = validate_all(plan)
    assert kinds[:2] == ["TrainingRuntime", "TrainJob"]  # the runtime first: the TrainJob refers to it
    runtime_obj = plan.before[0]
    assert plan.job["spec"]["runtimeRef"] == {"name": "own-rt", "kind": "TrainingRuntime",
                                              "apiGroup": "trainer.kubeflow.org"}
    assert "runtimePatches" not in plan.job["spec"]
    assert runtime_obj["spec"]["mlPolicy"] == {"numNodes": 2, "torch": {}}
    pod = runtime_obj["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["name"] == "node"
    if traits.get("scheduler") == "coscheduling":
        assert runtime_obj["spec"]["podGroupPolicy"] == {"coscheduling": {"scheduleTimeoutSeconds": 60}}
    if traits.get("bundle_delivery") == "storage":
        assert pod["initContainers"][0]["name"] == volumes.FETCH_CONTAINER
    if traits.get("priority_class"):
        assert pod["priorityClassName"] == "high"
    assert reason in rt.prepare(spec, BUNDLE, "s3://bucket/bundles/x").describe()


@pytest.mark.parametrize("api, framework, kind", [
    ("trainer", "pytorch", "TrainJob"), ("trainer", "tensorflow", "JobSet"),
    ("training-operator", "pytorch", "PyTorchJob"), ("job", "pytorch", "Job")])
def test_a_queue_labels_the_job_and_creates_it_suspended(api, framework, kind):
    spec = build_spec("queued", framework=framework, workers=2, image="img:1", command="python train.py")
    plan = runtime(api=api, queue="team-a").plan(spec, BUNDLE, "file:///b")
    validate_all(plan)
    assert plan.job["kind"] == kind
    assert plan.job["metadata"]["labels"][lbl.QUEUE_LABEL] == "team-a"
    suspended = plan.job["spec"].get("suspend") or plan.job["spec"].get("runPolicy", {}).get("suspend")
    assert suspended is True
    # only the job carries the queue label: Kueue must not see its ConfigMap or pods as workloads
    assert all(lbl.QUEUE_LABEL not in o["metadata"]["labels"] for o in plan.owned_objects())


@pytest.mark.parametrize("api, framework", [("training-operator", "pytorch"), ("job", "tensorflow"),
                                            ("trainer", "tensorflow")])
@pytest.mark.parametrize("scheduler", ["volcano", "coscheduling"])
def test_gang_scheduling_on_every_api(api, framework, scheduler):
    spec = build_spec("gang", framework=framework, workers=3, image="img:1", command="python train.py")
    plan = runtime(api=api, scheduler=scheduler).plan(spec, BUNDLE, "file:///b")
    validate_all(plan)
    scheduler_name = {"volcano": "volcano", "coscheduling": "scheduler-plugins-scheduler"}[scheduler]
    text = json.dumps(plan.job)
    assert f'"schedulerName": "{scheduler_name}"' in text
    if api == "training-operator":  # the operator makes the PodGroup from schedulingPolicy
        assert plan.job["spec"]["runPolicy"]["schedulingPolicy"]["minAvailable"] == 3
        assert plan.pod_group is None
    else:
        assert plan.pod_group["spec"]["minMember"] == 3
        member = (f'"{lbl.VOLCANO_GROUP_ANNOTATION}": "gang"' if scheduler == "volcano"
                  else f'"{lbl.COSCHEDULING_GROUP_LABEL}": "gang"')
        assert member in text


def test_trainer_refuses_what_one_node_template_cannot_hold():
    spec = build_spec("mixed", framework="pytorch", workers=3, image="img:1", command="python train.py",
                      resources={"master": "cpu=1", "worker": GPU})
    assert any("one template" in p for p in runtime().check(spec))
    long_name = build_spec("a" * 55, framework="pytorch", workers=12, image="img", command="python t.py")
    assert any("keep it to" in p for p in runtime().check(long_name))  # a-...-node-0-11 must be a DNS label


def test_a_dry_run_without_a_cluster_renders_trainer_v2_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    rt = KubernetesRuntime(namespace="ml")
    spec = build_spec("preview", framework="pytorch", workers=2, command="python train.py")
    assert rt.missing_settings(spec) == [
        f"no kubeconfig at {tmp_path / 'none'}: set KubernetesRuntime.kubeconfig or $KUBECONFIG, or run inside "
        "a cluster",
        "role 'master' has no container image: pass --image or set SubmarineConfig.image",
        "role 'worker' has no container image: pass --image or set SubmarineConfig.image"]
    text = rt.prepare(spec, BUNDLE, "file:///b").describe()
    assert "api: Kubeflow Trainer v2 (api 'auto' without a cluster to ask" in text
    import yaml

    job = next(yaml.safe_load_all(text))
    assert job["spec"]["trainer"]["image"] == "<image: --image or SubmarineConfig.image>"
    kubeconfig = write_kubeconfig(tmp_path / "kc", "https://k8s.example.com")
    assert KubernetesRuntime(kubeconfig=str(kubeconfig), image_pull_policy="Always").missing_settings(
        build_spec("p", framework="pytorch", workers=1, image="i", command="c")) == []


def test_sk_submit_dry_run_needs_no_kubeconfig_and_lists_what_a_submission_needs(tmp_path, monkeypatch):
    import yaml

    import submarine_kernel as sk
    from submarine_kernel.errors import ValidationError
    from submarine_kernel.session import default_session

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    default_session().runtime("kubernetes").namespace = "ml"
    files = {"train.py": "print('train')\n"}
    preview = sk.submit("python train.py", name="k8sdry", runtime="kubernetes", framework="tensorflow", workers=2,
                        ps=1, files=files, dry_run=True)
    assert preview.startswith("# JobSet 'k8sdry' in namespace 'ml' (dry run: nothing was created)\n"
                              "# api: Kubeflow Trainer v2 (api 'auto' without a cluster to ask")
    body, needs = preview.split("# a real submission still needs:\n", 1)
    objects = [o for o in yaml.safe_load_all(body) if o]
    for obj in objects:
        validate_manifest(obj)
    assert [o["kind"] for o in objects] == ["JobSet", "ConfigMap"]
    assert needs.splitlines() == [
        f"#   - no kubeconfig at {tmp_path / 'none'}: set KubernetesRuntime.kubeconfig or $KUBECONFIG, or run "
        "inside a cluster",
        "#   - role 'worker' has no container image: pass --image or set SubmarineConfig.image",
        "#   - role 'ps' has no container image: pass --image or set SubmarineConfig.image"]
    with pytest.raises(ValidationError, match="no kubeconfig at"):  # a real submission still refuses, at once
        sk.submit("python train.py", name="k8sreal", runtime="kubernetes", framework="tensorflow", workers=2,
                  files=files)
    assert sk.jobs() == []


def test_auto_previews_v1_for_a_job_trainer_v2_cannot_run():
    spec = build_spec("mixed-auto", framework="pytorch", workers=3, image="img:1", command="python train.py",
                      resources={"master": "cpu=1", "worker": GPU})
    rt = KubernetesRuntime(namespace="ml")  # api 'auto', no cluster asked
    assert not any("one template" in p for p in rt.check(spec))
    text = rt.prepare(spec, BUNDLE, "file:///b").describe()
    assert text.startswith("# PyTorchJob 'mixed-auto'")
    assert ("# api: Kubeflow training operator v1 (api 'auto' without a cluster to ask: rendered for the training "
            "operator v1, since on Trainer v2 a TrainJob runs every node from one template") in text


@pytest.mark.parametrize("framework, upstream", [("pytorch", "torch_distributed.yaml"),
                                                 ("xgboost", "xgboost_distributed.yaml")])
def test_the_patch_and_our_own_runtime_match_the_upstream_runtimes_shape(framework, upstream):
    """What the TrainJob patches (and our own TrainingRuntime copies) must line up with the upstream runtime:
    the replicated Job, its ancestor label, the container name and the ML policy."""
    import yaml
    from k8s_support import protocols_dir, validate_trainer_object

    cluster_runtime = yaml.safe_load((protocols_dir() / "kubeflow-trainer" / "runtimes" / upstream).read_text())
    validate_trainer_object(cluster_runtime)
    upstream_job = cluster_runtime["spec"]["template"]["spec"]["replicatedJobs"][0]
    upstream_container = upstream_job["template"]["spec"]["template"]["spec"]["containers"][0]["name"]
    spec = build_spec("shape", framework=framework, workers=2, image="img:1", command="python train.py")
    patched = runtime().plan(spec, BUNDLE, "file:///b").job
    assert patched["spec"]["runtimeRef"]["name"] == cluster_runtime["metadata"]["name"]
    patch_job = patched["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]
    assert patch_job["name"] == upstream_job["name"]
    assert patch_job["template"]["spec"]["template"]["spec"]["containers"][0]["name"] == upstream_container
    own = runtime(scheduler="volcano").plan(spec, BUNDLE, "file:///b").before[0]
    own_job = own["spec"]["template"]["spec"]["replicatedJobs"][0]
    assert own_job["name"] == upstream_job["name"]
    assert own_job["template"]["metadata"]["labels"] == upstream_job["template"]["metadata"]["labels"]
    assert own_job["template"]["spec"]["template"]["spec"]["containers"][0]["name"] == upstream_container
    assert set(own["spec"]["mlPolicy"]) == set(cluster_runtime["spec"]["mlPolicy"])
