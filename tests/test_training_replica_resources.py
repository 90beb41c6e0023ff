"""`--workers` counts every training replica, so `--worker-resources` reaches the PyTorch master, the TensorFlow
chief and YARN's `master` component too, unless `--master-resources` / `--chief-resources` says otherwise."""

from __future__ import annotations

import pytest

from k8s_support import validate_operator_job
from submarine_kernel.runtimes.yarn import service as ys
from submarine_kernel.algorithm import Bundle
from submarine_kernel.runtimes.kubernetes import KubernetesRuntime
from submarine_kernel.runtimes.yarn import YarnRuntime
from submarine_kernel.spec import build_spec

from yarn_rules import schema_errors

BUNDLE = Bundle({"train.py": b"print('train')\n"})
GPU_WORKER = "cpu=4,memory=16384M,nvidia.com/gpu=1"


def pytorch_job(**resources) -> dict:
    spec = build_spec("pt-gpu", framework="pytorch", workers=3, image="repo/img:1", command="python train.py",
                      resources=resources)
    plan = KubernetesRuntime(namespace="ml", api="training-operator").plan(spec, BUNDLE, "file:///tmp/bundles/x")
    validate_operator_job(plan.job)
    return plan.job["spec"]["pytorchReplicaSpecs"]


def limits(replica_spec: dict) -> dict:
    return replica_spec["template"]["spec"]["containers"][0]["resources"]["limits"]


def test_pytorchjob_master_gets_the_worker_resources():
    specs = pytorch_job(worker=GPU_WORKER)
    assert specs["Master"]["replicas"] == 1 and specs["Worker"]["replicas"] == 2
    assert limits(specs["Master"]) == limits(specs["Worker"])
    assert limits(specs["Master"])["nvidia.com/gpu"] == "1"
    assert limits(specs["Master"])["memory"] == "16384Mi"


def test_master_resources_override_the_worker_resources_for_the_master_only():
    specs = pytorch_job(worker=GPU_WORKER, master="cpu=2,memory=4096M")
    assert "nvidia.com/gpu" not in limits(specs["Master"]) and limits(specs["Master"])["memory"] == "4096Mi"
    assert limits(specs["Worker"])["nvidia.com/gpu"] == "1"


def test_the_job_wide_default_still_applies_when_no_worker_resources_are_given():
    specs = pytorch_job(default="cpu=1,memory=2048M")
    assert limits(specs["Master"]) == limits(specs["Worker"])
    assert limits(specs["Master"])["memory"] == "2048Mi"


@pytest.mark.parametrize("resources, chief_gpus, ps_gpus", [
    ({"worker": "memory=8G,vcores=2,gpu=2"}, 2, 0),
    ({"worker": "memory=8G,vcores=2,gpu=2", "chief": "memory=4G,vcores=1"}, 0, 0),
    ({"worker": "memory=8G,vcores=2,gpu=2", "default": "memory=2G,vcores=1,gpu=1"}, 2, 1),
])
def test_tensorflow_chief_follows_the_workers_and_ps_the_default(resources, chief_gpus, ps_gpus):
    spec = build_spec("tf-gpu", framework="tensorflow", workers=3, chief=True, ps=1, resources=resources,
                      command="python train.py")
    assert spec.roles["chief"].resources.gpus == chief_gpus
    assert spec.roles["worker"].resources.gpus == 2
    assert spec.roles["ps"].resources.gpus == ps_gpus


def test_yarn_master_component_of_a_pytorch_job_gets_the_worker_gpus():
    spec = build_spec("pt-yarn", framework="pytorch", workers=3, command="python train.py",
                      image="registry.example.com/ml:1", resources={"worker": "memory=16G,vcores=4,gpu=1"})
    rt = YarnRuntime(rm_urls=["http://rm1:8088"], user="alice", registry_dns_domain="ml.example.com")
    service = ys.build_service(spec, BUNDLE.files, "hdfs://nn/b/x", rt.settings())
    assert schema_errors(service) == []
    resources = {c["name"]: c["resource"] for c in service["components"]}
    assert resources["master"] == resources["worker"]
    assert resources["master"]["additional"]["yarn.io/gpu"]["value"] == 1


def test_run_help_says_worker_resources_cover_the_master_and_chief():
    from submarine_kernel.magics.arguments import usage

    text = " ".join(usage().split())
    assert "the PyTorch/XGBoost master or TensorFlow chief (unless --master-/--chief-resources says otherwise)" in text
