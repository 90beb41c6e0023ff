"""Run history: this notebook's runs with params, state, duration and last metrics; select runs to
compare them and plot a metric over steps; Re-run fills the parameter form with a past run's values.

It refreshes itself from tracker events (batched, at most one redraw a second).
"""

from __future__ import annotations

from html import escape
import ipywidgets as w

from submarine_kernel import chart, metrics, render
from submarine_kernel.launch import RunRequest
from submarine_kernel.numfmt import metrics_text
from submarine_kernel.registry import JobRecord
from submarine_kernel.throttle import UpdateBatcher

from .common import FallbackBundle

REFRESH_INTERVAL = 1.0


def _state(record: JobRecord) -> str:
    return record.status.state.value if record.status else record.state


def _duration(record: JobRecord) -> str:
    return render.elapsed(record.status) if record.status else ""


def _metrics_text(record: JobRecord) -> str:
    latest = metrics.last_values(record.metrics)
    return metrics_text(latest)


HEADERS = ["run", "state", "submitted", "duration", "params", "last metrics"]


def history_rows(records: list[JobRecord]) -> list[list[str]]:
    return [[r.ref.name, _state(r), render.short_time(r.submitted), _duration(r), render.params_text(r.params),
             _metrics_text(r)] for r in records]


def history_table_html(records: list[JobRecord]) -> str:
    """The runs table; states as colored badges, everything else escaped by the table renderer."""
    if not records:
        return "<i>no runs from this notebook yet</i>"
    from submarine_kernel.runtimes.base import JobState

    body = "".join(
        "<tr>" + f"<td>{escape(row[0])}</td><td>{render.state_badge(JobState(row[1]))}</td>"
        + "".join(f"<td>{escape(cell)}</td>" for cell in row[2:]) + "</tr>"
        for row in history_rows(records))
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADERS)
    return f'<table class="submarine-table submarine-history"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def compare_html(records: list[JobRecord]) -> str:
    """Params of the selected runs side by side; rows whose values differ are bold."""
    if len(records) < 2:
        return ""
    names = list(dict.fromkeys(k for r in records for k in r.params))
    head = "<th>param</th>" + "".join(f"<th>{escape(r.ref.name)}</th>" for r in records)
    rows = []
    for name in names:
        values = [str(r.params.get(name, "")) for r in records]
        weight = "font-weight:600" if len(set(values)) > 1 else ""
        rows.append(f'<tr style="{weight}"><td>{escape(name)}</td>'
                    + "".join(f"<td>{escape(v)}</td>" for v in values) + "</tr>")
    return (f'<table class="submarine-table submarine-compare"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def metric_chart_html(records: list[JobRecord], metric: str | None) -> str:
    if not metric:
        return "<i>no metrics reported by the selected runs (call submarine_kernel.report in the job)</i>"
    return chart.line_chart_svg({r.ref.name: metrics.series(r.metrics, metric) for r in records}, title=metric)


class RunHistory(FallbackBundle, w.VBox):
    """This notebook's runs, newest first, kept up to date while jobs run."""

    def __init__(self, session, notebook: str | None = None, form=None, limit: int = 50, all_notebooks: bool = False):
        self.session = session
        self.notebook = None if all_notebooks else (notebook or session.notebook)
        self.form = form
        self.limit = limit
        self.records: list[JobRecord] = []
        self.harvester = metrics.harvester_for(session)  # stores the metrics of jobs as they end
        self.table = w.HTML()
        self.table.add_class("jp-RenderedHTMLCommon")  # JupyterLab's table styling
        self.selector = w.SelectMultiple(description="compare", rows=5, layout=w.Layout(width="720px"),
                                         style={"description_width": "80px"})
        self.metric = w.Dropdown(description="metric", options=[], style={"description_width": "80px"})
        self.chart = w.HTML()
        self.compare = w.HTML()
        self.compare.add_class("jp-RenderedHTMLCommon")
        self.rerun_button = w.Button(description="Re-run", icon="redo", tooltip="fill the form with this run's values")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.message = w.HTML()
        self.form_output = w.Output()
        self.rerun_button.on_click(lambda _: self.rerun())
        self.refresh_button.on_click(lambda _: self.refresh())
        self._refreshing = False
        self._user_selected = False  # until the user picks runs, the two newest are compared
        self.selector.observe(self._on_select, names="value")
        self.metric.observe(lambda _: self._redraw_chart(), names="value")
        super().__init__(children=[w.HTML("<b>Runs of this notebook</b>"), self.table, self.selector,
                                   w.HBox([self.rerun_button, self.refresh_button, self.metric]), self.message,
                                   self.compare, self.chart, self.form_output],
                         layout=w.Layout(border="1px solid #d0d7de", padding="8px"))
        self.add_class("submarine-history")
        self._batcher = UpdateBatcher(lambda _: self.refresh(), REFRESH_INTERVAL)
        self._remove_listener = session.tracker.listen(lambda ref, status: self._batcher.push({"changed": True}))
        self._remove_harvest_listener = self.harvester.listen(lambda ref, points: self._batcher.push({"changed": True}))
        self.refresh()

    # -- data --------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the registry again and redraw, keeping the selection."""
        self.records = self.session.registry.list(notebook=self.notebook, limit=self.limit)
        self.table.value = history_table_html(self.records)
        keys = {r.ref.key for r in self.records}
        selected = [k for k in self.selector.value if k in keys] if self._user_selected else []
        if not selected:  # compare the two newest runs by default
            selected = [r.ref.key for r in self.records[:2]]
        self._refreshing = True
        try:
            self.selector.options = [(f"{r.ref.name} · {_state(r)} · {render.params_text(r.params)}", r.ref.key)
                                     for r in self.records]
            self.selector.value = tuple(selected)
        finally:
            self._refreshing = False
        self._redraw_selection()

    def _on_select(self, _change) -> None:
        if not self._refreshing:
            self._user_selected = True
            self._redraw_selection()

    @property
    def selected(self) -> list[JobRecord]:
        keys = set(self.selector.value)
        return [r for r in self.records if r.ref.key in keys]

    def _redraw_selection(self) -> None:
        chosen = self.selected
        names = metrics.metric_names(p for r in chosen for p in r.metrics)
        current = self.metric.value
        self.metric.options = names
        self.metric.value = current if current in names else (names[0] if names else None)
        self.compare.value = compare_html(chosen)
        self._redraw_chart()

    def _redraw_chart(self) -> None:
        self.chart.value = metric_chart_html(self.selected, self.metric.value)

    # -- actions -----------------------------------------------------------------------------------------
    def rerun(self) -> RunRequest | None:
        """Fill the form (this history's, the session's last, or a new one shown below) with the first
        selected run's values; returns the request used."""
        chosen = self.selected
        if not chosen:
            self.message.value = "<small>select a run first</small>"
            return None
        record = chosen[0]
        request = RunRequest.from_record(record)
        from .form import last_form

        form = self.form or last_form(self.session)
        if form is None:
            from . import make_form

            form = make_form(self.session, request=request)
            self.form_output.append_display_data(form)
        form.fill(request)
        self.form = form
        self.message.value = (f"<small>the form now holds the values of <b>{escape(record.ref.name)}</b>: "
                              "change what you like and press Run</small>")
        return request

    def close(self) -> None:
        self._remove_listener()
        self._remove_harvest_listener()
        self._batcher.close()
        super().close()

    # -- fallbacks ---------------------------------------------------------------------------------------
    def fallback_html(self) -> str:
        chosen = self.selected
        names = metrics.metric_names(p for r in chosen for p in r.metrics)
        return (history_table_html(self.records) + compare_html(chosen)
                + (metric_chart_html(chosen, names[0]) if names else ""))

    def fallback_text(self) -> str:
        if not self.records:
            return "no runs from this notebook yet"
        return render.table_text(HEADERS, history_rows(self.records))
