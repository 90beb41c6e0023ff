"""Manifests of the Kubernetes runtime, checked against the training operator's CRDs (jsonschema, strict)
plus its webhook rules, and core kinds against Kubernetes' own schemas (kubernetes-validate, offline)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
import yaml

from k8s_support import validate_core, validate_operator_job, webhook_problems, write_kubeconfig
from submarine_kernel.runtimes.kubernetes import labels as lbl
from submarine_kernel.runtimes.kubernetes import kinds
from submarine_kernel.runtimes.kubernetes import manifests as m
from submarine_kernel.runtimes.kubernetes import tensorboard
from submarine_kernel.runtimes.kubernetes import volumes
from submarine_kernel.algorithm import Bundle
from submarine_kernel.contract import tf_config
from submarine_kernel.errors import SubmarineError
from submarine_kernel.runtimes.kubernetes import KubernetesRuntime
from submarine_kernel.spec import build_spec

BUNDLE = Bundle({"train.py": b"import utils.data\nprint('train')\n", "utils/data.py": b"X = 1\n",
                 "run.sh": b"#!/bin/sh\necho hi\n"})
LABELS = {"submarine-kernel/user": "jane", "submarine-kernel/notebook": "mnist-notebook"}


def runtime(**traits) -> KubernetesRuntime:
    """The v1 training operator's runtime (these tests pin v1; Trainer v2 is tested in test_kubernetes_trainer)."""
    traits.setdefault("namespace", "ml")
    traits.setdefault("api", "training-operator")
    return KubernetesRuntime(**traits)


def validate_all(plan: m.JobPlan) -> None:
    for obj in plan.objects():
        if obj["apiVersion"] == "kubeflow.org/v1":
            validate_operator_job(obj)
        else:
            validate_core(obj)


SPECS = {
    "tf-ps": dict(framework="tensorflow", workers=3, ps=2, evaluator=1, resources="memory=8G,vcores=2,gpu=2"),
    "tf-chief": dict(framework="tensorflow", workers=2, chief=True, resources={"default": "memory=2G",
                                                                                "chief": "memory=4G,gpu=1"}),
    "pytorch": dict(framework="pytorch", workers=4, resources="cpu=500m,memory=1024M,nvidia.com/gpu=1"),
    "xgboost": dict(framework="xgboost", workers=2, resources="memory=1G,vcores=1"),
}


@pytest.mark.parametrize("case", sorted(SPECS))
def test_operator_jobs_match_the_crd_and_the_webhook(case):
    spec = build_spec(f"job-{case}", image="repo/img:1", command="python train.py --lr {lr}",
                      params={"lr": 0.01}, labels=LABELS, **SPECS[case])
    plan = runtime().plan(spec, BUNDLE, "file:///tmp/bundles/x")
    assert plan.kind.operator and plan.delivery == "configmap"
    validate_all(plan)
    job = plan.job
    specs = job["spec"][plan.kind.replica_specs_key]
    assert sum(r["replicas"] for r in specs.values()) == spec.replica_count
    assert job["spec"]["runPolicy"] == {"cleanPodPolicy": "Running", "ttlSecondsAfterFinished": 86400,
                                        "backoffLimit": 0}
    for role, role_spec in spec.roles.items():
        template = specs[kinds.REPLICA_TYPES[role]]["template"]
        container = template["spec"]["containers"][0]
        assert container["name"] == plan.kind.container
        env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
        assert env["SUBMARINE_ROLE"] == role and env["SUBMARINE_JOB_NAME"] == spec.name
        assert env["SUBMARINE_REPLICA_INDEX"] == {
            "fieldRef": {"fieldPath": "metadata.labels['training.kubeflow.org/replica-index']"}}
        assert env["SUBMARINE_PARAM_LR"] == "0.01"
        assert env["PYTHONPATH"] == "/workspace/submarine_algorithm:/workspace"
        assert container["command"] == ["/bin/sh", "-c", "python train.py --lr 0.01"]
        gpus = role_spec.resources.gpus
        limits = container.get("resources", {}).get("limits", {})
        assert limits.get("nvidia.com/gpu") == (str(gpus) if gpus else None)
        assert template["metadata"]["labels"][lbl.MANAGED_BY_LABEL] == "submarine-kernel"
        assert template["metadata"]["labels"]["submarine-kernel/user"] == "jane"
    assert job["metadata"]["labels"] == {**LABELS, lbl.MANAGED_BY_LABEL: "submarine-kernel",
                                         "submarine-kernel/job": spec.name}


def test_webhook_rules_catch_what_the_schema_lets_through():
    spec = build_spec("ok-job", framework="pytorch", workers=2, image="img", command="python train.py")
    job = runtime().plan(spec, BUNDLE, "file:///b").job
    job["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] = 2
    job["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["name"] = "main"
    job["metadata"]["name"] = "Bad_Name"
    problems = webhook_problems(job)
    assert len(problems) == 4, problems  # name, Master count (twice: rule and PyTorch rule), container name


def test_strict_crd_schema_refuses_a_misspelt_field():
    import jsonschema

    spec = build_spec("typo-job", framework="tensorflow", workers=1, image="img", command="python train.py")
    job = runtime().plan(spec, BUNDLE, "file:///b").job
    job["spec"]["runPolicy"]["cleanPodPolicyy"] = "All"
    with pytest.raises(jsonschema.ValidationError):
        validate_operator_job(job)


def test_configmap_carries_nested_and_binary_files_with_key_to_path_items():
    bundle = Bundle({**BUNDLE.files, "model/weights.bin": bytes(range(256))})
    spec = build_spec("cm-job", framework="pytorch", workers=1, image="img", command="python train.py")
    plan = runtime().plan(spec, bundle, "file:///b")
    validate_all(plan)
    configmap = plan.owned_objects({"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
                                    "metadata": {"name": "cm-job", "uid": "1234-uid"}})[0]
    assert configmap["metadata"]["ownerReferences"] == [
        {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "name": "cm-job", "uid": "1234-uid"}]
    assert configmap["data"]["utils__data.py"] == "X = 1\n"
    assert "/" not in "".join(configmap["data"]) + "".join(configmap["binaryData"])
    pod = plan.job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    items = {i["path"]: i["key"] for i in pod["volumes"][0]["configMap"]["items"]}
    assert items == {"train.py": "train.py", "utils/data.py": "utils__data.py", "run.sh": "run.sh",
                     "model/weights.bin": "model__weights.bin"}
    mounts = {v["mountPath"]: v.get("subPath") for v in pod["containers"][0]["volumeMounts"]}
    assert mounts["/workspace/submarine_algorithm"] is None
    assert mounts["/workspace/utils/data.py"] == "utils/data.py"  # also in the working directory


def test_configmap_keys_stay_unique_and_valid():
    keys = volumes.configmap_keys(["a/b.py", "a__b.py", "../x", "sp ace.py"])
    assert len(set(keys.values())) == 4
    assert all(volumes.CONFIGMAP_KEY_BAD.search(k) is None and not k.startswith("..") for k in keys.values())


def test_large_bundles_are_fetched_from_s3_by_an_init_container():
    big = Bundle({"train.py": b"print(1)\n", "data.txt": b"x" * (2 * 1024 * 1024)})
    uri = f"s3://bucket/bundles/{big.digest}"
    spec = build_spec("big-job", framework="tensorflow", workers=2, image="img", command="python train.py")
    plan = runtime(s3_endpoint_url="http://minio.storage:9000", s3_credentials_secret="s3-creds",
                   s3_region="eu-west-1").plan(spec, big, uri)
    assert plan.delivery == "storage" and plan.configmap is None
    validate_all(plan)
    pod = plan.job["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]
    init = pod["initContainers"][0]
    script = init["command"][2]
    assert f"s3://bucket/bundles/{big.digest}/" in script and "--endpoint-url http://minio.storage:9000" in script
    assert f"{hashlib.sha256(big.files['train.py']).hexdigest()}  train.py" in script
    assert "sha256sum -c -" in script
    assert init["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]
    assert pod["containers"][0]["volumeMounts"] == [{"name": volumes.WORKSPACE_VOLUME, "mountPath": "/workspace"}]


def test_hdfs_bundles_are_fetched_over_webhdfs():
    spec = build_spec("hdfs-job", framework="pytorch", workers=1, image="img", command="python train.py")
    plan = runtime(bundle_delivery="storage", webhdfs_url="http://nn.hadoop:9870", hdfs_user="jane").plan(
        spec, BUNDLE, "hdfs://nn.hadoop:8020/user/jane/bundles/abc")
    validate_all(plan)
    script = plan.job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["initContainers"][0]["command"][2]
    assert "http://nn.hadoop:9870/webhdfs/v1/user/jane/bundles/abc/utils/data.py?op=OPEN&user.name=jane" in script


def run_fetch_container(init: dict, workspace) -> subprocess.CompletedProcess:
    """The init container's script, run here with real curl (the workspace volume mounted at `workspace`)."""
    script = init["command"][2].replace("/submarine-workspace", str(workspace))
    return subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=60)


def test_the_fetch_container_reads_webhdfs_checks_sha256_and_refuses_changed_files(tmp_path):
    # Real curl against the WebHDFS test peer: the files arrive in the algorithm folder and the working
    # directory; a file changed in the store after the upload stops the pod before anything runs.
    from webhdfs_server import WebHdfsTestServer
    from submarine_kernel.storage import Storage
    from submarine_kernel.storage.integrity import REPLICA_CHECK_EXIT

    server = WebHdfsTestServer(require_user=True).start()
    try:
        stored = Storage("hdfs://nn.hadoop:8020/user/jane/bundles", {"namenodes": [server.url], "user": "jane"},
                         progress=False).put(BUNDLE)
        spec = build_spec("fetch-job", framework="pytorch", workers=1, image="img", command="python train.py")
        plan = runtime(bundle_delivery="storage", webhdfs_url=server.url, hdfs_user="jane").plan(
            spec, BUNDLE, stored.uri)
        init = plan.job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["initContainers"][0]
        fetched = run_fetch_container(init, tmp_path / "ok")
        assert fetched.returncode == 0, fetched.stderr
        for name, data in BUNDLE.files.items():
            assert (tmp_path / "ok" / "submarine_algorithm" / name).read_bytes() == data
            assert (tmp_path / "ok" / name).read_bytes() == data

        path = f"/user/jane/bundles/{BUNDLE.digest}/utils/data.py"
        server.nodes[path].data = bytearray(b"X = 'tampered'\n")
        refused = run_fetch_container(init, tmp_path / "changed")
        assert refused.returncode == REPLICA_CHECK_EXIT, refused
        assert "utils/data.py: FAILED" in refused.stderr and "submit the job again" in refused.stderr
        assert not (tmp_path / "changed" / "utils").exists()  # nothing reached the working directory
    finally:
        server.stop()


def test_the_s3_fetch_copies_only_the_submitted_files():
    big = Bundle({"train.py": b"print(1)\n", "data.txt": b"x" * (2 * 1024 * 1024)})
    spec = build_spec("big-job", framework="pytorch", workers=1, image="img", command="python train.py")
    plan = runtime().plan(spec, big, f"s3://bucket/bundles/{big.digest}")
    script = plan.job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["initContainers"][0]["command"][2]
    copy = next(line for line in script.splitlines() if line.startswith("aws s3 cp"))
    assert "--exclude '*' --include data.txt --include train.py" in copy


def test_a_bundle_pods_cannot_reach_is_refused_with_what_to_change():
    big = Bundle({"data.txt": b"x" * (2 * 1024 * 1024)})
    spec = build_spec("big-job", framework="pytorch", workers=1, image="img", command="python train.py")
    with pytest.raises(SubmarineError, match="storage_root to an s3:// or hdfs:// URL"):
        runtime().plan(spec, big, "file:///home/jane/bundles/x")
    with pytest.raises(SubmarineError, match="over the ConfigMap limit"):
        runtime(bundle_delivery="configmap").plan(spec, big, "s3://b/x")


def test_cluster_traits_reach_every_pod():
    rt = runtime(namespace="team-a", service_account="trainer", image_pull_policy="Always",
                 image_pull_secrets=["regcred"], node_selector={"gpu": "a100"}, priority_class="high",
                 tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                 pod_annotations={"sidecar.istio.io/inject": "false"}, clean_pod_policy="All",
                 ttl_seconds_after_finished=None, backoff_limit=3, active_deadline_seconds=3600)
    spec = build_spec("traits-job", framework="tensorflow", workers=2, ps=1, image="img", command="python t.py")
    plan = rt.plan(spec, BUNDLE, "file:///b")
    validate_all(plan)
    assert plan.job["metadata"]["namespace"] == "team-a" == plan.configmap["metadata"]["namespace"]
    assert plan.job["spec"]["runPolicy"] == {"cleanPodPolicy": "All", "backoffLimit": 3,
                                             "activeDeadlineSeconds": 3600}
    for replica in plan.job["spec"]["tfReplicaSpecs"].values():
        template = replica["template"]
        pod = template["spec"]
        assert pod["serviceAccountName"] == "trainer" and pod["priorityClassName"] == "high"
        assert pod["imagePullSecrets"] == [{"name": "regcred"}] and pod["nodeSelector"] == {"gpu": "a100"}
        assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
        assert pod["containers"][0]["imagePullPolicy"] == "Always"
        assert template["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}


def plain_job_replica_env(plan: m.JobPlan, index: int) -> dict[str, str]:
    """Run the plain Job's container script with /bin/sh for one completion index; the launch command
    prints its environment, so this is what the replica would see."""
    container = plan.job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    env.update(JOB_COMPLETION_INDEX=str(index), PATH=os.environ["PATH"])
    out = subprocess.run(container["command"], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


PRINT_ENV = f"{sys.executable} -c 'import json, os; print(json.dumps(dict(os.environ)))'"


def test_plain_job_sets_the_tensorflow_contract_itself():
    spec = build_spec("tf-plain", framework="tensorflow", workers=2, ps=1, image="img", command=PRINT_ENV)
    plan = runtime(training_operator=False).plan(spec, BUNDLE, "file:///b")
    assert plan.kind is kinds.PLAIN_JOB and plan.replicas == ["worker-0", "worker-1", "ps-0"]
    validate_all(plan)
    cluster = {"worker": ["tf-plain-0.tf-plain.ml.svc:29500", "tf-plain-1.tf-plain.ml.svc:29500"],
               "ps": ["tf-plain-2.tf-plain.ml.svc:29500"]}
    for index, (role, role_index) in enumerate([("worker", 0), ("worker", 1), ("ps", 0)]):
        env = plain_job_replica_env(plan, index)
        assert json.loads(env["TF_CONFIG"]) == json.loads(tf_config(cluster, role, role_index))
        assert (env["SUBMARINE_ROLE"], env["SUBMARINE_REPLICA_INDEX"]) == (role, str(role_index))
    job, service, configmap = plan.job, plan.service, plan.configmap
    assert job["spec"]["completionMode"] == "Indexed" and job["spec"]["completions"] == 3
    assert job["spec"]["successPolicy"] == {"rules": [{"succeededIndexes": "0"}]}
    assert job["spec"]["template"]["spec"]["subdomain"] == service["metadata"]["name"] == "tf-plain"
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
    assert set(service["spec"]["selector"].items()) <= set(job["spec"]["template"]["metadata"]["labels"].items())
    assert [o["metadata"]["ownerReferences"][0]["kind"] for o in plan.owned_objects()] == ["Job", "Job"]
    assert configmap is not None


def test_plain_job_sets_the_pytorch_contract_for_custom_and_pytorch():
    spec = build_spec("pt-plain", framework="pytorch", workers=3, image="img", command=PRINT_ENV,
                      params={"epochs": 2})
    plan = runtime(training_operator=False).plan(spec, BUNDLE, "file:///b")
    validate_all(plan)
    for index in range(3):
        env = plain_job_replica_env(plan, index)
        assert env["MASTER_ADDR"] == "pt-plain-0.pt-plain.ml.svc" and env["MASTER_PORT"] == "29500"
        assert env["WORLD_SIZE"] == "3" and env["RANK"] == str(index)
        assert env["SUBMARINE_PARAM_EPOCHS"] == "2"
    custom = build_spec("custom-job", framework="custom", workers=2, image="img", command=PRINT_ENV)
    plan = runtime().plan(custom, BUNDLE, "file:///b")  # custom never needs the operator
    assert plan.kind is kinds.PLAIN_JOB
    validate_all(plan)
    assert json.loads(plain_job_replica_env(plan, 1)["TF_CONFIG"])["task"] == {"type": "worker", "index": 1}


def test_tensorboard_deployment_and_service_are_valid():
    rt = runtime(s3_credentials_secret="s3-creds", s3_endpoint_url="http://minio:9000")
    deployment, service = tensorboard.tensorboard_objects("mnist-job", "s3://bucket/ckpt/mnist", rt.cluster_options(),
                                                rt.tensorboard_image)
    validate_core(deployment)
    validate_core(service)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:3] == ["tensorboard", "--logdir", "s3://bucket/ckpt/mnist"]
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert len(lbl.tensorboard_name("x" * 80)) <= 63


def test_check_reports_names_images_and_plain_job_limits_before_anything_is_built(tmp_path):
    rt = runtime(kubeconfig=str(write_kubeconfig(tmp_path / "kubeconfig", "https://k8s.example.com")))
    long_name = "a" * 58  # fits 63 alone, but not as <name>-worker-0 host names
    spec = build_spec(long_name, framework="pytorch", workers=2, image="img", command="python t.py")
    assert any("keep it to" in p for p in rt.check(spec))
    spec = build_spec("Bad_Name", framework="pytorch", workers=1, command="python t.py")
    problems = rt.check(spec)  # the name itself: the one job name rule, checked by Session.build
    assert not any("DNS-1035" in p for p in problems) and any("no container image" in p for p in problems)
    mixed = build_spec("mixed", framework="tensorflow", workers=2, chief=True, image="img", command="python t.py",
                       resources={"chief": "gpu=1", "worker": "memory=1G"})
    assert rt.check(mixed) == []
    assert any("one pod template" in p for p in runtime(training_operator=False, kubeconfig=rt.kubeconfig).check(mixed))


def test_label_values_are_made_valid():
    spec = build_spec("lbl-job", framework="pytorch", workers=1, image="img", command="python t.py",
                      labels={"submarine-kernel/notebook": "Jane's notebook.ipynb/" + "x" * 80})
    labels = runtime().plan(spec, BUNDLE, "file:///b").job["metadata"]["labels"]
    value = labels["submarine-kernel/notebook"]
    assert len(value) <= 63 and value[0].isalnum() and value[-1].isalnum() and "'" not in value


def test_render_prints_yaml_of_every_object_without_a_cluster(tmp_path):
    spec = build_spec("dry-job", framework="pytorch", workers=2, image="img", command="python train.py")
    text = runtime(kubeconfig=str(tmp_path / "missing")).prepare(spec, BUNDLE, "file:///b").describe()
    assert text.startswith("# PyTorchJob 'dry-job' in namespace 'ml' (dry run: nothing was created)")
    documents = list(yaml.safe_load_all(text))
    assert [d["kind"] for d in documents] == ["PyTorchJob", "ConfigMap"]
    assert "&id" not in text  # no YAML anchors between replica templates
    validate_operator_job(documents[0])


def test_render_uses_the_kubeconfig_context_namespace(tmp_path):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(yaml.safe_dump({"current-context": "dev", "contexts": [
        {"name": "dev", "context": {"namespace": "dev-ns"}}, {"name": "prod", "context": {"namespace": "prod-ns"}}]}))
    spec = build_spec("ns-job", framework="pytorch", workers=1, image="img", command="python train.py")
    assert "namespace: dev-ns" in KubernetesRuntime(kubeconfig=str(kubeconfig)).prepare(
        spec, BUNDLE, "file:///b").describe()
    assert "namespace: prod-ns" in KubernetesRuntime(kubeconfig=str(kubeconfig), context="prod").prepare(
        spec, BUNDLE, "file:///b").describe()


def test_the_kubernetes_client_is_imported_only_when_a_cluster_is_used():
    code = ("import sys, submarine_kernel, submarine_kernel.runtimes.kubernetes as k;"
            "import submarine_kernel.runtimes.kubernetes.manifests;"
            "from submarine_kernel.spec import build_spec; from submarine_kernel.algorithm import Bundle;"
            "s = build_spec('j', image='i', command='python t.py');"
            "k.KubernetesRuntime(namespace='n').prepare(s, Bundle({'t.py': b''}), 'file:///b').describe();"
            "print('kubernetes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_job_data_reads_rows_of_older_versions_and_writes_plain_mappings():
    from submarine_kernel.job_types import JobRef
    from submarine_kernel.runtimes.kubernetes import KubernetesJobData

    old = JobRef("kubernetes", "j", "uid-1", {"namespace": "ml", "plural": "pytorchjobs", "replicas": ["master-0"],
                                             "deciding": "master-0", "unknown": 1})
    data = KubernetesJobData.of(old)
    assert (data.namespace, data.plural, data.replicas, data.api, data.queue) == (
        "ml", "pytorchjobs", ("master-0",), "", "")
    assert KubernetesJobData.from_extra(data.to_extra()) == data
    assert data.to_extra()["replicas"] == ["master-0"]  # JSON-friendly, as the registry stores it


def test_check_reads_the_kubeconfig_once_per_configuration(tmp_path, monkeypatch):
    from submarine_kernel.runtimes.kubernetes import credentials

    path = write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9")
    reads = []
    real = credentials.kubeconfig_namespace
    monkeypatch.setattr(credentials, "kubeconfig_namespace", lambda *a: reads.append(a) or real(*a))
    rt = KubernetesRuntime(kubeconfig=str(path))
    spec = build_spec("once", framework="pytorch", workers=1, image="img", command="python train.py")
    for _ in range(5):
        assert rt.check(spec) == []
    assert len(reads) == 1
    rt.context = "other"  # a connection setting changed: read again
    rt.check(spec)
    assert len(reads) == 2


def test_every_cluster_option_is_a_trait_of_the_same_name():
    from dataclasses import fields

    from submarine_kernel.runtimes.kubernetes.options import ClusterOptions

    assert {f.name for f in fields(ClusterOptions)} - set(KubernetesRuntime().trait_names()) == {"configmap_limit"}
