"""Views escape every value: an XSS corpus through the status card, tables and links."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from submarine_kernel import render
from submarine_kernel.runtimes.base import JobState, JobStatus, ReplicaStatus

XSS = yaml.safe_load((Path(__file__).parent / "badinput" / "xss.yaml").read_text())
SAFE_TAGS = {"div", "b", "small", "span", "table", "thead", "tbody", "tr", "th", "td", "a"}


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
    assert "href=\"javascript" not in page and "ui: javascript:alert(1)" in page


def test_elapsed_and_times():
    status = JobStatus(JobState.SUCCEEDED, started="2026-01-01T00:00:00+00:00",
                       finished="2026-01-01T01:02:03+00:00")
    assert render.elapsed(status) == "1h 02m 03s"
    assert render.short_time("not a time") == ""
