"""The embedded default runtime: every replica is a process on this machine.

Each job gets a folder under `jobs_dir` with the bundle, one working directory per replica (the files in
`./submarine_algorithm/`, on PYTHONPATH, and in the working directory itself, as Zeppelin localized them),
per-replica logs, and a detached supervisor (supervisor.py) that owns the replica processes. The
environment contract is the training operator's, so code moves to a cluster unchanged.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Iterator, Sequence

from traitlets import Float, Int, Unicode, default

from ... import contract
from ...algorithm import PARAMS_NAME, Bundle, params_json
from ...config import data_dir, private_dir
from ...errors import JobNotFound, Problem, SubmarineError, disk_full
from ...secrets import is_secret_key, redact_mapping, redacted_spec_json
from ...spec import JobSpec
from ...storage import fetch_bundle
from ...job_types import SUBMISSION_LABEL, JobRef, JobState, JobStatus, ReplicaStatus, utcnow
from ..base import ListedJob, Runtime, Submission
from . import processes
from .data import LocalJobData



class LocalRuntime(Runtime):
    """Runs replicas as local processes; the default, so everything works on a laptop."""

    name = "local"

    jobs_dir = Unicode(help="Folder that holds one sub-folder per local job.").tag(config=True)
    host = Unicode("127.0.0.1", help="Address replicas use to reach each other.").tag(config=True)
    max_replicas = Int(256, min=1, help="Most replicas one local job may ask for: each is a process with its "
                       "own log on this machine.").tag(config=True)
    gpus = Int(-1, help="GPUs this machine offers to jobs; -1 detects them (CUDA_VISIBLE_DEVICES, nvidia-smi).",
               ).tag(config=True)
    success_grace = Float(30.0, help="Seconds other workers may keep running after the deciding replica "
                                     "succeeded, before they are stopped.").tag(config=True)
    poll_interval = Float(0.25, help="Seconds between status reads while a job is followed.").tag(config=True)
    python = Unicode(help="Interpreter that `python` and `python3` in launch commands run (default: the one "
                          "running this kernel or CLI); its folder is also first on the replicas' PATH, so its "
                          "`pip`, `torchrun` and packages are the ones a job sees.").tag(config=True)
    stop_grace = Float(30.0, help="Seconds a stopped replica gets between SIGTERM (to its process group) and "
                                  "SIGKILL, to save a checkpoint; Kubernetes' terminationGracePeriodSeconds."
                       ).tag(config=True)
    stall_after = Float(600.0, min=0, help="Seconds the deciding replica may show no progress (no log output, "
                                          "no CPU time) before its status says it may be hung; 0: never."
                        ).tag(config=True)
    stall_timeout = Float(0.0, min=0, help="Seconds without progress after which the supervisor ends the job "
                                           "FAILED (a replica stopped or deadlocked); 0 (default): never."
                          ).tag(config=True)
    stop_wait = Float(15.0, help="Seconds `stop` waits for the job to end before it returns; the status says "
                                 "'stopping (grace N s)' until it has. A second stop kills at once.").tag(config=True)

    _probed_gpus: list[str] | None = None

    @default("jobs_dir")
    def _default_jobs_dir(self):
        return str(data_dir() / "jobs")

    @default("python")
    def _default_python(self):
        # sys.executable, not a PATH lookup: the kernel's environment is often not on the server's PATH.
        return sys.executable

    # -- checks ----------------------------------------------------------------------------------------
    def check(self, spec: JobSpec) -> list[str]:
        problems = []
        name = spec.name or ""
        # the name itself follows the one job name rule (names.job_name_problems, checked by Session.build)
        if name and (Path(self.jobs_dir) / name).exists():
            problems.append(Problem(f"a local job named {name!r} already exists: choose another --name", "name",
                                    form=f"a local job named {name!r} already exists: choose another"))
        elif Path(self.jobs_dir).is_dir() and not os.access(self.jobs_dir, os.W_OK):
            problems.append(f"the local jobs folder {self.jobs_dir} is not writable: make it writable, or set "
                            "LocalRuntime.jobs_dir to a folder you can write")
        if not (os.path.isfile(self.python) and os.access(self.python, os.X_OK)):
            problems.append(f"LocalRuntime.python = {self.python!r} is not an executable file: point it at a "
                            "Python interpreter (e.g. /path/to/venv/bin/python)")
        wanted = sum(role.resources.gpus * role.replicas for role in spec.roles.values())
        available = self.available_gpus()
        if wanted > len(available):
            problems.append(Problem(f"the job asks for {wanted} GPU(s) but this machine has {len(available)}: "
                                    "lower gpu= in the resources or use a cluster runtime", "resources.default"))
        return problems

    def available_gpus(self) -> list[str]:
        """Device ids this runtime may hand out."""
        if self.gpus >= 0:
            return [str(i) for i in range(self.gpus)]
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            return [d for d in visible.split(",") if d.strip() and d.strip() != "-1"]
        if self._probed_gpus is None:  # the hardware does not change: ask nvidia-smi once, not on every check
            self._probed_gpus = processes.probe_gpus()
        return list(self._probed_gpus)

    # -- submit ----------------------------------------------------------------------------------------
    def _plan(self, spec: JobSpec, job_dir: Path) -> list[dict]:
        """One entry per replica: name, role, index, command, env, cwd, log."""
        replicas = contract.replica_names(spec)
        ports = processes.free_ports(len(replicas) + 1)
        cluster: dict[str, list[str]] = {}
        for (role, _index), port in zip(replicas, ports):
            cluster.setdefault(role, []).append(f"{self.host}:{port}")
        addresses = contract.Addresses(cluster, master_port=ports[-1])
        gpu_ids = iter(self.available_gpus())
        plan = []
        for role, index in replicas:
            name = f"{role}-{index}"
            cwd = job_dir / "replicas" / name
            env = {**spec.role_env(role), **contract.replica_env(spec, role, index, addresses)}
            gpus = spec.roles[role].resources.gpus
            env["CUDA_VISIBLE_DEVICES"] = ",".join(next(gpu_ids) for _ in range(gpus))
            algorithm_dir = cwd / contract.ALGORITHM_DIR
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(algorithm_dir), os.environ.get("PYTHONPATH")) if p)
            env["PATH"] = self._replica_path(job_dir)
            plan.append({"name": name, "role": role, "index": index, "command": spec.launch_command(role),
                         "env": env, "cwd": str(cwd), "log": str(job_dir / "logs" / f"{name}.log")})
        return plan

    def prepare(self, spec: JobSpec, bundle: Bundle, bundle_uri: str) -> Submission:
        """The replicas' processes (command, environment, folders, ports); the dry run prints them as `env`
        command lines."""
        job_dir = Path(self.jobs_dir) / spec.name

        def describe() -> str:
            shown = spec.replace(params=redact_mapping(spec.params))  # a printed dry run shows no secret param
            lines = [f"# local job {spec.name}: {spec.replica_count} replica(s), bundle {bundle_uri or '(no files)'}",
                     f"# python, python3: {self.python} (LocalRuntime.python)"]
            for replica in self._plan(shown, job_dir):
                contract_env = {k: v for k, v in replica["env"].items() if k.startswith((
                    "SUBMARINE_", "TF_CONFIG", "MASTER_", "WORLD_SIZE", "RANK", "LOCAL_RANK", "PYTHONUNBUFFERED",
                    "CUDA_VISIBLE"))}
                env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(contract_env.items()))
                lines.append(f"# {replica['name']} in {replica['cwd']}")
                lines.append(f"env {env} /bin/sh -c {shlex.quote(replica['command'])}")
            return "\n".join(lines)

        return self.submission(spec, bundle, bundle_uri, self._plan(spec, job_dir), describe)

    def start(self, submission: Submission) -> JobRef:
        spec, bundle, bundle_uri, plan = (submission.spec, submission.bundle, submission.bundle_uri,
                                          submission.request)
        job_dir = Path(self.jobs_dir) / spec.name
        try:
            private_dir(Path(self.jobs_dir))
            job_dir.mkdir(mode=0o700)
        except FileExistsError:
            raise SubmarineError(f"a local job named {spec.name!r} already exists: choose another --name") from None
        except PermissionError as exc:
            raise SubmarineError(f"cannot create the job folder in {self.jobs_dir} ({exc.strerror}): make it "
                                 "writable, or set LocalRuntime.jobs_dir to a folder you can write") from None
        try:
            bundle_dir = job_dir / "bundle"
            if bundle_uri:
                fetch_bundle(bundle_uri, bundle_dir)
            bundle_dir.mkdir(mode=0o700, exist_ok=True)  # a job without files gets an empty folder
            if PARAMS_NAME in bundle.files and any(is_secret_key(k) for k in spec.params):
                # the stored params.json shows secret params as ***; this private job folder gets their values
                (bundle_dir / PARAMS_NAME).unlink(missing_ok=True)
                fd = os.open(bundle_dir / PARAMS_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as real:
                    real.write(params_json(spec.params_file()))
            (job_dir / "logs").mkdir(mode=0o700)
            processes.write_interpreter_shims(job_dir / "bin", self.python)
            for replica in plan:
                cwd = Path(replica["cwd"])
                shutil.copytree(bundle_dir, cwd / contract.ALGORITHM_DIR)
                shutil.copytree(bundle_dir, cwd, dirs_exist_ok=True)  # so `python train.py` works as is
                Path(replica["log"]).touch(mode=0o600)
            job = {"name": spec.name, "submitted": utcnow(), "decider": f"{spec.deciding_role}-0",
                   "success_grace": self.success_grace, "stop_grace": self.stop_grace, "replicas": plan,
                   "stall_timeout": self.stall_timeout,
                   "bundle_uri": bundle_uri, "submission": spec.labels.get(SUBMISSION_LABEL, ""),
                   "notebook": bundle.notebook, "nvml_path": processes.nvml_folder(),
                   "spec": json.loads(redacted_spec_json(spec))}  # secrets redacted: what a rebuilt registry row shows
            processes.write_json(job_dir / "job.json", job)
            log_fd = os.open(job_dir / "supervisor.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(log_fd, "ab") as log:
                supervisor = subprocess.Popen([sys.executable, "-S", str(processes.SUPERVISOR), str(job_dir)],
                                              stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                              start_new_session=True, close_fds=True)
            (job_dir / "supervisor.pid").write_text(str(supervisor.pid))
            # reap it when it ends, so no finished supervisor lingers as this process's zombie
            threading.Thread(target=supervisor.wait, name=f"reap-{spec.name}", daemon=True).start()
        except BaseException as exc:
            shutil.rmtree(job_dir, ignore_errors=True)  # nothing half-done
            if isinstance(exc, (OSError, shutil.Error)) and disk_full(exc):
                copies = 2 * spec.replica_count + 1  # the bundle, and each replica's two copies of it
                raise SubmarineError(f"disk full: job {spec.name!r} needs about {copies} x {bundle.size / 2**20:.1f} "
                                     f"MiB in {self.jobs_dir}: free space there, or set LocalRuntime.jobs_dir to "
                                     "another disk") from None
            raise
        return LocalJobData.ref(spec.name, job_dir)

    def _replica_path(self, job_dir: Path) -> str:
        """PATH for replicas: the job's `python`/`python3` shims, the interpreter's folder, then the inherited PATH."""
        first = [str(job_dir / "bin"), os.path.dirname(self.python)]
        rest = [d for d in os.environ.get("PATH", os.defpath).split(os.pathsep) if d and d not in first]
        return os.pathsep.join(first + rest)

    def find(self, spec: JobSpec, bundle_uri: str | None) -> JobRef | None:
        """The job folder an interrupted submission made: adopted when its supervisor started, else removed."""
        job_dir = Path(self.jobs_dir) / (spec.name or "")
        if not spec.name or not job_dir.is_dir():
            return None
        job = processes.read_json(job_dir / "job.json")
        if job is not None and job.get("submission") != spec.labels.get(SUBMISSION_LABEL):
            return None  # another submission's job of the same name: not ours to adopt or remove
        if job is not None and ((job_dir / "status.json").exists() or (job_dir / "supervisor.pid").exists()
                                or processes.supervisor_running_for(job_dir)):
            return LocalJobData.ref(spec.name, job_dir)
        shutil.rmtree(job_dir, ignore_errors=True)  # cut off before its supervisor started: nothing runs
        return None

    def list_jobs(self) -> list[ListedJob]:
        """Every job folder with its description (job.json, secrets redacted); a folder an interrupted
        submission left without one ran nothing and is not listed."""
        root = Path(self.jobs_dir)
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if root.is_dir() else []
        listed = []
        for job_dir in folders:
            try:
                job = processes.read_json(job_dir / "job.json")
            except OSError:
                continue  # unreadable: not ours to describe
            if not isinstance(job, dict):
                continue
            name = job.get("name") or job_dir.name
            spec = ListedJob.spec_from(name, job.get("spec"))  # folders written before job.json kept it: bare
            listed.append(ListedJob(LocalJobData.ref(name, job_dir), spec, job.get("bundle_uri") or "",
                                    job.get("notebook"), job.get("submitted")))
        return listed

    # -- follow ----------------------------------------------------------------------------------------
    def _job_dir(self, ref: JobRef) -> Path:
        return Path(LocalJobData.of(ref).dir or Path(self.jobs_dir) / ref.name)

    def poll(self, refs: Sequence[JobRef]) -> dict[str, JobStatus]:
        return {ref.key: self._status(ref) for ref in refs}

    def usage(self, refs: Sequence[JobRef]) -> dict[str, dict]:
        """The samples the job's supervisor keeps (sampler.py, JOBDIR/usage.json); before its first one (or
        for a job started before sampling existed) the one line saying so."""
        from ... import usage
        from .sampler import read_usage

        out = {}
        for ref in refs:
            job_dir = self._job_dir(ref)
            found = read_usage(job_dir)
            if isinstance(found, dict) and isinstance(found.get("replicas"), dict):
                out[ref.key] = found
                continue
            job = processes.read_json(job_dir / "job.json")
            why = ("no resource samples: the job was started before submarine-kernel sampled resource use"
                   if isinstance(job, dict) and "nvml_path" not in job else
                   "no resource samples yet (the job's supervisor takes one every 2 s)")
            out[ref.key] = usage.empty("local", usage.SAMPLE_SECONDS, [why])
        return out

    def _readable_status(self, job_dir: Path, raw) -> dict | None:
        """A status file as the supervisor writes it, or None when it is malformed (a supervisor that died
        in its error handler left one without replicas): one bad job must not break every listing."""
        if not isinstance(raw, dict) or not isinstance(raw.get("replicas"), dict):
            return None
        try:
            JobState(raw.get("state"))
        except ValueError:
            return None
        return raw

    def _status(self, ref: JobRef) -> JobStatus:
        job_dir = self._job_dir(ref)
        job = processes.read_json(job_dir / "job.json")
        if job is None:
            supervisors, groups = processes.job_processes(job_dir)
            still = f"; its processes still run: `stop {ref.name}` ends them" if supervisors or groups else ""
            return JobStatus(JobState.UNKNOWN, "missing", message=f"the job folder {job_dir} is gone{still}")
        if not isinstance(job, dict) or not isinstance(job.get("replicas"), list):
            return JobStatus(JobState.UNKNOWN, "malformed", message=f"{job_dir / 'job.json'} is malformed")
        raw = processes.read_json(job_dir / "status.json")
        if raw is not None and self._readable_status(job_dir, raw) is None:
            message = raw.get("message") if isinstance(raw, dict) else None
            return JobStatus(JobState.FAILED if isinstance(raw, dict) and raw.get("state") == "FAILED"
                             else JobState.UNKNOWN, "malformed-status", submitted=job.get("submitted"),
                             message=(f"{message}; " if message else "") + f"its status file is incomplete "
                                     f"({job_dir / 'status.json'})", links=self.links(ref))
        if raw is None and not self._supervisor_starting(job_dir):
            raw = self._bury(job_dir, {"submitted": job["submitted"], "supervisor_pid": None, "replicas": {
                r["name"]: {"state": "PENDING", "exit_code": None, "pid": None} for r in job["replicas"]}})
        if raw is None:
            return JobStatus(JobState.SUBMITTED, "submitted", submitted=job["submitted"],
                             message="starting replicas", replicas=[ReplicaStatus(r["name"], r["role"], r["index"], JobState.PENDING, "pending")
                                       for r in job["replicas"]], links=self.links(ref))
        if not JobState(raw["state"]).terminal and not processes.supervisor_alive(raw.get("supervisor_pid"), job_dir):
            # it may have written its verdict and exited since the read above: only a gone supervisor that left
            # no verdict is buried (burying on the first read overwrote a SUCCEEDED with FAILED under load)
            latest = processes.read_json(job_dir / "status.json") or raw
            raw = latest if JobState(latest["state"]).terminal else self._bury(job_dir, latest)
        replicas = []
        for r in job["replicas"]:
            s = raw["replicas"].get(r["name"]) or {"state": "UNKNOWN"}
            replicas.append(ReplicaStatus(r["name"], r["role"], r["index"], JobState(s["state"]), s["state"].lower(),
                                          s.get("exit_code"), "localhost", s.get("started"), s.get("finished")))
        state, message = JobState(raw["state"]), raw.get("message", "")
        if state is JobState.RUNNING and not message:
            message = self._stall_message(job["decider"], raw["replicas"].get(job["decider"]) or {})
        return JobStatus(state, raw.get("raw_state", ""), submitted=raw.get("submitted"),
                         started=raw.get("started"), finished=raw.get("finished"), replicas=replicas,
                         message=message, links=self.links(ref))

    def _stall_message(self, name: str, replica: dict) -> str:
        """The liveness signal: a running deciding replica that is stopped (SIGSTOP) or has shown no progress
        (log output or CPU time, as its supervisor saw) for `stall_after` seconds."""
        if replica.get("state") != "RUNNING" or replica.get("exit_code") is not None:
            return ""
        if replica.get("pid") and processes.process_state(replica["pid"]) == "T":
            return f"{name} is stopped (SIGSTOP): it makes no progress until it gets SIGCONT; stop ends the job"
        since = replica.get("progress") or replica.get("started")
        if not self.stall_after or not since:
            return ""
        import datetime as dt

        try:
            quiet = (dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(since)).total_seconds()
        except ValueError:
            return ""
        if quiet < self.stall_after:
            return ""
        return (f"{name} shows no progress (no log output, no CPU time) for {quiet / 60:.0f} min: it may be hung; "
                "stop ends the job, and LocalRuntime.stall_timeout ends such jobs by themselves")

    def _supervisor_starting(self, job_dir: Path) -> bool:
        try:
            pid = int((job_dir / "supervisor.pid").read_text())
        except (OSError, ValueError):
            return True  # submit has not written it yet
        return processes.supervisor_alive(pid, job_dir)

    def _bury(self, job_dir: Path, raw: dict) -> dict:
        """The supervisor died without a verdict (killed from outside): end the replicas, record FAILED."""
        for replica in raw["replicas"].values():
            if replica.get("pid") and replica.get("exit_code") is None:
                processes.kill_group(replica["pid"])
                replica.update(state="FAILED", finished=utcnow())
        log = job_dir / "supervisor.log"
        last = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        raw.update(state="FAILED", raw_state="supervisor-lost", finished=utcnow(),
                   message="the job's supervisor ended unexpectedly; its replicas were stopped"
                           + (f" ({last[0][:200]})" if last else ""))
        try:
            processes.write_json(job_dir / "status.json", raw)
        except OSError as exc:  # a read-only or full store: the verdict stands for this read, said not kept
            raw["message"] += f"; not recorded in {job_dir} ({exc.strerror or exc})"
        return raw

    def logs(self, ref: JobRef, replica: str | None = None, tail: int | None = None,
             follow: bool = False) -> Iterator[str]:
        job_dir = self._job_dir(ref)
        job = processes.read_json(job_dir / "job.json")
        if job is None:
            raise JobNotFound(f"no local job {ref.name!r} in {self.jobs_dir}")
        names = [r["name"] for r in job["replicas"]]
        replica = replica or job["decider"]
        if replica not in names:
            raise SubmarineError(f"job {ref.name!r} has no replica {replica!r}: use one of {', '.join(names)}")
        return self._read_log(ref, job_dir / "logs" / f"{replica}.log", tail, follow)

    def _read_log(self, ref: JobRef, path: Path, tail: int | None, follow: bool) -> Iterator[str]:
        with open(path, "r", errors="replace") as f:
            lines = deque(f, maxlen=tail) if tail else f.readlines()
            yield from (line.rstrip("\n") for line in lines)
            if not follow:
                return
            partial = [""]  # a line the replica is still writing waits for its newline (or the job's end)

            def read_new() -> list[str]:
                text = partial[0] + f.read()
                complete, _, partial[0] = text.rpartition("\n")
                return complete.split("\n") if complete or text.startswith("\n") else []
            yield from self.follow_log(ref, read_new, self.poll_interval)
            if partial[0]:
                yield partial[0]

    def stop(self, ref: JobRef) -> None:
        job_dir = self._job_dir(ref)
        raw = processes.read_json(job_dir / "status.json")
        if raw is None:
            if processes.read_json(job_dir / "job.json") is None:
                supervisors, groups = processes.job_processes(job_dir)
                if supervisors or groups:  # its folder was deleted under it: end what runs all the same
                    processes.end_processes(groups, supervisors, min(self.stop_grace, self.stop_wait))
                    return
                raise JobNotFound(f"no local job {ref.name!r} in {self.jobs_dir}")
            # the supervisor is starting (slowly on a loaded machine): wait for its first status
            deadline = time.monotonic() + 30
            while raw is None and self._supervisor_starting(job_dir) and time.monotonic() < deadline:
                time.sleep(0.05)
                raw = processes.read_json(job_dir / "status.json")
            if raw is None:  # it ended without a word: _status records the job FAILED
                self._status(ref)
                return
        if JobState(raw.get("state", "UNKNOWN")).terminal:
            return
        pid = raw.get("supervisor_pid")
        if processes.supervisor_alive(pid, job_dir):
            # the supervisor gives each replica group `stop_grace` seconds; a stop during that grace is the
            # impatient second Ctrl-C: SIGKILL at once
            if processes.process_state(pid) != "T":
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + self.stop_wait
                while time.monotonic() < deadline and not self._status(ref).terminal:
                    time.sleep(0.05)
            latest = processes.read_json(job_dir / "status.json") or raw
            if not JobState(latest.get("state", "UNKNOWN")).terminal and (
                    processes.process_state(pid) == "T" or latest.get("raw_state") != "stopping"):
                self._stop_without_supervisor(job_dir, latest, pid)  # stopped (SIGSTOP) or hung: it cannot
        else:
            self._bury(job_dir, raw)

    def _stop_without_supervisor(self, job_dir: Path, raw: dict, pid: int) -> None:
        """End the replicas' process groups ourselves and record the job STOPPED, then end the supervisor
        that could not (its watchdog then finds the verdict written and keeps it)."""
        state = "stopped (SIGSTOP)" if processes.process_state(pid) == "T" else "not answering"
        supervisors, groups = processes.job_processes(job_dir)
        groups = sorted(set(groups) | {r["pid"] for r in raw.get("replicas", {}).values()
                                       if isinstance(r, dict) and r.get("pid") and r.get("exit_code") is None})
        processes.end_processes(groups, [], min(self.stop_grace, self.stop_wait))
        for replica in raw.get("replicas", {}).values():
            if isinstance(replica, dict) and replica.get("exit_code") is None:
                replica.update(state="STOPPED", finished=utcnow())
        raw.update(state="STOPPED", raw_state="stopped", finished=utcnow(),
                   message=f"stopped on request; its supervisor (pid {pid}) was {state}, so the replicas were "
                           "ended directly")
        try:
            processes.write_json(job_dir / "status.json", raw)
        except OSError as exc:
            raw["message"] += f"; not recorded in {job_dir} ({exc.strerror or exc})"
        processes.end_processes([], sorted(set(supervisors) | {pid}), 0)

    def links(self, ref: JobRef) -> dict[str, str]:
        return {"logs": (self._job_dir(ref) / "logs").as_uri()}

    def remove(self, ref: JobRef) -> None:
        if not self._status(ref).terminal:
            raise SubmarineError(f"job {ref.name!r} is still running: stop it first (%submarine stop {ref.name})")
        shutil.rmtree(self._job_dir(ref), ignore_errors=True)

    # -- TensorBoard -----------------------------------------------------------------------------------
    def _tensorboard_file(self, name: str) -> Path:
        return private_dir(data_dir() / "tensorboard") / f"{name}.json"

    def start_tensorboard(self, name: str, logdir: str) -> str:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            raise SubmarineError("TensorBoard is not installed in this environment: pip install tensorboard")
        self.stop_tensorboard(name)
        port = processes.free_ports(1)[0]
        log = open(self._tensorboard_file(name).with_suffix(".log"), "ab")
        proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--host", self.host,
                                 "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        url = f"http://{self.host}:{port}/"
        processes.write_json(self._tensorboard_file(name), {"pid": proc.pid, "url": url, "logdir": logdir})
        return url

    def stop_tensorboard(self, name: str) -> bool:
        info = processes.read_json(self._tensorboard_file(name))
        if not info:
            return False
        processes.kill_group(info["pid"])
        self._tensorboard_file(name).unlink(missing_ok=True)
        return True
