"""Export runs to an MLflow tracking server (`%submarine history --export mlflow`), so teams compare them
in the MLflow UI they already run: each run's params, its metrics by step, its state and times.

mlflow's own client does the work (`mlflow-skinny` is enough), imported only here. Exporting again is
safe: a run already in the experiment (found by its `submarine.job` tag) is finished off if it was still
running then, and otherwise left alone.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Iterable

from . import render
from .errors import SubmarineError
from .request import RERUN_LABEL
from .registry import JobRecord
from .job_types import JobState

JOB_TAG = "submarine.job"
#: MLflow's run statuses for ours (anything else is still RUNNING there)
MLFLOW_STATUS = {JobState.SUCCEEDED: "FINISHED", JobState.FAILED: "FAILED", JobState.STOPPED: "KILLED"}
BATCH_METRICS = 1000  # MLflow's limits per log_batch call
BATCH_PARAMS = 100
PARAM_VALUE_LIMIT = 6000


@dataclass
class ExportResult:
    experiment: str
    tracking_uri: str
    created: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"exported {len(self.created)} new run(s) to MLflow experiment {self.experiment!r} at "
                f"{self.tracking_uri}; {len(self.finished)} updated, {len(self.unchanged)} already there")


def _client(tracking_uri: str | None):
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise SubmarineError("exporting to MLflow needs its client: pip install 'submarine-kernel[mlflow]' "
                             "(or mlflow-skinny)") from None
    return MlflowClient(tracking_uri=tracking_uri)


def _millis(text: str | None) -> int | None:
    moment = render.parse_time(text)
    return int(moment.timestamp() * 1000) if moment else None


def _state(record: JobRecord) -> JobState:
    return record.status.state if record.status else JobState(record.state)


def export_runs(records: Iterable[JobRecord], tracking_uri: str | None = None,
                experiment: str = "submarine-kernel") -> ExportResult:
    """Log each record as an MLflow run in `experiment` (made if missing); returns what was done."""
    try:
        client = _client(tracking_uri)
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    except SubmarineError:
        raise
    except Exception as exc:
        raise SubmarineError(f"MLflow tracking server {tracking_uri or '(MLFLOW_TRACKING_URI)'} could not open the "
                             f"experiment {experiment!r}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                             " (check --tracking-uri)") from None
    result = ExportResult(experiment, str(client.tracking_uri))
    for record in records:
        _export_one(client, experiment_id, record, result)
    return result


def _export_one(client, experiment_id: str, record: JobRecord, result: ExportResult) -> None:
    from mlflow.entities import Metric, Param

    key = record.ref.key
    state = _state(record)
    existing = client.search_runs([experiment_id], filter_string=f"tags.`{JOB_TAG}` = '{key}'", max_results=1)
    if existing:
        run = existing[0]
        if run.info.status == "RUNNING" and state in MLFLOW_STATUS:
            _log_metrics(client, run.info.run_id, record, Metric, skip_existing=True)
            client.set_tag(run.info.run_id, "submarine.state", state.value)
            client.set_terminated(run.info.run_id, MLFLOW_STATUS[state], _millis(record.status.finished
                                                                              if record.status else None))
            result.finished.append(record.ref.name)
        else:
            result.unchanged.append(record.ref.name)
        return
    tags = {JOB_TAG: key, "submarine.runtime": record.ref.runtime, "submarine.state": state.value,
            "submarine.notebook": record.notebook or "", "submarine.framework": record.spec.framework}
    if record.spec.labels.get(RERUN_LABEL):
        tags["submarine.rerun_of"] = record.spec.labels[RERUN_LABEL]
    started = (record.status.started or record.status.submitted) if record.status else record.submitted
    run = client.create_run(experiment_id, start_time=_millis(started) or _millis(record.submitted),
                            tags=tags, run_name=record.ref.name)
    run_id = run.info.run_id
    params = [Param(str(k), str(v)[:PARAM_VALUE_LIMIT]) for k, v in record.params.items()]
    for start in range(0, len(params), BATCH_PARAMS):
        client.log_batch(run_id, params=params[start:start + BATCH_PARAMS])
    _log_metrics(client, run_id, record, Metric)
    if state in MLFLOW_STATUS:
        client.set_terminated(run_id, MLFLOW_STATUS[state], _millis(record.status.finished if record.status else None))
    result.created.append(record.ref.name)


def _log_metrics(client, run_id: str, record: JobRecord, metric_type, skip_existing: bool = False) -> None:
    """Every reported point as metrics at its step (points without one count up from 0)."""
    stamp = _millis(record.status.finished if record.status else None) or int(time.time() * 1000)
    seen: set[tuple[str, int]] = set()
    if skip_existing:
        run = client.get_run(run_id)
        for name in run.data.metrics:
            seen.update((name, m.step) for m in client.get_metric_history(run_id, name))
    batch = []
    for index, point in enumerate(record.metrics):
        step = point.get("step", index)
        step = int(step) if isinstance(step, (int, float)) and not isinstance(step, bool) else index
        for name, value in point.items():
            if name == "step" or isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or (name, step) in seen:
                continue
            batch.append(metric_type(name, float(value), stamp, step))
    for start in range(0, len(batch), BATCH_METRICS):
        client.log_batch(run_id, metrics=batch[start:start + BATCH_METRICS])


def export_history(session, tracking_uri: str | None, experiment: str | None, all_notebooks: bool = False,
                   limit: int | None = None) -> ExportResult:
    """`%submarine history --export mlflow`: this notebook's runs (or every notebook's) to MLflow, after the
    metrics of jobs that just ended are stored."""
    from . import metrics

    metrics.harvester_for(session).join(timeout=30)
    records = session.records(notebook=None if all_notebooks else session.notebook, limit=limit)
    return export_runs(records, tracking_uri, experiment)
