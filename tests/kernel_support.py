"""Driving a real Submarine kernel from tests: nbclient for whole notebooks, a frontend-like client for cells."""

from __future__ import annotations

import os
from pathlib import Path

from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from submarine_kernel.kernelspec import spec_manager


def execute(*sources: str, tmp_path: Path, allow_errors: bool = True, env: dict | None = None):
    """Run cells in a fresh Submarine kernel; return the executed notebook."""
    from jupyter_client.manager import AsyncKernelManager

    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    km = AsyncKernelManager(kernel_name="submarine", kernel_spec_manager=spec_manager())
    client = NotebookClient(nb, km=km, timeout=120, allow_errors=allow_errors,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env={**os.environ, "JPY_SESSION_NAME": str(tmp_path / "test.ipynb"), **(env or {})})
    return nb


def text(cell) -> str:
    """Everything a cell showed as text: streams, plain-text displays and errors."""
    parts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("display_data", "execute_result"):
            parts.append(out.data.get("text/plain", ""))
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
    return "".join(parts)


def html(cell) -> str:
    return "".join(out.data.get("text/html", "") for out in cell.outputs
                   if out.output_type in ("display_data", "execute_result"))


def errors(cell) -> list[str]:
    """Error lines a cell showed: IPython prints a UsageError as one stderr line, other errors as tracebacks."""
    found = [f"{out.ename}: {out.evalue}" for out in cell.outputs if out.output_type == "error"]
    found += [line for out in cell.outputs if out.output_type == "stream" and out.name == "stderr"
              for line in out.text.splitlines() if line.startswith("UsageError: ")]
    return found


class FrontendKernel:
    """A started Submarine kernel that executes code the way JupyterLab does: with the cell id in metadata.

    `cell_ids=False` makes it a client that sends none (consoles, nbclient, some frontends), whatever
    `run` is given, so one scenario can be played both ways. `env` adds variables to the kernel's."""

    def __init__(self, kernel_spec_manager=None, cell_ids: bool = True, env: dict | None = None,
                 cwd: str | None = None):
        from jupyter_client.manager import KernelManager

        self.km = KernelManager(kernel_name="submarine", kernel_spec_manager=kernel_spec_manager or spec_manager())
        self.cell_ids = cell_ids
        self.start_options = {}
        if env:
            self.start_options["env"] = {**os.environ, **env}
        if cwd:
            self.start_options["cwd"] = cwd

    def __enter__(self):
        self.km.start_kernel(**self.start_options)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        return self

    def __exit__(self, *exc):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    def run(self, code: str, cell_id: str | None = None) -> tuple[dict, str]:
        """(execute reply, everything printed) for one cell."""
        msg = self.kc.session.msg("execute_request", {"code": code, "silent": False, "store_history": True,
                                                      "user_expressions": {}, "allow_stdin": False,
                                                      "stop_on_error": False})
        if cell_id and self.cell_ids:
            msg["metadata"]["cellId"] = cell_id
        self.kc.shell_channel.send(msg)
        printed = []
        self.errors = []  # (ename, evalue) of every error output the cell showed
        while True:
            out = self.kc.get_iopub_msg(timeout=60)
            if out["parent_header"].get("msg_id") != msg["header"]["msg_id"]:
                continue
            content = out["content"]
            if out["msg_type"] == "stream":
                printed.append(content["text"])
            elif out["msg_type"] in ("display_data", "execute_result"):
                printed.append(content["data"].get("text/plain", ""))
            elif out["msg_type"] == "error":
                self.errors.append((content["ename"], content["evalue"]))
            elif out["msg_type"] == "status" and content["execution_state"] == "idle":
                break
        while True:  # skip stray replies (wait_for_ready may leave extra kernel_info replies queued)
            reply = self.kc.get_shell_msg(timeout=60)
            if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
                return reply, "".join(printed)


def run_notebook_file(path: Path, tmp_path: Path, kernel_name: str = "python3") -> list[str]:
    """Execute a saved notebook in a fresh kernel; return what each code cell printed (stream text)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, kernel_name=kernel_name, timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    return ["".join(o.get("text", "") for o in c.outputs if o.output_type == "stream")
            for c in nb.cells if c.cell_type == "code"]


# -- one scenario, three clients: a frontend with cell ids, one without, nbclient on the saved notebook --------
MODES = ["cell-ids", "no-cell-ids", "nbclient"]


def save_notebook(path: Path, sources: list[str], ids: list[str]) -> Path:
    import nbformat

    nb = new_notebook(cells=[new_code_cell(source, id=cell_id) for source, cell_id in zip(sources, ids)])
    nbformat.write(nb, path)
    return path


def run_saved(path: Path, **options):
    """Run a saved notebook with nbclient (which sends no cell ids), as `submarine-kernel run` does."""
    import nbformat
    from jupyter_client.manager import AsyncKernelManager

    nb = nbformat.read(path, as_version=4)
    km = AsyncKernelManager(kernel_name="submarine", kernel_spec_manager=spec_manager())
    client = NotebookClient(nb, km=km, timeout=120, resources={"metadata": {"path": str(path.parent)}}, **options)
    client.execute(env={**os.environ, "JPY_SESSION_NAME": str(path)})
    return nb


def play(cells: list[str], mode: str, tmp_path: Path) -> list[tuple[bool, str]]:
    """(succeeded, printed text) of each cell, run by a frontend with (`cell-ids`) or without (`no-cell-ids`)
    cell ids, or by nbclient on the saved notebook with errors allowed (`nbclient`)."""
    path = save_notebook(tmp_path / f"{mode}.ipynb", cells, [f"c{i}" for i in range(len(cells))])
    if mode == "nbclient":
        nb = run_saved(path, allow_errors=True)
        return [(not errors(cell), text(cell)) for cell in nb.cells]
    results = []
    with FrontendKernel(cell_ids=mode == "cell-ids", env={"JPY_SESSION_NAME": str(path)},
                        cwd=str(tmp_path)) as kernel:
        for index, source in enumerate(cells):
            reply, printed = kernel.run(source, cell_id=f"c{index}")
            results.append((reply["content"]["status"] == "ok", printed))
    return results
