"""Our job objects in the cluster: creating a job's objects in order, the one rule for meeting one that exists
already, and finding our jobs again (one submission's for settling, every one for rebuilding a lost registry).

The job goes first so that its uid can own the rest: the garbage collector then deletes them with it, and
nothing is orphaned if the job is refused. A job's own TrainingRuntime (`JobPlan.before`) is the exception:
the TrainJob refers to it, so it goes first and is made owned by the TrainJob once that exists. A create that
meets an object of the same name adopts it when it carries this submission's token (`same_submission`: a
retried or interrupted submission made it), and otherwise says the name is taken.

`list_jobs` (`Runtime.list_jobs`, `submarine-kernel recover`) lists every job kind with our label selector; a
kind the cluster does not serve is skipped. Only top-level objects count: a JobSet that a TrainJob made, or a
Job that a JobSet made, carries our labels from its template but is part of its owner's job, not a job of its
own. The spec comes from the job's spec annotation (secrets `***`); a job made before it was written gets a
bare spec with its name.
"""

from __future__ import annotations

from typing import Any, Mapping

from ...errors import SubmarineError, TransientError
from ...job_types import same_submission
from ...secrets import redact_url
from ...spec import JobSpec
from ..base import ListedJob
from .api_choice import PLAIN_JOB, TRAINER, TRAINING_OPERATOR
from .client import AlreadyExists, Client, describe
from .data import KubernetesJobData
from .kinds import JOBSET, KINDS_BY_PLURAL, TRAINJOB, Kind, custom_kind
from .labels import (BUNDLE_URI_ANNOTATION, JOB_LABEL, NOTEBOOK_ANNOTATION, QUEUE_LABEL, SELECTOR, SPEC_ANNOTATION,
                     configmap_name)
from .manifests import JobPlan, owner_reference

#: why a listed job's API is what it is
LISTED_REASON = "rebuilt from the cluster's job list"


def create_job(client: Client, plan: JobPlan, spec: JobSpec) -> dict[str, Any]:
    """Create every object of `plan`; return the job as the API server answered. A refused job takes what
    was created before it along; a refused owned object takes the job (a TransientError keeps everything:
    the session's retry adopts the job by its token and creates what is missing)."""
    namespace = plan.job["metadata"]["namespace"]
    for obj in plan.before:
        try:
            client.create(obj)
        except AlreadyExists:
            adopt(client, custom_kind(obj), obj, "remove it")
    try:
        created = client.create(plan.job, plan.kind)
    except AlreadyExists:
        # A retried create: the earlier attempt may have made the job and lost its answer.
        created = adopt(client, plan.kind, plan.job, "stop and remove the old job")
    except SubmarineError as exc:
        if not isinstance(exc, TransientError):
            _delete_before(client, plan)
        raise
    try:
        for obj in plan.before:  # now owned by the job: the garbage collector deletes them with it
            client.patch_custom(obj, {"metadata": {"ownerReferences": [owner_reference(created)]}})
        for obj in plan.owned_objects(created):
            try:
                client.create(obj)
            except AlreadyExists:
                _check_owned(client, obj, created)
    except TransientError:
        raise
    except SubmarineError:
        client.delete_job(plan.kind, namespace, spec.name, missing_ok=True)
        _delete_before(client, plan)
        raise
    return created


def ours(client: Client, kind: Kind, namespace: str, name: str,
         labels: Mapping[str, str] | None) -> dict[str, Any] | None:
    """The object `name` of `kind` when the submission labelled `labels` made it; None when there is none,
    or when another made it."""
    found = client.read_job(kind, namespace, name)
    if found is not None and same_submission(labels, (found.get("metadata") or {}).get("labels")):
        return found
    return None


def adopt(client: Client, kind: Kind, obj: Mapping[str, Any], otherwise: str) -> dict[str, Any]:
    """The existing object of `obj`'s name when this submission made it, else the "taken" error saying
    what to do (`otherwise`)."""
    meta = obj["metadata"]
    found = ours(client, kind, meta["namespace"], meta["name"], meta.get("labels"))
    if found is None:
        raise AlreadyExists(f"cannot create {describe(obj)}: it already exists; choose another job name (--name) "
                            f"or {otherwise}")
    return found


def find_job(client: Client, spec: JobSpec, kind: Kind, namespace: str) -> tuple[dict[str, Any], str] | None:
    """(the job this submission made, how its files were delivered) when it has every ConfigMap/Secret it
    mounts; None when there is none. A job of ours lacking one of them is half-created and is deleted (its
    owned objects go with it)."""
    existing = ours(client, kind, namespace, spec.name, spec.labels)
    if existing is None:
        return None
    mounts = mounted_sources(existing)
    for source, name in mounts:
        if client.read_core({"configMap": "ConfigMap", "secret": "Secret"}[source], namespace, name) is None:
            client.delete_job(kind, namespace, spec.name, missing_ok=True)
            return None
    delivery = "configmap" if configmap_name(spec.name) in dict(mounts).values() else "storage"
    return existing, delivery


def mounted_sources(obj: Any) -> list[tuple[str, str]]:
    """("configMap" | "secret", name) of every volume source anywhere in a job's pod templates."""
    found = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "configMap" and isinstance(value, dict) and value.get("name"):
                found.append(("configMap", value["name"]))
            elif key == "secret" and isinstance(value, dict) and (value.get("secretName") or value.get("name")):
                found.append(("secret", value.get("secretName") or value.get("name")))
            else:
                found += mounted_sources(value)
    elif isinstance(obj, list):
        for value in obj:
            found += mounted_sources(value)
    return list(dict.fromkeys(found))


def _check_owned(client: Client, obj: dict[str, Any], owner: Mapping[str, Any]) -> None:
    """An owned object that exists already is fine when the same job owns it (a retried submit)."""
    meta = obj["metadata"]
    found = client.read_core(obj["kind"], meta["namespace"], meta["name"])
    owners = {ref.get("uid") for ref in ((found or {}).get("metadata") or {}).get("ownerReferences") or []}
    if (owner.get("metadata") or {}).get("uid") not in owners:
        raise AlreadyExists(f"cannot create {describe(obj)}: it already exists and belongs to another job; remove it "
                            "or choose another job name (--name)")


def _delete_before(client: Client, plan: JobPlan) -> None:
    for obj in plan.before:
        meta = obj["metadata"]
        try:
            client.delete_job(custom_kind(obj), meta["namespace"], meta["name"], missing_ok=True)
        except SubmarineError:
            pass  # best effort: the original error is the one to show


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
                                container=kind.container, delivery=delivery, api=api, api_reason=LISTED_REASON,
                                queue=(meta.get("labels") or {}).get(QUEUE_LABEL, ""))
    return ListedJob(ref, spec, redact_url(annotations.get(BUNDLE_URI_ANNOTATION) or ""),
                     annotations.get(NOTEBOOK_ANNOTATION), meta.get("creationTimestamp"))
