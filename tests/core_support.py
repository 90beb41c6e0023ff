"""Helpers shared by the core tests: job scripts, local jobs, waiting without timed assertions, pids."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

JOBS = Path(__file__).resolve().parent / "jobs"
#: generous: these bound a wait, they are never asserted on
TIMEOUT = 120.0


def installed_command(name: str) -> str | None:
    """A console script of the environment running the tests: beside its interpreter (a venv run as
    `/path/venv/bin/python -m pytest` is not on PATH), else on PATH; None when neither has it."""
    beside = Path(sys.executable).with_name(name)  # not resolved: a venv's python is a link to the base one
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def job_file(name: str) -> str:
    """The text of tests/jobs/<name>."""
    return (JOBS / name).read_text()


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_until(predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.05,
               what: str = "condition") -> Any:
    """Poll `predicate` until it returns something truthy; fail the test (not on timing) if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never happened (gave up after {timeout:.0f} s)")
        time.sleep(interval)


def job_dir(job) -> Path:
    return Path(job.ref.extra["dir"])


def status_json(job) -> dict | None:
    try:
        return json.loads((job_dir(job) / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def running_pids(job) -> dict[str, int]:
    """Wait until the supervisor has started every replica; return replica name → pid."""
    def started():
        raw = status_json(job)
        if raw and raw["state"] == "RUNNING" and all(r["pid"] for r in raw["replicas"].values()):
            return {name: r["pid"] for name, r in raw["replicas"].items()}
        return None
    return wait_until(started, what=f"{job.name} running")


def read_pids(out: Path, names, timeout: float = TIMEOUT) -> dict[str, list[int]]:
    """The `<name>.pids` files written by tests/jobs/sleeper.py: replica → [own pid, grandchild pid]."""
    return {name: [int(p) for p in wait_until(lambda: _read(out / f"{name}.pids"), timeout,
                                              what=f"{name} wrote its pids").split()]
            for name in names}


def release(go: Path, replica: str, code: int = 0) -> None:
    """Tell a tests/jobs/sleeper.py replica (or `all`) to exit with `code`, atomically: the sleeper reads the
    file as soon as it exists, and a file it found still empty made it exit 0 (a master meant to fail with 5
    then "succeeded" under load, issue 23 item 2)."""
    tmp = go / f".{replica}.tmp"
    tmp.write_text(str(code))
    os.replace(tmp, go / replica)


def _read(path: Path) -> str | None:
    try:
        return path.read_text() or None
    except FileNotFoundError:
        return None


def pid_gone(pid: int) -> bool:
    """True when `pid` no longer runs (a zombie waiting for a reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def all_gone(pids) -> bool:
    return all(pid_gone(p) for p in pids)


def imported_by_load_ext(modules) -> list[str]:
    """Which of `modules` a fresh interpreter has imported after `%load_ext submarine_kernel` (what must stay
    lazy: optional clients, importers, samplers)."""
    import subprocess

    probe = ("from IPython.core.interactiveshell import InteractiveShell\n"
             "shell = InteractiveShell.instance()\n"
             "shell.run_line_magic('load_ext', 'submarine_kernel')\n"
             "import json, sys\n"
             f"print(json.dumps(sorted(m for m in {list(modules)!r} if m in sys.modules)))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def configure_local(**traits) -> Any:
    """Set traits (success_grace, gpus, ...) on the default session's local runtime; returns the runtime."""
    from submarine_kernel.session import default_session

    runtime = default_session().runtime("local")
    for key, value in traits.items():
        setattr(runtime, key, value)
    return runtime


@pytest.fixture
def stop_leftovers():
    """Stop, at teardown, every job of the default session that a failing test left running."""
    yield
    import submarine_kernel as sk

    for job in sk.jobs():
        try:
            if not job.status().terminal:
                job.stop()
        except Exception:  # clean-up must not hide the test's own failure
            pass
