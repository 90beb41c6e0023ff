"""The runs table widget: filter by state and by param/metric conditions, sort by any column, pick runs
with a checkbox per row, a page of rows at a time. Also the compact list of a form's earlier runs.

The grid's widgets are made once (one page of rows) and only their values change on a refresh, so a
history of 500 runs costs one page of widgets, not 500 rows of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Callable

import ipywidgets as w
from ipywidgets.widgets.widget_string import HTMLStyle  # not exported at the top level

from submarine_kernel import metrics, render
from submarine_kernel.errors import ValidationError
from submarine_kernel.numfmt import metrics_text, number, plain_number
from submarine_kernel.runs import RunRow, filter_rows, parse_filter, sort_options, sort_rows, states_of

PAGE_SIZE = 25
ANY_STATE = "any state"


@dataclass(frozen=True)
class Column:
    """One column of the runs table: `key` is what it sorts by (see `RunRow.value`)."""
    key: str
    label: str
    kind: str     # "fixed", "param" or "metric"
    width: str    # its CSS grid track

    @property
    def tooltip(self) -> str:
        what = {"param": f"param {self.label}", "metric": f"metric {self.label}: its last value (min … max beside it)"
                }.get(self.kind, self.label)
        return f"sort by {what}; click again to reverse"


FIXED_COLUMNS = (Column("name", "run", "fixed", "minmax(160px, max-content)"),
                 Column("state", "state", "fixed", "max-content"),
                 Column("submitted", "submitted", "fixed", "max-content"),
                 Column("duration", "duration", "fixed", "max-content"))
CHECKBOX_TRACK = "28px"


def columns_of(rows: list[RunRow]) -> list[Column]:
    """The run, state, submitted and duration columns, then one column per param and one per metric that
    any of `rows` has (the union), as the MLflow and W&B runs tables lay them out. In the order the runs were
    submitted, not shown: a column stays in its place when the table is sorted."""
    submitted = sorted(rows, key=lambda r: r.ordinal)
    fixed = {c.key for c in FIXED_COLUMNS}  # a param called `state` sorts as the run's state (RunRow.value)
    params = [k for k in dict.fromkeys(k for r in submitted for k in r.params) if k not in fixed]
    names = dict.fromkeys(k for r in submitted for k in r.stats)
    return [*FIXED_COLUMNS, *(Column(p, p, "param", "max-content") for p in params),
            *(Column(m, m, "metric", "max-content") for m in names if m not in params and m not in fixed)]


def first_click_descending(key: str) -> bool:
    """A header's first click sorts smallest / A first, except the submission time: newest first."""
    return key == "submitted"


def run_cell_html(row: RunRow) -> str:
    """The run's name with its colour (as in the chart) and the run it re-ran, if any. The name stays on one
    line and one click selects all of it (user-select: all), ready to copy."""
    rerun = f'<br><small class="submarine-rerun-of">re-run of {escape(row.rerun_of)}</small>' if row.rerun_of else ""
    name = escape(row.name, quote=True)
    return (f'<span style="color:{row.color}">■</span> <span class="submarine-run" data-run="{name}" title="{name}"'
            f' style="white-space:nowrap;user-select:all;-webkit-user-select:all;cursor:text">{escape(row.name)}'
            f"</span>{rerun}")


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def param_text(value) -> str:
    return plain_number(value) if isinstance(value, float) else str(value)


def params_html(params: dict) -> str:
    return escape(", ".join(f"{k}={param_text(v)}" for k, v in params.items()))


def _small(text: str) -> str:
    return f" <small>{escape(text)}</small>" if text else ""


def cell_html(row: RunRow, column: Column) -> str:
    """The HTML of one cell, every value escaped; "" where the run has no such param or metric."""
    if column.key == "name":
        return run_cell_html(row)
    if column.key == "state":
        return render.state_badge(row.state) + _small(render.pruned_note(row.record.status))
    if column.key == "submitted":
        return escape(render.short_time(row.record.submitted))
    if column.key == "duration":
        return escape(duration_text(row.duration))
    if column.kind == "param":
        return escape(param_text(row.params[column.key])) if column.key in row.params else ""
    stats = row.stats.get(column.key)
    return (f'<span style="white-space:nowrap">{escape(number(stats.last))} <small style="color:#57606a">'
            f"({escape(number(stats.minimum))} … {escape(number(stats.maximum))})</small></span>") if stats else ""


def cell_text(row: RunRow, column: Column) -> str:
    """One cell as plain text (text fallbacks)."""
    if column.kind == "param":
        return param_text(row.params[column.key]) if column.key in row.params else ""
    if column.kind == "metric":
        return number(row.stats[column.key].last) if column.key in row.stats else ""
    return {"name": row.name, "state": row.state, "submitted": render.short_time(row.record.submitted),
            "duration": duration_text(row.duration)}[column.key]


def table_html(rows: list[RunRow]) -> str:
    """The same table as static HTML (saved notebooks, nbconvert), in the order given."""
    if not rows:
        return "<i>no runs from this notebook yet</i>"
    columns = columns_of(rows)
    return render.table_html([c.label for c in columns], [[cell_html(r, c) for c in columns] for r in rows],
                             css_class="submarine-history", cells_are_html=True)


def table_text(rows: list[RunRow]) -> str:
    columns = columns_of(rows)
    return render.table_text([c.label for c in columns], [[cell_text(r, c) for c in columns] for r in rows])


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
    """Rows of runs with a checkbox each; `selected_keys` is the picked runs' keys (runtime/name).
    A click on a column's header sorts by it, a second click reverses; the sort dropdown says the same."""

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
        # one layout per row, shared by its cells (hiding a row is one change) and one style for every cell:
        # a page of 25 rows and 15 columns stays 375 cell models, not three times as many
        self._row_layouts = [w.Layout() for _ in range(page_size)]
        self._cell_style = HTMLStyle()
        self._header_style = w.ButtonStyle(button_color="transparent", font_weight="bold")
        self.columns: list[Column] = []
        self.headers: dict[str, w.Button] = {}
        self.cells: list[list[w.HTML]] = [[] for _ in range(page_size)]
        # justify_items (start): a header button as wide as its label, at the left of its column like the values
        self.grid = w.GridBox([], layout=w.Layout(grid_gap="2px 12px", align_items="center",
                                                  justify_items="flex-start", overflow="auto"))
        self.grid.add_class("submarine-runs-grid")
        self._set_columns(list(FIXED_COLUMNS))
        super().__init__([w.HBox([self.state, self.filter, self.sort, self.descending]), self.filter_note, self.grid,
                          w.HBox([self.previous, self.page_label, self.next])])

    # -- columns -----------------------------------------------------------------------------------------
    def _set_columns(self, columns: list[Column]) -> None:
        """Make the header and cell widgets for these columns (only when the columns change: a new param or
        metric, or a filter that hides every run that had one); the old cells are closed."""
        old_cells = [cell for row in self.cells for cell in row]
        old_headers = list(self.headers.values())
        self.columns = columns
        self.headers = {}
        for column in columns:
            button = w.Button(description=column.label, tooltip=column.tooltip, style=self._header_style,
                              layout=w.Layout(width="auto", padding="0 4px"))
            button.add_class("submarine-sort-header")
            button.on_click(lambda _, key=column.key: self.sort_by_header(key))
            self.headers[column.key] = button
        self.cells = [[w.HTML(layout=layout, style=self._cell_style) for _ in columns] for layout in self._row_layouts]
        children = [w.HTML(), *self.headers.values()]
        for box, cells in zip(self.checkboxes, self.cells):
            children += [box, *cells]
        self.grid.layout.grid_template_columns = " ".join([CHECKBOX_TRACK, *(c.width for c in columns)])
        self.grid.children = children
        for widget in old_cells + old_headers:
            widget.close()
        self._label_headers()

    def _label_headers(self) -> None:
        """The sorted column's header carries the direction's arrow."""
        for key, button in self.headers.items():
            label = next(c.label for c in self.columns if c.key == key)
            text = f"{label} {'▼' if self.descending.value else '▲'}" if key == self.sort.value else label
            if button.description != text:
                button.description = text

    def sort_by_header(self, key: str) -> None:
        """A header's click: sort by its column, or reverse the order when it is already sorted by it."""
        self._setting = True
        try:
            if key not in self.sort.options:
                self.sort.options = [*self.sort.options, key]
            if self.sort.value == key:
                self.descending.value = not self.descending.value
            else:
                self.sort.value = key
                self.descending.value = first_click_descending(key)
        finally:
            self._setting = False
        self.apply()

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
        columns = columns_of(self.shown)
        if columns != self.columns:
            self._set_columns(columns)
        self._label_headers()
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
            for index, (box, layout, cells) in enumerate(zip(self.checkboxes, self._row_layouts, self.cells)):
                row = page_rows[index] if index < len(page_rows) else None
                display = None if row else "none"
                for item in (box.layout, layout):
                    if item.display != display:
                        item.display = display
                box.value = bool(row) and row.key in selected
                for cell, column in zip(cells, self.columns):
                    html = cell_html(row, column) if row else ""
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

    def static_text(self) -> str:
        return table_text(self.shown)
