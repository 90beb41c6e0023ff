"""The jobs of ours a namespace holds, as the cluster lists them, for rebuilding a lost registry
(`Runtime.list_jobs`, `submarine-kernel recover`).

Every job kind is listed with our label selector; a kind the cluster does not serve is skipped. Only top-level
objects count: a JobSet that a TrainJob made, or a Job that a JobSet made, carries our labels from its
template but is part of its owner's job, not a job of its own. The spec comes from the job's spec annotation
(secrets `***`); a job made before it was written gets a bare spec with its name.
"""

from __future__ import annotations

from typing import Any, Mapping

from ...secrets import redact_url
from ..base import ListedJob
from .api_choice import PLAIN_JOB, TRAINER, TRAINING_OPERATOR
from .client import Client
from .create import mounted_sources
from .data import KubernetesJobData
from .kinds import JOBSET, KINDS_BY_PLURAL, TRAINJOB, Kind
from .labels import (BUNDLE_URI_ANNOTATION, JOB_LABEL, NOTEBOOK_ANNOTATION, QUEUE_LABEL, SELECTOR, SPEC_ANNOTATION,
                     configmap_name)

REASON = "rebuilt from the cluster's job list"


def list_jobs(client: Client, namespace: str) -> list[ListedJob]:
    """Our top-level job objects in `namespace`, of every kind the cluster serves, oldest first."""
    listed = []
    for kind in KINDS_BY_PLURAL.values():
        for job in client.list_jobs(kind, namespace, SELECTOR) or ():
            meta = job.get("metadata") or {}
            if meta.get("ownerReferences") or JOB_LABEL not in (meta.get("labels") or {}):
                continue  # made by another job of ours (a TrainJob's JobSet), or not a job we made
            listed.append(_listed(job, kind, namespace))
    return sorted(listed, key=lambda job: (job.submitted or "", job.ref.name))  # created in one second: by name


def _listed(job: Mapping[str, Any], kind: Kind, namespace: str) -> ListedJob:
    meta = job.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    spec = ListedJob.spec_from(meta["name"], annotations.get(SPEC_ANNOTATION))
    delivery = "configmap" if configmap_name(spec.name) in dict(mounted_sources(job)).values() else "storage"
    api = TRAINER if kind in (TRAINJOB, JOBSET) else TRAINING_OPERATOR if kind.operator else PLAIN_JOB
    ref = KubernetesJobData.ref(spec, job, namespace=namespace, plural=kind.plural, kind=kind.kind,
                                container=kind.container, delivery=delivery, api=api, api_reason=REASON,
                                queue=(meta.get("labels") or {}).get(QUEUE_LABEL, ""))
    return ListedJob(ref, spec, redact_url(annotations.get(BUNDLE_URI_ANNOTATION) or ""),
                     annotations.get(NOTEBOOK_ANNOTATION), meta.get("creationTimestamp"))
