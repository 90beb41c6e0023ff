"""The runs table widget: filter by state and by param/metric conditions, sort by any column, pick runs
with a checkbox per row, a page of rows at a time. Also the compact list of a form's earlier runs.

The grid's widgets are made once (one page of rows) and only their values change on a refresh, so a
history of 500 runs costs one page of widgets, not 500 rows of them.
"""

from __future__ import annotations

from html import escape
from typing import Callable

import ipywidgets as w

from submarine_kernel import metrics, render
from submarine_kernel.errors import ValidationError
from submarine_kernel.numfmt import metrics_text, plain_number
from submarine_kernel.runs import (RunRow, filter_rows, metrics_summary, parse_filter, sort_options, sort_rows,
                                   states_of)

PAGE_SIZE = 25
COLUMNS = ("", "run", "state", "submitted", "duration", "params", "metrics (last, min, max)")
GRID_COLUMNS = "28px minmax(160px, 1.2fr) 100px 150px 80px minmax(120px, 1fr) minmax(160px, 1.4fr)"
ANY_STATE = "any state"


def run_cell_html(row: RunRow) -> str:
    """The run's name with its colour (as in the chart) and the run it re-ran, if any."""
    rerun = f'<br><small class="submarine-rerun-of">re-run of {escape(row.rerun_of)}</small>' if row.rerun_of else ""
    return (f'<span class="submarine-run" data-run="{escape(row.name, quote=True)}">'
            f'<span style="color:{row.color}">■</span> {escape(row.name)}</span>{rerun}')


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def params_html(params: dict) -> str:
    return escape(", ".join(f"{k}={plain_number(v) if isinstance(v, float) else v}" for k, v in params.items()))


def _small(text: str) -> str:
    return f" <small>{escape(text)}</small>" if text else ""


def row_cells(row: RunRow) -> list[str]:
    """The HTML of each column after the checkbox, every value escaped."""
    return [run_cell_html(row), render.state_badge(row.state) + _small(render.pruned_note(row.record.status)), escape(render.short_time(row.record.submitted)),
            escape(duration_text(row.duration)), params_html(row.params),
            "<br>".join(escape(line) for line in metrics_summary(row.stats))]


def table_html(rows: list[RunRow]) -> str:
    """The same table as static HTML (saved notebooks, nbconvert)."""
    if not rows:
        return "<i>no runs from this notebook yet</i>"
    return render.table_html(COLUMNS[1:], [row_cells(r) for r in rows], css_class="submarine-history",
                             cells_are_html=True)


def earlier_runs_html(session, earlier: list, shown: int) -> str:
    """One line per job of `earlier` (newest first), `shown` at most: name, state, elapsed, params, last
    metrics (read from the registry once the job has ended); "" when there are none."""
    if not earlier:
        return ""
    rows = []
    for job in earlier[:shown]:
        status = session.tracker.last(job.ref)
        record = session.record(job.name, job.ref.runtime) if status and status.terminal else None
        values = metrics_text(metrics.last_values(record.metrics)) if record else ""
        known = record.status if record and record.status else status  # the registry's knows a pruned run
        badge = render.state_badge(render.shown_label(known)) + _small(render.pruned_note(known)) if known else ""
        rows.append([escape(job.name), badge, escape(render.elapsed(status) if status else ""),
                     escape(render.params_text(job.spec.params)), escape(values)])
    more = len(earlier) - shown
    note = f"<small>and {more} more: see %submarine history</small>" if more > 0 else ""
    return ("<div><small>earlier runs from this form</small></div>"
            + render.table_html([], rows, css_class="submarine-earlier", cells_are_html=True) + note)


class RunsTable(w.VBox):
    """Rows of runs with a checkbox each; `selected_keys` is the picked runs' keys (runtime/name)."""

    def __init__(self, on_select: Callable[[], None] = lambda: None, page_size: int = PAGE_SIZE):
        self.rows: list[RunRow] = []          # every run, as given
        self.shown: list[RunRow] = []         # filtered and sorted
        self.selected_keys: list[str] = []
        self.page = 0
        self.page_size = page_size
        self._on_select = on_select
        self._setting = False
        self.state = w.Dropdown(options=[ANY_STATE], value=ANY_STATE, description="state",
                                style={"description_width": "40px"}, layout=w.Layout(width="180px"))
        self.filter = w.Text(placeholder="filter: lr>0.01, opt=adam, loss<0.5, name~sweep", continuous_update=False,
                             layout=w.Layout(width="360px"))
        self.sort = w.Dropdown(options=list(sort_options([])), value="submitted", description="sort by",
                               style={"description_width": "55px"}, layout=w.Layout(width="220px"))
        self.descending = w.ToggleButton(value=True, description="↓", tooltip="descending (newest, largest first)",
                                         layout=w.Layout(width="40px"))
        self.filter_note = w.HTML()
        self.previous = w.Button(description="‹", layout=w.Layout(width="36px"), tooltip="previous page")
        self.next = w.Button(description="›", layout=w.Layout(width="36px"), tooltip="next page")
        self.page_label = w.HTML()
        self.previous.on_click(lambda _: self.go(self.page - 1))
        self.next.on_click(lambda _: self.go(self.page + 1))
        for control in (self.state, self.filter, self.sort, self.descending):
            control.observe(lambda _: self._setting or self.apply(), names="value")
        self.checkboxes = [w.Checkbox(indent=False, layout=w.Layout(width="24px")) for _ in range(page_size)]
        for index, box in enumerate(self.checkboxes):
            box.observe(lambda change, i=index: self._toggled(i, change["new"]), names="value")
        self.cells = [[w.HTML() for _ in COLUMNS[1:]] for _ in range(page_size)]
        header = [w.HTML(f"<b>{escape(h)}</b>") for h in COLUMNS]
        grid_children = header + [widget for box, cells in zip(self.checkboxes, self.cells) for widget in [box, *cells]]
        self.grid = w.GridBox(grid_children, layout=w.Layout(grid_template_columns=GRID_COLUMNS, grid_gap="2px 8px",
                                                             align_items="center"))
        self.grid.add_class("submarine-runs-grid")
        super().__init__([w.HBox([self.state, self.filter, self.sort, self.descending]), self.filter_note, self.grid,
                          w.HBox([self.previous, self.page_label, self.next])])

    # -- data --------------------------------------------------------------------------------------------
    def set_rows(self, rows: list[RunRow]) -> None:
        """New data (a refresh); keeps filter, sort, page and the selection of runs still there."""
        self.rows = rows
        keys = {r.key for r in rows}
        self.selected_keys = [k for k in self.selected_keys if k in keys]
        self._setting = True
        try:  # new options reset a Dropdown's value: put the user's choice back
            state, sort = self.state.value, self.sort.value
            states = [ANY_STATE, *states_of(rows)]
            if state not in states:
                states.append(state)
            if list(self.state.options) != states:
                self.state.options = states
                self.state.value = state
            options = sort_options(rows)
            if sort not in options:
                options.append(sort)
            if list(self.sort.options) != options:
                self.sort.options = options
                self.sort.value = sort
        finally:
            self._setting = False
        self.apply()

    def apply(self) -> None:
        """Filter and sort again, then redraw the page."""
        state = None if self.state.value == ANY_STATE else self.state.value
        try:
            shown = filter_rows(self.rows, state, parse_filter(self.filter.value))
            self.filter_note.value = ""
        except ValidationError as exc:  # the filter is ignored until fixed, and says why
            shown = filter_rows(self.rows, state)
            self.filter_note.value = f'<small style="color:#cf222e">{escape("; ".join(exc.problems))}</small>'
        self.shown = sort_rows(shown, self.sort.value, self.descending.value)
        self.descending.description = "↓" if self.descending.value else "↑"
        self.page = min(self.page, max(0, (len(self.shown) - 1) // self.page_size))
        self._draw_page()

    def go(self, page: int) -> None:
        pages = max(1, -(-len(self.shown) // self.page_size))
        self.page = max(0, min(page, pages - 1))
        self._draw_page()

    def _draw_page(self) -> None:
        start = self.page * self.page_size
        page_rows = self.shown[start:start + self.page_size]
        selected = set(self.selected_keys)
        self._setting = True
        try:
            for index, (box, cells) in enumerate(zip(self.checkboxes, self.cells)):
                row = page_rows[index] if index < len(page_rows) else None
                display = None if row else "none"
                for widget in (box, *cells):
                    if widget.layout.display != display:
                        widget.layout.display = display
                box.value = bool(row) and row.key in selected
                for cell, html in zip(cells, row_cells(row) if row else [""] * len(cells)):
                    if cell.value != html:
                        cell.value = html
        finally:
            self._setting = False
        pages = max(1, -(-len(self.shown) // self.page_size))
        self.page_label.value = (f"<small>{len(self.shown)} of {len(self.rows)} runs · page {self.page + 1}/{pages}"
                                 "</small>")
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= pages - 1

    # -- selection ---------------------------------------------------------------------------------------
    def _toggled(self, index: int, checked: bool) -> None:
        if self._setting:
            return
        position = self.page * self.page_size + index
        if position >= len(self.shown):
            return
        key = self.shown[position].key
        if checked and key not in self.selected_keys:
            self.selected_keys.append(key)
        elif not checked and key in self.selected_keys:
            self.selected_keys.remove(key)
        self._on_select()

    def select(self, keys: list[str]) -> None:
        """Pick these runs (the others are unpicked) and redraw the checkboxes."""
        known = {r.key for r in self.rows}
        self.selected_keys = [k for k in keys if k in known]
        self._draw_page()
        self._on_select()

    @property
    def selected(self) -> list[RunRow]:
        by_key = {r.key: r for r in self.rows}
        return [by_key[k] for k in self.selected_keys if k in by_key]

    def static_html(self) -> str:
        return table_html(self.shown)
