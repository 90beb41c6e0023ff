"""The local runtime's process plumbing: free ports, GPUs on this machine, the supervisor's liveness (pid and
command line, so a recycled pid is not mistaken for it), process groups, atomic JSON files, interpreter shims."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

#: the detached supervisor script a job's replicas run under (stdlib only, started with `python -S`)
SUPERVISOR = Path(__file__).with_name("supervisor.py")


def probe_gpus() -> list[str]:
    """Device ids nvidia-smi lists; none without it (or when it hangs)."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, _ in enumerate(line for line in out.splitlines() if line.startswith("GPU "))]


def nvml_folder() -> str | None:
    """The folder nvidia-ml-py's `pynvml` would be imported from here (not imported: found), for the
    supervisor, which runs without site packages; None when it is not installed."""
    import importlib.util

    try:
        found = importlib.util.find_spec("pynvml")
    except (ImportError, ValueError):
        return None
    return os.path.dirname(found.origin) if found and found.origin else None


def free_ports(count: int) -> list[int]:
    """Distinct free localhost ports (held open together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def supervisor_alive(pid: int | None, job_dir: Path) -> bool:
    """True when `pid` is still this job's supervisor (guards against a recycled pid)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\x00")
    except OSError:
        try:
            os.kill(pid, 0)  # no /proc (macOS): trust the pid
            return True
        except OSError:
            return False
    if str(job_dir).encode() not in cmdline:
        return False
    try:  # a zombie has exited even though its /proc entry lingers
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def supervisor_running_for(job_dir: Path) -> bool:
    """Whether some process runs the supervisor of `job_dir` (before it could write its pid anywhere)."""
    needle = str(job_dir).encode()
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\x00")
            except OSError:
                continue
            if needle in cmdline and any(part.endswith(SUPERVISOR.name.encode()) for part in cmdline):
                return True
    return False


def kill_group(pid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.2)


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def write_interpreter_shims(bin_dir: Path, python: str) -> None:
    """`python` and `python3` that exec the chosen interpreter.

    Scripts, not symlinks: a symlinked venv interpreter outside its venv folder loses the venv's site-packages.
    """
    bin_dir.mkdir(mode=0o700)
    for name in ("python", "python3"):
        shim = bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(python)} "$@"\n')
        shim.chmod(0o700)


def process_state(pid: int) -> str | None:
    """The kernel's one-letter state of `pid` (R, S, T for stopped, Z...); None when it is gone or unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def job_processes(job_dir: Path) -> tuple[list[int], list[int]]:
    """What still runs of the job kept in `job_dir`, found without its files (a folder deleted under a running
    job): its supervisor and watchdog (their command line names the folder) and its replicas' process groups
    (their working directory is under it, "(deleted)" or not)."""
    supervisors, groups = [], set()
    needle, inside = str(job_dir).encode(), str(job_dir).rstrip("/") + "/"
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] in ("Z", "X"):
                continue
            cmdline = (entry / "cmdline").read_bytes().split(b"\x00")
            if needle in cmdline and any(part.endswith(SUPERVISOR.name.encode()) for part in cmdline):
                supervisors.append(int(entry.name))
                continue
            cwd = os.readlink(entry / "cwd").removesuffix(" (deleted)")
        except (OSError, IndexError):
            continue
        if cwd.startswith(inside):
            groups.add(int(fields[2]))
    return supervisors, sorted(groups)


def end_processes(groups: list[int], supervisors: list[int], grace: float) -> None:
    """SIGTERM (and SIGCONT, so a stopped process receives it) to each group, up to `grace` seconds for them
    to end, SIGKILL to what is left; then SIGKILL to the supervisors (a frozen one cannot act on SIGTERM)."""
    def signal_all(sig) -> None:
        for pgid in groups:
            try:
                os.killpg(pgid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    signal_all(signal.SIGTERM)
    signal_all(signal.SIGCONT)
    from .supervisor import _group_alive  # one liveness rule for groups: the supervisor's (zombies excluded)

    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_group_alive(g) for g in groups):
        time.sleep(0.05)
    signal_all(signal.SIGKILL)
    for pid in supervisors:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
