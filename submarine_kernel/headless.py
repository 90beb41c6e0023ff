"""Run a notebook headless (cron, Azkaban, Airflow): nbclient in the Submarine kernel.

Parameters are injected papermill-style after the cell tagged `parameters`; cell output and job progress
go to the terminal as they come; the run fails when a cell fails or one of the notebook's jobs does.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import time
from pathlib import Path
from typing import Any, Mapping, TextIO

from .errors import SubmarineError, ValidationError

INJECTED_TAG = "injected-parameters"


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
    for name, value in params.items():
        if isinstance(value, str) and name in declared:
            try:
                typed[name] = ParamDecl(name, declared[name]).coerce(value)
            except ValidationError as exc:
                problems.extend(exc.problems)
    if problems:
        raise ValidationError(problems)
    return typed


def _client_class():
    from nbclient import NotebookClient

    class EchoingClient(NotebookClient):
        """Prints stream output and the text of (updated) displays as they arrive."""

        out: TextIO = sys.stdout
        _last_text: dict = {}

        def process_message(self, msg, cell, cell_index):
            kind, content = msg["msg_type"], msg.get("content", {})
            if kind == "stream":
                self.out.write(content.get("text", ""))
            elif kind in ("display_data", "update_display_data", "execute_result"):
                text = content.get("data", {}).get("text/plain")
                key = content.get("transient", {}).get("display_id") or id(msg)
                if text and self._last_text.get(key) != text:
                    self._last_text[key] = text
                    self.out.write(text.rstrip("\n") + "\n")
            elif kind == "error":
                self.out.write(f"{content.get('ename')}: {content.get('evalue')}\n")
            self.out.flush()
            return super().process_message(msg, cell, cell_index)

    return EchoingClient


def run_notebook(path: str, params: Mapping[str, Any] | None = None, runtime: str | None = None,
                 output: str | None = None, timeout: float | None = None, kernel_name: str = "submarine",
                 out: TextIO = sys.stdout) -> int:
    """Execute the notebook; 0 when every cell and every job it submitted succeeded, else 1."""
    import nbformat
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    from .kernelspec import spec_manager
    from .registry import Registry

    source = Path(path)
    try:
        nb = nbformat.read(source, as_version=4)
    except FileNotFoundError:
        raise ValidationError(f"notebook {path!r} does not exist: check the path") from None
    except Exception as exc:
        raise ValidationError(f"notebook {path!r} is not a readable .ipynb ({type(exc).__name__}): re-save it") from None
    inject_parameters(nb, params or {})

    env = dict(os.environ)
    env["JPY_SESSION_NAME"] = str(source.resolve())  # names jobs and groups them in the registry, as in Lab
    if runtime:
        env["SUBMARINE_RUNTIME"] = runtime
    km = AsyncKernelManager(kernel_name=kernel_name, kernel_spec_manager=spec_manager())
    client = _client_class()(nb, km=km, timeout=timeout, resources={"metadata": {"path": str(source.parent)}})
    client.out = out
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    failed = False
    try:
        client.execute(env=env)
    except CellExecutionError:
        failed = True
        out.write("submarine-kernel: a cell failed; see its error above\n")
    except DeadKernelError as exc:
        failed = True
        out.write(f"submarine-kernel: the kernel died: {exc}\n")
    finally:
        if output:
            nbformat.write(nb, output)
    failed = _wait_for_jobs(Registry(), str(source.resolve()), started, out) or failed
    return 1 if failed else 0


def _wait_for_jobs(registry, notebook: str, since: str, out: TextIO) -> bool:
    """Follow this run's jobs that are still going; True when one of them did not succeed."""
    from .session import Session

    session = Session(registry=registry)
    try:
        jobs = [r for r in registry.list(notebook=notebook) if r.submitted >= since]
        failed = False
        for record in jobs:
            job = session.job(record.ref.name, record.ref.runtime)
            try:
                status = job.wait()
            except SubmarineError as exc:
                out.write(f"submarine-kernel: cannot follow {record.ref.name}: {exc}\n")
                failed = True
                continue
            out.write(f"submarine-kernel: job {record.ref.name} {status.state.value}"
                      f"{': ' + status.message if status.message else ''}\n")
            failed = failed or status.state.value != "SUCCEEDED"
        return failed
    finally:
        session.close()
