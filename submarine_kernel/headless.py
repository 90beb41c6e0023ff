"""Run a notebook headless (cron, Azkaban, Airflow): nbclient in the Submarine kernel.

Parameters are injected papermill-style after the cell tagged `parameters`; cell output and job progress
go to the terminal as they come; the run fails when a cell fails or one of the notebook's jobs does.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import sys
from pathlib import Path
from typing import Any, Mapping, TextIO

from . import hints
from .errors import SubmarineError, ValidationError
from .job_types import JobState

INJECTED_TAG = "injected-parameters"
#: a last cell, run while nbclient still records outputs and removed before the notebook is saved: it turns the
#: widget outputs static as a kernel's shutdown does in Lab (the history's chart into an output of its own); at
#: the shutdown itself nbclient no longer listens, and the history's chart slot was saved empty
FREEZE_TAG = "submarine-freeze-outputs"
FREEZE_SOURCE = ("try:\n    from submarine_kernel.widgets.static import freeze_all\n"
                 "except ImportError:  # a kernel without us\n    pass\nelse:\n    freeze_all()")
FOLLOW_SECONDS = 5  # a job still running after the last cell: its state is checked this often


def inject_parameters(nb, params: Mapping[str, Any]) -> None:
    """Insert a cell assigning `params` after the `parameters` cell (at the top when there is none),
    replacing an earlier injected cell, as papermill does."""
    import nbformat

    if not params:
        return
    for name in params:
        if not str(name).isidentifier():
            raise ValidationError(f"parameter name {name!r} is not a Python identifier: use e.g. learning_rate")
    nb.cells = [c for c in nb.cells if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]
    params = _typed_as_declared(nb, params)
    source = "# Parameters injected by submarine-kernel\n" + "".join(f"{k} = {v!r}\n" for k, v in params.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": [INJECTED_TAG]})
    index = next((i + 1 for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])), 0)
    nb.cells.insert(index, cell)


def _typed_as_declared(nb, params: Mapping[str, Any]) -> dict[str, Any]:
    """Text values (`-p lr 1e-3`) converted to the type of the `parameters` cell's value for that name; a name
    the cell does not declare stays the text as typed (`-p version 1.10` is '1.10', not 1.1)."""
    from .params import PARAMETERS_TAG, ParamDecl, params_from_source

    declared: dict[str, Any] = {}
    for cell in nb.cells:
        if cell.get("cell_type") == "code" and PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
            declared.update(params_from_source(cell.get("source", "")))
    typed = dict(params)
    problems = []
    has_cell = any(c.get("cell_type") == "code" and PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])
                   for c in nb.cells)
    if has_cell:  # a near miss of a declared name is a typo: injected, no cell would read it
        problems += [hints.unknown_name("param", name, hints.close_to(name, declared)) + " (the notebook's cell "
                     "tagged 'parameters' declares it)" for name in params
                     if name not in declared and hints.close_to(name, declared)]
    for name, value in params.items():
        if isinstance(value, str) and name in declared:
            try:
                typed[name] = ParamDecl(name, declared[name]).coerce(value)
            except ValidationError as exc:
                problems.extend(exc.problems)
    if problems:
        raise ValidationError(problems)
    return typed


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def static_outputs(nb):
    """The notebook as a reader without a kernel sees it: widget views dropped where the output carries its own
    HTML or text (every Submarine view does), and no saved widget state (nbclient kept the state of every
    widget ever made: 860 of them, 944 KB for the quickstart)."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_MIME in data and set(data) - {WIDGET_MIME}:
                del data[WIDGET_MIME]
    nb.metadata.pop("widgets", None)
    return nb


#: the first line of a job's status text (render.status_text): `NAME on RUNTIME: STATE ...`
_STATUS_LINE = re.compile(r"^(?P<name>[a-z][-a-z0-9]*) on (?P<runtime>\S+): (?P<state>" +
                          "|".join(s.value for s in JobState) + r")\b")


class StateLines:
    """One terminal line per job state change, whichever output reports it (the live status display,
    `%submarine status`, or the wait after the last cell)."""

    def __init__(self, out: TextIO):
        self.out = out
        self.seen: dict[str, str] = {}  # job name -> last state printed

    def offer(self, text: str) -> bool:
        """Print the state line of a status text when its state is new; True when `text` was a status."""
        first = text.split("\n", 1)[0]
        match = _STATUS_LINE.match(first)
        if match is None:
            return False
        if self.seen.get(match["name"]) != match["state"]:
            self.seen[match["name"]] = match["state"]
            self.out.write(first.rstrip() + "\n")
        return True

    def status(self, name: str, runtime: str, status) -> None:
        from .render import status_text

        self.offer(status_text(name, status, runtime))


def _client_class():
    from nbclient import NotebookClient

    class EchoingClient(NotebookClient):
        """Prints stream output and the text of (updated) displays as they arrive; a job's status display
        becomes one line per state change."""

        out: TextIO = sys.stdout
        states: StateLines

        def process_message(self, msg, cell, cell_index):
            kind, content = msg["msg_type"], msg.get("content", {})
            if FREEZE_TAG in cell.get("metadata", {}).get("tags", ()):
                pass  # the outputs it replaces were echoed when they were shown
            elif kind == "stream":
                self.out.write(content.get("text", ""))
            elif kind in ("display_data", "update_display_data", "execute_result"):
                text = content.get("data", {}).get("text/plain")
                key = content.get("transient", {}).get("display_id") or id(msg)
                if text and not self.states.offer(text) and self._last_text.get(key) != text:
                    self._last_text[key] = text
                    self.out.write(text.rstrip("\n") + "\n")
            elif kind == "error":
                self.out.write(f"{content.get('ename')}: {content.get('evalue')}\n")
            self.out.flush()
            return super().process_message(msg, cell, cell_index)

        async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
            """A failing cell stops the run, as in papermill; the freeze cell still runs first, while the kernel
            is up, so the saved notebook shows what the cells before it displayed (the history's chart too)."""
            from nbclient.exceptions import CellExecutionError

            try:
                return await super().async_execute_cell(cell, cell_index, *args, **kwargs)
            except CellExecutionError:
                last = len(self.nb.cells) - 1
                if cell_index != last and FREEZE_TAG in self.nb.cells[last].get("metadata", {}).get("tags", ()):
                    try:
                        await super().async_execute_cell(self.nb.cells[last], last, store_history=False)
                    except Exception:  # noqa: BLE001 - the cell's own failure is the one to report
                        pass
                raise

    return EchoingClient


def run_notebook(path: str, params: Mapping[str, Any] | None = None, runtime: str | None = None,
                 output: str | None = None, timeout: float | None = None, kernel_name: str = "submarine",
                 out: TextIO = sys.stdout) -> int:
    """Execute the notebook; 0 when every cell and every job it submitted succeeded, else 1."""
    import nbformat
    from jupyter_core.utils import run_sync
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    from .kernelspec import kernel_manager
    from .registry import Registry

    from .algorithm import read_notebook
    from .runtimes.base import runtime_class

    if runtime:
        runtime_class(runtime)  # a misspelt --runtime is one line now, not a failed cell inside the kernel
    source = Path(path)
    nb = read_notebook(source)
    inject_parameters(nb, params or {})
    nb.cells.append(nbformat.v4.new_code_cell(FREEZE_SOURCE, metadata={"tags": [FREEZE_TAG]}))

    env = dict(os.environ)
    env["JPY_SESSION_NAME"] = str(source.resolve())  # names jobs and groups them in the registry, as in Lab
    if runtime:
        env["SUBMARINE_RUNTIME"] = runtime
    km = kernel_manager(kernel_name, asynchronous=True)
    client = _client_class()(nb, km=km, timeout=timeout, resources={"metadata": {"path": str(source.parent)}})
    client.out, client.states, client._last_text = out, StateLines(out), {}
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    cells_failed = False
    try:
        client.execute(env=env)
    except CellExecutionError:
        cells_failed = True
        out.write("submarine-kernel: a cell failed; see its error above\n")
    except DeadKernelError as exc:
        cells_failed = True
        out.write(f"submarine-kernel: the kernel died: {exc}\n")
    finally:
        # nbclient leaves a kernel it was handed running; shut it down now, or it lingers and later tells
        # the terminal "Parent appears to have exited, shutting down"
        if run_sync(km.is_alive)():
            run_sync(km.shutdown_kernel)()
        nb.cells = [c for c in nb.cells if FREEZE_TAG not in c.get("metadata", {}).get("tags", ())]
        if output:
            nbformat.write(static_outputs(nb), output)
    jobs_failed, done = _wait_for_jobs(Registry(), str(source.resolve()), started, client.states)
    if cells_failed or jobs_failed:
        return 1
    out.write(f"submarine-kernel: done: every cell ran{f', {done} job(s) SUCCEEDED' if done else ''}"
              f"{f'; executed notebook in {output}' if output else ''}\n")
    return 0


def _wait_for_jobs(registry, notebook: str, since: str, states: StateLines) -> tuple[bool, int]:
    """Follow this run's jobs to their end, one line per state change; (whether one did not succeed, how
    many did). A failed job's line says why and which log to read."""
    from .session import Session

    out = states.out
    session = Session(registry=registry)
    try:
        jobs = [r for r in session.records(notebook=notebook) if r.submitted >= since]
        failed, succeeded = False, 0
        for record in reversed(jobs):  # in the order they were submitted
            job = session.job(record.ref.name, record.ref.runtime)
            try:
                while True:
                    status = job.wait(timeout=FOLLOW_SECONDS)
                    states.status(job.name, job.ref.runtime, status)
                    if status.terminal:
                        break
            except SubmarineError as exc:
                out.write(f"submarine-kernel: cannot follow {record.ref.name}: {exc}\n")
                failed = True
                continue
            if status.state == JobState.SUCCEEDED:
                succeeded += 1
            else:
                failed = True
                out.write(f"submarine-kernel: {hints.ended_message(job.name, status, hints.SHELL)}\n")
            out.flush()
        return failed, succeeded
    finally:
        session.close()
