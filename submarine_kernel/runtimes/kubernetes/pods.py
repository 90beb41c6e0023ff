"""Pieces of every pod the runtime makes: resources, env entries, the pod spec and metadata from the
cluster options, the main container, and gang scheduling (schedulerName, pod-group membership, PodGroup)."""

from __future__ import annotations

import posixpath
from typing import Any, Mapping

from ...contract import ALGORITHM_DIR, Indexed, Value
from ...resources import Resources
from ...spec import JobSpec
from .kinds import Kind
from .labels import COMPONENT_LABEL, COSCHEDULING_GROUP_LABEL, VOLCANO_GROUP_ANNOTATION
from .options import ClusterOptions

#: the scheduler a pod-group plugin needs when KubernetesRuntime.scheduler_name does not say
SCHEDULER_NAMES = {"volcano": "volcano", "coscheduling": "scheduler-plugins-scheduler"}


def container_resources(resources: Resources, limit_cpu: bool = True) -> dict[str, dict[str, str]]:
    """requests and limits; GPUs and other extended resources as limits equal to requests."""
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if resources.cpus is not None:
        cpu = str(int(resources.cpus)) if float(resources.cpus).is_integer() else f"{round(resources.cpus * 1000)}m"
        requests["cpu"] = cpu
        if limit_cpu:
            limits["cpu"] = cpu
    if resources.memory_mib is not None:
        requests["memory"] = limits["memory"] = f"{resources.memory_mib}Mi"
    if resources.gpus:
        requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(resources.gpus)
    for name, count in resources.other.items():
        if count:
            requests[name] = limits[name] = str(count)
    out = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def env_list(env: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Kubernetes env entries; a value that is a dict is a `valueFrom` source."""
    return [{"name": k, "valueFrom": v} if isinstance(v, Mapping) else {"name": k, "value": str(v)}
            for k, v in env.items()]


def pod_spec(options: ClusterOptions, containers: list[dict], volumes: list[dict], init: list[dict],
              restart_policy: str | None = None, subdomain: str | None = None) -> dict[str, Any]:
    pod: dict[str, Any] = {}
    if options.service_account:
        pod["serviceAccountName"] = options.service_account
    if options.priority_class:
        pod["priorityClassName"] = options.priority_class
    if options.node_selector:
        pod["nodeSelector"] = dict(options.node_selector)
    if options.tolerations:
        pod["tolerations"] = [dict(t) for t in options.tolerations]
    if options.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": name} for name in options.image_pull_secrets]
    if restart_policy:
        pod["restartPolicy"] = restart_policy
    if subdomain:
        pod["subdomain"] = subdomain
    if init:
        pod["initContainers"] = init
    pod["containers"] = containers
    pod["volumes"] = volumes
    return pod


def pod_metadata(labels: Mapping[str, str], options: ClusterOptions) -> dict[str, Any]:
    meta: dict[str, Any] = {"labels": dict(labels)}
    if options.pod_annotations:
        meta["annotations"] = dict(options.pod_annotations)
    return meta


def base_env(spec: JobSpec, workdir: str) -> dict[str, Any]:
    return {"PYTHONPATH": f"{posixpath.join(workdir, ALGORITHM_DIR)}:{workdir}"}


def template_env(values: Mapping[str, Value], index_field: str) -> dict[str, Any]:
    """The contract's index-free values (`contract.replica_env(..., index=None, ...)`) for a pod template that
    serves every replica of a role: SUBMARINE_REPLICA_INDEX from the pod's `index_field` (downward API), and
    the values holding the index through Kubernetes' `$(SUBMARINE_REPLICA_INDEX)` expansion (it expands
    variables defined before; replica_env gives SUBMARINE_REPLICA_INDEX first)."""
    env: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(value, Indexed):
            env[key] = value
        elif key == "SUBMARINE_REPLICA_INDEX":
            env[key] = {"fieldRef": {"fieldPath": index_field}}
        elif value.offset == 0:
            env[key] = f"{value.before}$(SUBMARINE_REPLICA_INDEX){value.after}"
        else:  # the kubelet does no arithmetic; roles whose ranks are offset (a master) get a pod per index
            raise ValueError(f"{key} needs the index plus {value.offset}: give each replica its own values")
    return env


def main_container(spec: JobSpec, role: str, kind: Kind, options: ClusterOptions, env: Mapping[str, Any],
               script: str, mounts: list[dict], workdir: str, resources: Resources) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": kind.container,
        "image": spec.role_image(role) or "",
        "imagePullPolicy": options.image_pull_policy,
        "command": ["/bin/sh", "-c", script],
        "workingDir": workdir,
        "env": env_list(env),
        "volumeMounts": mounts,
    }
    resources_dict = container_resources(resources, options.limit_cpu)
    if resources_dict:
        container["resources"] = resources_dict
    if not kind.operator:
        container["ports"] = [{"name": "submarine", "containerPort": kind.port}]
    return container


def add_scheduler(pod: dict, options: ClusterOptions) -> None:
    """The pod's schedulerName for gang scheduling (nothing for the default scheduler)."""
    if options.scheduler != "default":
        pod["schedulerName"] = options.scheduler_name or SCHEDULER_NAMES[options.scheduler]


def add_pod_group_membership(pod_metadata: dict, group: str, options: ClusterOptions) -> None:
    """Mark the pod a member of PodGroup `group` the way its scheduler looks for it."""
    if options.scheduler == "volcano":
        pod_metadata.setdefault("annotations", {})[VOLCANO_GROUP_ANNOTATION] = group
    elif options.scheduler == "coscheduling":
        pod_metadata.setdefault("labels", {})[COSCHEDULING_GROUP_LABEL] = group


def pod_group(spec: JobSpec, options: ClusterOptions, labels: Mapping[str, str]) -> dict[str, Any] | None:
    """The PodGroup that makes the scheduler start all replicas or none (None for the default scheduler)."""
    if options.scheduler == "default":
        return None
    meta = {"name": spec.name, "namespace": options.namespace, "labels": {**labels, COMPONENT_LABEL: "pod-group"}}
    if options.scheduler == "volcano":
        return {"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup", "metadata": meta,
                "spec": {"minMember": spec.replica_count}}
    return {"apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup", "metadata": meta,
            "spec": {"minMember": spec.replica_count, "scheduleTimeoutSeconds": options.gang_timeout_seconds}}
