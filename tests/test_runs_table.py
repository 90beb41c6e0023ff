"""The history's runs table as the MLflow, W&B and Ray runs tables lay it out (issue 23 item 11): a click on a
column's header sorts by it and a second click reverses, numbers sort as numbers and runs without a value go last,
the sort survives live refreshes; one column per param (an empty cell where a run has none); run names on one
line, selected whole by a click. The same in the static table a saved notebook keeps. The clicks in a real
browser are in test_browser.py."""

from __future__ import annotations

import re

from submarine_kernel.job_types import JobState
from submarine_kernel.session import default_session
from submarine_kernel.widgets.history import RunHistory

from test_widgets import add_run


def visible_rows(table) -> list[list[str]]:
    """What the page shows: each visible row's cells as text, tags stripped."""
    rows = []
    for box, cells in zip(table.checkboxes, table.cells):
        if box.layout.display != "none":
            rows.append([re.sub(r"<[^>]+>", "", cell.value).strip(" ■") for cell in cells])
    return rows


def column(table, key: str) -> list[str]:
    index = [c.key for c in table.columns].index(key)
    return [row[index] for row in visible_rows(table)]


def test_a_header_click_sorts_by_its_column_a_second_reverses_and_a_refresh_keeps_it():
    session = default_session()
    # lr as numbers: 10 sorts after 2 (as text it would not); one run has no lr at all
    for minute, params in enumerate([{"lr": 2, "opt": "sgd"}, {"lr": 10, "opt": "adam"}, {"lr": 0.5},
                                     {"opt": "adam"}]):
        add_run(session, params, [{"step": 0, "loss": 1.0 / (minute + 1)}],
                submitted=f"2024-01-01T00:0{minute}:00+00:00", name=f"run-{minute}")
    view = RunHistory(session)
    table = view.table
    assert column(table, "name") == ["run-3", "run-2", "run-1", "run-0"]     # newest first, as it opens
    assert table.headers["submitted"].description == "submitted ▼"
    table.headers["lr"].click()                                                # first click: smallest first
    assert column(table, "lr") == ["0.5", "2", "10", ""]                      # the run without lr last
    assert table.headers["lr"].description == "lr ▲" and table.headers["submitted"].description == "submitted"
    assert (table.sort.value, table.descending.value) == ("lr", False)        # the dropdown says the same
    table.headers["lr"].click()                                                # again: reversed, still last
    assert column(table, "lr") == ["10", "2", "0.5", ""] and table.headers["lr"].description == "lr ▼"
    table.headers["opt"].click()
    assert column(table, "opt") == ["adam", "adam", "sgd", ""]
    table.headers["loss"].click()                                              # a metric's column: its last
    assert column(table, "name") == ["run-3", "run-2", "run-1", "run-0"]

    table.headers["lr"].click()
    # a live refresh (a new run, a new param) keeps the order the header chose
    add_run(session, {"lr": 1, "wd": 0.1}, [{"step": 0, "loss": 0.1}], JobState.RUNNING,
            submitted="2024-01-01T00:09:00+00:00", name="run-new")
    view.refresh()
    assert column(table, "lr") == ["0.5", "1", "2", "10", ""] and table.headers["lr"].description == "lr ▲"
    assert column(table, "wd") == ["", "0.1", "", "", ""]                     # a column for the new param
    view.close()


def test_one_column_per_param_of_the_shown_runs_with_empty_cells_where_a_run_has_none():
    session = default_session()
    add_run(session, {"lr": 0.1, "opt": "sgd"}, [{"step": 0, "loss": 0.5, "acc": 0.7}], name="first",
            submitted="2024-01-01T00:00:00+00:00")
    add_run(session, {"lr": 0.2, "dropout": 0.3, "state": "resumed"}, [], JobState.FAILED, name="second",
            submitted="2024-01-01T00:01:00+00:00")   # a param named as a column is left to the comparison
    view = RunHistory(session)
    table = view.table
    keys = [c.key for c in table.columns]                            # in submission order: first's, second's
    assert keys == ["name", "state", "submitted", "duration", "lr", "opt", "dropout", "loss", "acc"]
    assert [h.description for h in table.headers.values()][4:] == ["lr", "opt", "dropout", "loss", "acc"]
    headers = list(table.headers.values())
    table.headers["dropout"].click()                                 # sorting moves rows, not columns
    assert [c.key for c in table.columns] == keys and list(table.headers.values()) == headers
    assert column(table, "opt") == ["", "sgd"] and column(table, "dropout") == ["0.3", ""]
    assert column(table, "loss") == ["", "0.5000 (0.5000 … 0.5000)"]
    grid_tracks = table.grid.layout.grid_template_columns.split(" ")
    assert len(table.grid.children) == (1 + len(keys)) * (1 + table.page_size) and grid_tracks[0] == "28px"
    # the columns are those of the runs shown: a filter that hides the only run with `opt` drops its column
    table.state.value = "FAILED"
    assert [c.key for c in table.columns] == ["name", "state", "submitted", "duration", "lr", "dropout"]
    assert column(table, "lr") == ["0.2"]
    static = table.static_html()
    head = re.findall(r"<th>(.*?)</th>", static)
    assert head == ["run", "state", "submitted", "duration", "lr", "dropout"]
    table.state.value = "any state"
    static = table.static_html()                    # the saved notebook's table: the same columns and order
    assert re.findall(r"<th>(.*?)</th>", static)[4:] == ["lr", "opt", "dropout", "loss", "acc"]
    first_row = re.search(r"<tbody><tr>(.*?)</tr>", static).group(1)
    assert first_row.count("<td>") == 9 and "<td></td>" in first_row   # second: no opt, no metrics
    view.close()


def test_run_names_stay_on_one_line_and_a_click_selects_the_whole_name():
    session = default_session()
    long_name = "a-rather-long-run-name-from-a-sweep-with-many-parts-0001"
    add_run(session, {"lr": 0.1}, [], name=long_name)
    view = RunHistory(session)
    cell = view.table.cells[0][0].value
    name = re.search(r'<span class="submarine-run"[^>]*>(.*?)</span>', cell)
    assert name.group(1) == long_name and "<br" not in name.group(1)
    style = re.search(r'class="submarine-run"[^>]*style="([^"]*)"', cell).group(1)
    assert "white-space:nowrap" in style and "user-select:all" in style
    assert view.table.columns[0].width.startswith("minmax(") and "max-content" in view.table.columns[0].width
    view.close()
