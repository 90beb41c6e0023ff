"""Rebuilding the job registry after it was damaged and moved aside, from what the runtimes themselves keep:
the local runtime's job folders (each holds its job.json, secrets redacted), the Kubernetes job objects and
the YARN services submarine-kernel made (each carries its spec, secrets redacted). `Runtime.list_jobs` says
what a runtime has; a row is written for each job the registry lacks, and its state is then read once.
"""

from __future__ import annotations

from .errors import SubmarineError
from .job_types import JobState, JobStatus
from .registry import Registry
from .runtimes.base import Runtime


def rebuild(registry: Registry, runtime: Runtime) -> list[str]:
    """Write a registry row for every job `runtime` lists that the registry has no readable row of (a row it
    skips as damaged is replaced); returns the names added. Raises what listing raises (NotImplementedError
    for a runtime that keeps no list, SubmarineError when it cannot be reached)."""
    known = {(record.ref.runtime, record.ref.name) for record in registry.list()}
    added = [job for job in runtime.list_jobs() if (job.ref.runtime, job.ref.name) not in known]
    for job in added:
        status = JobStatus(JobState.SUBMITTED, "rebuilt", submitted=job.submitted,
                           message=f"rebuilt from the {runtime.name} runtime's own list")
        registry.add(job.ref, job.spec, job.bundle_uri, job.notebook, status)
    if added:
        try:
            statuses = runtime.poll([job.ref for job in added])
        except SubmarineError:
            statuses = {}  # the rows stand; the next status check reads their states
        for job in added:
            status = statuses.get(job.ref.key)
            if status is not None and not status.stale:
                registry.update_status(job.ref, status)
    return [job.ref.name for job in added]
