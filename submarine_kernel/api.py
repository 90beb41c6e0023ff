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


def submit_sweep(command: str | None = None, *, grid: Mapping[str, Any] | None = None,
          random: Mapping[str, Any] | None = None, samples: int = 8, seed: int | None = None,
          metric: str | None = None, direction: str = "min", stop: str = "median", concurrency: int = 2,
          files: Mapping[str, str | bytes] | None = None, notebook: str | None = None, wait: bool = False,
          timeout: float | None = None, **job: Any):
    """Run one job over many params, at most `concurrency` at a time; returns the SweepScheduler.

    `grid` maps a param to its values (every combination runs); `random` maps a param to a range text
    (`0.001..0.1`, `log:1e-4..1e-1`) or a list of choices, drawn `samples` times. With `metric`, Optuna samples
    the runs and the `stop` rule (median, asha or none) stops the runs whose reported `metric` (through
    `submarine_kernel.report`) falls behind; they end STOPPED and show as PRUNED. The other keywords are
    `submit`'s (workers, ps, resources, params, ...).
    """
    from .errors import ValidationError
    from .sweep import Range, check_limit, space_of, start_sweep

    check_limit(concurrency)

    if (grid is None) == (random is None):
        raise ValidationError("pass exactly one of grid={...} (values per param) or random={...} (ranges per param)")
    mode = "grid" if grid is not None else "random"
    stopping = None
    if metric is not None:
        from .pruning import EarlyStopping

        stopping = EarlyStopping(metric, direction, stop)
    session = default_session()
    request = RunRequest(command=command, **job)
    space = space_of(mode, grid if grid is not None else random, request.params or {})
    # every problem of the job itself, before anything is bundled or submitted (a swept param at its first value)
    first = {name: dimension.low if isinstance(dimension, Range) else dimension[0] for name, dimension in space.items()}
    session.build(request.with_changes(params={**(request.params or {}), **first}))
    bundle = session.bundle(files=files, notebook=notebook)
    scheduler = start_sweep(session, request, None, mode, space, samples, seed, stopping, concurrency, bundle)
    if wait:
        scheduler.wait(timeout)
    return scheduler
