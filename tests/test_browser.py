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
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

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
    "import sys\n"
    "import submarine_kernel as sk\n"
    "lr = float(sys.argv[1])\n"
    "for step in range(4):\n"
    "    print(f'step {step} lr {lr}', flush=True)\n"
    "    sk.report(step=step, loss=lr * (4 - step))\n",
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
    env = {**os.environ, "JUPYTER_PATH": str(prefix / "share" / "jupyter"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    log = open(tmp_path / "jupyterlab.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
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
        yield {"url": f"{base}/lab/tree/widgets.ipynb?token={token}", "log": tmp_path / "jupyterlab.log"}
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


def test_form_run_status_and_history_in_jupyterlab(jupyterlab):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(STEP_TIMEOUT_MS)
        expect.set_options(timeout=STEP_TIMEOUT_MS)
        try:
            page.goto(jupyterlab["url"])
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            # the notebook's kernel must be up before "run all" is sent
            page.wait_for_function("() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                                   " return w && w.sessionContext && w.sessionContext.session &&"
                                   " w.sessionContext.session.kernel &&"
                                   " w.sessionContext.session.kernel.status === 'idle'; }")
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")

            first = page.locator(".jp-OutputArea .submarine-status").first
            expect(first.locator('[data-state="SUCCEEDED"]')).to_be_visible()
            form = page.locator(".submarine-form")
            history = page.locator(".submarine-history")
            expect(form).to_be_visible()
            expect(history.locator("table.submarine-history tbody tr")).to_have_count(1)
            shot(page, "1-first-run", first)

            lr = form.locator(".widget-text").filter(has=page.locator("label", has_text=re.compile(r"^lr$")))
            lr_input = lr.locator("input")
            lr_input.fill("5")                              # above --max 1: flagged, Run blocked
            lr_input.press("Enter")
            expect(form.locator(".submarine-problems")).to_contain_text("above its maximum 1")
            expect(form.locator("button.submarine-run")).to_be_disabled()
            shot(page, "2-invalid-value", form.locator(".submarine-problems"))

            lr_input.fill("0.5")
            lr_input.press("Enter")
            expect(form.locator(".submarine-problems")).to_have_count(0)
            run = form.locator("button.submarine-run")
            expect(run).to_be_enabled()
            run.click()

            second = form.locator(".submarine-status")
            expect(second.locator('[data-state="SUCCEEDED"]')).to_be_visible()
            expect(second).to_contain_text("loss")         # the last reported metric, from the log tail
            expect(second).to_contain_text("step 3 lr 0.5")
            rows = history.locator("table.submarine-history tbody tr")
            expect(rows).to_have_count(2)
            expect(rows.first).to_contain_text("lr=0.5")
            expect(rows.first).to_contain_text("SUCCEEDED")
            expect(rows.nth(1)).to_contain_text("lr=0.1")
            expect(history.locator("svg.submarine-chart polyline")).to_have_count(2)  # both runs' loss
            shot(page, "3-second-run", second)
            shot(page, "4-history", history.locator("svg.submarine-chart"))
        except Exception:
            shot(page, "failure")
            print(jupyterlab["log"].read_text()[-4000:])
            raise
        finally:
            browser.close()
