"""A job's status from what YARN reports: the RM application (state + final status) once its id is known,
the service's own state before that, and each container as the JobSpec replica it runs (`worker-1`).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Iterable, Iterator, Mapping

from ...errors import SubmarineError
from ...job_types import JobState, JobStatus, ReplicaStatus
from ...net.http import one_line
from .service import ComponentPlan, role_of_instance

#: RM application state (+ final status) → standard state
APP_STATES = {"NEW": JobState.SUBMITTED, "NEW_SAVING": JobState.SUBMITTED, "SUBMITTED": JobState.SUBMITTED,
              "ACCEPTED": JobState.PENDING, "RUNNING": JobState.RUNNING, "KILLED": JobState.STOPPED,
              "FAILED": JobState.FAILED}
FINAL_STATES = {"SUCCEEDED": JobState.SUCCEEDED, "FAILED": JobState.FAILED, "KILLED": JobState.STOPPED,
                "ENDED": JobState.STOPPED, "UNDEFINED": JobState.STOPPED}
#: service state (GET /app/v1/services/{name}) → standard state, used until the RM app is known
SERVICE_STATES = {"ACCEPTED": JobState.PENDING, "STARTED": JobState.RUNNING, "STABLE": JobState.RUNNING,
                  "FLEX": JobState.RUNNING, "UPGRADING": JobState.RUNNING, "SUCCEEDED": JobState.SUCCEEDED,
                  "FAILED": JobState.FAILED, "STOPPED": JobState.STOPPED}
CONTAINER_STATES = {"RUNNING_BUT_UNREADY": JobState.RUNNING, "READY": JobState.RUNNING,
                    "SUCCEEDED": JobState.SUCCEEDED, "FAILED": JobState.FAILED, "STOPPED": JobState.STOPPED,
                    "UPGRADING": JobState.RUNNING, "NEEDS_UPGRADE": JobState.RUNNING}


def iso(ms: Any) -> str | None:
    """Milliseconds since the epoch (as YARN reports times) as an ISO time; None for 0 or junk."""
    try:
        ms = int(ms or 0)
    except (TypeError, ValueError):
        return None
    if ms <= 0:
        return None
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).isoformat(timespec="seconds")


#: what the RM writes into a running application's diagnostics when its AM asked for a container bigger
#: than the scheduler's maximum allocation: the service waits forever, so the job has failed
UNSCHEDULABLE = "Invalid resource request"


def unschedulable(app: Mapping) -> bool:
    return app.get("state") in ("ACCEPTED", "RUNNING") and UNSCHEDULABLE in str(app.get("diagnostics") or "")


def status_from_app(app: Mapping, links: dict[str, str]) -> JobStatus:
    """The status of a job whose RM application is known (`links` gets its tracking and AM log pages)."""
    state, final = str(app.get("state", "")), str(app.get("finalStatus", "UNDEFINED"))
    if unschedulable(app):
        return JobStatus(JobState.FAILED, f"{state}/UNSCHEDULABLE", submitted=iso(app.get("startedTime")),
                         started=iso(app.get("launchTime")), links=links,
                         message="YARN can never give this job's containers (stopped): "
                                 + one_line(app.get("diagnostics", ""), 1000))
    if state == "FINISHED":
        standard = FINAL_STATES.get(final, JobState.UNKNOWN)
    else:
        standard = APP_STATES.get(state, JobState.UNKNOWN)
        if state == "FAILED" or final == "FAILED":
            standard = JobState.FAILED
    raw = state if final in ("", "UNDEFINED") else f"{state}/{final}"
    if app.get("trackingUrl"):
        links["tracking"] = app["trackingUrl"]
    if app.get("amContainerLogs"):
        links["am_logs"] = app["amContainerLogs"]
    return JobStatus(standard, raw, submitted=iso(app.get("startedTime")), started=iso(app.get("launchTime")),
                     finished=iso(app.get("finishedTime")), message=one_line(app.get("diagnostics", ""), 1000),
                     links=links)


def status_from_service(name: str, service: Mapping | None, submitted_ms: int, links: dict[str, str]) -> JobStatus:
    """The status of a job whose application id is not known yet, from its service (None: no such service)."""
    if service is None:
        return JobStatus(JobState.UNKNOWN, "not found", message=f"YARN knows no service {name!r} "
                         "(destroyed, or never created)", links=links)
    raw = str(service.get("state") or "ACCEPTED")
    return JobStatus(SERVICE_STATES.get(raw, JobState.SUBMITTED), raw, submitted=iso(submitted_ms), links=links)


def _containers(plans: Iterable[ComponentPlan], service: Mapping
                ) -> Iterator[tuple[str, tuple[str, int] | None, dict]]:
    """(component instance name, JobSpec (role, index) or None for TensorBoard, container) of each container."""
    plans = list(plans)
    for component in service.get("components") or []:
        for container in component.get("containers") or []:
            instance = container.get("component_instance_name", "")
            yield instance, role_of_instance(plans, instance), container


def replicas(plans: Iterable[ComponentPlan], service: Mapping) -> list[ReplicaStatus]:
    """Each training replica's state from the service's containers (TensorBoard is not one)."""
    found = []
    for _, role_index, container in _containers(plans, service):
        if role_index is None:
            continue
        (role, index), raw = role_index, str(container.get("state") or "")
        found.append(ReplicaStatus(f"{role}-{index}", role, index, CONTAINER_STATES.get(raw, JobState.UNKNOWN), raw,
                                   host=container.get("bare_host") or container.get("hostname"),
                                   started=iso(container.get("launch_time"))))  # milliseconds
    return sorted(found, key=lambda r: (r.role, r.index))


def replica_containers(plans: Iterable[ComponentPlan], service: Mapping) -> dict[str, tuple[str, str]]:
    """Each training replica's (container id, host) (TensorBoard is not one)."""
    return {f"{role_index[0]}-{role_index[1]}": (container["id"], container.get("bare_host")
                                                   or container.get("hostname", ""))
            for _, role_index, container in _containers(plans, service) if role_index and container.get("id")}


def listed_container(plans: Iterable[ComponentPlan], service: Mapping, wanted: str) -> dict | None:
    """The container of `wanted` in the service's answer: a JobSpec replica name (`worker-1`) first, else a
    YARN component instance name (`master-0`, `tensorboard-0`); None when the answer does not list it."""
    by_replica, by_instance = {}, {}
    for instance, role_index, container in _containers(plans, service):
        by_instance[instance] = container
        if role_index:
            by_replica[f"{role_index[0]}-{role_index[1]}"] = container
    return by_replica.get(wanted) or by_instance.get(wanted)


def find_container(plans: Iterable[ComponentPlan], service: Mapping, job: str, wanted: str,
                   ended: bool = False) -> tuple[str, str]:
    """(container id, host) of `wanted` (see `listed_container`), or one line naming the replicas there are;
    `ended` (the service is over, and `service` lists every container it launched) words it for a replica that
    never ran: YARN withdraws a component's pending container requests when the job ends with its deciding
    replica, so a replica still waiting for room then never starts and has no log."""
    plans = list(plans)
    container = listed_container(plans, service, wanted)
    if container is None:
        listed = list(_containers(plans, service))
        names = sorted(f"{r[0]}-{r[1]}" for _, r, _ in listed if r) or sorted(instance for instance, _, _ in listed)
        replicas = {f"{p.role}-{p.role_index(i)}" for p in plans for i in range(p.count)}
        if ended and wanted in replicas:
            raise SubmarineError(f"replica {wanted} of job {job!r} never started: the job ended before YARN gave "
                                 f"it a container, so it has no log; the replicas that ran: "
                                 f"{', '.join(names) or '(none)'}")
        raise SubmarineError(f"job {job!r} has no running container {wanted!r} yet: use one of "
                             f"{', '.join(names) or '(none started)'}")
    return container["id"], container.get("bare_host") or container.get("hostname", "")
