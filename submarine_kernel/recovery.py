"""Rebuilding the job registry after it was damaged and moved aside: every local job folder holds its own
description (job.json, secrets redacted), so its row can be written again; the job's state is then read
from the folder like any other job's.

Jobs on clusters are not in any local folder: re-attach them by name after a rebuild
(`%submarine status NAME` reads the cluster), or find them in the cluster's own list.
"""

from __future__ import annotations

import json
from pathlib import Path

from .registry import Registry
from .job_types import JobState, JobStatus
from .runtimes.local.data import LocalJobData
from .spec import JobSpec


def rebuild_local(registry: Registry, jobs_dir: str | Path) -> list[str]:
    """Write a registry row for every local job folder that has none; returns the names added."""
    added = []
    root = Path(jobs_dir)
    if not root.is_dir():
        return added
    known = {(r.ref.runtime, r.ref.name) for r in registry.list()}
    for job_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            job = json.loads((job_dir / "job.json").read_text())
        except (OSError, ValueError):
            continue  # a folder an interrupted submission left: nothing ran from it
        name = job.get("name") or job_dir.name
        if ("local", name) in known:
            continue
        try:
            spec = JobSpec.from_dict(job["spec"])
        except (KeyError, TypeError, ValueError):  # a folder written before job.json carried its spec
            spec = JobSpec(name=name, framework="custom", roles={})
        ref = LocalJobData.ref(name, job_dir)
        status = JobStatus(JobState.SUBMITTED, "rebuilt", submitted=job.get("submitted"),
                           message="rebuilt from its job folder")
        registry.add(ref, spec, job.get("bundle_uri"), None, status)
        added.append(name)
    return added
