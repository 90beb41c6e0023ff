"""Supervisor of one local job: starts its replicas, reaps them, applies the operator's success rules.

Runs as its own detached process (`python -S local_supervisor.py JOBDIR`) so a job outlives the kernel that
submitted it and any later process can read its state. Stdlib only: it must start fast.

Reads JOBDIR/job.json, writes JOBDIR/status.json atomically on every change:
- the deciding replica (chief, else master, else worker 0) decides success;
- a replica that fails fails the job, and the others are stopped;
- SIGTERM stops every replica's process group and ends the job STOPPED.
"""

import datetime
import json
import os
import signal
import subprocess
import sys
import time

TERM_GRACE_SECONDS = 5.0
TICK_SECONDS = 0.05


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


class Supervisor:
    def __init__(self, job_dir):
        self.job_dir = job_dir
        with open(os.path.join(job_dir, "job.json")) as f:
            self.job = json.load(f)
        self.procs = {}
        self.stop_requested = False
        self.status = {
            "state": "PENDING", "raw_state": "starting", "submitted": self.job["submitted"],
            "started": None, "finished": None, "message": "", "supervisor_pid": os.getpid(),
            "replicas": {r["name"]: {"state": "PENDING", "exit_code": None, "pid": None, "started": None,
                                     "finished": None} for r in self.job["replicas"]},
        }

    def write_status(self):
        path = os.path.join(self.job_dir, "status.json")
        tmp = path + f".tmp{os.getpid()}"
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            json.dump(self.status, f)
        os.replace(tmp, path)

    def start(self):
        base_env = dict(os.environ)
        for replica in self.job["replicas"]:
            log = open(replica["log"], "ab", buffering=0)
            env = {**base_env, **replica["env"]}
            proc = subprocess.Popen(["/bin/sh", "-c", replica["command"]], cwd=replica["cwd"], env=env,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)  # own process group: stop reaches its children
            log.close()
            self.procs[replica["name"]] = proc
            self.status["replicas"][replica["name"]].update(state="RUNNING", pid=proc.pid, started=now())
        self.status.update(state="RUNNING", raw_state="running", started=now())
        self.write_status()

    def kill_all(self, reason_state):
        """SIGTERM every live replica group, SIGKILL what is left after a grace period."""
        live = {n: p for n, p in self.procs.items() if p.poll() is None}
        # every group, ended replicas' too: a replica whose shell was killed leaves its children in its group
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + TERM_GRACE_SECONDS
        while time.monotonic() < deadline and any(p.poll() is None for p in live.values()):
            time.sleep(TICK_SECONDS)
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGKILL)  # also reaches grandchildren left in the group
        for proc in live.values():
            proc.wait()
        for name, proc in live.items():
            self.status["replicas"][name].update(state=reason_state, exit_code=proc.returncode, finished=now())

    def finish(self, state, message):
        self.status.update(state=state, raw_state=state.lower(), finished=now(), message=message)
        self.write_status()

    def run(self):
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        try:
            self.start()
        except OSError as exc:
            self.kill_all("STOPPED")
            self.finish("FAILED", f"could not start a replica: {exc}")
            return 1
        decider = self.job["decider"]
        parameter_servers = {r["name"] for r in self.job["replicas"] if r["role"] == "ps"}
        grace_deadline = None
        while True:
            if self.stop_requested:
                self.kill_all("STOPPED")
                self.finish("STOPPED", "stopped on request")
                return 0
            changed = False
            for name, proc in self.procs.items():
                replica = self.status["replicas"][name]
                if replica["exit_code"] is None and proc.poll() is not None:
                    code = proc.returncode
                    replica.update(exit_code=code, finished=now(), state="SUCCEEDED" if code == 0 else "FAILED")
                    changed = True
                    if code != 0 and grace_deadline is None:
                        self.kill_all("STOPPED")
                        self.finish("FAILED", describe_exit(name, code))
                        return 0
            if changed:
                self.write_status()
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
        self.stop_requested = True


def _signal_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def main(argv):
    job_dir = argv[1]
    try:
        return Supervisor(job_dir).run()
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
