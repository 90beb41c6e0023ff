"""Early stopping for sweeps: a metric, a direction and a stopping rule (median stopping, or successive
halving / ASHA) decide which trials to stop before they end; each trial is one (multi-replica) job.

The rules and the sampling are Optuna's, through its ask-and-tell interface: `SweepStudy` asks one Optuna trial
per run (GridSampler for a grid, RandomSampler for a random search), `TrialMonitor` follows each running job's
reported points (`submarine_kernel.report`) from its deciding replica's log, hands them to `Trial.report`, and
stops the job through its runtime when `Trial.should_prune()` says so. A pruned job stays STOPPED in the
registry with the last step it ran recorded in its status details (job_types.PRUNED_AT_STEP); views show PRUNED.

Optuna (the `sweep` extra) is imported when such a sweep starts, never when the extension loads.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from .errors import SubmarineError, ValidationError
from .job_types import PRUNED, PRUNED_AT_STEP, JobState, JobStatus
from .metrics import parse_metric_line
from .sweep import MAX_RUNS, Range, grid

log = logging.getLogger(__name__)

RULES = {"median": "median stopping", "asha": "successive halving (ASHA)", "none": "no stopping"}
_RULE_WORDS = {"median": "median", "median-stopping": "median", "asha": "asha", "successive-halving": "asha",
               "sha": "asha", "none": "none"}
_DIRECTIONS = {"min": "minimize", "minimize": "minimize", "max": "maximize", "maximize": "maximize"}
CHECK_INTERVAL = 0.5  # seconds between tries to open a trial's log while it has none yet
FINAL_READ_SECONDS = 30  # how long a job's end waits for its follower to read the log's last points


def _optuna():
    try:
        import optuna
    except ImportError:
        raise SubmarineError("early stopping needs Optuna: pip install 'submarine-kernel[sweep]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


@dataclass(frozen=True)
class EarlyStopping:
    """What a sweep optimises and when it stops a trial early.

    `rule`: median (stop a trial whose value at a step is worse than the median of the finished trials' values
    at that step, once `startup_trials` finished and after `warmup_steps`), asha (successive halving: at steps
    min_steps·factor^k keep only the best 1/factor of the trials that got there), or none.
    """

    metric: str
    direction: str = "min"
    rule: str = "median"
    startup_trials: int = 2
    warmup_steps: int = 0
    min_steps: int = 1
    reduction_factor: int = 3

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.metric, str) or not self.metric.strip() or self.metric == "step":
            problems.append(f"metric {self.metric!r} cannot be optimised: name a metric the job reports, "
                            "e.g. metric='loss'")
        if str(self.direction).lower() not in _DIRECTIONS:
            problems.append(f"direction {self.direction!r} is neither min nor max: use min (e.g. a loss) or max "
                            "(e.g. an accuracy)")
        else:
            object.__setattr__(self, "direction", _DIRECTIONS[str(self.direction).lower()][:3])
        rule = _RULE_WORDS.get(str(self.rule).lower().replace("_", "-").replace(" ", "-"))
        if rule is None:
            problems.append(f"unknown stopping rule {self.rule!r}: use median, asha (successive halving) or none")
        else:
            object.__setattr__(self, "rule", rule)
        for name, low in (("startup_trials", 0), ("warmup_steps", 0), ("min_steps", 1), ("reduction_factor", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                problems.append(f"{name}={value!r} must be a whole number of at least {low}")
        if problems:
            raise ValidationError(problems)

    @property
    def optuna_direction(self) -> str:
        return _DIRECTIONS[self.direction]

    def describe(self) -> str:
        return f"{RULES[self.rule]} on {self.metric} ({self.direction})"

    def pruner(self, optuna):
        if self.rule == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=self.startup_trials, n_warmup_steps=self.warmup_steps)
        if self.rule == "asha":
            return optuna.pruners.SuccessiveHalvingPruner(min_resource=self.min_steps,
                                                          reduction_factor=self.reduction_factor)
        return optuna.pruners.NopPruner()

    def better(self, a: float, b: float) -> bool:
        return a < b if self.direction == "min" else a > b


class SweepStudy:
    """One Optuna study for a sweep: `runs(base)` asks every trial up front (a grid point or a random draw each),
    so the scheduler can submit them as before; the trial of run i is `trials[i]`."""

    def __init__(self, stopping: EarlyStopping, mode: str, space: Mapping[str, Any], samples: int = 1,
                 seed: int | None = None):
        optuna = self.optuna = _optuna()
        self.stopping = stopping
        self._queued: list[dict] = []
        if mode == "grid":
            # the grid runs in the order listed (first axis slowest), as a sweep without stopping does: each point
            # is enqueued, which GridSampler takes as given instead of drawing its shuffled order
            self._queued = grid(space)  # the same limit as a sweep without stopping
            self.count = len(self._queued)
            sampler = optuna.samplers.GridSampler({n: list(v) for n, v in space.items()}, seed=seed)
        elif mode == "random":
            if samples < 1 or samples > MAX_RUNS:
                raise ValidationError(f"a random search takes 1 to {MAX_RUNS} samples, not {samples}")
            self.count = samples
            sampler = optuna.samplers.RandomSampler(seed=seed)
        else:
            raise ValidationError(f"unknown sweep mode {mode!r}: use grid or random")
        self.distributions = {name: self._distribution(dimension) for name, dimension in space.items()}
        self.study = optuna.create_study(direction=stopping.optuna_direction, sampler=sampler,
                                         pruner=stopping.pruner(optuna))
        self.trials: list[Any] = []
        self.lock = threading.Lock()  # Trial.report/should_prune (monitor thread) and tell (tracker thread)

    def _distribution(self, dimension):
        distributions = self.optuna.distributions
        if isinstance(dimension, Range):
            if dimension.integer:
                return distributions.IntDistribution(int(dimension.low), int(dimension.high), log=dimension.log)
            return distributions.FloatDistribution(dimension.low, dimension.high, log=dimension.log)
        return distributions.CategoricalDistribution(list(dimension))

    def runs(self, base: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The full params of every run: `base`, with the swept names from the trial's sampler."""
        out = []
        for params in self._queued:
            self.study.enqueue_trial(params)
        for _ in range(self.count):
            trial = self.study.ask(self.distributions)
            self.trials.append(trial)
            out.append({**base, **{name: trial.params[name] for name in self.distributions}})
        return out

    def tell(self, trial, value: float | None = None, state=None) -> None:
        """Optuna's `Study.tell`. GridSampler asks the study to stop once no grid point is left unasked, which is
        at the first tell here (every trial is asked up front) and outside `optimize` raises RuntimeError; the
        trial's state is stored before that (in tell's `finally`), so that one error is expected."""
        try:
            self.study.tell(trial, value, state=state)
        except RuntimeError as exc:
            if "Study.stop" not in str(exc):
                raise

    def best(self) -> tuple[int, float] | None:
        """(run index, value) of the best finished trial, or None before any finished with the metric."""
        try:
            best = self.study.best_trial
        except ValueError:
            return None
        return best.number, best.value


@dataclass
class _Watched:
    job: Any
    trial: Any
    follower: threading.Thread | None = None
    ending: threading.Event = field(default_factory=threading.Event)  # the tracker saw the job end
    seen: int = 0                       # points read so far in this pass over the log (a step for those without)
    last_step: int | None = None
    last_value: float | None = None
    prune_step: int | None = None       # set once the rule said to stop the job
    final: str | None = None            # the state the sweep shows once the job ended


class TrialMonitor:
    """Watches a sweep's running jobs: their reported metric goes to their Optuna trial, and a job the rule
    prunes is stopped through its runtime. The scheduler calls `watch(job)` after each submission (in run order)
    and `ended(ref, status)` when the tracker reports the job's end.

    Each job's deciding replica's log is followed as it grows (`Job.follow`: the runtime reads only what is new,
    a file offset locally, a follow stream on Kubernetes), one thread per running trial: re-reading whole logs
    on a timer cost time in the square of their length."""

    def __init__(self, session, study: SweepStudy, interval: float = CHECK_INTERVAL):
        self.session = session
        self.study = study
        self.stopping = study.stopping
        self.interval = interval
        self.errors: list[str] = []
        self.watched: dict[str, _Watched] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()

    # -- the scheduler's hooks -------------------------------------------------------------------------
    def watch(self, job) -> None:
        with self._lock:
            trial = self.study.trials[len(self._order)]
            self._order.append(job.ref.key)
            watched = self.watched[job.ref.key] = _Watched(job, trial)
            if self._closed.is_set():
                return
            watched.follower = threading.Thread(target=self._follow, args=(watched,), daemon=True,
                                                name=f"submarine-sweep-pruning-{job.ref.name}")
            watched.follower.start()

    def ended(self, ref, status: JobStatus) -> str:
        """Tell the trial how its job ended; returns the state the sweep shows (PRUNED for one the rule stopped)."""
        with self._lock:
            watched = self.watched.get(ref.key)
        if watched is None:
            return status.state.value
        if watched.final is not None:
            return watched.final
        watched.ending.set()
        if watched.follower is not None:  # it reads to the log's end once the runtime says the job ended
            watched.follower.join(FINAL_READ_SECONDS)
        optuna = self.study.optuna
        state = status.state
        with self.study.lock:
            if state is JobState.STOPPED and watched.prune_step is not None:
                self.study.tell(watched.trial, state=optuna.trial.TrialState.PRUNED)
                watched.final = PRUNED
            elif state is JobState.SUCCEEDED and watched.last_value is not None:
                self.study.tell(watched.trial, watched.last_value)
                watched.final = state.value
            else:
                self.study.tell(watched.trial, state=optuna.trial.TrialState.FAIL)
                watched.final = state.value
                if state is JobState.SUCCEEDED:
                    self.errors.append(f"run {ref.name} never reported {self.stopping.metric}: call "
                                       f"submarine_kernel.report(step=..., {self.stopping.metric}=...) in the job")
        if watched.final == PRUNED:
            self._record_pruned(ref, status, watched)
        return watched.final

    def close(self) -> None:
        self._closed.set()

    # -- results -----------------------------------------------------------------------------------------
    def best(self) -> tuple[Any, float] | None:
        """(job, value) of the best trial that ran to its end, or None."""
        found = self.study.best()
        if found is None:
            return None
        number, value = found
        for watched in self.watched.values():
            if watched.trial.number == number:
                return watched.job, value
        return None

    def steps(self, ref) -> int | None:
        """The last step the job reported its metric at."""
        watched = self.watched.get(ref.key)
        return watched.last_step if watched else None

    # -- the followers ---------------------------------------------------------------------------------------
    def _follow(self, watched: _Watched) -> None:
        """Hand each point the job reports to its trial as the log grows, until the job ends; while the runtime
        has no log yet (replicas starting), or after a failed read, try again every `interval` seconds from the
        log's start (points already handed over are skipped by their step); a job that ended without a log
        ends its watch."""
        ref = watched.job.ref
        while not self._closed.is_set():
            watched.seen = 0
            try:
                for line in watched.job.follow():
                    point = parse_metric_line(line)
                    if point is not None:
                        self._take(watched, point)
                    if self._closed.is_set() or watched.final is not None:
                        return
                return
            except Exception as exc:  # noqa: BLE001 - not started yet, or unreachable: this job's watch goes on
                log.debug("no log yet for %s: %s", ref.key, exc)
            if watched.ending.wait(self.interval):
                return

    def _take(self, watched: _Watched, point: Mapping[str, Any]) -> None:
        """One reported point: its metric to the trial, then the rule's word on stopping the job."""
        index, watched.seen = watched.seen, watched.seen + 1
        value = point.get(self.stopping.metric)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return
        step = point.get("step", index)
        step = step if isinstance(step, int) and not isinstance(step, bool) else index
        with self.study.lock:
            if watched.final is not None:
                return
            if watched.last_step is not None and step <= watched.last_step:
                return  # Optuna keeps one value per step; a repeated step is a second report of it
            watched.trial.report(float(value), step)
            watched.last_step, watched.last_value = step, float(value)
            if watched.prune_step is not None or not watched.trial.should_prune():
                return
            watched.prune_step = step
        log.info("pruning %s at step %s (%s)", watched.job.ref.key, step, self.stopping.describe())
        threading.Thread(target=self._stop, args=(watched,), name="submarine-sweep-stop", daemon=True).start()

    def _stop(self, watched: _Watched) -> None:
        """Stop every replica through the runtime; the tracker, which follows the job, then sees it STOPPED."""
        ref = watched.job.ref
        try:
            self.session.runtime(ref.runtime).stop(ref)
        except Exception as exc:
            self.errors.append(f"could not stop pruned run {ref.name}: {exc}")

    def _record_pruned(self, ref, status: JobStatus, watched: _Watched) -> None:
        """Keep the job STOPPED (its runtime's word) with the step it was pruned at, so views show PRUNED."""
        steps = watched.last_step if watched.last_step is not None else watched.prune_step
        message = (f"pruned at step {steps} by {self.stopping.describe()}: "
                   f"{self.stopping.metric} {watched.last_value:.6g}")
        pruned = replace(status, message=message, details={**status.details, PRUNED_AT_STEP: str(steps)})
        try:
            self.session.registry.update_status(ref, pruned)
        except Exception as exc:
            self.errors.append(f"could not record that run {ref.name} was pruned: {exc}")
