"""Export to MLflow: runs from the registry logged with mlflow's own client into a local sqlite-backed
tracking store, then read back with that client the way the MLflow UI reads them."""

from __future__ import annotations

import pytest

from submarine_kernel.request import RERUN_LABEL, RunRequest
from submarine_kernel.mlflow_export import JOB_TAG, export_runs
from submarine_kernel.job_types import JobRef, JobState, JobStatus
from submarine_kernel.session import default_session

mlflow = pytest.importorskip("mlflow", reason="the MLflow client is in the test extra (mlflow-skinny)")
from mlflow.tracking import MlflowClient  # noqa: E402

T0 = "2026-01-01T10:00:00+00:00"
T1 = "2026-01-01T10:02:30+00:00"


def add_run(session, params, points, state, finished=T1, labels=None):
    spec = RunRequest(command="python t.py", params=params).build(session)
    if labels:
        spec = spec.replace(labels={**spec.labels, **labels})
    ref = JobRef("local", spec.name)
    session.registry.add(ref, spec, None, session.notebook,
                         JobStatus(state, submitted=T0, started=T0, finished=finished))
    session.registry.add_metrics(ref, points)
    return ref


def runs_by_name(client, experiment):
    found = client.get_experiment_by_name(experiment)
    return {r.info.run_name: r for r in client.search_runs([found.experiment_id])}


def test_runs_params_metrics_by_step_and_states_reach_mlflow(tmp_path):
    session = default_session()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    good = add_run(session, {"lr": 0.1, "opt": "adam"}, [{"step": s, "loss": 1 / (s + 1), "acc": s / 4}
                                                          for s in range(4)], JobState.SUCCEEDED)
    bad = add_run(session, {"lr": 5.0}, [{"loss": 3.0}, {"loss": float("nan")}], JobState.FAILED,
                  labels={RERUN_LABEL: good.name})
    running = add_run(session, {"lr": 0.2}, [{"step": 0, "loss": 0.9}], JobState.RUNNING, finished=None)
    result = export_runs(session.registry.list(), uri, "team-exp")
    assert sorted(result.created) == sorted([good.name, bad.name, running.name])

    client = MlflowClient(tracking_uri=uri)
    runs = runs_by_name(client, "team-exp")
    first = runs[good.name]
    assert first.data.params == {"lr": "0.1", "opt": "adam"} and first.info.status == "FINISHED"
    assert first.data.tags[JOB_TAG] == good.key and first.data.tags["submarine.state"] == "SUCCEEDED"
    history = client.get_metric_history(first.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, 1 / 3), (3, 0.25)]
    assert first.info.end_time - first.info.start_time == 150_000               # 2m 30s
    second = runs[bad.name]
    assert second.info.status == "FAILED" and second.data.tags["submarine.rerun_of"] == good.name
    assert [(m.step, m.value) for m in client.get_metric_history(second.info.run_id, "loss")] == [(0, 3.0)]
    assert runs[running.name].info.status == "RUNNING"

    # exporting again adds nothing; a run that has ended since is finished off with its new metrics
    session.registry.add_metrics(running, [{"step": 1, "loss": 0.4}])
    session.registry.update_status(running, JobStatus(JobState.SUCCEEDED, submitted=T0, started=T0, finished=T1))
    again = export_runs(session.registry.list(), uri, "team-exp")
    assert again.created == [] and again.finished == [running.name] and sorted(again.unchanged) == \
        sorted([good.name, bad.name])
    runs = runs_by_name(client, "team-exp")
    assert len(runs) == 3 and runs[running.name].info.status == "FINISHED"
    assert sorted(m.step for m in client.get_metric_history(runs[running.name].info.run_id, "loss")) == [0, 1]


@pytest.mark.slow
def test_history_export_magic_logs_a_real_run(tmp_path):
    from test_magics_kernel import errors, execute, text

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    nb = execute(
        "%submarine param lr=0.1",
        "%%submarine.python train.py --no-local\nimport sys, submarine_kernel as sk\n"
        "for s in range(3): sk.report(step=s, loss=float(sys.argv[1]) / (s + 1))",
        "%submarine run --name mlflow-export --wait -- python train.py {lr}",
        f"%submarine history --export mlflow --tracking-uri {uri} --experiment nb-runs",
        "%submarine history --export mlflow --tracking-uri not-a-scheme://x",
        tmp_path=tmp_path)
    cells = nb.cells
    assert not any(errors(c) for c in cells[:4]), [text(c) for c in cells if errors(c)]
    assert "exported 1 new run(s) to MLflow experiment 'nb-runs'" in text(cells[3])
    assert len(errors(cells[4])) == 1 and "not-a-scheme" in errors(cells[4])[0]   # one line, what to fix
    client = MlflowClient(tracking_uri=uri)
    (run,) = runs_by_name(client, "nb-runs").values()
    assert run.info.run_name == "mlflow-export" and run.data.params["lr"] == "0.1"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [0, 1, 2]
