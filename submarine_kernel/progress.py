"""A running job's progress: `step 30/100 · ETA 1m 12s`, from what the job reports.

The job says how far it is with `report(step=30, total=100, ...)`; `report` stamps each point with the
replica's clock (metrics.TIME_KEY), so the rate is measured between the job's own reports, whatever the
kernel's clock says or however late the log is read; between reports the ETA counts down on the wall clock.
Without a reported total, a declared `epochs` or `steps` param is the total. `estimate` is the one rule for
the ETA; every view (the live widget, `%submarine status`, `submarine-kernel status`, `--wait`'s plain
output) shows what it returns.

Stdlib only at import time (tqdm draws the text bar when asked): the CLI and the kernel import it.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from html import escape
from typing import Any, Iterable, Mapping, Sequence

from . import metrics
from .numfmt import duration

#: the declared params read as the total when a job reports only its step, in this order
TOTAL_PARAMS = ("steps", "epochs")
#: the rate is measured over at most this many of the latest reports, so it follows a job that speeds up
RATE_WINDOW = 20
#: characters of the text bar
TEXT_BAR_WIDTH = 20


@dataclass(frozen=True)
class Progress:
    """How far a job is: its latest step, the total (None when unknown) and the seconds left (None: unknown)."""

    step: int
    total: int | None = None
    eta_seconds: float | None = None

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, max(0.0, self.step / self.total))

    def text(self) -> str:
        """`step 30/100 · ETA 1m 12s`, `step 30/100 · ETA unknown`, or `step 30` without a total."""
        if self.total is None:
            return f"step {self.step}"
        eta = "unknown" if self.eta_seconds is None else duration(self.eta_seconds)
        return f"step {self.step}/{self.total} · ETA {eta}"

    def line(self) -> str:
        """One line for text views: a bar (tqdm's) and `text()`."""
        if self.fraction is None:
            return f"progress: {self.text()}"
        from tqdm import tqdm

        bar = tqdm.format_meter(self.step, self.total, 0, bar_format=f"{{bar:{TEXT_BAR_WIDTH}}}", ascii=" #")
        return f"progress: [{bar}] {self.text()}"

    def html(self) -> str:
        """A bar and `text()` (an HTML <progress>, so static outputs keep it)."""
        bar = "" if self.fraction is None else \
            f'<progress value="{self.step}" max="{self.total}" style="width:160px;vertical-align:middle"></progress> '
        return f'<div class="submarine-progress"><small>{bar}{escape(self.text())}</small></div>'


def estimate(reports: Sequence[tuple[float, int]], total: int | None, now: float | None = None
             ) -> Progress | None:
    """The progress after `reports`, (time, step) pairs in the order reported; None when no step was reported.

    The ETA is the steps left at the rate observed between the first and the last of the latest RATE_WINDOW
    reports; it is unknown until two reports at different times and steps exist, and 0 once the total is reached.
    With `now` (on the reports' clock) it counts down from the last report, so a view redrawn between reports
    shows the time passing; never below 0, and not at all when `now` reads earlier than the last report (a
    replica's clock ahead of the kernel's).
    """
    if not reports:
        return None
    last_time, last_step = reports[-1]
    if total is None:
        return Progress(last_step)
    first_time, first_step = reports[-RATE_WINDOW:][0]
    eta = 0.0 if last_step >= total else None
    if last_time > first_time and last_step > first_step and last_step < total:
        rate = (last_step - first_step) / (last_time - first_time)
        eta = (total - last_step) / rate
        if now is not None and now > last_time:
            eta = max(0.0, eta - (now - last_time))
    return Progress(last_step, total, eta)


class ProgressReader:
    """Follows a job's reported points as they come (the live widget feeds it line by line) and says its
    progress at any time; `params` are the job's, for a declared `steps`/`epochs` total. Thread-safe enough
    for one feeding thread and any reading thread: it keeps only the latest reports and total."""

    def __init__(self, params: Mapping[str, Any] | None = None):
        self.declared_total = next((params[n] for n in TOTAL_PARAMS if _whole((params or {}).get(n))), None)
        self.reported_total: int | None = None
        self.reports: deque[tuple[float, int]] = deque(maxlen=RATE_WINDOW)

    def feed(self, point: Mapping[str, Any]) -> bool:
        """Take one raw point (`metrics.parse_metric_line(raw=True)`); whether it changed the progress."""
        changed = False
        if _whole(point.get(metrics.TOTAL_KEY)):
            changed = point[metrics.TOTAL_KEY] != self.reported_total
            self.reported_total = point[metrics.TOTAL_KEY]
        step, moment = point.get("step"), point.get(metrics.TIME_KEY)
        if _whole(step, minimum=0) and isinstance(moment, (int, float)) and not isinstance(moment, bool):
            self.reports.append((float(moment), step))
            changed = True
        return changed

    def current(self, now: float | None = None) -> Progress | None:
        """The progress as of the last report, or counted down to `now` (time.time(), the reports' clock)."""
        return estimate(list(self.reports), self.reported_total or self.declared_total, now)


def _whole(value: Any, minimum: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def of_points(points: Iterable[Mapping[str, Any]], params: Mapping[str, Any] | None = None,
              now: float | None = None) -> Progress | None:
    """The progress shown for a job's reported points (raw, as `metrics.parse_metric_line(raw=True)` reads them),
    counted down to `now` when given."""
    reader = ProgressReader(params)
    for point in points:
        reader.feed(point)
    return reader.current(now)


def of_job(job, tail: int = 2000) -> Progress | None:
    """A running job's progress, read from the end of its deciding replica's log; None when it reports no step
    (or its log cannot be read: a status must not fail for it)."""
    from .errors import SubmarineError

    try:
        lines = job.runtime.logs(job.ref, tail=tail)
    except SubmarineError:
        return None
    try:
        params = job.session.registry.get(job.ref.name, job.ref.runtime).params
    except SubmarineError:
        params = {}
    return of_points(metrics.parse_metrics(lines, raw=True), params, now=time.time())
