"""Run history: this notebook's runs as a runs table (filter, sort, a checkbox per run; see runs_table.py),
the picked runs' params and metrics side by side, a plotly chart of one metric over steps (log option),
and Re-run, which fills the parameter form with one run's values.

It refreshes itself from tracker events (batched, at most one redraw a second). The live chart sits in an
Output widget (replacing its outputs re-renders a plotly chart; an update_display would not). Frozen at
kernel shutdown (static.py), the table becomes HTML and the chart a plotly output of its own.
"""

from __future__ import annotations

from html import escape
import ipywidgets as w

from submarine_kernel import chart, metrics, render
from submarine_kernel.request import RunRequest
from submarine_kernel.numfmt import number
from submarine_kernel.runs import RunRow, distinct_colors, run_rows, series
from submarine_kernel.throttle import UpdateBatcher

from .common import FallbackBundle
from .run_details import details_html
from .runs_table import RunsTable, params_html

REFRESH_INTERVAL = 1.0
DEFAULT_LIMIT = 500


def compare_html(rows: list[RunRow]) -> str:
    """Params, then each metric's last/min/max, of the picked runs side by side; differing rows are bold."""
    if len(rows) < 2:
        return ""
    colors = distinct_colors(rows)  # as in the chart
    head = "<th></th>" + "".join(f'<th><span style="color:{colors[r.name]}">■</span> {escape(r.name)}</th>'
                                 for r in rows)
    lines = []
    for name in dict.fromkeys(k for r in rows for k in r.params):
        lines.append((f"param {name}", [params_html({name: r.params[name]}).partition("=")[2]
                                        if name in r.params else "" for r in rows]))
    for name in dict.fromkeys(k for r in rows for k in r.stats):
        for which in ("last", "min", "max"):
            lines.append((f"{name} {which}", [escape(number(getattr(r.stats[name], "minimum" if which == "min" else
                                                                    "maximum" if which == "max" else "last")))
                                              if name in r.stats else "" for r in rows]))
    body = "".join(f'<tr style="{"font-weight:600" if len(set(values)) > 1 else ""}"><td>{escape(label)}</td>'
                   + "".join(f"<td>{v}</td>" for v in values) + "</tr>" for label, values in lines)
    return (f'<table class="submarine-table submarine-compare" style="margin-left:0"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def chart_bundle(rows: list[RunRow], metric: str | None, log_y: bool = False) -> dict:
    if not metric:
        return chart.empty_bundle("no metrics reported by the picked runs (call submarine_kernel.report in the job)")
    figure = chart.metric_figure({r.name: series(r, metric) for r in rows}, metric,
                                 distinct_colors(rows), log_y)
    if figure is None:
        return chart.empty_bundle(f"no {metric} values reported yet")
    return chart.figure_bundle(figure, metric)


class RunHistory(FallbackBundle, w.VBox):
    """This notebook's runs, newest first, kept up to date while jobs run."""

    def __init__(self, session, notebook: str | None = None, form=None, limit: int = DEFAULT_LIMIT,
                 all_notebooks: bool = False):
        self.session = session
        self.notebook = None if all_notebooks else (notebook or session.notebook)
        self.form = form
        self.limit = limit
        self.rows: list[RunRow] = []
        self._stats: dict = {}          # run key → (points, metric stats), reused across refreshes
        self._chart_key: tuple = ()     # what the chart shows now; redrawn only when that changes
        self.harvester = metrics.harvester_for(session)  # stores the metrics of jobs as they end
        self._user_selected = False  # until the user picks runs, the two newest are compared
        self.table = RunsTable(on_select=self._on_select)
        self.metric = w.Dropdown(description="metric", options=[], style={"description_width": "50px"})
        self.log_y = w.Checkbox(value=False, description="log y axis", indent=False, layout=w.Layout(width="110px"))
        self.chart_output = w.Output()
        self.chart_data: dict = {}
        self.compare = w.HTML()
        self.compare.add_class("jp-RenderedHTMLCommon")
        self.rerun_button = w.Button(description="Re-run", icon="redo", tooltip="fill the form with the picked run's "
                                                                               "values, for one run like it")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.message = w.HTML()
        self.form_output = w.Output()
        self.rerun_button.on_click(lambda _: self.rerun())
        self.refresh_button.on_click(lambda _: self.refresh())
        self.metric.observe(lambda _: self._redraw_chart(), names="value")
        self.log_y.observe(lambda _: self._redraw_chart(), names="value")
        title = "Runs of this notebook" if self.notebook else "Runs of every notebook"
        super().__init__(children=[w.HTML(f"<b>{title}</b>"), self.table,
                                   w.HBox([self.rerun_button, self.refresh_button, self.metric, self.log_y]),
                                   self.message, self.compare, self.chart_output, self.form_output],
                         layout=w.Layout(border="1px solid #d0d7de", padding="8px"))
        self.add_class("submarine-history")
        self._batcher = UpdateBatcher(lambda _: self.refresh(), REFRESH_INTERVAL)
        self._remove_listener = session.tracker.listen(lambda ref, status: self._batcher.push({"changed": True}))
        self._remove_harvest_listener = self.harvester.listen(lambda ref, points: self._batcher.push({"changed": True}))
        self.refresh()

    # -- frozen (static.show) ----------------------------------------------------------------------------
    def frozen_bundle(self) -> dict:
        """The table (and comparison) as static HTML; the chart goes to the slot below."""
        return {"text/html": self.static_html(include_chart=False), "text/plain": self.fallback_text()}

    def slot_bundle(self) -> dict:
        return self.chart_data

    # -- data --------------------------------------------------------------------------------------------
    @property
    def records(self):
        return [r.record for r in self.rows]

    def refresh(self) -> None:
        """Read the registry again and redraw, keeping filter, sort and the picked runs."""
        self.rows = run_rows(self.session.records(notebook=self.notebook, limit=self.limit), self._stats)
        self.table.set_rows(self.rows)
        if not self._user_selected or not self.table.selected_keys:
            newest = sorted(self.rows, key=lambda r: r.record.submitted, reverse=True)[:2]
            self.table.selected_keys = [r.key for r in newest]
            self.table.go(self.table.page)
        self._redraw_selection()

    def _on_select(self) -> None:
        self._user_selected = True
        self._redraw_selection()

    def select(self, keys: list[str]) -> None:
        """Pick these runs (as ticking their checkboxes does)."""
        self.table.select(keys)

    @property
    def selected(self):
        return [r.record for r in self.table.selected]

    def _redraw_selection(self) -> None:
        chosen = self.table.selected
        names = metrics.metric_names(p for r in chosen for p in r.record.metrics)
        current = self.metric.value
        self.metric.options = names
        self.metric.value = current if current in names else (names[0] if names else None)
        self.compare.value = compare_html(chosen) + details_html(self.session, chosen)
        self._redraw_chart()

    def _redraw_chart(self) -> None:
        chosen = self.table.selected
        key = (tuple((r.key, len(r.record.metrics)) for r in chosen), self.metric.value, self.log_y.value)
        if key == self._chart_key:
            return
        self._chart_key = key
        self.chart_data = chart_bundle(chosen, self.metric.value, self.log_y.value)
        self.chart_output.outputs = ({"output_type": "display_data", "data": self.chart_data, "metadata": {}},)

    # -- actions -----------------------------------------------------------------------------------------
    def rerun(self) -> RunRequest | None:
        """Fill the form (this history's, the session's last, or a new one shown below) with the picked run's
        values, for one run like it; returns the request used (None, saying why, unless one run is picked)."""
        chosen = self.selected
        if not chosen:
            self.message.value = "<small>pick a run first (its checkbox)</small>"
            return None
        if len(chosen) > 1:  # which one was meant is the user's to say, not the first in the list
            self.message.value = (f"<small>Re-run fills the form with one run, and {len(chosen)} are ticked: "
                                  "untick all but the one to run again</small>")
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
    def static_html(self, include_chart: bool = True) -> str:
        chart_html = self.chart_data.get("text/html", "") if include_chart else ""
        return ('<div class="submarine-history-static">' + self.table.static_html()
                + compare_html(self.table.selected) + details_html(self.session, self.table.selected)
                + chart_html + "</div>")

    def fallback_html(self) -> str:
        return self.static_html()

    def fallback_text(self) -> str:
        if not self.rows:
            return "no runs from this notebook yet"
        return self.table.static_text()
