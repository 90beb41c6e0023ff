"""Which notebook this kernel runs, wherever it runs: job names and `%submarine list`/`history` are per notebook.

- Jupyter Server (Lab, Notebook) and `submarine-kernel run` set `JPY_SESSION_NAME` (ipykernel copies it to
  `__session__`); VS Code sets `__vsc_ipynb_file__`.
- `jupyter nbconvert --execute NB.ipynb` and `papermill IN.ipynb OUT.ipynb` tell the kernel nothing: the
  notebook is on the command line of the process that started the kernel (the kernel's parent), relative to
  that process's working directory. nbconvert also starts the kernel in the notebook's folder, which picks
  the right one when several notebooks are converted in one command.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

#: options of nbconvert and papermill whose value is not an input notebook
_VALUE_OPTIONS = {
    "nbconvert": {"--output", "--output-dir", "--to", "--template", "--writer", "--post", "--config",
                  "--log-level", "--reveal-prefix", "--template-file"},
    "papermill": {"--parameters_file", "-f", "--parameters_yaml", "-y", "--parameters_base64", "-b", "--cwd",
                  "--kernel", "-k", "--engine", "--language", "-l", "--log-level", "--start-timeout",
                  "--start_timeout", "--execution-timeout", "--stdout-file", "--stderr-file"},
}
_PAIR_OPTIONS = {"-p", "--parameters", "-r", "--parameters_raw"}  # papermill: NAME VALUE


def detect(user_ns: Mapping | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """The notebook's path (absolute where it is a local file), or None when nothing tells."""
    environ = os.environ if environ is None else environ
    user_ns = user_ns or {}
    named = environ.get("JPY_SESSION_NAME") or user_ns.get("__session__") or user_ns.get("__vsc_ipynb_file__")
    if named:
        return str(named)
    return from_parent_process()


def from_parent_process() -> str | None:
    """The notebook on the command line of nbconvert or papermill when one of them started this kernel."""
    found = _parent_command_line()
    return from_command_line(*found, os.getcwd()) if found else None


def _parent_command_line() -> tuple[list[str], str] | None:
    """(argv, working directory) of the parent process: /proc on Linux, psutil (when installed) elsewhere."""
    ppid = os.getppid()
    proc = f"/proc/{ppid}"
    try:
        if os.path.isdir(proc):
            with open(f"{proc}/cmdline", "rb") as f:
                argv = [w.decode(errors="replace") for w in f.read().split(b"\0") if w]
            return argv, os.readlink(f"{proc}/cwd")
        import psutil

        parent = psutil.Process(ppid)
        return parent.cmdline(), parent.cwd()
    except Exception:  # no psutil, or the parent is gone or not ours to inspect
        return None


def tool_of(argv: Sequence[str]) -> tuple[str, list[str]] | None:
    """("nbconvert" | "papermill", its arguments) for `jupyter-nbconvert ...`, `python -m papermill ...`,
    `python /path/papermill ...`; None for any other program."""
    words = list(argv)
    for i, word in enumerate(words[:3]):
        base = os.path.basename(word)
        for tool in ("nbconvert", "papermill"):
            if base in (tool, f"jupyter-{tool}", f"{tool}.exe", f"jupyter-{tool}.exe"):
                return tool, words[i + 1:]
            if word == "-m" and i + 1 < len(words) and words[i + 1] == tool:
                return tool, words[i + 2:]
    return None


def from_command_line(argv: Sequence[str], cwd: str, kernel_cwd: str) -> str | None:
    """The input notebook named in nbconvert's or papermill's `argv`, resolved against `cwd`."""
    found = tool_of(argv)
    if found is None:
        return None
    tool, args = found
    inputs: list[str] = []
    skip = 0
    for word in args:
        if skip:
            skip -= 1
            continue
        if word in _PAIR_OPTIONS and tool == "papermill":
            skip = 2
        elif word in _VALUE_OPTIONS[tool]:
            skip = 1
        elif word == "-" or not word.startswith("-"):  # "-": papermill reads the notebook from stdin
            inputs.append(word)
    if tool == "papermill":
        inputs = inputs[:1]  # NOTEBOOK_PATH [OUTPUT_PATH]
    else:
        inputs = [w for w in inputs if w.endswith(".ipynb")]
    paths = [w if "://" in w else os.path.abspath(os.path.join(cwd, w)) for w in inputs if w != "-"]
    if len(paths) > 1:  # nbconvert converts them one by one, each in a kernel started in its folder
        paths = [p for p in paths if os.path.dirname(p) == os.path.abspath(kernel_cwd)]
    return paths[0] if len(paths) == 1 else None
