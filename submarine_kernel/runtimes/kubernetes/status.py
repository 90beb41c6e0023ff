"""A job's status from what the watch caches hold: the job object's conditions (each kind words them its own
way), its pods (one replica each; a retried replica's newest pod wins), Kueue's suspension, and a stop of
ours. Nothing here makes a request."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

from ...job_types import JobRef, JobState, JobStatus, ReplicaStatus
from .data import KubernetesJobData
from .kinds import TRAINJOB, Kind, kind_of_plural
from .labels import (COMPLETION_INDEX_LABEL, JOB_LABEL, JOBSET_NAME_LABEL, OPERATOR_JOB_NAME_LABEL,
                     OPERATOR_REPLICA_INDEX_LABEL, OPERATOR_REPLICA_TYPE_LABEL, QUEUE_LABEL, REPLICATED_JOB_LABEL,
                     STOPPED_ANNOTATION)
from .trainer import NODE_JOB
from .watch import ResourceWatch

OPERATOR_STATES = {
    "Created": JobState.PENDING, "Running": JobState.RUNNING, "Restarting": JobState.RUNNING,
    "Suspended": JobState.PENDING, "Succeeded": JobState.SUCCEEDED, "Failed": JobState.FAILED,
}
NO_POD = "NoPod"  # the raw state of a replica whose pod is not (or no longer) there
POD_STATES = {"Pending": JobState.PENDING, "Running": JobState.RUNNING, "Succeeded": JobState.SUCCEEDED,
              "Failed": JobState.FAILED}
#: container waiting reasons that will not fix themselves, with what to do about them
STUCK_REASONS = {
    "ErrImagePull": "check the image name and KubernetesRuntime.image_pull_secrets",
    "ImagePullBackOff": "check the image name and KubernetesRuntime.image_pull_secrets",
    "InvalidImageName": "fix the image name",
    "CreateContainerConfigError": "a referenced Secret or ConfigMap is missing",
}


def job_status(ref: JobRef, jobs: ResourceWatch, pods: ResourceWatch, namespace: str, stopped: bool,
               links: dict[str, str]) -> JobStatus:
    """The status of `ref` from the watch caches of its job kind and of pods in its `namespace`; `stopped`:
    this process stopped it (a job gone since then was stopped, not lost)."""
    data = KubernetesJobData.of(ref)
    kind = kind_of_plural(data.plural)
    obj, gone = jobs.lookup(ref.name)
    if obj is not None and ref.id and obj["metadata"].get("uid") not in (None, ref.id):
        obj, gone = None, None  # a newer job of the same name: ours is gone
    job_pods = [p for p in pods.items() if pod_job(p) == ref.name]
    if obj is None:
        if gone is not None and (not ref.id or gone["metadata"].get("uid") in (None, ref.id)):
            status = object_status(gone, kind, data, job_pods, links)
            if not status.terminal:
                status.state, status.raw_state = JobState.STOPPED, "Deleted"
                status.message = status.message or "the job was deleted"
            return status
        if stopped:
            return JobStatus(JobState.STOPPED, "Deleted", message="stopped", links=links)
        if not jobs.synced.is_set():
            return JobStatus(JobState.UNKNOWN, "", message=jobs.error or "waiting for the cluster",
                             stale=True, links=links)
        return JobStatus(JobState.UNKNOWN, "NotFound", stale=not jobs.connected, links=links,
                         message=f"no {kind.kind} {ref.name!r} in namespace {namespace!r}: "
                                 "deleted, or removed ttlSecondsAfterFinished after it ended")
    status = object_status(obj, kind, data, job_pods, links)
    status.stale = not jobs.connected
    if status.stale and jobs.error:
        status.message = f"status may be out of date ({jobs.error})"
    return status


def object_status(obj: Mapping[str, Any], kind: Kind, data: KubernetesJobData, pods: list[dict],
                  links: dict[str, str]) -> JobStatus:
    """The status a job object's conditions and its pods say."""
    raw_status = obj.get("status") or {}
    conditions = [c for c in raw_status.get("conditions") or [] if c.get("status") == "True"]
    replicas = replica_statuses(data, pods)
    if kind.custom and not kind.operator:  # pods cleaned up: the child Jobs' counts still say how it went
        replicas = [replica_from_jobs(r, raw_status, kind is TRAINJOB) for r in replicas]
    decided = None
    if kind.operator:
        # The operator appends conditions; a terminal one is the state, else the last one.
        terminal = [c for c in conditions if c.get("type") in ("Succeeded", "Failed")]
        decided = (terminal or conditions or [None])[-1]
        state = OPERATOR_STATES.get(decided.get("type"), JobState.UNKNOWN) if decided else JobState.SUBMITTED
        raw = decided.get("type", "") if decided else ""
    elif kind.custom:  # TrainJob, JobSet
        state, decided = condition_state(conditions)
        active = active_jobs(raw_status)
        if state is None:
            running = any(r.state == JobState.RUNNING for r in replicas)
            state = JobState.RUNNING if running else JobState.PENDING if active else JobState.SUBMITTED
        raw = decided.get("type", "") if decided else ("Active" if active else "")
    else:
        by_type = {c.get("type"): c for c in conditions}
        if "Complete" in by_type or "SuccessCriteriaMet" in by_type:
            decided = by_type.get("Complete") or by_type["SuccessCriteriaMet"]
            state = JobState.SUCCEEDED
        elif "Failed" in by_type or "FailureTarget" in by_type:
            decided = by_type.get("Failed") or by_type["FailureTarget"]
            state = JobState.FAILED
        elif "Suspended" in by_type:
            decided, state = by_type["Suspended"], JobState.PENDING
        elif raw_status.get("active") or any(r.raw_state != NO_POD for r in replicas):
            # pods can show up in the pod watch before the Job controller counts them active
            state = JobState.RUNNING if any(r.state == JobState.RUNNING for r in replicas) else JobState.PENDING
        else:
            state = JobState.SUBMITTED
        raw = decided.get("type", "") if decided else ("Active" if raw_status.get("active") else "")
    if state.terminal:
        # A job decided by its deciding replica (successPolicy) ends the others wherever they were, even
        # still starting: they are stopped, not pending in a finished job.
        replicas = [r if r.state.terminal else replace(r, state=JobState.STOPPED) for r in replicas]
    finished = raw_status.get("completionTime")
    if state.terminal and not finished and decided:
        finished = decided.get("lastTransitionTime")
    message = (decided or {}).get("message", "") or ""
    queue = ((obj.get("metadata") or {}).get("labels") or {}).get(QUEUE_LABEL)
    stopped = ((obj.get("metadata") or {}).get("annotations") or {}).get(STOPPED_ANNOTATION) == "true"
    if stopped and not state.terminal and suspended(obj):
        state, raw, message = JobState.STOPPED, "Suspended", "suspended by stop"
    elif queue and not state.terminal and state != JobState.RUNNING and suspended(obj):
        # Kueue holds it suspended until the LocalQueue admits it: waiting, not stuck
        state, raw, message = JobState.PENDING, "Queued", f"waiting in queue {queue!r}"
    stuck = [f"{r.name}: {r.raw_state} ({STUCK_REASONS[r.raw_state]})" for r in replicas
             if r.raw_state in STUCK_REASONS]
    if stuck and not state.terminal:
        message = "; ".join(stuck)
    elif state == JobState.FAILED and not message:
        failed = [f"{r.name} exited {r.exit_code}" for r in replicas if r.state == JobState.FAILED]
        message = ", ".join(failed)
    return JobStatus(state=state, raw_state=raw, submitted=obj.get("metadata", {}).get("creationTimestamp"),
                     started=raw_status.get("startTime") or first_start(replicas),
                     finished=finished if state.terminal else None,
                     replicas=replicas, message=message, links=links)


def first_start(replicas: Sequence[ReplicaStatus]) -> str | None:
    """A TrainJob or JobSet keeps no startTime: its first replica's start is the job's."""
    return min((r.started for r in replicas if r.started), default=None)


def suspended(obj: Mapping[str, Any]) -> bool:
    spec = obj.get("spec") or {}
    return bool(spec.get("suspend") or (spec.get("runPolicy") or {}).get("suspend"))


def pod_job(pod: Mapping[str, Any]) -> str | None:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return labels.get(JOB_LABEL) or labels.get(OPERATOR_JOB_NAME_LABEL) or labels.get(JOBSET_NAME_LABEL)


def pod_replica(pod: Mapping[str, Any], data: KubernetesJobData) -> str | None:
    """`worker-1`: from the operator's labels, or from the Indexed Job's completion index."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    if OPERATOR_REPLICA_TYPE_LABEL in labels:
        return f"{labels[OPERATOR_REPLICA_TYPE_LABEL].lower()}-{labels.get(OPERATOR_REPLICA_INDEX_LABEL, '0')}"
    names = list(data.replicas)
    if REPLICATED_JOB_LABEL in labels:  # a JobSet's pod (a TrainJob runs as one)
        return jobset_pod_replica(labels, meta.get("annotations") or {}, names)
    index = labels.get(COMPLETION_INDEX_LABEL) or (meta.get("annotations") or {}).get(COMPLETION_INDEX_LABEL)
    if index is not None and str(index).isdigit() and int(index) < len(names):
        return names[int(index)]
    return None


def replica_statuses(data: KubernetesJobData, pods: list[dict]) -> list[ReplicaStatus]:
    latest: dict[str, dict] = {}
    for pod in sorted(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or ""):
        replica = pod_replica(pod, data)
        if replica:
            latest[replica] = pod  # a retried replica's newest pod wins
    out = []
    container = data.container
    for name in data.replicas or sorted(latest):
        role, _, index = name.rpartition("-")
        pod = latest.get(name)
        if pod is None:
            out.append(ReplicaStatus(name, role, int(index) if index.isdigit() else 0, JobState.PENDING, NO_POD))
            continue
        status = pod.get("status") or {}
        phase = status.get("phase") or "Unknown"
        statuses = status.get("containerStatuses") or []
        current = next((c for c in statuses if c.get("name") == container), statuses[0] if statuses else {})
        state = current.get("state") or {}
        raw = (state.get("waiting") or {}).get("reason") or phase
        terminated = state.get("terminated") or (current.get("lastState") or {}).get("terminated") or {}
        out.append(ReplicaStatus(
            name=name, role=role, index=int(index) if index.isdigit() else 0,
            state=POD_STATES.get(phase, JobState.UNKNOWN), raw_state=raw, exit_code=terminated.get("exitCode"),
            host=(pod.get("spec") or {}).get("nodeName") or status.get("podIP"), started=status.get("startTime"),
            finished=terminated.get("finishedAt")))
    return out


def jobset_pod_replica(labels: Mapping[str, str], annotations: Mapping[str, str], names: list[str]) -> str | None:
    """`worker-1` of a JobSet pod: its replicated Job and completion index (node i is the i-th replica)."""
    rjob = labels.get(REPLICATED_JOB_LABEL)
    if rjob is None:
        return None
    index = labels.get(COMPLETION_INDEX_LABEL) or annotations.get(COMPLETION_INDEX_LABEL)
    if index is None or not str(index).isdigit():
        return None
    if rjob == NODE_JOB:
        return names[int(index)] if int(index) < len(names) else None
    return f"{rjob}-{index}"


def condition_state(conditions: list[dict]) -> tuple[JobState | None, dict | None]:
    """The state the True conditions of a TrainJob (Complete, Failed, Suspended) or a JobSet (Completed,
    Failed, Suspended) decide; (None, None) while they decide nothing (the job runs or waits for pods)."""
    by_type = {c.get("type"): c for c in conditions}
    for kind, state in (("Complete", JobState.SUCCEEDED), ("Completed", JobState.SUCCEEDED),
                        ("Failed", JobState.FAILED), ("Suspended", JobState.PENDING)):
        if kind in by_type:
            return state, by_type[kind]
    return None, None


def active_jobs(status: Mapping[str, Any]) -> int:
    """Child Jobs with pods pending or running: TrainJob `jobsStatus`, JobSet `replicatedJobsStatus`."""
    rows = status.get("jobsStatus") or status.get("replicatedJobsStatus") or []
    return sum(int(row.get("active") or 0) for row in rows)


def replica_from_jobs(replica: ReplicaStatus, status: Mapping[str, Any], trainjob: bool) -> ReplicaStatus:
    """A replica without a pod (not created yet, or cleaned up) from its child Job's counts in the TrainJob's
    `jobsStatus` / the JobSet's `replicatedJobsStatus`: a Job that succeeded ran every index to success."""
    if replica.raw_state != NO_POD:
        return replica
    name = NODE_JOB if trainjob else replica.role
    row = next((r for r in status.get("jobsStatus") or status.get("replicatedJobsStatus") or []
                if r.get("name") == name), None)
    if row is None:
        return replica
    if row.get("succeeded"):
        return replace(replica, state=JobState.SUCCEEDED, raw_state="JobSucceeded")
    if row.get("failed"):
        return replace(replica, state=JobState.FAILED, raw_state="JobFailed")
    return replica
