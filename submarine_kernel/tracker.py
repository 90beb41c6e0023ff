"""One background thread that follows every active job of the process.

Each round asks each runtime for the status of all of its tracked jobs in one `poll` call, stores
changes in the registry and tells listeners. A failing poll keeps the last known status, marked stale,
and the round is retried with backoff; the thread never dies of a runtime's error.

Every `Runtime.usage_interval` the same round asks the runtime what the jobs use (`Runtime.usage`), and once
more when a job ends; `listen_usage` hears each answer, and the registry keeps it (every
USAGE_RECORD_SECONDS and at the end), so the history shows it after the kernel is gone.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Callable, Mapping

from .listeners import Listeners
from .retry import DEFAULT_POLICY, RetryPolicy
from .job_types import JobRef, JobStatus
from .runtimes.base import Runtime

log = logging.getLogger(__name__)

Listener = Callable[[JobRef, JobStatus], None]
UsageListener = Callable[[JobRef, dict], None]
#: how often a running job's usage is written to the registry (each answer still reaches the listeners)
USAGE_RECORD_SECONDS = 30.0


class Tracker:
    """Follows jobs until they end; `listen` to hear about every change."""

    def __init__(self, runtimes: Callable[[str], Runtime], registry=None, interval: float = 1.0,
                 retry: RetryPolicy = DEFAULT_POLICY):
        self._runtime_for = runtimes
        self.retry = retry
        self.registry = registry
        self.interval = interval
        self._refs: dict[str, JobRef] = {}
        self._last: dict[str, JobStatus] = {}
        self._listeners: Listeners[Listener] = Listeners("status")
        self._usage_listeners: Listeners[UsageListener] = Listeners("usage")
        self._usage: dict[str, dict] = {}
        self._usage_asked: dict[str, float] = {}     # runtime name → when its jobs' usage was last asked
        self._usage_recorded: dict[str, float] = {}  # job key → when its usage was last written
        self._usage_failed = ""  # why the last usage call failed, said once
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures: dict[str, int] = {}
        self._unrecorded = ""  # why the last status could not be written to the registry, said once
        self._announce: set[str] = set()
        self.rounds = 0

    # -- public ------------------------------------------------------------------------------------
    def track(self, ref: JobRef, status: JobStatus | None = None, announce: bool = False) -> None:
        """Follow `ref` until it reaches a terminal state; `status` is the last one known (kept, marked stale,
        while polls fail); with `announce` the first poll is told to listeners even when nothing changed."""
        with self._lock:
            self._refs[ref.key] = ref
            if status is not None:
                self._last[ref.key] = status
            if announce:
                self._announce.add(ref.key)
        self._ensure_thread()
        self._wake.set()

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(ref, status)` on every change; returns a function that removes it."""
        return self._listeners.add(listener)

    def listen_usage(self, listener: UsageListener) -> Callable[[], None]:
        """Call `listener(ref, usage)` on every usage answer (usage.py's form); returns a function that removes it."""
        return self._usage_listeners.add(listener)

    def last_usage(self, ref: JobRef) -> dict | None:
        with self._lock:
            return self._usage.get(ref.key)

    def last(self, ref: JobRef) -> JobStatus | None:
        with self._lock:
            return self._last.get(ref.key)

    @property
    def active(self) -> list[JobRef]:
        with self._lock:
            return list(self._refs.values())

    def refresh(self) -> None:
        """Poll now instead of waiting for the next round."""
        self._wake.set()

    def close(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- the thread --------------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="submarine-tracker", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            delay = self.poll_once()
            self._wake.wait(delay)
            self._wake.clear()

    def poll_once(self) -> float:
        """One round over every runtime with tracked jobs; returns the seconds to wait before the next."""
        self.rounds += 1
        by_runtime: dict[str, list[JobRef]] = {}
        for ref in self.active:
            by_runtime.setdefault(ref.runtime, []).append(ref)
        delay = self.interval
        for runtime_name, refs in by_runtime.items():
            try:
                runtime = self._runtime_for(runtime_name)
                statuses = runtime.poll(refs)
                self._failures.pop(runtime_name, None)
                delay = min(delay, getattr(runtime, "poll_interval", self.interval))
            except Exception as exc:  # keep following: a dropped connection must not lose the jobs
                failures = self._failures[runtime_name] = self._failures.get(runtime_name, 0) + 1
                log.warning("polling %s failed (%s attempt(s)): %s", runtime_name, failures, exc)
                attempts = self.retry.attempts
                retrying = self.retry.note(failures)
                reason = str(exc).splitlines()[0] if str(exc) else ""
                statuses = self._stale(refs, f"status unavailable ({type(exc).__name__}: {reason}); {retrying}")
                delay = max(self.retry.delay(failures), self.interval) if failures < attempts else self.retry.max_delay
            self._publish(refs, statuses)
            self._follow_usage(runtime_name, refs, statuses)
        return delay

    def _follow_usage(self, runtime_name: str, refs: list[JobRef], statuses: Mapping[str, JobStatus]) -> None:
        """Ask what the jobs use when the runtime's interval has passed, and for jobs that just ended."""
        ended = [r for r in refs if statuses.get(r.key) is not None and statuses[r.key].terminal]
        try:
            runtime = self._runtime_for(runtime_name)
        except Exception:
            return
        moment = time.monotonic()
        due = moment - self._usage_asked.get(runtime_name, -1e9) >= getattr(runtime, "usage_interval", 2.0)
        asked = refs if due else ended
        if not asked:
            return
        if due:
            self._usage_asked[runtime_name] = moment
        try:
            answers = runtime.usage(asked)
            self._usage_failed = ""
        except Exception as exc:  # a view on the job: one line in the log, once per cause, never the thread
            said = f"{type(exc).__name__}: {exc}"
            if said != self._usage_failed:
                log.warning("resource use of %s jobs unavailable: %s", runtime_name, said)
            self._usage_failed = said
            return
        to_record = []
        for ref in asked:
            found = answers.get(ref.key)
            if found is None:
                continue
            final = ref in ended
            with self._lock:
                self._usage[ref.key] = found
                if final:
                    self._usage.pop(ref.key, None)
            if final or moment - self._usage_recorded.get(ref.key, -1e9) >= USAGE_RECORD_SECONDS:
                to_record.append((ref, found))
                self._usage_recorded[ref.key] = moment
            if final:
                self._usage_recorded.pop(ref.key, None)
            self._usage_listeners.notify(ref, found)
        if self.registry is not None and to_record:
            try:
                self.registry.keep_usage(to_record)  # one transaction for the round's jobs
            except Exception as exc:
                log.warning("the resource use of %s job(s) is not recorded: %s", len(to_record), exc)

    def _stale(self, refs: list[JobRef], message: str) -> dict[str, JobStatus]:
        out = {}
        for ref in refs:
            last = self.last(ref)
            if last is not None:
                out[ref.key] = replace(last, stale=True, message=message)
        return out

    def _publish(self, refs: list[JobRef], statuses: Mapping[str, JobStatus]) -> None:
        for ref in refs:
            status = statuses.get(ref.key)
            if status is None:
                continue
            with self._lock:
                changed = not status.same_as(self._last.get(ref.key)) or (
                    not status.stale and ref.key in self._announce)
                if not status.stale:
                    self._announce.discard(ref.key)
                self._last[ref.key] = status
                if status.terminal:
                    self._refs.pop(ref.key, None)
            if not changed:
                continue
            if self.registry is not None and not status.stale:
                try:
                    self.registry.update_status(ref, status)
                except Exception as exc:  # one line, once per cause: this thread's output lands in any cell
                    said = f"{type(exc).__name__}: {exc}"
                    if said != self._unrecorded:
                        log.warning("the status of %s is not recorded: %s", ref.name, said)
                    self._unrecorded = said
                else:
                    self._unrecorded = ""
            self._listeners.notify(ref, status)
