"""TensorBoard in the cluster: a one-replica Deployment reading a job's log directory and a Service in
front of it, created (or updated) by `%submarine tensorboard` and deleted by its stop."""

from __future__ import annotations

from typing import Any, Mapping

from ...errors import ValidationError
from .client import AlreadyExists, Client, NotFound
from .labels import COMPONENT_LABEL, JOB_LABEL, MANAGED_BY, MANAGED_BY_LABEL, label_value, tensorboard_name
from .options import ClusterOptions
from .pods import env_list, pod_spec

TENSORBOARD_PORT = 6006


def tensorboard_objects(name: str, logdir: str, options: ClusterOptions, image: str,
                        labels: Mapping[str, str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A one-replica TensorBoard Deployment reading `logdir`, and a Service in front of it."""
    tb_name = tensorboard_name(name)
    tb_labels = {**(labels or {}), MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: "tensorboard",
                 JOB_LABEL: label_value(name)}
    selector = {MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: "tensorboard", "app.kubernetes.io/instance": tb_name}
    container: dict[str, Any] = {
        "name": "tensorboard", "image": image, "imagePullPolicy": options.image_pull_policy,
        "command": ["tensorboard", "--logdir", logdir, "--host", "0.0.0.0", "--port", str(TENSORBOARD_PORT)],
        "ports": [{"name": "http", "containerPort": TENSORBOARD_PORT}],
        "readinessProbe": {"httpGet": {"path": "/", "port": TENSORBOARD_PORT}, "periodSeconds": 10},
    }
    env = {}
    if logdir.startswith(("s3://", "s3a://")):
        if options.s3_endpoint_url:
            env["S3_ENDPOINT"] = options.s3_endpoint_url
            env["AWS_ENDPOINT_URL"] = options.s3_endpoint_url
        if options.s3_region:
            env["AWS_REGION"] = options.s3_region
        if options.s3_credentials_secret:
            container["envFrom"] = [{"secretRef": {"name": options.s3_credentials_secret}}]
    if env:
        container["env"] = env_list(env)
    pod = pod_spec(options, [container], [], [])
    pod.pop("volumes")
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": tb_name, "namespace": options.namespace, "labels": {**tb_labels, **selector}},
        "spec": {"replicas": 1, "selector": {"matchLabels": selector},
                 "template": {"metadata": {"labels": {**tb_labels, **selector}}, "spec": pod}},
    }
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": tb_name, "namespace": options.namespace, "labels": {**tb_labels, **selector}},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": TENSORBOARD_PORT,
                                                  "targetPort": TENSORBOARD_PORT}]},
    }
    return deployment, service


def start(client: Client, name: str, logdir: str, options: ClusterOptions, image: str) -> str:
    """Create (or update) the TensorBoard of `name`; return its in-cluster URL."""
    if not logdir:
        raise ValidationError("TensorBoard needs a log directory: pass --checkpoint PATH")
    if not logdir.startswith(("s3://", "s3a://", "gs://", "hdfs://")):
        raise ValidationError(f"TensorBoard runs in the cluster and cannot read {logdir!r}: use a checkpoint "
                              "path on s3://, gs:// or hdfs://")
    deployment, service = tensorboard_objects(name, logdir, options, image)
    tb_name = deployment["metadata"]["name"]
    try:
        client.create(deployment)
    except AlreadyExists:
        client.call("update", f"Deployment {tb_name!r}", client.apps.patch_namespaced_deployment, tb_name,
                    options.namespace, deployment)
    try:
        client.create(service)
    except AlreadyExists:
        pass  # the same selector and port: nothing to change
    return f"http://{tb_name}.{options.namespace}.svc:{TENSORBOARD_PORT}/"


def stop(client: Client, name: str, namespace: str) -> bool:
    """Delete the TensorBoard Deployment and Service of `name`; False when there was none."""
    tb_name = tensorboard_name(name)
    found = False
    for what, delete in ((f"Deployment {tb_name!r}", client.apps.delete_namespaced_deployment),
                         (f"Service {tb_name!r}", client.core.delete_namespaced_service)):
        try:
            client.call("delete", what, delete, tb_name, namespace, propagation_policy="Background")
            found = True
        except NotFound:
            pass
    return found
