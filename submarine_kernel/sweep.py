"""Sweeps: many runs of one job over parameter values, and a scheduler that keeps N of them in flight.

Expansion is pure: `grid` crosses lists of values, `random_search` samples ranges and choice lists.
`SweepScheduler` submits the first `limit` runs, then one more each time the tracker reports that one
of its jobs ended; it never polls on its own.
"""

from __future__ import annotations

import itertools
import math
import os
import random
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from .errors import SubmarineError, ValidationError
from .params import ParamDecl

MAX_RUNS = 200
_RANGE = re.compile(r"^\s*(?P<log>log:)?\s*(?P<low>[^.\s][^\s]*?)\s*\.\.\s*(?P<high>[^\s]+)\s*$")


@dataclass(frozen=True)
class Range:
    """A numeric interval to sample: uniform, or log-uniform (`log:1e-4..1e-1`); ints stay ints."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def sample(self, rng: random.Random) -> float | int:
        if self.integer:
            return rng.randint(int(self.low), int(self.high))
        if self.log:
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return rng.uniform(self.low, self.high)


def split_values(text: str) -> list[str]:
    """`0.1, 0.2,0.5` → ['0.1', '0.2', '0.5'] (blank items dropped)."""
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_grid_values(text: str, decl: ParamDecl) -> list[Any]:
    """Comma-separated values for one grid axis, each checked against the parameter."""
    values, problems = [], []
    for item in split_values(text):
        value, found = decl.accept(item)
        problems.extend(found)
        if value is not None:
            values.append(value)
    if not values and not problems:
        problems.append(f"param {decl.name} has no sweep values: write e.g. 1, 2, 3")
    if problems:
        raise ValidationError(problems)
    return list(dict.fromkeys(values))  # a value listed twice is one run


def parse_random_space(text: str, decl: ParamDecl) -> Range | list[Any]:
    """`LOW..HIGH` or `log:LOW..HIGH` for a number, else a comma-separated list of choices."""
    match = _RANGE.match(text)
    if match is None:
        return parse_grid_values(text, decl)
    if decl.kind not in ("int", "float"):
        raise ValidationError(f"param {decl.name} is {decl.kind}, so it has no range: list the values instead")
    try:
        low, high = (decl.coerce(match.group(g)) for g in ("low", "high"))
    except ValidationError as exc:
        raise ValidationError([p.reworded(f"{p} (ranges look like 0.001..0.1 or log:1e-4..1e-1)") for p in exc.problems]) \
            from None
    problems = [p for value in (low, high) for p in decl.problems(value)]
    if low > high:
        problems.append(f"param {decl.name} range {match.group('low')}..{match.group('high')} is empty: "
                        "put the lower bound first")
    if match.group("log") and low <= 0:
        problems.append(f"param {decl.name} log range must be above 0")
    if problems:
        raise ValidationError(problems)
    return Range(float(low), float(high), log=bool(match.group("log")), integer=decl.kind == "int")


def grid(axes: Mapping[str, Sequence[Any]], limit: int = MAX_RUNS) -> list[dict[str, Any]]:
    """Every combination of the axes' values, the first axis varying slowest."""
    count = math.prod(len(v) for v in axes.values()) if axes else 0
    if count > limit:
        raise ValidationError(f"the grid has {count} combinations, more than {limit}: use fewer values "
                              "or a random search")
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*(axes[n] for n in names))] if names else []


def random_search(space: Mapping[str, Range | Sequence[Any]], samples: int, seed: int | None = None,
                  limit: int = MAX_RUNS) -> list[dict[str, Any]]:
    """`samples` draws over the space (ranges sampled, lists picked from), reproducible with `seed`."""
    if samples < 1 or samples > limit:
        raise ValidationError(f"a random search takes 1 to {limit} samples, not {samples}")
    rng = random.Random(seed)
    draws = []
    for _ in range(samples):
        draws.append({name: dimension.sample(rng) if isinstance(dimension, Range) else rng.choice(list(dimension))
                      for name, dimension in space.items()})
    return draws


def parse_space(mode: str, sweep_texts: Mapping[str, str], decls: Mapping[str, ParamDecl]) -> dict[str, Any]:
    """The swept dimensions: name → grid values, or a Range / choice list (random). Blank texts are not swept.

    One ValidationError lists every problem of every field.
    """
    if mode not in ("grid", "random"):
        raise ValidationError(f"unknown sweep mode {mode!r}: use grid or random")
    problems: list[str] = []
    space: dict[str, Any] = {}
    for name, text in sweep_texts.items():
        if not text or not text.strip():
            continue
        if name not in decls:
            problems.append(f"cannot sweep {name!r}: it is not a parameter of this form")
            continue
        try:
            space[name] = parse_grid_values(text, decls[name]) if mode == "grid" \
                else parse_random_space(text, decls[name])
        except ValidationError as exc:
            problems.extend(exc.problems)
    if not problems and not space:
        problems.append("nothing to sweep: give several comma-separated values (grid) or a range like "
                        "0.01..0.1 (random) for at least one parameter")
    if problems:
        raise ValidationError(problems)
    return space


def expand(mode: str, sweep_texts: Mapping[str, str], decls: Mapping[str, ParamDecl],
           base: Mapping[str, Any], samples: int = 1, seed: int | None = None) -> list[dict[str, Any]]:
    """The full params of every run: `base` values, with the swept names taken from the grid or samples
    (see `parse_space`). A sweep with a stopping rule samples through Optuna instead (pruning.SweepStudy)."""
    space = parse_space(mode, sweep_texts, decls)
    combos = grid(space) if mode == "grid" else random_search(space, samples, seed)
    return [{**base, **combo} for combo in combos]


def check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValidationError(f"the concurrency limit must be 1 or more, not {limit!r}")


def space_of(mode: str, values: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The Python API's sweep space as `parse_space` gives it: a list of values per name (a grid axis, or random
    choices), or text as the form takes it (`0.1, 0.2`, `1e-4..1e-1`, `log:1e-4..1e-1`) typed by the base value in
    `params` (else by the text)."""
    from .params import literal

    if mode not in ("grid", "random"):
        raise ValidationError(f"unknown sweep mode {mode!r}: use grid or random")
    texts, space, decls = {}, {}, {}
    for name, value in values.items():
        if isinstance(value, str):
            first = _RANGE.match(value)
            sample = first.group("low") if first else (split_values(value) or [value])[0]
            decls[name] = ParamDecl(name, params[name] if name in params else literal(sample))
            texts[name] = value
        elif isinstance(value, (list, tuple)) and value:
            space[name] = list(dict.fromkeys(value))
        else:
            raise ValidationError(f"sweep {name}={value!r}: give a list of values or a range text like 0.001..0.1")
    if texts or not space:
        space.update(parse_space(mode, texts, decls))
    return space


def start_sweep(session, request, decls: Mapping[str, ParamDecl] | None, mode: str, space: Mapping[str, Any],
                samples: int = 1, seed: int | None = None, stopping=None, limit: int = 2, bundle=None,
                on_submit: Callable[[Any], None] | None = None,
                on_change: Callable[["SweepScheduler"], None] | None = None) -> "SweepScheduler":
    """Start a sweep of `request` over `space` (see `parse_space`), at most `limit` runs at a time; each run gets
    its own name and checkpoint folder. With `stopping` (pruning.EarlyStopping) Optuna samples the runs and its
    pruner stops the trials its rule rejects. The form and the Python API both start sweeps here."""
    from .metrics import harvester_for

    check_limit(limit)
    harvester_for(session)  # each run's reported points go to the registry as it ends (the history shows them)
    base = dict(request.params or {})
    monitor = None
    if stopping is None:
        combos = grid(space) if mode == "grid" else random_search(space, samples, seed)
        runs = [{**base, **combo} for combo in combos]
    else:
        from .pruning import SweepStudy, TrialMonitor

        study = SweepStudy(stopping, mode, space, samples, seed)
        runs = study.runs(base)
        monitor = TrialMonitor(session, study)

    def submit(params):
        name = session.default_name()
        # parallel runs must not share a checkpoint folder: each gets its own below the given one
        checkpoint = request.checkpoint_path and os.path.join(request.checkpoint_path, name)
        job = session.run(request.with_changes(params=params, name=name, rerun_of="", checkpoint_path=checkpoint),
                          param_decls=decls, bundle=bundle)
        if on_submit is not None:
            on_submit(job)
        return job

    return SweepScheduler(session.tracker, runs, submit, limit, on_change, early_stopping=monitor).start()


class SweepScheduler:
    """Submits runs at most `limit` at a time; the next one goes out when the tracker reports an end.

    `submit(params)` starts one run and returns its Job; a run whose submit fails is recorded in
    `errors` and the next one is tried. `on_change(scheduler)` is called after every change (views).
    `early_stopping` (a pruning.TrialMonitor) watches each submitted job's metrics and names the state a
    job ended in (PRUNED for one its stopping rule stopped).
    """

    def __init__(self, tracker, runs: Sequence[Mapping[str, Any]], submit: Callable[[Mapping[str, Any]], Any],
                 limit: int = 2, on_change: Callable[["SweepScheduler"], None] | None = None,
                 early_stopping=None):
        check_limit(limit)
        self.tracker = tracker
        self.runs = [dict(r) for r in runs]
        self.limit = limit
        self._submit = submit
        self._on_change = on_change
        self.early_stopping = early_stopping
        self._next = 0
        self._active: set[str] = set()
        self.jobs: list[Any] = []
        self.finished: dict[str, str] = {}  # job key → final state
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._ended = threading.Event()
        self._remove_listener = None

    def start(self) -> "SweepScheduler":
        """Listen to the tracker and submit the first runs."""
        self._remove_listener = self.tracker.listen(self._on_status)
        self._fill()
        return self

    @property
    def done(self) -> bool:
        with self._lock:
            return self._next >= len(self.runs) and not self._active

    @property
    def submitted(self) -> int:
        return len(self.jobs)

    def summary(self) -> str:
        """`sweep: 3/6 submitted, 2 running, 1 SUCCEEDED` for views."""
        with self._lock:
            states: dict[str, int] = {}
            for state in self.finished.values():
                states[state] = states.get(state, 0) + 1
            parts = [f"{len(self.jobs)}/{len(self.runs)} submitted", f"{len(self._active)} running"]
        parts += [f"{count} {state}" for state, count in sorted(states.items())]
        if self.errors:
            parts.append(f"{len(self.errors)} not submitted")
        best = self.early_stopping.best() if self.early_stopping is not None else None
        if best is not None:
            parts.append(f"best {best[0].name} ({self.early_stopping.stopping.metric} {best[1]:.6g})")
        return "sweep: " + ", ".join(parts)

    def problems(self) -> list[str]:
        """Runs that could not be submitted, and what early stopping could not do (a metric never reported)."""
        return self.errors + (list(self.early_stopping.errors) if self.early_stopping is not None else [])

    def _fill(self) -> None:
        while True:
            with self._lock:
                if self._next >= len(self.runs) or len(self._active) >= self.limit:
                    break
                params = self.runs[self._next]
                self._next += 1
            try:
                job = self._submit(params)
            except SubmarineError as exc:
                with self._lock:
                    self.errors.append(f"run {params}: {exc}")
                self._changed()
                continue
            if self.early_stopping is not None:
                self.early_stopping.watch(job)
            with self._lock:
                self.jobs.append(job)
                # the tracker may already know the job ended (a very short job): count it as ended
                last = self.tracker.last(job.ref)
                ended = last is not None and last.terminal
                if not ended:
                    self._active.add(job.ref.key)
            if ended:
                with self._lock:
                    self.finished[job.ref.key] = self._final_state(job.ref, last)
            self._changed()
        if self.done:
            self._finish()

    def _final_state(self, ref, status) -> str:
        return self.early_stopping.ended(ref, status) if self.early_stopping is not None else status.state.value

    def wait(self, timeout: float | None = None) -> "SweepScheduler":
        """Block until every run was submitted and ended (TimeoutError after `timeout` seconds)."""
        if not self._ended.wait(timeout):
            raise TimeoutError(f"the sweep did not end within {timeout} s: {self.summary()}")
        return self

    def _finish(self) -> None:
        self._ended.set()
        if self._remove_listener is not None:
            self._remove_listener()
        if self.early_stopping is not None:
            self.early_stopping.close()

    def _on_status(self, ref, status) -> None:
        if not status.terminal or status.stale:
            return
        with self._lock:
            if ref.key not in self._active:
                return
        state = self._final_state(ref, status)  # outside the lock: it may read the job's log
        with self._lock:
            self._active.discard(ref.key)
            self.finished[ref.key] = state
        self._changed()
        self._fill()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self)
