"""JobSpec + Bundle → Kubeflow Trainer v2 manifests, as plain dicts (no `kubernetes` import, no cluster).

PyTorch and XGBoost become a `TrainJob` (`trainer.kubeflow.org/v1alpha1`) that points at the framework's
ClusterTrainingRuntime (upstream `torch-distributed` / `xgboost-distributed`): `trainer.numNodes` is the
replica count, `resourcesPerNode` the worker resources, and a `runtimePatches` entry adds the algorithm
ConfigMap's volume, the pod labels we follow the pods by, and the pod settings. The runtime runs it as a
JobSet with one replicated Job `node`, whose pods are `<job>-node-0-<i>.<job>`: node 0 is the deciding
replica (master, else worker 0). One shell script, a `case` on the completion index, gives every node its
part of the environment contract (RANK, MASTER_ADDR, SUBMARINE_ROLE...), as on the plain Indexed Job.

What a runtime patch cannot add (an init container fetching the files from storage, a priority class, a
pod-group policy for gang scheduling) comes from a namespaced `TrainingRuntime` named after the job, which
submit creates first and then makes owned by the TrainJob, so that it goes with it.

TensorFlow (and `custom`) is no Trainer v2 runtime upstream: it becomes a `JobSet` (`jobset.x-k8s.io/v1alpha2`,
which every Trainer v2 cluster runs) with one replicated Job per role; `TF_CONFIG` lists the JobSet's stable
pod names `<job>-<role>-0-<i>.<job>` and each pod's task index comes from its completion index.

Kueue: with a queue the job carries `kueue.x-k8s.io/queue-name` and is created suspended; Kueue resumes it.
"""

from __future__ import annotations

import shlex
from typing import Any, Mapping

from ...algorithm import Bundle
from ...contract import TF_ROLE_ORDER, Addresses, replica_env, replica_names
from ...errors import Problem
from ...spec import JobSpec
from .kinds import JOBSET, TRAINING_RUNTIME, TRAINJOB, Kind
from .labels import COMPLETION_INDEX_LABEL, COMPONENT_LABEL
from .manifests import JobPlan, indexed_launch, job_basics
from .options import ClusterOptions
from .pods import (add_pod_group_membership, add_scheduler, base_env, container_resources, env_list, main_container,
                   pod_group, pod_metadata, pod_spec, template_env)
from .volumes import one_volume_per_mount

NODE_JOB = "node"  # the replicated Job of the upstream torch/xgboost runtimes
#: who wrote a runtimePatches entry: Trainer's webhook requires a domain-prefixed path ("acme.io/foo")
PATCH_MANAGER = "submarine.apache.org/submarine-kernel"
ANCESTOR_LABEL = "trainer.kubeflow.org/trainjob-ancestor-step"
#: the Job controller's annotation (every Kubernetes version), read through the downward API
COMPLETION_INDEX_FIELD = f"metadata.annotations['{COMPLETION_INDEX_LABEL}']"
ML_POLICIES = {"pytorch": "torch", "xgboost": "xgboost"}


def trainer_kind(spec: JobSpec) -> Kind:
    """TrainJob for the frameworks Trainer v2 runs; a JobSet for TensorFlow PS/worker and custom jobs."""
    return TRAINJOB if spec.framework in ML_POLICIES else JOBSET


def own_runtime_reasons(spec: JobSpec, options: ClusterOptions, delivery: str) -> list[str]:
    """Why a TrainJob needs its own TrainingRuntime (empty: a patch of the cluster's runtime does)."""
    reasons = []
    if delivery == "storage":
        reasons.append("an init container fetches the algorithm files from storage")
    if options.scheduler != "default":
        reasons.append(f"gang scheduling with {options.scheduler} is the runtime's podGroupPolicy")
    if options.priority_class:
        reasons.append("a priority class is set")
    return reasons


def trainer_problems(spec: JobSpec, options: ClusterOptions) -> list[str]:
    """What Trainer v2 cannot do with this spec."""
    problems = []
    if trainer_kind(spec) is TRAINJOB:
        roles = list(spec.roles.values())
        if len({spec.role_image(r.name) for r in roles}) > 1 or len({r.resources.to_cli() for r in roles}) > 1:
            problems.append(Problem("a TrainJob runs every node from one template: give the master and the workers "
                                    "the same image and resources, or set KubernetesRuntime.api = "
                                    "'training-operator'", "image"))
    if options.restart_policy not in ("Never", "OnFailure"):
        problems.append(f"Trainer v2 jobs cannot use restart_policy {options.restart_policy!r}: use Never or OnFailure")
    return problems


def node_addresses(spec: JobSpec, namespace: str) -> dict[str, list[str]]:
    """role → `host:port` of each replica of a TrainJob: node i is the i-th replica, deciding one first."""
    out: dict[str, list[str]] = {}
    for i, (role, _) in enumerate(replica_names(spec)):
        out.setdefault(role, []).append(f"{spec.name}-{NODE_JOB}-0-{i}.{spec.name}.{namespace}.svc:{TRAINJOB.port}")
    return out


def jobset_addresses(spec: JobSpec, namespace: str) -> dict[str, list[str]]:
    """role → `host:port` of each replica of a JobSet (one replicated Job per role)."""
    return {role: [f"{spec.name}-{role}-0-{i}.{spec.name}.{namespace}.svc:{JOBSET.port}"
                   for i in range(r.replicas)] for role, r in sorted(spec.roles.items(), key=_role_order)}


def _role_order(item) -> int:
    return TF_ROLE_ORDER.index(item[0]) if item[0] in TF_ROLE_ORDER else 99


def plan(spec: JobSpec, bundle: Bundle, bundle_uri: str, options: ClusterOptions) -> JobPlan:
    """Every object of one Trainer v2 job (nothing is sent anywhere)."""
    if trainer_kind(spec) is TRAINJOB:
        return _plan_trainjob(spec, bundle, bundle_uri, options)
    return _plan_jobset(spec, bundle, bundle_uri, options)


def _plan_trainjob(spec: JobSpec, bundle: Bundle, bundle_uri: str, options: ClusterOptions) -> JobPlan:
    basics = job_basics(spec, bundle, bundle_uri, options)
    labels, workdir, volumes, mounts = basics.labels, basics.workdir, basics.volumes, basics.mounts
    addresses = Addresses(node_addresses(spec, options.namespace), TRAINJOB.port)
    per_index = [{**spec.role_env(role), **replica_env(spec, role, index, addresses)}
                 for role, index in replica_names(spec)]
    # A runtime patch cannot set workingDir: the script starts there itself.
    script, env = indexed_launch(spec, per_index, basics.secrets, prelude=f"cd {shlex.quote(workdir)} || exit 1")
    env = {**base_env(spec, workdir), **env}
    first = replica_names(spec)[0][0]
    trainer: dict[str, Any] = {"image": spec.role_image(first) or "", "command": ["/bin/sh", "-c", script],
                               "env": env_list(env), "numNodes": spec.replica_count}
    resources = container_resources(spec.roles[first].resources, options.limit_cpu)
    if resources:
        trainer["resourcesPerNode"] = resources
    job_spec: dict[str, Any] = {}
    pod_meta = pod_metadata(labels, options)
    before = []
    reasons = own_runtime_reasons(spec, options, basics.delivery)
    if reasons:
        runtime = _training_runtime(spec, options, labels, pod_meta, volumes, mounts, basics.init, workdir)
        before.append(runtime)
        job_spec["runtimeRef"] = {"name": runtime["metadata"]["name"], "kind": "TrainingRuntime",
                                  "apiGroup": TRAINJOB.group}
    else:
        job_spec["runtimeRef"] = {"name": options.trainer_runtimes.get(spec.framework, ""),
                                  "kind": options.trainer_runtime_kind, "apiGroup": TRAINJOB.group}
        patch_volumes, patch_mounts = one_volume_per_mount(volumes, mounts)
        pod: dict[str, Any] = {"containers": [{"name": TRAINJOB.container, "volumeMounts": patch_mounts}],
                               "volumes": patch_volumes}
        for key, value in (("serviceAccountName", options.service_account),
                           ("nodeSelector", dict(options.node_selector)),
                           ("tolerations", [dict(t) for t in options.tolerations]),
                           ("imagePullSecrets", [{"name": n} for n in options.image_pull_secrets])):
            if value:
                pod[key] = value
        job_spec["runtimePatches"] = [{"manager": PATCH_MANAGER, "trainingRuntimeSpec": {"template": {"spec": {
            "replicatedJobs": [{"name": NODE_JOB, "template": {"spec": {"template": {
                "metadata": pod_meta, "spec": pod}}}}]}}}}]
    job_spec["trainer"] = trainer
    if options.active_deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = options.active_deadline_seconds
    if basics.join_queue():
        job_spec["suspend"] = True
    job = {"apiVersion": TRAINJOB.api_version, "kind": TRAINJOB.kind, "metadata": basics.metadata, "spec": job_spec}
    return basics.plan(TRAINJOB, job, before=before, before_reasons=reasons)


def _training_runtime(spec: JobSpec, options: ClusterOptions, labels: Mapping[str, str], pod_meta: dict,
                      volumes: list, mounts: list, init: list, workdir: str) -> dict[str, Any]:
    """A TrainingRuntime for this job alone: the upstream runtime's shape plus what a patch cannot add."""
    container = {"name": TRAINJOB.container, "image": spec.role_image(replica_names(spec)[0][0]) or "",
                 "imagePullPolicy": options.image_pull_policy, "workingDir": workdir, "volumeMounts": mounts}
    pod = pod_spec(options, [container], volumes, init, options.restart_policy)
    add_scheduler(pod, options)  # the pod-group plugin makes the PodGroup; its scheduler must place the pods
    runtime_spec: dict[str, Any] = {
        "mlPolicy": {"numNodes": spec.replica_count, ML_POLICIES[spec.framework]: {}},
        "template": {"spec": {"replicatedJobs": [{"name": NODE_JOB, "template": {
            "metadata": {"labels": {ANCESTOR_LABEL: "trainer"}},
            "spec": {"template": {"metadata": pod_meta, "spec": pod}}}}]}},
    }
    if options.scheduler == "volcano":
        runtime_spec["podGroupPolicy"] = {"volcano": {}}
    elif options.scheduler == "coscheduling":
        runtime_spec["podGroupPolicy"] = {"coscheduling": {"scheduleTimeoutSeconds": options.gang_timeout_seconds}}
    return {"apiVersion": TRAINING_RUNTIME.api_version, "kind": TRAINING_RUNTIME.kind,
            "metadata": {"name": spec.name, "namespace": options.namespace,
                         "labels": {**labels, COMPONENT_LABEL: "training-runtime"}},
            "spec": runtime_spec}


def _plan_jobset(spec: JobSpec, bundle: Bundle, bundle_uri: str, options: ClusterOptions) -> JobPlan:
    basics = job_basics(spec, bundle, bundle_uri, options)
    secrets, workdir = basics.secrets, basics.workdir
    addresses = Addresses(jobset_addresses(spec, options.namespace), JOBSET.port)
    deciding = replica_names(spec)[0][0]
    replicated = []
    for role, role_spec in sorted(spec.roles.items(), key=_role_order):
        # Each role is one replicated Job: its completion index is the replica's index in the role.
        contract_env = template_env(replica_env(spec, role, None, addresses), COMPLETION_INDEX_FIELD)
        env: dict[str, Any] = {**base_env(spec, workdir), **contract_env}
        env.update(secrets.env(role, spec.role_env(role)))
        command = secrets.command(spec, role)
        container = main_container(spec, role, JOBSET, options, env, command, basics.mounts, workdir,
                                   role_spec.resources)
        container["ports"] = [{"name": "submarine", "containerPort": JOBSET.port}]
        pod = pod_spec(options, [container], basics.volumes, basics.init, options.restart_policy)
        add_scheduler(pod, options)
        pod_meta = pod_metadata(basics.labels, options)
        add_pod_group_membership(pod_meta, spec.name, options)
        job_template: dict[str, Any] = {"completionMode": "Indexed", "completions": role_spec.replicas,
                                        "parallelism": role_spec.replicas,
                                        "template": {"metadata": pod_meta, "spec": pod}}
        if options.backoff_limit is not None:
            job_template["backoffLimit"] = options.backoff_limit
        if options.active_deadline_seconds is not None:
            job_template["activeDeadlineSeconds"] = options.active_deadline_seconds
        replicated.append({"name": role, "replicas": 1, "template": {"spec": job_template}})
    job_spec: dict[str, Any] = {
        "network": {"enableDNSHostnames": True, "publishNotReadyAddresses": True},
        "replicatedJobs": replicated,
        # The deciding role (chief, master or worker) ends the job; parameter servers never exit by themselves.
        "successPolicy": {"operator": "All", "targetReplicatedJobs": [deciding]},
        "failurePolicy": {"maxRestarts": 0},
    }
    if options.ttl_seconds_after_finished is not None:
        job_spec["ttlSecondsAfterFinished"] = options.ttl_seconds_after_finished
    if basics.join_queue():
        job_spec["suspend"] = True
    job = {"apiVersion": JOBSET.api_version, "kind": JOBSET.kind, "metadata": basics.metadata, "spec": job_spec}
    return basics.plan(JOBSET, job, pod_group=pod_group(spec, options, basics.labels))
