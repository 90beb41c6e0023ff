"""The local supervisor's resource sampler: every SAMPLE_SECONDS, CPU % and RSS of each replica's process
group from /proc, and GPU use and GPU memory from NVML when nvidia-ml-py is there; written to
JOBDIR/usage.json (bounded by usage.py's rule) for the kernel, the status view and the history.

Stdlib only, like the supervisor that imports it (a sibling file of its script). /proc is read directly, not
through psutil: the supervisor runs `python -S` (no site packages) and already reads /proc/<pid>/stat for its
progress check; one scan of /proc per sample covers every replica, the same work psutil would do.
nvidia-ml-py (`pynvml`, a single stdlib-only file) is imported from the folder the kernel found it in
(job.json's `nvml_path`), only when a sample is taken, and only when installed or a replica has GPUs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time

try:
    from ... import usage as usage_data  # imported within the package (the runtime, the tests)
except ImportError:  # the supervisor's `python -S` script: the same file, by path
    _path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "usage.py")
    _spec = importlib.util.spec_from_file_location("submarine_usage", _path)
    usage_data = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(usage_data)

USAGE_NAME = "usage.json"
NOT_INSTALLED = "nvidia-ml-py is not installed: pip install 'submarine-kernel[gpu]' in the kernel's environment"
SOURCE = "local (/proc, NVML)"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def nvml_reason(exc: BaseException) -> str:
    """NVML's own words for a failure (`NVML Shared Library Not Found`), else the exception's."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def gpu_note(reason: str) -> str:
    return f"no GPU metrics (NVML: {reason})"


class NvmlReader:
    """GPU use (of the replica's devices) and GPU memory (of the replica's processes) through NVML.

    `module` is nvidia-ml-py's `pynvml`; any failure to start says `no GPU metrics (NVML: <reason>)` once in
    `note` and the reader reads nothing more (a machine without a GPU answers so on every call)."""

    def __init__(self, module):
        self.nvml = module
        self.note = ""
        self.handles: dict[str, object] = {}
        try:
            module.nvmlInit()
        except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, NoPermission...
            self.note = gpu_note(nvml_reason(exc))
            self.nvml = None

    def _handle(self, device: str):
        if device not in self.handles:
            nvml = self.nvml
            self.handles[device] = (nvml.nvmlDeviceGetHandleByIndex(int(device)) if device.isdigit()
                                    else nvml.nvmlDeviceGetHandleByUUID(device))
        return self.handles[device]

    def read(self, devices: list[str], pids: set[int]) -> tuple[float | None, int | None]:
        """(GPU use %, averaged over `devices`; memory used by `pids` on them, bytes); None, None without them."""
        if self.nvml is None or not devices:
            return None, None
        try:
            use, memory = [], 0
            for device in devices:
                handle = self._handle(device)
                use.append(float(self.nvml.nvmlDeviceGetUtilizationRates(handle).gpu))
                for proc in self.nvml.nvmlDeviceGetComputeRunningProcesses(handle):
                    if proc.pid in pids and proc.usedGpuMemory is not None:
                        memory += int(proc.usedGpuMemory)
            return sum(use) / len(use), memory
        except Exception as exc:  # a device lost mid-run: said once, no more GPU reads
            self.note = gpu_note(nvml_reason(exc))
            self.nvml = None
            return None, None

    def close(self) -> None:
        if self.nvml is not None:
            try:
                self.nvml.nvmlShutdown()
            except Exception:
                pass


def import_nvml(nvml_path: str | None):
    """nvidia-ml-py's module, from the kernel's site folder; (None, why) when it cannot be imported."""
    if nvml_path and nvml_path not in sys.path:
        sys.path.append(nvml_path)  # appended: nothing of the standard library is shadowed
    try:
        import pynvml
    except ImportError:
        return None, NOT_INSTALLED
    except Exception as exc:  # a broken install
        return None, nvml_reason(exc)
    return pynvml, ""


def scan_groups(pgids) -> dict[int, dict] | None:
    """CPU ticks (with reaped children's), RSS bytes and pids of each process group in `pgids`, from one
    pass over /proc; None where /proc is missing (macOS)."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    wanted = {str(g): g for g in pgids}
    groups = {g: {"ticks": 0, "rss": 0, "pids": set()} for g in pgids}
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) < 22 or fields[2] not in wanted:
            continue
        group = groups[wanted[fields[2]]]
        # utime, stime, cutime, cstime: a child's time moves to its parent's c* fields when reaped, so the
        # group's total does not drop when a short-lived child ends
        group["ticks"] += sum(int(fields[i]) for i in (11, 12, 13, 14))
        group["rss"] += int(fields[21]) * PAGE_SIZE
        group["pids"].add(int(entry))
    return groups


class Sampler:
    """Samples the replicas of one job; `maybe_sample` from the supervisor's loop, `write` at its end."""

    def __init__(self, job_dir: str, replicas: list[dict], nvml_path: str | None,
                 interval: float = usage_data.SAMPLE_SECONDS):
        self.path = os.path.join(job_dir, USAGE_NAME)
        self.interval = interval
        self.devices = {r["name"]: [d for d in r.get("env", {}).get("CUDA_VISIBLE_DEVICES", "").split(",")
                                    if d.strip()] for r in replicas}
        self.usage = usage_data.empty(SOURCE, interval)
        self.budget = usage_data.points_budget(len(replicas))
        self.nvml_path = nvml_path
        self.gpu: NvmlReader | None = None
        self.gpu_tried = False
        self.last_sample = 0.0
        self.previous: dict[str, tuple[float, int]] = {}
        self.cpu_seconds = 0.0  # the sampler's own CPU time (bench/usage_bench.py)

    def _start_gpu(self) -> None:
        """NVML once, on the first sample: when nvidia-ml-py is installed, or a replica has GPUs to show."""
        self.gpu_tried = True
        wants_gpu = any(self.devices.values())
        module, why = import_nvml(self.nvml_path)
        if module is None:
            if wants_gpu:
                self.usage["notes"].append(gpu_note(why))
            return
        self.gpu = NvmlReader(module)
        if self.gpu.note:
            self.usage["notes"].append(self.gpu.note)

    def maybe_sample(self, pgids: dict[str, int]) -> bool:
        """Take a sample when the interval has passed; True when one was taken (and written)."""
        moment = time.monotonic()
        if moment - self.last_sample < self.interval:
            return False
        self.last_sample = moment
        self.sample(pgids)
        self.write()
        return True

    def sample(self, pgids: dict[str, int]) -> None:
        started = time.process_time()
        if not self.gpu_tried:
            self._start_gpu()
        groups = scan_groups(pgids.values())
        if groups is None:
            note = "no CPU or memory samples: this system has no /proc"
            if note not in self.usage["notes"]:
                self.usage["notes"].append(note)
            return
        moment, wall = time.time(), time.monotonic()
        for name, pgid in pgids.items():
            group = groups[pgid]
            if not group["pids"]:
                continue  # the replica has ended: its series stops
            before = self.previous.get(name)
            self.previous[name] = (wall, group["ticks"])
            cpu = None
            if before is not None and wall > before[0]:
                cpu = max(0.0, (group["ticks"] - before[1]) / CLOCK_TICKS / (wall - before[0]) * 100)
            gpu_use, gpu_mem = (None, None)
            if self.gpu is not None:
                gpu_use, gpu_mem = self.gpu.read(self.devices.get(name, []), group["pids"])
                if self.gpu.note and self.gpu.note not in self.usage["notes"]:
                    self.usage["notes"].append(self.gpu.note)
            usage_data.add_point(self.usage, name, [round(moment, 1), None if cpu is None else round(cpu, 1),
                                                    group["rss"], gpu_use, gpu_mem], self.budget)
        self.cpu_seconds += time.process_time() - started

    def write(self) -> None:
        """usage.json, atomically; a full disk loses a sample, never the job."""
        self.usage["sampler_cpu_seconds"] = round(self.cpu_seconds, 4)
        tmp = f"{self.path}.tmp{os.getpid()}"
        try:
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                json.dump(self.usage, f)
            os.replace(tmp, self.path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def close(self) -> None:
        if self.gpu is not None:
            self.gpu.close()


def read_usage(job_dir) -> dict | None:
    """A job's usage.json; None before its first sample (or for jobs started before sampling existed)."""
    try:
        with open(os.path.join(str(job_dir), USAGE_NAME)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
