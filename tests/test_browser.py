"""The widgets in a real browser: JupyterLab on localhost, driven by Playwright in Debian's headless Chromium.

The test notebook declares a parameter, collects a training script that reports metrics, runs it once,
and shows the form and the history. The test changes the parameter in the form, clicks Run, and waits for
the status widget to reach SUCCEEDED and for the history to list both runs. Screenshots of each step go
to test-artifacts/ at the repository root.
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

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]  # a shared, loaded machine

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
#: bounds on waits, never asserted on
STEP_TIMEOUT_MS = 120_000

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
    "release, deadline = os.environ.get('SUBMARINE_TEST_RELEASE', ''), time.time() + 240\n"
    "while release and not os.path.exists(release) and time.time() < deadline:\n"
    "    time.sleep(0.2)  # the test looks at the live log box, then lets the job end\n",
    "%submarine run --wait -- python train.py {lr}",
    "%submarine form",
    "%submarine history",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on a free port with a token, whose root holds the test notebook and which
    knows the Submarine kernel through a kernelspec installed into a temporary prefix."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    root = tmp_path / "root"
    root.mkdir()
    nb = new_notebook(cells=[new_code_cell(c) for c in CELLS],
                      metadata={"kernelspec": {"name": "submarine", "display_name": "Python 3 (Submarine)",
                                               "language": "python"}})
    nbformat.write(nb, root / "widgets.ipynb")
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
    env = {**os.environ, "JUPYTER_PATH": os.pathsep.join(data_dirs),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "SUBMARINE_TEST_RELEASE": str(tmp_path / "release")}  # jobs wait for it (see CELLS)
    # JupyterLab's own page assets live in the interpreter that has jupyterlab installed
    app_dir = next((d for d in (os.path.join(p, "lab") for p in reversed(data_dirs)) if os.path.isdir(
        os.path.join(d, "static"))), None)
    log = open(tmp_path / "jupyterlab.log", "wb")
    # `-m jupyterlab`, not `jupyter lab`: that runs the first jupyter-lab script on PATH, maybe another Python's
    server = subprocess.Popen(
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
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n" + (tmp_path / "jupyterlab.log").read_text()[-3000:])
                time.sleep(0.2)
        yield {"url": f"{base}/lab/tree/widgets.ipynb?token={token}", "log": tmp_path / "jupyterlab.log",
               "notebook7_url": f"{base}/notebooks/widgets.ipynb?token={token}", "path": root / "widgets.ipynb",
               "release": tmp_path / "release"}
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def shot(page, name: str, element=None) -> None:
    """A screenshot of the page (JupyterLab scrolls inside it), after bringing `element` into view."""
    ARTIFACTS.mkdir(exist_ok=True)
    if element is not None:
        element.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"browser-{name}.png"))


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
KERNEL_IDLE = ("() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
               " return w && w.sessionContext && w.sessionContext.session &&"
               " w.sessionContext.session.kernel &&"
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
def browser_page(jupyterlab):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(STEP_TIMEOUT_MS)
        expect.set_options(timeout=STEP_TIMEOUT_MS)
        try:
            yield page
        except Exception:
            shot(page, "failure")
            print(jupyterlab["log"].read_text()[-4000:])
            print("--- last cell:", page.locator(".jp-Cell").last.inner_html()[-3000:])
            for index, output in enumerate(page.locator(".jp-OutputArea-output").all()):
                print(f"--- output {index}: classes", output.evaluate(
                    "el => Array.from(el.querySelectorAll('[class*=submarine]')).map(e => e.className).join(' | ')"))
            for log in sorted(Path(os.environ["SUBMARINE_DATA_DIR"]).rglob("logs/*")):  # the jobs' own logs
                if log.is_file():
                    print(f"--- {log}\n" + log.read_text(errors="replace")[-1500:])
            raise
        finally:
            browser.close()


def run_all(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    page.wait_for_function(KERNEL_IDLE)  # the notebook's kernel must be up before "run all" is sent
    # not awaited: the promise would settle only once every cell has run, and the jobs wait for the test
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def test_form_run_status_and_history_in_jupyterlab_and_after_a_reload(jupyterlab):
    from playwright.sync_api import expect

    with browser_page(jupyterlab) as page:
        run_all(page, jupyterlab["url"])
        run_cell = page.locator(".jp-Cell").nth(2)
        log_box = run_cell.locator(".submarine-status .submarine-log")
        expect(log_box).to_contain_text("filler line 59")
        page.wait_for_function(LOG_AT_END, arg=log_box.element_handle())   # it follows the end, like a terminal
        shot(page, "1-log-follows", log_box)
        jupyterlab["release"].touch()                                     # now the jobs may end
        # once ended, the live widget is replaced by its static summary
        first = run_cell.locator('.submarine-summary[data-state="SUCCEEDED"]')
        expect(first).to_be_visible()
        expect(first).to_contain_text("loss=0.1000")
        expect(run_cell.locator(".submarine-status")).to_have_count(0)
        form = page.locator(".submarine-form")
        history = page.locator(".submarine-history")
        expect(form).to_be_visible()
        expect(history.locator(".submarine-runs-grid .submarine-run")).to_have_count(1)
        shot(page, "2-first-run", first)

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
        grid = history.locator(".submarine-runs-grid")
        expect(grid.locator(".submarine-run")).to_have_count(2)
        expect(grid).to_contain_text("lr=0.5")
        expect(grid).to_contain_text("lr=0.1")
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
        expect(page.locator(".submarine-history-static table.submarine-history tbody tr")).to_have_count(2)
        page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
        page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
        saved = nbformat.read(jupyterlab["path"], as_version=4)
        mimes = [m for cell in saved.cells for o in cell.get("outputs", []) for m in o.get("data", {})]
        assert WIDGET_MIME not in mimes and "text/html" in mimes
        plots = [o["data"][PLOTLY_MIME] for cell in saved.cells for o in cell.get("outputs", [])
                 if PLOTLY_MIME in o.get("data", {})]
        assert len(plots) == 1 and len(plots[0]["data"]) == 2        # the chart, as plotly's own output

        page.reload()                                    # reopened: what happened, not "model not found"
        page.wait_for_selector(".jp-Notebook .jp-Cell")
        expect(page.locator('.submarine-summary[data-state="SUCCEEDED"]')).to_have_count(2)
        expect(page.locator(".submarine-form-static")).to_contain_text("lr")
        expect(page.locator(".submarine-history-static table.submarine-history tbody tr")).to_have_count(2)
        expect(page.get_by_text("Error displaying widget")).to_have_count(0)
        history_table = page.locator(".submarine-history-static")
        history_table.scroll_into_view_if_needed()                   # JupyterLab renders cells in view
        # the chart's own output, right below the static table: plotly draws it (or its saved snapshot)
        chart_output = page.locator(".jp-OutputArea-child:has(.submarine-history-static) + .jp-OutputArea-child")
        expect(chart_output.locator("svg.main-svg, img").first).to_be_visible()
        shot(page, "6-reopened", page.locator(".submarine-form-static"))


def test_status_form_history_and_chart_in_notebook_7(jupyterlab):
    from playwright.sync_api import expect

    jupyterlab["release"].touch()
    with browser_page(jupyterlab) as page:
        run_all(page, jupyterlab["notebook7_url"])
        run_cell = page.locator(".jp-Cell").nth(2)
        expect(run_cell.locator('.submarine-summary[data-state="SUCCEEDED"]')).to_contain_text("loss=0.1000")
        expect(page.locator(".submarine-form .submarine-hint").first).to_contain_text("number, 0..1")
        expect(page.locator(".submarine-history .submarine-runs-grid .submarine-run")).to_have_count(1)
        chart = page.locator(".jp-Cell").nth(4).locator(".js-plotly-plot")
        expect(chart.locator(".scatterlayer .trace")).to_have_count(1)
        assert_chart_visible(page, chart)
        shot(page, "notebook7", page.locator(".submarine-history"))


STOP_CELLS = [
    "%%submarine.python job.py --no-local\nimport time\nprint('working', flush=True)\ntime.sleep(300)",
    "%submarine run --name browser-stop --wait -- python job.py",
]


def test_stop_during_a_wait_cell_stops_the_job_in_jupyterlab(jupyterlab):
    """Issue 23 item 3: the status widget's Stop works while `%submarine run --wait` keeps the cell busy."""
    from playwright.sync_api import expect

    path = jupyterlab["path"].parent / "stop.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in STOP_CELLS], metadata=nbformat.read(
        jupyterlab["path"], as_version=4).metadata), path)
    with browser_page(jupyterlab) as page:
        run_all(page, jupyterlab["url"].replace("widgets.ipynb", "stop.ipynb"))
        run_cell = page.locator(".jp-Cell").nth(1)
        expect(run_cell.locator(".submarine-status .submarine-log")).to_contain_text("working")  # it runs
        expect(run_cell.locator(".jp-InputPrompt")).to_contain_text("*")                         # the cell waits
        shot(page, "stop-1-waiting", run_cell)
        run_cell.locator("button.submarine-stop").click()
        expect(run_cell.locator('.submarine-summary[data-state="STOPPED"]')).to_be_visible()
        expect(run_cell).to_contain_text("job browser-stop ended STOPPED: stopped on request")
        shot(page, "stop-2-stopped", run_cell)
