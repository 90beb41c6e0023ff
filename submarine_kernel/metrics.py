"""Metrics a job reports from inside (`submarine_kernel.report(step=1, loss=0.5)`), and their way back.

A report is one line on stdout, `SUBMARINE_METRIC {"step": 1, "loss": 0.5}`, so it travels in the log
stream of every runtime (local files, YARN container logs, pod logs); when SUBMARINE_METRICS_FILE is set
the same JSON is also appended there. The kernel side reads the lines back from `Runtime.logs` once a job
ends and stores them with `Registry.add_metrics`.

This module is imported inside jobs: stdlib only, nothing at import time.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import threading
import time
import weakref
from typing import Any, Callable, Iterable, Mapping

from .listeners import Listeners

MARKER = "SUBMARINE_METRIC "
METRICS_FILE_ENV = "SUBMARINE_METRICS_FILE"
#: what a report line carries besides metrics: when it was written (the replica's clock, seconds since the epoch)
#: and the steps in all (report's `total`); progress.py reads them, every metric view leaves them out
TIME_KEY = "@time"
TOTAL_KEY = "@total"
PROGRESS_KEYS = (TIME_KEY, TOTAL_KEY)

log = logging.getLogger(__name__)


def report(step: int | None = None, total: int | None = None, **metrics: float) -> dict:
    """Report metric values (numbers) at `step` from inside a job; returns the point that was written.

    Call it from the replica that decides the job (rank 0, the chief or master): the kernel reads that
    replica's log. Non-numeric values are refused, so a typo cannot poison the history. `total` (the steps
    in all) makes the views show progress with an ETA: `step 30/100 · ETA 1m 12s`. The line also carries
    the time it was written (TIME_KEY), which the ETA's rate is measured with.
    """
    from .errors import SubmarineError

    if not metrics:
        raise SubmarineError("report() got no metric: pass them by name, e.g. report(step=1, loss=0.25)")
    point: dict[str, Any] = {}
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, int):
            raise SubmarineError(f"step={step!r} is not a whole number: pass the epoch or iteration as an int")
        point["step"] = step
    if total is not None:
        if isinstance(total, bool) or not isinstance(total, int) or total < 1:
            raise SubmarineError(f"total={total!r} is not a positive whole number: pass the number of steps in "
                                 "all (report other values under another name)")
        point[TOTAL_KEY] = total
    for name, value in metrics.items():
        if name == "step":
            continue
        number = _number(value)
        if number is None:
            raise SubmarineError(f"metric {name}={value!r} is not a number: report floats or ints only")
        point[name] = number
    point[TIME_KEY] = round(time.time(), 3)
    line = json.dumps({k: _finite_or_text(v) for k, v in point.items()})
    sys.stdout.write(f"{MARKER}{line}\n")
    sys.stdout.flush()
    path = os.environ.get(METRICS_FILE_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    return without_progress(point)


def _number(value: Any) -> float | int | None:
    """ints stay ints, floats (and numpy/torch scalars) become floats; anything else is refused."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _finite_or_text(value: Any) -> Any:
    # JSON has no NaN/inf; a diverged loss is still worth reporting, as text
    return value if not isinstance(value, float) or math.isfinite(value) else str(value)


def parse_metric_line(line: str, raw: bool = False) -> dict | None:
    """The point reported on one log line, or None for any other line (also a marker with bad JSON).
    The metrics only, unless `raw` asks for the progress keys too (TIME_KEY, TOTAL_KEY)."""
    index = line.find(MARKER)
    if index < 0:
        return None
    try:
        point = json.loads(line[index + len(MARKER):])
    except ValueError:
        return None
    if not isinstance(point, dict):
        return None
    return point if raw else without_progress(point)


def without_progress(point: dict) -> dict:
    """A point's metrics (and step), without what report() adds for progress."""
    return {k: v for k, v in point.items() if k not in PROGRESS_KEYS}


def parse_metrics(lines: Iterable[str], raw: bool = False) -> list[dict]:
    """Every reported point in a log, in order (see `parse_metric_line` for `raw`)."""
    return [p for p in (parse_metric_line(line, raw) for line in lines) if p is not None]


def read_metrics_file(path: str) -> list[dict]:
    """The points appended to a SUBMARINE_METRICS_FILE (lines that are not JSON objects are skipped)."""
    points = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                point = json.loads(line)
            except ValueError:
                continue
            if isinstance(point, dict):
                points.append(without_progress(point))
    return points


def last_values(points: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The latest value of every metric (and the latest step)."""
    latest: dict[str, Any] = {}
    for point in points:
        latest.update(point)
    return latest


def series(points: Iterable[Mapping[str, Any]], metric: str) -> list[tuple[float, float]]:
    """(step, value) pairs of one metric; points without a step count up from 0."""
    out = []
    for index, point in enumerate(points):
        value = point.get(metric)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        step = point.get("step", index)
        out.append((float(step if isinstance(step, (int, float)) else index), float(value)))
    return out


def metric_names(points: Iterable[Mapping[str, Any]]) -> list[str]:
    """Names of numeric metrics in the points, in first-seen order, without `step`."""
    names: dict[str, None] = {}
    for point in points:
        for key, value in point.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                names.setdefault(key, None)
    return list(names)


class MetricsHarvester:
    """Collects a job's reported points from its log when it ends and stores them in the registry.

    It listens to the session's tracker; the log is read on a short-lived thread so a slow runtime never
    holds up the tracker. Jobs whose registry entry already has metrics are skipped (harvested once).
    """

    def __init__(self, session):
        self.session = session
        self._done: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._listeners: Listeners = Listeners("metrics")
        self._remove = session.tracker.listen(self._on_status)

    def listen(self, listener: Callable[[Any, list], None]) -> Callable[[], None]:
        """Call `listener(ref, points)` after a job's points were stored (views redraw); returns a remover."""
        return self._listeners.add(listener)

    def _on_status(self, ref, status) -> None:
        if not status.terminal or status.stale:
            return
        with self._lock:
            if ref.key in self._done:
                return
            self._done.add(ref.key)
        thread = threading.Thread(target=self.harvest, args=(ref,), name="submarine-metrics", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def harvest(self, ref) -> list[dict]:
        """Read the job's deciding replica log and store its points; returns what was stored."""
        try:
            record = self.session.registry.get(ref.name, ref.runtime)
            if record.metrics:
                return []
            points = parse_metrics(self.session.runtime(ref.runtime).logs(ref))
            self.session.registry.add_metrics(ref, points)
        except Exception as exc:  # a log that cannot be read must not break the tracker or the kernel
            log.info("no metrics collected for %s: %s", ref.key, exc)
            return []
        self._listeners.notify(ref, points)
        return points

    def join(self, timeout: float | None = None) -> None:
        """Wait for harvests in flight (tests, and before a history is drawn)."""
        for thread in list(self._threads):
            thread.join(timeout)

    def close(self) -> None:
        self._remove()


_harvesters: "weakref.WeakKeyDictionary[Any, MetricsHarvester]" = weakref.WeakKeyDictionary()
_harvesters_lock = threading.Lock()


def harvester_for(session) -> MetricsHarvester:
    """The session's harvester, started on first use (one per session)."""
    with _harvesters_lock:
        harvester = _harvesters.get(session)
        if harvester is None:
            harvester = _harvesters[session] = MetricsHarvester(session)
        return harvester
