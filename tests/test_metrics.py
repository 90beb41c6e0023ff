"""submarine_kernel.report inside a job, and the way the points come back to the registry."""

from __future__ import annotations

import json
import math

import pytest

import submarine_kernel as sk
from submarine_kernel import metrics
from submarine_kernel.errors import SubmarineError

from core_support import unique


def test_report_prints_a_marker_line_and_appends_to_the_metrics_file(capsys, tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    monkeypatch.setenv(metrics.METRICS_FILE_ENV, str(path))
    monkeypatch.setattr(metrics.time, "time", lambda: 1700000000.25)
    assert sk.report(step=1, loss=0.5, acc=1) == {"step": 1, "loss": 0.5, "acc": 1}
    sk.report(step=2, loss=float("nan"))
    out = capsys.readouterr().out.splitlines()
    # stamped with the replica's clock, for the progress's rate (progress.py); metric views leave it out
    assert out[0] == 'SUBMARINE_METRIC {"step": 1, "loss": 0.5, "acc": 1, "@time": 1700000000.25}'
    assert metrics.parse_metric_line(out[1]) == {"step": 2, "loss": "nan"}  # JSON has no NaN: kept as text
    assert metrics.read_metrics_file(str(path)) == [{"step": 1, "loss": 0.5, "acc": 1}, {"step": 2, "loss": "nan"}]


@pytest.mark.parametrize("call, message", [
    (lambda: sk.report(step=1), "got no metric"),
    (lambda: sk.report(step=1.5, loss=1), "step=1.5 is not a whole number"),
    (lambda: sk.report(loss="low"), "metric loss='low' is not a number"),
])
def test_report_refuses_what_cannot_be_plotted(call, message):
    with pytest.raises(SubmarineError, match=message):
        call()


def test_parsing_series_and_names():
    lines = ["epoch 0", 'rank 0 SUBMARINE_METRIC {"step": 0, "loss": 2.0}', "SUBMARINE_METRIC {broken",
             'SUBMARINE_METRIC {"step": 1, "loss": 1.0, "acc": 0.5}', 'SUBMARINE_METRIC [1, 2]',
             'SUBMARINE_METRIC {"loss": "nan", "acc": 0.75}']
    points = metrics.parse_metrics(lines)
    assert points == [{"step": 0, "loss": 2.0}, {"step": 1, "loss": 1.0, "acc": 0.5}, {"loss": "nan", "acc": 0.75}]
    assert metrics.series(points, "loss") == [(0.0, 2.0), (1.0, 1.0)]
    assert metrics.series(points, "acc") == [(1.0, 0.5), (2.0, 0.75)]   # no step: its position
    assert metrics.metric_names(points) == ["loss", "acc"]
    assert metrics.last_values(points) == {"step": 1, "loss": "nan", "acc": 0.75}
    assert not any(math.isnan(y) for _, y in metrics.series(points, "loss"))


def test_a_job_reports_and_the_harvester_stores_the_points(tmp_path):
    from submarine_kernel.session import default_session

    session = default_session()
    harvester = metrics.harvester_for(session)
    assert metrics.harvester_for(session) is harvester             # one per session
    job = sk.submit("python train.py", name=unique("metrics"), files={"train.py": (
        "import submarine_kernel as sk\n"
        "for step in range(3):\n"
        "    sk.report(step=step, loss=1.0 / (step + 1))\n")})
    status = job.wait(timeout=120)
    assert status.state.value == "SUCCEEDED", job.logs()
    session.tracker.refresh()
    from core_support import wait_until

    wait_until(lambda: session.registry.get(job.name).metrics, what="metrics stored")
    harvester.join()
    record = session.registry.get(job.name)
    assert record.metrics == [{"step": 0, "loss": 1.0}, {"step": 1, "loss": 0.5},
                              {"step": 2, "loss": pytest.approx(1 / 3)}]
    assert harvester.harvest(job.ref) == []                        # harvested once, never appended twice
    assert json.loads(json.dumps(record.metrics)) == record.metrics
