"""The runs table's data, without widgets: one row per run with its params, duration, min/max/last of
each metric and the run it was re-run from; filter (`lr>0.01, opt=adam, loss<0.5`), sort, and a stable
colour per run (the same in the table and the chart, across refreshes and kernels).
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from . import metrics, render
from .errors import ValidationError
from .request import RERUN_LABEL
from .registry import JobRecord
from .job_types import PRUNED, JobState

PALETTE = ("#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a3069", "#57606a",
           "#e16f24", "#1b7c83", "#6639ba", "#953800")
SORT_KEYS = ("submitted", "name", "state", "duration")


def run_color(ordinal: int) -> str:
    """The colour of the run submitted `ordinal`-th in its history: runs submitted close together (the ones
    compared) never share one, and a run keeps its colour as newer runs arrive. (A hash of the name made two of
    three compared runs the same magenta.)"""
    return PALETTE[ordinal % len(PALETTE)]


def distinct_colors(rows: Iterable["RunRow"]) -> dict[str, str]:
    """Run name → colour for runs shown together (a chart, a comparison): each run's own colour, unless an
    earlier one of them has it already; then the next colour none of them uses."""
    taken: dict[str, str] = {}
    for row in rows:
        color = row.color
        if color in taken.values():
            color = next((c for c in PALETTE if c not in taken.values()), color)
        taken[row.name] = color
    return taken


@dataclass(frozen=True)
class MetricStats:
    minimum: float
    maximum: float
    last: float


def metric_stats(points: Iterable[Mapping[str, Any]]) -> dict[str, MetricStats]:
    """min/max/last of every numeric metric (not `step`), in first-seen order."""
    values: dict[str, list[float]] = {}
    for point in points:
        for name, value in point.items():
            if name == "step" or isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                continue
            values.setdefault(name, []).append(value)
    return {name: MetricStats(min(v), max(v), v[-1]) for name, v in values.items()}


@dataclass
class RunRow:
    record: JobRecord
    state: str
    duration: float | None  # seconds
    stats: dict[str, MetricStats] = field(default_factory=dict)
    ordinal: int = 0  # its place in submission order among the rows it was listed with (its colour)

    @property
    def key(self) -> str:
        return self.record.ref.key

    @property
    def name(self) -> str:
        return self.record.ref.name

    @property
    def params(self) -> dict:
        return self.record.params

    @property
    def rerun_of(self) -> str:
        return self.record.spec.labels.get(RERUN_LABEL, "")

    @property
    def color(self) -> str:
        return run_color(self.ordinal)

    def value(self, field_name: str) -> Any:
        """A column's value for filters and sorting: name, state, duration, submitted, a param, a metric's
        last value, or `METRIC.min` / `METRIC.max`; None when the run has none."""
        if field_name in ("name", "state", "duration", "submitted"):
            return {"name": self.name, "state": self.state, "duration": self.duration,
                    "submitted": self.record.submitted}[field_name]
        if field_name in self.params:
            return self.params[field_name]
        metric, _, which = field_name.rpartition(".")
        if which in ("min", "max", "last") and metric in self.stats:
            stats = self.stats[metric]
            return {"min": stats.minimum, "max": stats.maximum, "last": stats.last}[which]
        if field_name in self.stats:
            return self.stats[field_name].last
        return None


def _seconds(record: JobRecord) -> float | None:
    status = record.status
    if status is None:
        return None
    start = render.parse_time(status.started) or render.parse_time(status.submitted)
    end = render.parse_time(status.finished)
    return max(0.0, (end - start).total_seconds()) if start and end else None


def run_rows(records: Iterable[JobRecord], cache: dict | None = None) -> list[RunRow]:
    """One row per record; `cache` (kept by the caller between refreshes) spares recomputing the metric
    stats of runs whose points did not change, which is nearly every run of a long history."""
    rows = []
    for r in records:
        stats = None
        if cache is not None:
            seen = cache.get(r.ref.key)
            if seen is not None and seen[0] == len(r.metrics):
                stats = seen[1]
        if stats is None:
            stats = metric_stats(r.metrics)
            if cache is not None:
                cache[r.ref.key] = (len(r.metrics), stats)
        rows.append(RunRow(r, render.shown_label(r.status) if r.status else r.state, _seconds(r), stats))
    for ordinal, row in enumerate(sorted(rows, key=lambda row: (row.record.submitted or "", row.name))):
        row.ordinal = ordinal
    return rows


# -- filters -------------------------------------------------------------------------------------------
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, "<=": operator.le, "!=": operator.ne, "=": operator.eq, ">": operator.gt, "<": operator.lt,
    "~": lambda value, text: str(text).lower() in str(value).lower()}
_CONDITION = re.compile(r"^\s*(?P<field>[\w.\-]+)\s*(?P<op>>=|<=|!=|=|>|<|~)\s*(?P<value>.+?)\s*$")


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any

    def matches(self, row: RunRow) -> bool:
        actual = row.value(self.field)
        if actual is None:
            return False
        expected = self.value
        if self.op != "~" and isinstance(actual, (int, float)) and not isinstance(actual, bool):
            if not isinstance(expected, (int, float)) or isinstance(expected, bool):
                return False
        elif self.op != "~":
            actual, expected = str(actual), str(expected)
        try:
            return bool(_OPERATORS[self.op](actual, expected))
        except TypeError:
            return False


def parse_filter(text: str) -> list[Condition]:
    """`lr>0.01, opt=adam, loss.min<0.5, name~sweep` → conditions (all must hold)."""
    from .params import literal

    conditions, problems = [], []
    for part in (p for p in text.split(",") if p.strip()):
        match = _CONDITION.match(part)
        if match is None or match.group("value")[0] in "<>=!~":
            problems.append(f"filter {part.strip()!r} is not FIELD OP VALUE: write e.g. lr>0.01, opt=adam, "
                            "loss<0.5 or name~sweep")
            continue
        value = match.group("value")
        conditions.append(Condition(match.group("field"), match.group("op"),
                                    value if match.group("op") == "~" else literal(value)))
    if problems:
        raise ValidationError(problems)
    return conditions


def filter_fields(rows: Iterable[RunRow]) -> list[str]:
    """Every field a filter may name for these runs: the columns, params, metrics and METRIC.min/max/last."""
    rows = list(rows)
    metrics_seen = dict.fromkeys(k for r in rows for k in r.stats)
    return [*sort_options(rows), *(f"{m}.{which}" for m in metrics_seen for which in ("min", "max", "last"))]


def filter_rows(rows: Iterable[RunRow], state: str | None = None,
                conditions: Iterable[Condition] = ()) -> list[RunRow]:
    """The rows every condition holds for; a field no run has is refused ("unknown field ...; did you mean"),
    as it would silently show 0 runs."""
    from .hints import unknown_name

    rows, conditions = list(rows), list(conditions)
    known = filter_fields(rows)
    unknown = [unknown_name("field", c.field, known) for c in conditions if c.field not in known]
    if unknown and rows:
        raise ValidationError(unknown)
    return [row for row in rows if (not state or row.state == state) and all(c.matches(row) for c in conditions)]


def sort_rows(rows: Iterable[RunRow], key: str = "submitted", descending: bool = True) -> list[RunRow]:
    """Sorted by a column (see `RunRow.value`); runs without a value go last either way."""
    rows = list(rows)
    present = [r for r in rows if r.value(key) is not None]
    missing = [r for r in rows if r.value(key) is None]

    def order(row: RunRow):
        value = row.value(key)
        return (0, value, "") if isinstance(value, (int, float)) and not isinstance(value, bool) else (1, 0, str(value))
    return sorted(present, key=order, reverse=descending) + missing


def sort_options(rows: Iterable[RunRow]) -> list[str]:
    """Every column a table of these runs can be sorted by: the fixed ones, then params, then metrics."""
    rows = list(rows)
    params = dict.fromkeys(k for r in rows for k in r.params)
    names = dict.fromkeys(k for r in rows for k in r.stats)
    return [*SORT_KEYS, *params, *names]


def states_of(rows: Iterable[RunRow]) -> list[str]:
    """The states among the rows, in JobState's order; PRUNED (a stopped sweep trial) right after STOPPED."""
    found = {r.state for r in rows}
    order = [word for s in JobState for word in ((s.value, PRUNED) if s is JobState.STOPPED else (s.value,))]
    return [word for word in order if word in found]


def metrics_summary(stats: Mapping[str, MetricStats]) -> list[str]:
    """`loss 0.02246 (min 0.02246, max 1.260)` per metric, under the one number rule."""
    from .numfmt import number

    return [f"{name} {number(s.last)} (min {number(s.minimum)}, max {number(s.maximum)})"
            for name, s in stats.items()]


def series(row: RunRow, metric: str) -> list[tuple[float, float]]:
    return metrics.series(row.record.metrics, metric)
