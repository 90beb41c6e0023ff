"""The Python API: `import submarine_kernel as sk; job = sk.submit(...); job.wait()`."""

from __future__ import annotations

from typing import Any, Mapping

from .request import RunRequest
from .job_handle import Job
from .session import default_session


def submit(command: str | None = None, *, files: Mapping[str, str | bytes] | None = None,
           notebook: str | None = None, name: str | None = None, framework: str | None = None,
           workers: int = 1, ps: int = 0, chief: bool = False, resources: str | Mapping[str, str] | None = None,
           image: str | None = None, env: Mapping[str, str] | None = None, input_path: str | None = None,
           checkpoint_path: str | None = None, params: Mapping[str, Any] | None = None,
           labels: Mapping[str, str] | None = None, runtime: str | None = None, wait: bool = False,
           dry_run: bool = False) -> Job | str:
    """Submit a distributed job and return it (or, with `dry_run`, what the runtime would receive).

    The algorithm files are `files` (name → text), the `%%submarine` cells of a saved `notebook`, or the
    cells collected so far in this kernel. `workers` counts every training replica, as Hadoop Submarine's
    `--num_workers` did. Nothing is uploaded or started when a check fails.
    """
    session = default_session()
    request = RunRequest(command=command, runtime=runtime, name=name, framework=framework, workers=workers,
                         ps=ps, chief=chief, resources=resources, image=image, env=env, input_path=input_path,
                         checkpoint_path=checkpoint_path, params=params, labels=labels)
    job = session.run(request, dry_run=dry_run, files=files, notebook=notebook)
    if wait and not dry_run:
        job.wait()
    return job


def job(name: str) -> Job:
    """A job of the registry, by name (the newest of that name)."""
    return default_session().job(name)


def jobs(notebook: str | None = None) -> list[Job]:
    """Every job the registry knows, newest first (only one notebook's when given)."""
    session = default_session()
    return [Job(session, record.ref, record.spec) for record in session.records(notebook=notebook)]
