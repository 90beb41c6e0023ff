"""How the runtime marks and names its objects: our labels and annotations, the ones the controllers put
on pods that we read, and the names of the objects a job owns."""

from __future__ import annotations

import re
from typing import Any

from ...spec import JobSpec

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "submarine-kernel"
COMPONENT_LABEL = "app.kubernetes.io/component"
JOB_LABEL = "submarine-kernel/job"
#: labels the training operator puts on every pod it creates
OPERATOR_JOB_NAME_LABEL = "training.kubeflow.org/job-name"
OPERATOR_REPLICA_TYPE_LABEL = "training.kubeflow.org/replica-type"
OPERATOR_REPLICA_INDEX_LABEL = "training.kubeflow.org/replica-index"
#: label the Job controller puts on Indexed Job pods (Kubernetes 1.28+)
COMPLETION_INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
#: labels JobSet puts on its pods (a TrainJob runs as a JobSet)
JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
REPLICATED_JOB_LABEL = "jobset.sigs.k8s.io/replicatedjob-name"
DIGEST_ANNOTATION = "submarine-kernel/bundle-digest"
BUNDLE_URI_ANNOTATION = "submarine-kernel/bundle-uri"
#: the spec the job was submitted with (JSON, secrets `***`) and its notebook, so that a lost registry's rows
#: can be rebuilt from the cluster's own list (`submarine-kernel recover`), as kubectl keeps last-applied
SPEC_ANNOTATION = "submarine-kernel/spec"
NOTEBOOK_ANNOTATION = "submarine-kernel/notebook"
#: Kueue's LocalQueue of a job
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
#: pod-group membership, as each gang scheduler looks for it
VOLCANO_GROUP_ANNOTATION = "scheduling.k8s.io/group-name"
COSCHEDULING_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"
#: set on a job that `stop` suspended, so that its status says STOPPED after a kernel restart too
STOPPED_ANNOTATION = "submarine-kernel/stopped"
#: the label selector of every list and watch: only objects we made
SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"

_LABEL_VALUE_BAD = re.compile(r"[^-_.a-zA-Z0-9]")


def label_value(value: Any) -> str:
    """`value` made a valid label value: at most 63 of [-_.a-zA-Z0-9], alphanumeric at both ends."""
    text = _LABEL_VALUE_BAD.sub("-", str(value))[:63]
    return re.sub(r"^[^a-zA-Z0-9]+|[^a-zA-Z0-9]+$", "", text)


def env_name_part(text: str) -> str:
    """`text` usable inside an environment variable's name (upper case, `_` for anything else)."""
    return _LABEL_VALUE_BAD.sub("_", text).upper()


def job_labels(spec: JobSpec) -> dict[str, str]:
    """The caller's labels (notebook, user...) plus the managed-by and job-name labels."""
    labels = {key: label_value(value) for key, value in spec.labels.items()}
    labels[MANAGED_BY_LABEL] = MANAGED_BY
    labels[JOB_LABEL] = label_value(spec.name)
    return labels


def managed(obj: dict) -> bool:
    """Whether we made `obj`. The selector is sent too; checking again keeps foreign objects out where a
    server ignores it."""
    return ((obj.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY


def configmap_name(job_name: str) -> str:
    return f"{job_name}-algorithm"


def secret_name(job_name: str) -> str:
    return f"{job_name}-secrets"


def tensorboard_name(name: str) -> str:
    """A DNS-1035 name for the TensorBoard Deployment and Service of `name` (at most 63 characters)."""
    from ...names import DNS1035_MAX, sanitize

    return f"{sanitize(name, DNS1035_MAX - len('-tensorboard'))}-tensorboard"
