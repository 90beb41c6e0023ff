"""`Job`: the handle of one submitted job, as `Session.submit`, `sk.submit` and `sk.job` return it: ask its
status, wait for it, read or follow its logs, stop it, its links. It reaches the runtime, tracker and
registry through its session.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Iterator

from . import retry
from .errors import SubmarineError, TransientError
from .job_types import JobRef, JobStatus
from .runtimes.base import Runtime
from .spec import JobSpec
from .storage import UploadResult

if TYPE_CHECKING:
    from .session import Session


#: how much of a running job's log `last_metrics` reads
METRICS_TAIL_LINES = 2000


class Job:
    """A submitted job: ask its status, wait for it, read its logs, stop it."""

    def __init__(self, session: "Session", ref: JobRef, spec: JobSpec | None = None,
                 upload: UploadResult | None = None):
        self.session = session
        self.ref = ref
        self.spec = spec
        self.upload = upload
        self.last_status: JobStatus | None = None  # what this object's last status() read

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def runtime(self) -> Runtime:
        return self.session.runtime(self.ref.runtime)

    def status(self) -> JobStatus:
        """The job's status now (one poll of its runtime); a newer state is also written to the registry,
        so `list` shows what this read learned even when no tracker follows the job."""
        status = self.runtime.poll([self.ref])[self.ref.key]
        self.last_status = status
        self.session.remember(self.ref, status)
        return status

    def wait(self, timeout: float | None = None, interval: float | None = None) -> JobStatus:
        """Block until the job ends (or `timeout` seconds pass) and return its last status.

        A status outage is waited out, with "retrying" notices, for as long as `timeout` allows (forever
        without one); when the time is up during an outage, the last status read is returned marked stale,
        (the one read before, by the tracker or into the registry, included), or the outage's error raised
        when none is known."""
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = interval or getattr(self.runtime, "poll_interval", self.session.settings.poll_interval)
        failures = 0
        status = self.last_status or self.session.tracker.last(self.ref) or self._recorded_status()
        while True:
            try:
                status = self.status()
                failures = 0
            except TransientError as exc:  # keep waiting through an outage, within the timeout
                failures += 1
                policy = retry.DEFAULT_POLICY  # read now: tests and benches swap in a faster one
                pause = policy.delay(min(failures, policy.attempts))
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        if status is None:
                            raise
                        return replace(status, stale=True, message=f"status unavailable: {exc}")
                    pause = min(pause, remaining)
                self.session.notify(f"{self.name}: {exc}; retrying ({failures} failed so far)")
                time.sleep(pause)
                continue
            if status.terminal or (deadline is not None and time.monotonic() >= deadline):
                return status
            time.sleep(interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic())))

    def _recorded_status(self) -> JobStatus | None:
        try:
            return self.session.registry.get(self.ref.name, self.ref.runtime).status
        except SubmarineError:
            return None

    def last_metrics(self, tail: int = METRICS_TAIL_LINES) -> dict:
        """The latest reported value of each metric: from the registry once recorded, else from the end of the
        deciding replica's log (a running job); {} when none is reported or the log cannot be read."""
        from .metrics import last_values, parse_metrics

        try:
            record = self.session.registry.get(self.ref.name, self.ref.runtime)
            if record.metrics:
                return last_values(record.metrics)
        except SubmarineError:
            pass
        try:
            return last_values(parse_metrics(self.runtime.logs(self.ref, tail=tail)))
        except SubmarineError:
            return {}

    def usage(self) -> dict | None:
        """What the job's replicas used (usage.py's form): its runtime's answer now while the job runs, else
        what the registry kept; None when nothing was kept (runs from before resource use was recorded)."""
        status = self.last_status or self.session.tracker.last(self.ref)
        if status is None or not status.terminal:
            try:
                return self.runtime.usage([self.ref])[self.ref.key]
            except Exception:  # the cluster cannot be asked now: what was kept still tells
                pass
        try:
            return self.session.registry.usage(self.ref)
        except SubmarineError:
            return None

    def logs(self, replica: str | None = None, tail: int | None = None) -> str:
        """One replica's log so far (the deciding replica by default)."""
        return "\n".join(self.runtime.logs(self.ref, replica=replica, tail=tail))

    def follow(self, replica: str | None = None, tail: int | None = None) -> Iterator[str]:
        """Lines of one replica's log as they come, until the job ends."""
        return self.runtime.logs(self.ref, replica=replica, tail=tail, follow=True)

    def stop(self) -> JobStatus:
        """Stop every replica; returns the status afterwards."""
        self.runtime.stop(self.ref)
        status = self.status()
        # let the tracker publish the change (registry, listeners); handing it `status` as already known
        # would make it see no change, and the registry would keep the job RUNNING
        self.session.tracker.track(self.ref)
        return status

    def links(self) -> dict[str, str]:
        return self.runtime.links(self.ref)

    def __repr__(self) -> str:
        return f"<Job {self.ref.key}>"
