"""The widgets in a real browser: JupyterLab and Notebook 7 on localhost (one server for the whole module, as
starting one is slow), driven by Playwright in Debian's headless Chromium.

The test notebook declares a parameter, collects a training script that reports metrics, runs it once,
and shows the form and the history. The test sorts the history by a header click, changes the parameter in the
form, clicks Run, and waits for the status widget to reach SUCCEEDED and for the history to list both runs, still
in the order the header chose. In both frontends: Stop clicked while a `%submarine run --wait` cell runs stops the
job, and the notebook a headless `submarine-kernel run` of the quickstart saved reopens with its static outputs.
Screenshots of each step go to test-artifacts/ at the repository root.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from core_support import installed_command

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]  # a shared, loaded machine

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
#: bounds on waits, never asserted on
STEP_TIMEOUT_MS = 120_000
FRONTENDS = ("lab", "notebook7")
KERNELSPEC = {"kernelspec": {"name": "submarine", "display_name": "Python 3 (Submarine)", "language": "python"}}

#: the training script waits for this file (each notebook names its own), so the test sees the live log first
RELEASE = "@RELEASE@"
CELLS = [
    "%submarine param lr=0.1 --min 0 --max 1",
    "%%submarine.python train.py --no-local\n"
    "import os, sys, time\n"
    "import submarine_kernel as sk\n"
    "lr = float(sys.argv[1])\n"
    "for step in range(4):\n"
    "    print(f'step {step} lr {lr}', flush=True)\n"
    "    sk.report(step=step, loss=lr * (4 - step))\n"
    "for i in range(60):\n"
    "    print(f'filler line {i}', flush=True)\n"
    f"release, deadline = {RELEASE}, time.time() + 240\n"
    "while not os.path.exists(release) and time.time() < deadline:\n"
    "    time.sleep(0.2)  # the test looks at the live log box, then lets the job end\n",
    "%submarine run --wait -- python train.py {lr}",
    "%submarine form",
    "%submarine history",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One Jupyter server (JupyterLab and Notebook 7) on a free port with a token, for the whole module; it knows
    the Submarine kernel through a kernelspec installed into a temporary prefix, and its kernels keep their
    jobs in a data folder of their own."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    tmp_path = tmp_path_factory.mktemp("jupyter")
    root = tmp_path / "root"
    root.mkdir()
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')  # no news pop-up
    prefix = tmp_path / "prefix"
    subprocess.run([sys.executable, "-m", "submarine_kernel", "install", "--prefix", str(prefix)], check=True,
                   capture_output=True)
    port, token = free_port(), secrets.token_hex(16)
    # this interpreter's share/jupyter (plotly's and Notebook 7's extensions) and, for a venv made with
    # --system-site-packages, the base interpreter's (the widget manager) as well
    data_dirs = dict.fromkeys([str(prefix / "share" / "jupyter"), os.path.join(sys.prefix, "share", "jupyter"),
                               os.path.join(sys.base_prefix, "share", "jupyter")])
    data = tmp_path / "submarine-data"  # the per-test data folder would be the first test's only
    env = {**os.environ, "JUPYTER_PATH": os.pathsep.join(data_dirs), "SUBMARINE_DATA_DIR": str(data),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    # JupyterLab's own page assets live in the interpreter that has jupyterlab installed
    app_dir = next((d for d in (os.path.join(p, "lab") for p in reversed(data_dirs)) if os.path.isdir(
        os.path.join(d, "static"))), None)
    log = open(tmp_path / "jupyterlab.log", "wb")
    # `-m jupyterlab`, not `jupyter lab`: that runs the first jupyter-lab script on PATH, maybe another Python's
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--JupyterNotebookApp.expose_app_in_browser=True", *([f"--LabApp.app_dir={app_dir}"] if app_dir else [])],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n" + (tmp_path / "jupyterlab.log").read_text()[-3000:])
                time.sleep(0.2)
        yield {"base": base, "token": token, "root": root, "log": tmp_path / "jupyterlab.log", "data": data,
               "tmp": tmp_path}
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def shut_down_kernels(server) -> None:
    """A test's kernels go when it ends (and their jobs with them): the next test's notebook starts its own."""
    import json

    def call(method: str, path: str):
        request = urllib.request.Request(f"{server['base']}{path}?token={server['token']}", method=method)
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or b"null")
    for kernel in call("GET", "/api/kernels"):
        call("DELETE", f"/api/kernels/{kernel['id']}")


@pytest.fixture
def notebook(server):
    """`notebook(name, cells, frontend)` writes a notebook into the server's root and returns the URL that opens
    it in JupyterLab or Notebook 7 and the file that makes its jobs end (see RELEASE)."""
    def write(name: str, cells: list[str], frontend: str = "lab", release: bool = False):
        release_file = server["tmp"] / f"{name}.release"
        if release:
            release_file.touch()
        cells = [c.replace(RELEASE, repr(str(release_file))) for c in cells]
        nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells], metadata=KERNELSPEC),
                       server["root"] / f"{name}.ipynb")
        return page_url(server, f"{name}.ipynb", frontend), release_file
    yield write
    shut_down_kernels(server)


def page_url(server, file: str, frontend: str) -> str:
    """The page that opens `file`; in JupyterLab in a workspace of its own, which starts empty (the default one
    would reopen the notebooks of earlier tests beside it)."""
    path = f"lab/workspaces/{Path(file).stem}/tree/{file}" if frontend == "lab" else f"notebooks/{file}"
    return f"{server['base']}/{path}?token={server['token']}"


def shot(page, name: str, element=None) -> None:
    """A screenshot of the page (JupyterLab scrolls inside it), after bringing `element` into view."""
    ARTIFACTS.mkdir(exist_ok=True)
    if element is not None:
        element.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"browser-{name}.png"))


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
#: the notebook in front (the one `file` names) has its kernel up and idle
KERNEL_IDLE = ("file => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
               " return w && w.context && w.context.path === file && w.sessionContext &&"
               " w.sessionContext.session && w.sessionContext.session.kernel &&"
               " w.sessionContext.session.kernel.status === 'idle'; }")
#: the log box's end is in view: the bottom of its text is at the bottom of the box
LOG_AT_END = ("el => { const box = el.getBoundingClientRect();"
              " const text = el.querySelector('pre').getBoundingClientRect();"
              " return el.scrollHeight > el.clientHeight + 20 && Math.abs(text.bottom - box.bottom) < 30; }")


def assert_chart_visible(page, chart) -> None:
    """The chart takes room on the page as first rendered, without a window resize (issue 23 item 7: Run All
    left it 0 px tall)."""
    chart.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # plotly's own first layout pass
    box = chart.bounding_box()
    assert box is not None and box["height"] >= 200 and box["width"] >= 300, box


@contextmanager
def browser_page(server):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(STEP_TIMEOUT_MS)
        expect.set_options(timeout=STEP_TIMEOUT_MS)
        try:
            yield page
            # a comm message on a subshell the frontend had deleted is dropped: a click that did nothing
            assert "Unknown subshell_id" not in server["log"].read_text(errors="replace")
        except Exception:
            shot(page, "failure")
            print(server["log"].read_text()[-4000:])
            print("--- last cell:", page.locator(".jp-Cell").last.inner_html()[-3000:])
            for index, output in enumerate(page.locator(".jp-OutputArea-output").all()):
                print(f"--- output {index}: classes", output.evaluate(
                    "el => Array.from(el.querySelectorAll('[class*=submarine]')).map(e => e.className).join(' | ')"))
            for log in sorted(server["data"].rglob("logs/*")):  # the jobs' own logs
                if log.is_file():
                    print(f"--- {log}\n" + log.read_text(errors="replace")[-1500:])
            raise
        finally:
            browser.close()


def run_all(page, url: str) -> None:
    open_notebook(page, url)
    file = url.split("?")[0].rsplit("/", 1)[1]
    page.wait_for_function(KERNEL_IDLE, arg=file)  # the notebook's kernel must be up before "run all" is sent
    # not awaited: the promise would settle only once every cell has run, and the jobs wait for the test
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def open_notebook(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(".jp-Notebook .jp-Cell")


def run_names(grid) -> list[str]:
    """The history's run names as the page shows them, top to bottom (hidden rows have none)."""
    return grid.locator(".submarine-run").all_inner_texts()


def sort_header(grid, label: str):
    return grid.locator("button.submarine-sort-header", has_text=re.compile(rf"^{re.escape(label)}( [▲▼])?$"))


def assert_name_is_one_line_and_selected_whole_by_a_click(page, name_cell) -> None:
    """A run's name is not wrapped (one line box) and one click selects all of it, ready to copy."""
    name = name_cell.inner_text()
    assert name_cell.evaluate("el => el.getClientRects().length") == 1, name
    name_cell.click()
    assert page.evaluate("() => window.getSelection().toString()") == name


def test_form_run_status_and_history_in_jupyterlab_and_after_a_reload(server, notebook):
    from playwright.sync_api import expect

    url, release = notebook("widgets", CELLS, "lab")
    with browser_page(server) as page:
        run_all(page, url)
        run_cell = page.locator(".jp-Cell").nth(2)
        log_box = run_cell.locator(".submarine-status .submarine-log")
        expect(log_box).to_contain_text("filler line 59")
        page.wait_for_function(LOG_AT_END, arg=log_box.element_handle())   # it follows the end, like a terminal
        shot(page, "1-log-follows", log_box)
        release.touch()                                                   # now the jobs may end
        # once ended, the live widget is replaced by its static summary
        first = run_cell.locator('.submarine-summary[data-state="SUCCEEDED"]')
        expect(first).to_be_visible()
        expect(first).to_contain_text("loss=0.1000")
        expect(run_cell.locator(".submarine-status")).to_have_count(0)
        form = page.locator(".submarine-form")
        history = page.locator(".submarine-history")
        grid = history.locator(".submarine-runs-grid")
        expect(form).to_be_visible()
        expect(grid.locator(".submarine-run")).to_have_count(1)
        first_name = run_names(grid)[0]
        shot(page, "2-first-run", first)
        # sorted by lr (smallest first) before the second run: the live refresh that lists it keeps that order
        sort_header(grid, "lr").click()
        expect(sort_header(grid, "lr")).to_have_text("lr ▲")

        lr = form.locator(".widget-text").filter(has=page.locator("label", has_text=re.compile(r"^lr$")))
        lr_input = lr.locator("input")
        expect(form.locator(".submarine-hint").first).to_contain_text("number, 0..1")
        lr_input.fill("5")                              # above --max 1: flagged, Run blocked
        lr_input.press("Enter")
        expect(form.locator(".submarine-problems")).to_contain_text("above its maximum 1")
        expect(form.locator("button.submarine-run")).to_be_disabled()
        shot(page, "3-invalid-value", form.locator(".submarine-problems"))

        lr_input.fill("0.5")
        lr_input.press("Enter")
        expect(form.locator(".submarine-problems")).to_have_count(0)
        run = form.locator("button.submarine-run")
        expect(run).to_be_enabled()
        run.click()

        second = form.locator('.submarine-summary[data-state="SUCCEEDED"]')   # collapsed once it ended
        expect(second).to_be_visible()
        expect(second).to_contain_text("loss=0.5000")   # the last reported metric, from the log
        expect(second).to_contain_text("filler line 59")  # the log's end, folded inside the summary
        expect(grid.locator(".submarine-run")).to_have_count(2)
        names = run_names(grid)
        assert names[0] == first_name, names                                 # lr 0.1 above 0.5: still by lr
        expect(sort_header(grid, "lr")).to_have_text("lr ▲")
        sort_header(grid, "lr").click()                                      # again: reversed
        expect(sort_header(grid, "lr")).to_have_text("lr ▼")
        expect(grid.locator(".submarine-run").first).not_to_have_text(first_name)
        assert run_names(grid) == names[::-1]
        assert_name_is_one_line_and_selected_whole_by_a_click(page, grid.locator(".submarine-run").first)
        expect(grid.locator("input[type=checkbox]:checked")).to_have_count(2)  # the two newest are compared
        chart = page.locator(".jp-Cell").nth(4).locator(".js-plotly-plot")   # plotly, an output of its own
        expect(chart.locator(".scatterlayer .trace")).to_have_count(2)       # both runs' loss
        assert_chart_visible(page, chart)                                    # drawn tall on first render
        colors = chart.locator(".scatterlayer .trace path.js-line").evaluate_all(
            "paths => paths.map(p => getComputedStyle(p).stroke)")
        assert len(set(colors)) == 2, colors                                 # one colour per run
        shot(page, "4-second-run", second)
        shot(page, "5-history", chart)

        # the kernel goes away: the form's and the history's outputs turn static, then the notebook is saved
        page.evaluate("window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
        expect(page.locator(".submarine-form-static")).to_be_visible()
        expect(page.locator(".submarine-form")).to_have_count(0)
        static_rows = page.locator(".submarine-history-static table.submarine-history tbody tr")
        expect(static_rows).to_have_count(2)
        expect(page.locator(".submarine-history-static table.submarine-history th", has_text="lr")).to_have_count(1)
        page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
        page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
        saved = nbformat.read(server["root"] / "widgets.ipynb", as_version=4)
        mimes = [m for cell in saved.cells for o in cell.get("outputs", []) for m in o.get("data", {})]
        assert WIDGET_MIME not in mimes and "text/html" in mimes
        plots = [o["data"][PLOTLY_MIME] for cell in saved.cells for o in cell.get("outputs", [])
                 if PLOTLY_MIME in o.get("data", {})]
        assert len(plots) == 1 and len(plots[0]["data"]) == 2        # the chart, as plotly's own output

        page.reload()                                    # reopened: what happened, not "model not found"
        page.wait_for_selector(".jp-Notebook .jp-Cell")
        expect(page.locator('.submarine-summary[data-state="SUCCEEDED"]')).to_have_count(2)
        expect(page.locator(".submarine-form-static")).to_contain_text("lr")
        expect(static_rows).to_have_count(2)
        expect(page.get_by_text("Error displaying widget")).to_have_count(0)
        history_table = page.locator(".submarine-history-static")
        history_table.scroll_into_view_if_needed()                   # JupyterLab renders cells in view
        # the chart's own output, right below the static table: plotly draws it (or its saved snapshot)
        chart_output = page.locator(".jp-OutputArea-child:has(.submarine-history-static) + .jp-OutputArea-child")
        expect(chart_output.locator("svg.main-svg, img").first).to_be_visible()
        shot(page, "6-reopened", page.locator(".submarine-form-static"))


#: Notebook 7: two runs without waiting on the test, then the history sorted by its headers
NOTEBOOK7_CELLS = [*CELLS[:2], "%submarine run --name nb7-small --wait -p lr 0.1 -- python train.py {lr}",
                   "%submarine run --name nb7-large --wait -p lr 0.5 -- python train.py {lr}", "%submarine history"]


def test_status_history_header_sort_and_chart_in_notebook_7(server, notebook):
    from playwright.sync_api import expect

    url, _ = notebook("notebook7", NOTEBOOK7_CELLS, "notebook7", release=True)
    with browser_page(server) as page:
        run_all(page, url)
        for index, loss in ((2, "loss=0.1000"), (3, "loss=0.5000")):
            run_cell = page.locator(".jp-Cell").nth(index)
            expect(run_cell.locator('.submarine-summary[data-state="SUCCEEDED"]')).to_contain_text(loss)
        grid = page.locator(".submarine-history .submarine-runs-grid")
        expect(grid.locator(".submarine-run")).to_have_count(2)
        chart = page.locator(".jp-Cell").nth(4).locator(".js-plotly-plot")
        expect(chart.locator(".scatterlayer .trace")).to_have_count(2)
        assert_chart_visible(page, chart)
        assert run_names(grid) == ["nb7-large", "nb7-small"]            # newest first
        sort_header(grid, "lr").click()                                 # smallest lr first
        expect(sort_header(grid, "lr")).to_have_text("lr ▲")
        expect(grid.locator(".submarine-run").first).to_have_text("nb7-small")
        sort_header(grid, "lr").click()                                 # again: largest first
        expect(sort_header(grid, "lr")).to_have_text("lr ▼")
        expect(grid.locator(".submarine-run").first).to_have_text("nb7-large")
        sort_header(grid, "run").click()                                # by name, A first
        expect(grid.locator(".submarine-run").first).to_have_text("nb7-large")
        sort_header(grid, "run").click()
        expect(grid.locator(".submarine-run").first).to_have_text("nb7-small")
        assert_name_is_one_line_and_selected_whole_by_a_click(page, grid.locator(".submarine-run").first)
        shot(page, "notebook7", page.locator(".submarine-history"))


STOP_CELLS = [
    "%%submarine.python job.py --no-local\nimport time\nprint('working', flush=True)\ntime.sleep(300)",
    "%submarine run --name browser-stop-{frontend} --wait -- python job.py",
]


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_stop_during_a_wait_cell_stops_the_job(server, notebook, frontend):
    """Issue 23 item 3: the status widget's Stop works while `%submarine run --wait` keeps the cell busy."""
    from playwright.sync_api import expect

    url, _ = notebook(f"stop-{frontend}", [c.replace("{frontend}", frontend) for c in STOP_CELLS], frontend)
    with browser_page(server) as page:
        run_all(page, url)
        run_cell = page.locator(".jp-Cell").nth(1)
        expect(run_cell.locator(".submarine-status .submarine-log")).to_contain_text("working")  # it runs
        expect(run_cell.locator(".jp-InputPrompt")).to_contain_text("*")                         # the cell waits
        shot(page, f"stop-1-waiting-{frontend}", run_cell)
        run_cell.locator("button.submarine-stop").click()
        expect(run_cell.locator('.submarine-summary[data-state="STOPPED"]')).to_be_visible()
        expect(run_cell).to_contain_text(f"job browser-stop-{frontend} ended STOPPED: stopped on request")
        expect(run_cell.locator(".jp-InputPrompt")).not_to_contain_text("*")                     # the cell is done
        shot(page, f"stop-2-stopped-{frontend}", run_cell)


#: a 2-replica job that reports its progress, until the test lets it end
PROGRESS_CELLS = [
    "%%submarine.python train.py --no-local\n"
    "import os, time, submarine_kernel as sk\n"
    f"release = {RELEASE}\n"
    "for step in range(1, 201):\n"
    "    print(os.environ['SUBMARINE_ROLE'], 'at step', step, flush=True)\n"
    "    sk.report(step=step, total=200, loss=1.0 / step)\n"
    "    if os.path.exists(release):\n"
    "        break\n"
    "    time.sleep(0.5)\n",
    "%submarine run --workers 2 -- python train.py",
]


def test_jupyterlab_shows_the_progress_bar_the_replica_table_at_the_left_and_the_replica_picker(server, notebook):
    """Issue 23 items 8 and 11: a bar with its ETA, the replica table not centred, the log of a picked replica."""
    from playwright.sync_api import expect

    url, release = notebook("progress", PROGRESS_CELLS, "lab")
    with browser_page(server) as page:
        run_all(page, url)
        status = page.locator(".submarine-status").first
        bar = status.locator(".submarine-progress progress")
        expect(bar).to_be_visible()
        expect(status.locator(".submarine-progress")).to_contain_text(re.compile(r"step \d+/200 · ETA \d"))
        # the replica table starts where the status box's content starts: JupyterLab's CSS would centre it
        table = status.locator("table.submarine-replicas")
        expect(table).to_be_visible()
        offset = table.evaluate("t => t.getBoundingClientRect().left - t.closest('.submarine-status')"
                                ".getBoundingClientRect().left")
        assert offset < 30, offset
        assert table.locator("td").first.evaluate("td => getComputedStyle(td).textAlign") == "left"
        picker = status.locator(".submarine-replica-picker select")
        expect(picker).to_be_visible()
        assert picker.input_value() == "master-0"
        expect(status.locator(".submarine-log")).to_contain_text("master at step")
        shot(page, "progress-and-replicas", status)
        picker.select_option("worker-0")
        expect(status.locator(".submarine-log")).to_contain_text("worker at step")
        expect(status.locator(".submarine-log")).not_to_contain_text("master at step")
        release.write_text("done")
        expect(page.locator('.submarine-summary[data-state="SUCCEEDED"]')).to_be_visible()


@pytest.fixture(scope="module")
def headless_quickstart(server):
    """The quickstart as `submarine-kernel run` saves it (one epoch), in the server's root."""
    cli = installed_command("submarine-kernel") or pytest.fail("submarine-kernel is not installed: pip install -e .")
    target = server["root"] / "quickstart-headless.ipynb"
    result = subprocess.run([cli, "run", str(REPO / "notebooks" / "quickstart.ipynb"), "-p", "epochs", "1",
                             "--output", str(target)], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "SUBMARINE_DATA_DIR": str(server["tmp"] / "headless-data")})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return target


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_a_headless_runs_saved_notebook_reopens_with_its_static_outputs(server, notebook, headless_quickstart,
                                                                       frontend):
    """Issue 23 item 12, as a reader sees it: the form, the history's table and its chart are there, the chart
    with a height, and no widget box is left blank or says "Error displaying widget"."""
    from playwright.sync_api import expect

    saved = nbformat.read(headless_quickstart, as_version=4)
    history_index = next(i for i, c in enumerate(saved.cells) if c.source.strip() == "%submarine history")
    with browser_page(server) as page:
        open_notebook(page, page_url(server, headless_quickstart.name, frontend))
        cells = page.locator(".jp-Notebook .jp-Cell")
        history_cell = cells.nth(history_index)
        history_cell.scroll_into_view_if_needed()                      # cells out of view may not be rendered
        expect(history_cell.locator(".submarine-history-static table.submarine-history tbody tr")).to_have_count(2)
        chart = history_cell.locator(".js-plotly-plot")
        expect(chart.locator(".scatterlayer .trace")).to_have_count(2)  # both runs' loss, drawn by plotly
        assert_chart_visible(page, chart)
        form_cell = cells.nth(history_index - 1)
        form_cell.scroll_into_view_if_needed()
        expect(form_cell.locator(".submarine-form-static")).to_contain_text("learning_rate")
        widget_views = f".jupyter-widgets, [data-mime-type='{WIDGET_MIME}']"
        for index, cell in enumerate(saved.cells):    # each in view in turn: both frontends render cells in view
            shown = cells.nth(index)
            shown.scroll_into_view_if_needed()
            if cell.source.startswith("%submarine run"):   # not trusted (no one signed it): data-* attributes go
                expect(shown.locator(".submarine-summary")).to_contain_text("SUCCEEDED")
            expect(shown.get_by_text("Error displaying widget")).to_have_count(0)
            expect(shown.locator(widget_views)).to_have_count(0)
            for output in shown.locator(".jp-OutputArea-output").all():     # no blank output box
                assert output.bounding_box()["height"] > 5, (index, output.inner_html()[:300])
        shot(page, f"headless-reopened-{frontend}", chart)
