"""Supervisor of one local job: starts its replicas, reaps them, applies the operator's success rules.

Runs as its own detached process (`python -S supervisor.py JOBDIR`) so a job outlives the kernel that
submitted it and any later process can read its state. Stdlib only: it must start fast.

Reads JOBDIR/job.json, writes JOBDIR/status.json atomically on every change:
- the deciding replica (chief, else master, else worker 0) decides success;
- a replica that fails fails the job, and the others are stopped;
- SIGTERM stops the job: every replica's process group gets SIGTERM, then `stop_grace` seconds (job.json,
  default 30, as Kubernetes' terminationGracePeriodSeconds) to exit, then SIGKILL; meanwhile the status says
  "stopping (grace 30 s)". The job ends STOPPED;
- the deciding replica's progress (log output or CPU time) is kept in its status; with `stall_timeout`
  (job.json) a job whose decider shows none for that long is ended FAILED;
- a status the disk has no room for is written once the job's reserve (`.status-reserve`) is freed, or
  again later: the verdict is always written before the supervisor exits.

A watchdog process (forked first, in its own session) holds a pipe from the supervisor: if the supervisor dies
without saying "done" (SIGKILL, a crash), the watchdog ends every replica group and records the job FAILED,
so replicas never outlive their supervisor.

Every 2 s a sampler (sampler.py, beside this file) records each replica's CPU %, RSS and, where NVML answers,
GPU use in JOBDIR/usage.json; a sampler that fails stops sampling, never the job.
"""

import datetime
import errno
import json
import os
import signal
import subprocess
import sys
import time


def _load_sampler():
    """sampler.py beside this file, by path: however this script is started (`python -S supervisor.py`, or
    run_path from a wrapper), the package it sits in is not importable without site packages."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "submarine_sampler", os.path.join(os.path.dirname(os.path.abspath(__file__)), "sampler.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sampler = _load_sampler()

DEFAULT_STOP_GRACE_SECONDS = 30.0
#: grace for replicas the watchdog ends after the supervisor died (no one is waiting for a checkpoint)
WATCHDOG_GRACE_SECONDS = 5.0
TICK_SECONDS = 0.05
#: room kept on the job's disk for its status files (a 256-replica status is about 60 KiB)
RESERVE_NAME = ".status-reserve"
RESERVE_BYTES = 256 * 1024
#: what a job says until its replicas run (the first seconds of an empty log are not a hang)
STARTING = "starting replicas"
#: how much of a failed replica's log end is searched for its last line, and how long that line may be
LAST_LINE_BYTES = 64 * 1024
LAST_LINE_CHARS = 300
METRIC_MARKER = "SUBMARINE_METRIC "  # metrics.MARKER: report()'s lines say nothing about a failure


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def describe_exit(name, code):
    if code is not None and code < 0:
        try:
            signame = signal.Signals(-code).name
        except ValueError:
            signame = "an unknown signal"
        return f"{name} was killed by signal {-code} ({signame})"
    return f"{name} exited with code {code}"


def last_line(log_path):
    """The last line a replica wrote that can explain its end (report()'s metric lines skipped), or ""."""
    try:
        with open(log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - LAST_LINE_BYTES))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    for line in reversed(tail.splitlines()):
        line = line.strip()
        if line and not line.startswith(METRIC_MARKER):
            return line if len(line) <= LAST_LINE_CHARS else line[:LAST_LINE_CHARS - 1] + "…"
    return ""


def failure_message(name, code, log_path):
    """`master-0 exited with code 2: python: can't open file ...`: the exit and the replica's own last words,
    so the summary, `status` and `--wait`'s error say why without opening the log."""
    said = last_line(log_path)
    return describe_exit(name, code) + (f": {said}" if said else "")


class Supervisor:
    def __init__(self, job_dir):
        self.job_dir = job_dir
        with open(os.path.join(job_dir, "job.json")) as f:
            self.job = json.load(f)
        self.procs = {}
        self.logs = {r["name"]: r["log"] for r in self.job["replicas"]}
        self.stop_requested = False
        self.stop_now = False  # a second SIGTERM during the grace period: SIGKILL at once
        self.grace = float(self.job.get("stop_grace", DEFAULT_STOP_GRACE_SECONDS))
        self.watchdog = None
        self.unwritten = False  # a status the disk had no room for: written again (flush_status)
        self.stall_timeout = float(self.job.get("stall_timeout") or 0)
        self.sampler = sampler.Sampler(job_dir, self.job["replicas"], self.job.get("nvml_path"))
        self.progress = {"checked": 0.0, "mark": None, "since": time.monotonic(), "written": 0.0}
        self.status = {
            "state": "PENDING", "raw_state": "starting", "submitted": self.job["submitted"],
            "started": None, "finished": None, "message": STARTING, "supervisor_pid": os.getpid(),
            "replicas": {r["name"]: {"state": "PENDING", "exit_code": None, "pid": None, "started": None,
                                     "finished": None} for r in self.job["replicas"]},
        }

    def write_status(self):
        """Write the status; on a full disk, free the job's reserve and try again, else keep it in memory
        for `flush_status` (the replicas go on; a verdict is never lost to a full disk)."""
        path = os.path.join(self.job_dir, "status.json")
        try:
            write_json(path, self.status)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not release_reserve(self.job_dir):
                self.unwritten = True
                return
            try:
                write_json(path, self.status)
            except OSError:
                self.unwritten = True
                return
        self.unwritten = False

    def flush_status(self, wait=False):
        """Write a status a full disk held back: now, or (`wait`, for the verdict) until it is written."""
        while self.unwritten:
            self.write_status()
            if not wait or not self.unwritten:
                return
            time.sleep(1.0)

    def start_watchdog(self):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(write_end)
            code = 0
            try:
                os.setsid()  # out of the supervisor's group and session: a signal to those does not reach it
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                watch(self.job_dir, os.fdopen(read_end, "r"))
            except BaseException:
                code = 1
            os._exit(code)
        os.close(read_end)
        self.watchdog = (pid, os.fdopen(write_end, "w", buffering=1))

    def tell_watchdog(self, line):
        if self.watchdog is not None:
            try:
                self.watchdog[1].write(line + "\n")
            except OSError:
                pass  # the watchdog is gone: the supervisor still does its job

    def release_watchdog(self):
        """Tell the watchdog the job ended cleanly, and reap it."""
        if self.watchdog is not None:
            self.tell_watchdog("done")
            self.watchdog[1].close()
            try:
                os.waitpid(self.watchdog[0], 0)
            except ChildProcessError:
                pass
            self.watchdog = None

    def start(self):
        make_reserve(self.job_dir)
        self.start_watchdog()
        base_env = dict(os.environ)
        for replica in self.job["replicas"]:
            log = open(replica["log"], "ab", buffering=0)
            env = {**base_env, **replica["env"]}
            proc = subprocess.Popen(["/bin/sh", "-c", replica["command"]], cwd=replica["cwd"], env=env,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)  # own process group: stop reaches its children
            log.close()
            self.tell_watchdog(str(proc.pid))
            self.procs[replica["name"]] = proc
            self.status["replicas"][replica["name"]].update(state="RUNNING", pid=proc.pid, started=now())
        self.status.update(state="RUNNING", raw_state="running", started=now(), message="")
        self.write_status()

    def check_progress(self):
        """The deciding replica's last sign of life (log output or CPU time), looked at once a second and kept
        as `progress` in its status (written every 10 s); a message when it has shown none for `stall_timeout`
        seconds (job.json; 0: never), and the job must end."""
        moment = time.monotonic()
        decider = self.job["decider"]
        proc = self.procs.get(decider)
        if moment - self.progress["checked"] < 1.0 or proc is None or proc.poll() is not None:
            return None
        self.progress["checked"] = moment
        log = next(r["log"] for r in self.job["replicas"] if r["name"] == decider)
        try:
            size = os.path.getsize(log)
        except OSError:
            size = None
        mark = (size, _group_cpu_ticks(proc.pid))
        if mark != self.progress["mark"]:
            self.progress.update(mark=mark, since=moment)
            self.status["replicas"][decider]["progress"] = now()
            if moment - self.progress["written"] >= 10.0:
                self.progress["written"] = moment
                self.write_status()
        quiet = moment - self.progress["since"]
        if self.stall_timeout and quiet > self.stall_timeout:
            return (f"{decider} made no progress (no log output, no CPU time) for {quiet:.0f} s: ended after "
                    f"LocalRuntime.stall_timeout = {self.stall_timeout:g} s")
        return None

    def reap(self):
        """Record every replica that has exited since the last look, by its own exit code; returns their names.

        All of them, not only the first found: a replica whose exit is left unread stays RUNNING forever once
        the job has ended (two replicas of `python missing.py` exit together)."""
        exited = []
        for name, proc in self.procs.items():
            replica = self.status["replicas"][name]
            if replica["exit_code"] is None and proc.poll() is not None:
                code = proc.returncode
                replica.update(exit_code=code, finished=now(), state="SUCCEEDED" if code == 0 else "FAILED")
                exited.append(name)
        return exited

    def kill_all(self, reason_state):
        """SIGTERM every replica's process group, SIGKILL what is left after the grace period.

        Replicas that ended by themselves before the signal keep the state their exit code gives; the others
        end `reason_state` with the code the signal left. The wait is for the whole group, not only the
        replica's shell: a program that traps SIGTERM to save a checkpoint keeps running after its shell has
        died of the signal."""
        self.sample_usage(final=True)  # the last look at what the replicas used, before they are signalled
        self.reap()
        live = {n: p for n, p in self.procs.items() if self.status["replicas"][n]["exit_code"] is None}
        # every group, ended replicas' too: a replica whose shell was killed leaves its children in its group
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGTERM)
            _signal_group(proc.pid, signal.SIGCONT)  # a stopped (SIGSTOP) replica receives the SIGTERM too
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and not self.stop_now and (
                any(p.poll() is None for p in live.values()) or any(_group_alive(p.pid) for p in self.procs.values())):
            time.sleep(TICK_SECONDS)
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGKILL)  # also reaches grandchildren left in the group
        for proc in live.values():
            proc.wait()
        for name, proc in live.items():
            self.status["replicas"][name].update(state=reason_state, exit_code=proc.returncode, finished=now())

    def sample_usage(self, final=False):
        """A usage sample of the replicas still running (every interval; `final`: now, whatever the interval)."""
        if self.sampler is None:
            return
        live = {n: p.pid for n, p in self.procs.items() if p.poll() is None}
        try:
            if final:
                self.sampler.sample(live)
                self.sampler.write()
                self.sampler.close()
            else:
                self.sampler.maybe_sample(live)
        except Exception as exc:  # sampling is a view on the job: its failure ends sampling, not the job
            print(f"usage sampling stopped: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            self.sampler = None

    def finish(self, state, message):
        self.status.update(state=state, raw_state=state.lower(), finished=now(), message=message)
        self.write_status()
        self.flush_status(wait=True)
        release_reserve(self.job_dir)  # the job writes no more status

    def run(self):
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        try:
            self.start()
        except (OSError, ValueError, TypeError) as exc:  # ValueError, TypeError: a NUL byte, a non-text env value
            self.kill_all("STOPPED")
            self.finish("FAILED", f"could not start a replica: {exc}")
            return 1
        decider = self.job["decider"]
        parameter_servers = {r["name"] for r in self.job["replicas"] if r["role"] == "ps"}
        grace_deadline = None
        while True:
            if self.stop_requested:
                self.status.update(raw_state="stopping", message=f"stopping (grace {self.grace:g} s)")
                self.write_status()
                self.kill_all("STOPPED")
                self.finish("STOPPED", "stopped on request")
                return 0
            self.flush_status()
            exited = self.reap()
            failed = [n for n in exited if self.status["replicas"][n]["exit_code"] != 0]
            if failed and grace_deadline is None:
                # several at once (a missing file fails every replica): the deciding replica names the cause
                name = decider if decider in failed else failed[0]
                self.kill_all("STOPPED")
                self.finish("FAILED", failure_message(name, self.status["replicas"][name]["exit_code"],
                                                      self.logs[name]))
                return 0
            if exited:
                self.write_status()
            self.sample_usage()
            stalled = self.check_progress()
            if stalled:
                self.kill_all("STOPPED")
                self.finish("FAILED", stalled)
                return 0
            if grace_deadline is None and self.status["replicas"][decider]["state"] == "SUCCEEDED":
                # The decider is done: give other workers a moment to finish cleanly; PS never end by themselves.
                grace_deadline = time.monotonic() + float(self.job.get("success_grace", 30))
            if grace_deadline is not None:
                pending = [n for n, p in self.procs.items() if p.poll() is None and n not in parameter_servers]
                if not pending or time.monotonic() > grace_deadline:
                    self.kill_all("STOPPED")
                    self.finish("SUCCEEDED", f"{decider} succeeded")
                    return 0
            time.sleep(TICK_SECONDS)

    def _on_stop(self, signum, frame):
        if self.stop_requested:
            self.stop_now = True
        self.stop_requested = True


def _signal_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_stats(pgid):
    """The /proc stat fields (those after the command name) of each process of group `pgid`; None without /proc."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    found = []
    for entry in entries:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if len(fields) > 12 and fields[2] == str(pgid):
                found.append(fields)
    return found


def _group_alive(pgid):
    """Whether a process of group `pgid` still runs (zombies, which only wait for a reaper, do not count)."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    stats = _group_stats(pgid)
    return stats is None or any(fields[0] not in ("Z", "X") for fields in stats)


def _group_cpu_ticks(pgid):
    """CPU time (clock ticks, user + system) of the processes of group `pgid`; None without /proc."""
    stats = _group_stats(pgid)
    return None if stats is None else sum(int(fields[11]) + int(fields[12]) for fields in stats)


def write_json(path, data):
    tmp = path + f".tmp{os.getpid()}"
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)  # a full disk leaves a partial file: not ours to keep
        except OSError:
            pass
        raise


def make_reserve(job_dir):
    """Hold RESERVE_BYTES of the job's disk, released when a status cannot be written for lack of space: room
    for the verdict even when the replicas (or anything else) filled the disk."""
    try:
        with open(os.path.join(job_dir, RESERVE_NAME), "wb") as f:
            f.write(b"\0" * RESERVE_BYTES)
    except OSError:
        release_reserve(job_dir)  # no room for it now: the status writes try again on their own


def release_reserve(job_dir):
    """Free the reserve; True when there was one to free."""
    try:
        os.unlink(os.path.join(job_dir, RESERVE_NAME))
        return True
    except OSError:
        return False


def watch(job_dir, pipe):
    """The watchdog: read replica group ids until EOF; without "done" first, the supervisor died: end
    every group (SIGTERM, a short grace, SIGKILL) and record the job FAILED."""
    groups, done = [], False
    for line in pipe:
        line = line.strip()
        if line == "done":
            done = True
        elif line.isdigit():
            groups.append(int(line))
    if done:
        return
    for pgid in groups:
        _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + WATCHDOG_GRACE_SECONDS
    while time.monotonic() < deadline and any(_group_alive(g) for g in groups):
        time.sleep(TICK_SECONDS)
    for pgid in groups:
        _signal_group(pgid, signal.SIGKILL)
    path = os.path.join(job_dir, "status.json")
    try:
        with open(path) as f:
            status = json.load(f)
    except (OSError, ValueError):
        return
    if status.get("state") in ("SUCCEEDED", "FAILED", "STOPPED"):
        return
    for replica in status.get("replicas", {}).values():
        if replica.get("exit_code") is None and replica.get("state") not in ("SUCCEEDED", "FAILED", "STOPPED"):
            replica.update(state="FAILED", finished=now())
    status.update(state="FAILED", raw_state="supervisor-lost", finished=now(),
                  message="the job's supervisor ended unexpectedly; its replicas were stopped")
    write_json(path, status)


def main(argv):
    job_dir = argv[1]
    supervisor = None
    try:
        supervisor = Supervisor(job_dir)
        code = supervisor.run()
        supervisor.release_watchdog()
        return code
    except Exception as exc:  # leave a terminal state behind rather than a job that looks RUNNING forever
        path = os.path.join(job_dir, "status.json")
        status = {}
        if os.path.exists(path):
            with open(path) as f:
                status = json.load(f)
        status.update(state="FAILED", raw_state="supervisor-error", finished=now(),
                      message=f"the local supervisor failed: {type(exc).__name__}: {exc}")
        with open(path, "w") as f:
            json.dump(status, f)
        raise


if __name__ == "__main__":
    sys.exit(main(sys.argv))
