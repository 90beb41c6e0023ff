"""Views escape every value: an XSS corpus through the status card, tables and links."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from submarine_kernel import render
from submarine_kernel.job_types import JobState, JobStatus, ReplicaStatus

XSS = yaml.safe_load((Path(__file__).parent / "badinput" / "xss.yaml").read_text())
SAFE_TAGS = {"div", "b", "small", "span", "table", "thead", "tbody", "tr", "th", "td", "a", "code", "details",
             "summary", "pre"}


class TagCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(name, value or "") for name, value in attrs]


def assert_inert(page: str) -> None:
    """Only the view's own tags, no event handlers, no script URLs."""
    parser = TagCollector()
    parser.feed(page)
    assert set(parser.tags) <= SAFE_TAGS, set(parser.tags) - SAFE_TAGS
    for name, value in parser.attrs:
        assert not name.startswith("on"), name
        assert not value.strip().lower().startswith("javascript:"), value


@pytest.mark.parametrize("evil", XSS)
def test_status_card_escapes_every_value(evil):
    status = JobStatus(JobState.FAILED, raw_state=evil, submitted="2026-01-01T00:00:00+00:00", message=evil,
                       replicas=[ReplicaStatus(evil, "worker", 0, JobState.FAILED, evil, 1, evil)],
                       links={evil: "https://ui.example/" + evil, "logs": "javascript:alert(1)"})
    page = render.status_html(evil, status, runtime=evil)
    assert_inert(page)
    assert render.status_text(evil, status).startswith(evil)  # plain text keeps the value as it is


@pytest.mark.parametrize("evil", XSS)
def test_tables_escape_every_cell_and_header(evil):
    page = render.table_html([evil, "state"], [[evil, evil], ["ok", evil]])
    assert_inert(page)


def test_unsafe_link_schemes_are_shown_as_text():
    page = render.status_html("j", JobStatus(JobState.RUNNING, links={"ui": "javascript:alert(1)",
                                                                     "tb": "https://tb.example/x?a=1&b=2"}))
    assert 'href="https://tb.example/x?a=1&amp;b=2"' in page
    assert "href=\"javascript" not in page and "ui: <code>javascript:alert(1)</code>" in page


@pytest.mark.parametrize("evil", XSS)
def test_finished_summary_escapes_every_value(evil):
    status = JobStatus(JobState.FAILED, raw_state=evil, started="2026-01-01T00:00:00+00:00",
                       finished="2026-01-01T00:01:05+00:00", message=evil,
                       replicas=[ReplicaStatus(evil, "worker", 0, JobState.FAILED, evil, 1, evil)],
                       links={evil: "https://ui.example/" + evil})
    page = render.summary_html(evil, status, evil, {evil: 0.5}, [evil] * 3)
    assert_inert(page)
    assert "1m 05s" in page and "exit 1" in page and 'data-state="FAILED"' in page


def test_finished_summary_is_compact_and_shows_the_log_inline():
    status = JobStatus(JobState.SUCCEEDED, "succeeded", started="2026-01-01T00:00:00+00:00",
                       finished="2026-01-01T00:00:12+00:00", message="done",
                       links={"logs": "file:///var/jobs/j/logs", "ui": "https://ui.example/j"})
    lines = [f"epoch {i}" for i in range(80)]
    page = render.summary_html("j", status, "local", {"step": 79, "loss": 0.022461, "acc": 1.26}, lines)
    assert "SUCCEEDED</span> · 12s · " in page and "step=79, loss=0.02246, acc=1.260" in page
    assert "succeeded" not in page.replace("SUCCEEDED", "")              # the state once
    assert "file://" not in page and 'href="https://ui.example/j"' in page and "color:#0969da" in page
    assert "epoch 79" in page and "epoch 29\n" not in page and "last 50 lines" in page
    assert "%submarine logs j" in page
    assert render.summary_text("j", status, "local", {"loss": 0.5}) == "j on local: SUCCEEDED · 12s · loss=0.5000"


def test_a_submitted_job_whose_replicas_run_is_shown_running():
    running = JobStatus(JobState.SUBMITTED, replicas=[ReplicaStatus("worker-0", "worker", 0, JobState.RUNNING)])
    assert render.shown_state(running) is JobState.RUNNING
    assert 'data-state="RUNNING"' in render.status_html("j", running)
    assert render.status_text("j", running).startswith("j: RUNNING")
    assert render.shown_state(JobStatus(JobState.SUBMITTED)) is JobState.SUBMITTED


def test_one_significant_digits_rule_for_numbers():
    from submarine_kernel.numfmt import metrics_text, number

    assert [number(v) for v in (0.022461, 1.26, 12345.6, 7, 100.0, 0.0, -2.5)] == \
        ["0.02246", "1.260", "1.235e+04", "7", "100.0", "0", "-2.500"]
    assert number(float("nan")) == "nan" and number("inf") == "inf" and number(True) == "True"
    assert metrics_text({"step": 3, "loss": 0.022461, "acc": 1.26}) == "step=3, loss=0.02246, acc=1.260"


def test_elapsed_and_times():
    status = JobStatus(JobState.SUCCEEDED, started="2026-01-01T00:00:00+00:00",
                       finished="2026-01-01T01:02:03+00:00")
    assert render.elapsed(status) == "1h 02m 03s"
    assert render.short_time("not a time") == ""
