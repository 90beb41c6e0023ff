"""Coalesce a stream of updates into at most one delivery per interval.

The tracker and log followers can produce many updates a second; a frontend wants a few. `UpdateBatcher`
merges what arrives between two deliveries (later values win per key; list values are appended) and
hands the merged update on: at once when the last delivery is older than the interval, otherwise from a
single timer at the end of the interval. Clock and timer are injectable, so tests use a fake clock.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Mapping

Deliver = Callable[[dict], None]
Schedule = Callable[[float, Callable[[], None]], Any]


def thread_timer(delay: float, callback: Callable[[], None]) -> threading.Timer:
    """The default scheduler: a daemon threading.Timer."""
    timer = threading.Timer(delay, callback)
    timer.daemon = True
    timer.start()
    return timer


class UpdateBatcher:
    """Deliver merged updates at most once per `interval` seconds (the last one is never lost)."""

    def __init__(self, deliver: Deliver, interval: float = 0.3, *, clock: Callable[[], float] = time.monotonic,
                 schedule: Schedule = thread_timer, append_keys: tuple[str, ...] = (), max_items: int | None = None):
        """`append_keys` name list values that accumulate (log lines) instead of being replaced;
        `max_items` bounds each of those lists to its newest items."""
        self._deliver = deliver
        self.interval = interval
        self._clock = clock
        self._schedule = schedule
        self._append_keys = set(append_keys)
        self._max_items = max_items
        self._pending: dict[str, Any] = {}
        self._last_delivery: float | None = None
        self._timer_armed = False
        self._closed = False
        self._lock = threading.Lock()
        self.deliveries = 0

    def push(self, update: Mapping[str, Any]) -> None:
        """Add an update; deliver now if the interval has passed, else arm one timer for the rest of it."""
        with self._lock:
            if self._closed:
                return
            self._merge(update)
            now = self._clock()
            wait = 0.0 if self._last_delivery is None else self._last_delivery + self.interval - now
            if wait > 0:
                if not self._timer_armed:
                    self._timer_armed = True
                    self._schedule(wait, self._on_timer)
                return
            batch = self._take(now)
        self._send(batch)

    def _merge(self, update: Mapping[str, Any]) -> None:
        for key, value in update.items():
            if key in self._append_keys:
                items = list(self._pending.get(key, ())) + list(value)
                self._pending[key] = items[-self._max_items:] if self._max_items else items
            else:
                self._pending[key] = value

    def _take(self, now: float) -> dict:
        batch, self._pending = self._pending, {}
        self._last_delivery = now
        return batch

    def _on_timer(self) -> None:
        with self._lock:
            self._timer_armed = False
            if not self._pending:
                return
            batch = self._take(self._clock())
        self._send(batch)

    def _send(self, batch: dict) -> None:
        if batch:
            self.deliveries += 1
            self._deliver(batch)

    def flush(self) -> None:
        """Deliver whatever is pending now (a job ended: show its final state without delay)."""
        with self._lock:
            batch = self._take(self._clock()) if self._pending else {}
        self._send(batch)

    def close(self) -> None:
        """Deliver what is pending, then drop later updates."""
        self.flush()
        with self._lock:
            self._closed = True

    @property
    def pending(self) -> dict:
        with self._lock:
            return dict(self._pending)
