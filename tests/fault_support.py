"""Fault scenarios with real processes, shared by the tests (a few tries) and bench/faults.py (many).

Each scenario returns a Outcome: how many tries, how many ended wrong ("lost": a failed upload, a job with
no registry row, a row with no job) and how many leftovers stayed behind (staging folders, job folders,
live processes), plus the first errors seen.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Outcome:
    scenario: str
    tries: int = 0
    lost: int = 0
    leftovers: int = 0
    errors: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        self.lost += 1
        if len(self.errors) < 5:
            self.errors.append(what)


def bundle_files(seed: int, megabytes: int, count: int = 8) -> dict[str, bytes]:
    """`count` files of pseudo-random bytes, `megabytes` in all, the same for the same seed."""
    import random

    rng = random.Random(seed)
    size = megabytes * 1024 * 1024 // count
    return {f"f{i}.bin": rng.randbytes(size) for i in range(count)}


PUT_WORKER = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[5])
from fault_support import bundle_files
from submarine_kernel.algorithm import Bundle
from submarine_kernel.storage import Storage, fetch_bundle
root, options, seed, megabytes, go = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[6]
bundle = Bundle(bundle_files(seed, megabytes))
while not os.path.exists(go):
    time.sleep(0.005)
try:
    result = Storage(root, options, progress=False).put(bundle)
    fetch_bundle(result.uri, sys.argv[7], options)  # a reader right after: the bundle must be whole
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}"[:300])
    sys.exit(1)
"""


def concurrent_puts(root: str, options: dict, workdir: Path, processes: int = 4, rounds: int = 2,
                    megabytes: int = 4, local_root: Path | None = None) -> Outcome:
    """`processes` processes upload the same bundle to `root` at once, `rounds` times (a new bundle each)."""
    outcome = Outcome(f"{processes} concurrent puts of one {megabytes} MB bundle ({root.split(':')[0]})")
    for round_ in range(rounds):
        go = workdir / f"go-{round_}"
        procs = [subprocess.Popen([sys.executable, "-c", PUT_WORKER, root, json.dumps(options), str(round_ + 1000),
                                   str(megabytes), str(REPO / "tests"), str(go), str(workdir / f"fetch-{round_}-{i}")],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for i in range(processes)]
        time.sleep(0.5)  # let every process get to the start line
        go.write_text("go")
        for proc in procs:
            out, _ = proc.communicate(timeout=300)
            outcome.tries += 1
            if proc.returncode != 0:
                outcome.fail(out.strip().splitlines()[-1] if out.strip() else f"exit {proc.returncode}")
    if local_root is not None:
        outcome.leftovers = len([p for p in local_root.iterdir() if p.name.startswith((".staging-", ".discard-"))])
    return outcome


def kill_after(proc: subprocess.Popen, condition, timeout: float = 60.0) -> bool:
    """SIGKILL `proc` as soon as `condition()` holds (or when it ends by itself); True when killed."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if condition():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    return False


def staging_folders(root: Path) -> list[Path]:
    return [p for p in root.iterdir() if p.name.startswith((".staging-", ".discard-"))] if root.exists() else []


def killed_uploads(root: Path, workdir: Path, tries: int = 3, megabytes: int = 16) -> Outcome:
    """SIGKILL an uploading process once its staging folder has data; then one more upload must leave no
    staging folder of the killed ones behind."""
    outcome = Outcome(f"SIGKILL mid-upload of a {megabytes} MB bundle, then one more upload")
    root.mkdir(parents=True, exist_ok=True)
    for attempt in range(tries):
        outcome.tries += 1
        go = workdir / f"go-kill-{attempt}"
        go.write_text("go")
        proc = subprocess.Popen([sys.executable, "-c", PUT_WORKER, root.as_uri(), "{}", str(2000 + attempt),
                                 str(megabytes), str(REPO / "tests"), str(go), str(workdir / f"kill-{attempt}")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kill_after(proc, lambda: any(any(p.iterdir()) for p in staging_folders(root)))
    from submarine_kernel.algorithm import Bundle
    from submarine_kernel.storage import Storage

    Storage(root.as_uri(), progress=False).put(Bundle({"after.py": b"print('after the kills')\n"}))
    outcome.leftovers = len(staging_folders(root))
    return outcome


def unprivileged() -> list[str]:
    """A command prefix under which file modes hold: root without the capabilities that override them."""
    if os.geteuid() != 0:
        return []
    import shutil

    if not shutil.which("setpriv"):
        raise RuntimeError("running as root needs setpriv (util-linux) to drop the file-permission capabilities")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def mount_problem(*commands: list[str]) -> str | None:
    """Run mount commands; None when all worked, else why not (not root, no mount privilege)."""
    import shutil

    if os.geteuid() != 0 or not shutil.which("mount"):
        return "needs root and mount(8)"
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            return (result.stderr.strip() or f"{command[0]} exited {result.returncode}").splitlines()[0]
    return None


class ReadOnlyStore:
    """`folder` bind-mounted read-only over itself (root ignores file modes, not a read-only mount):
    `with ReadOnlyStore(folder):` ...; `.problem` says why it could not be made (then nothing is mounted)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.problem = mount_problem(["mount", "--bind", str(folder), str(folder)])
        if self.problem is None:
            self.problem = mount_problem(["mount", "-o", "remount,bind,ro", str(folder), str(folder)])
            if self.problem is not None:
                subprocess.run(["umount", str(folder)], capture_output=True)

    def __enter__(self) -> "ReadOnlyStore":
        return self

    def __exit__(self, *exc) -> None:
        if self.problem is None:
            subprocess.run(["umount", "-l", str(self.folder)], check=True)


class FullDisk:
    """A small tmpfs mounted at `folder` (a store that fills up for real); `.problem` says why it could not
    be mounted. Fill it with `fill()`, free it with `free()`."""

    def __init__(self, folder: Path, megabytes: int = 20):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.problem = mount_problem(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0700", "tmpfs",
                                      str(folder)])

    def fill(self) -> None:
        """Write until the file system says ENOSPC."""
        import errno

        try:
            with open(self.folder / ".filler", "ab") as f:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
        except OSError as exc:  # the open itself meets ENOSPC when the disk is already full
            if exc.errno != errno.ENOSPC:
                raise

    def free(self) -> None:
        (self.folder / ".filler").unlink(missing_ok=True)

    def __enter__(self) -> "FullDisk":
        return self

    def __exit__(self, *exc) -> None:
        if self.problem is None:
            subprocess.run(["umount", "-l", str(self.folder)], check=True)


def supervisor_family(job_dir: Path) -> tuple[int, int | None]:
    """The pids of a local job's supervisor and of its watchdog (a fork of it, with the same command line)."""
    supervisor = int((job_dir / "supervisor.pid").read_text())
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == supervisor:
                cmdline = (entry / "cmdline").read_bytes()
                if str(job_dir).encode() in cmdline:
                    return supervisor, int(entry.name)
    return supervisor, None


SUBMIT_WORKER = r"""
import sys
sys.path.insert(0, sys.argv[3])
from fault_support import bundle_files
import submarine_kernel as sk
files = bundle_files(int(sys.argv[2]), 4, count=4)
files["main.py"] = b"import time; time.sleep(60)\n"
sk.submit("python main.py", files=files, name=sys.argv[1], framework="custom", workers=2)
print("submitted", flush=True)
"""

#: where a killed submitter may be cut off: each names a path (under the data folder) whose appearance
#: triggers the SIGKILL; "{name}" is the job's name
KILL_POINTS = ("bundles/.staging-*", "jobs/{name}", "jobs/{name}/logs", "jobs/{name}/job.json",
               "jobs/{name}/supervisor.pid")


def killed_submitters(data_dir: Path, tries: int = len(KILL_POINTS), prefix: str = "killed") -> Outcome:
    """SIGKILL `sk.submit` at each point of KILL_POINTS in turn; then a new session must know every job that
    runs (adopted) and nothing that does not (forgotten, its folder removed), and every forgotten name must
    be free for a new submission. Stops what it started."""
    import glob

    from submarine_kernel.session import Session

    outcome = Outcome("SIGKILL of the submitter during sk.submit, then a new session")
    env = {**os.environ, "SUBMARINE_DATA_DIR": str(data_dir), "SUBMARINE_RUNTIME": "local"}
    env.pop("SUBMARINE_STORAGE_ROOT", None)
    names = []
    for attempt in range(tries):
        name = f"{prefix}-{attempt}"
        names.append(name)
        point = str(data_dir / KILL_POINTS[attempt % len(KILL_POINTS)].format(name=name))
        proc = subprocess.Popen([sys.executable, "-c", SUBMIT_WORKER, name, str(3000 + attempt), str(REPO / "tests")],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kill_after(proc, lambda: bool(glob.glob(point)))
        outcome.tries += 1
    session = Session()
    try:
        session.records()  # a reader settles what the killed submitters left
        local = session.runtime("local")
        for name in names:
            folder = Path(local.jobs_dir) / name
            try:
                record = session.registry.get(name, "local")
            except Exception:
                record = None
            if record is None:
                if folder.exists():
                    outcome.fail(f"{name}: a job folder with no registry row")
                    outcome.leftovers += 1
                continue
            if getattr(record, "pending", False):
                outcome.fail(f"{name}: the registry row is still unsettled ({record.state})")
            elif not folder.exists():
                outcome.fail(f"{name}: a registry row with no job")
        for name in names:  # a forgotten name is free again; stop what runs
            try:
                job = session.job(name, "local")
            except Exception:
                job = session.submit(session.build("true", name=name, framework="custom"),
                                     session.bundle(files={"ok.py": b"pass\n"}), "local")
            if not job.status().terminal:
                job.stop()
        outcome.leftovers += len(staging_folders(data_dir / "bundles"))
    finally:
        session.close()
    return outcome


SAME_NAME_WORKER = r"""
import sys
sys.path.insert(0, sys.argv[3])
from fault_support import bundle_files
import submarine_kernel as sk
from submarine_kernel.errors import SubmarineError
files = bundle_files(int(sys.argv[2]), int(sys.argv[4]), count=4)
files["main.py"] = b"import time; time.sleep(60)\n"
import os, time
from submarine_kernel.session import default_session
default_session().registry.list()  # opened before the start line, as in a kernel that ran jobs before
while not os.path.exists(sys.argv[5]):
    time.sleep(0.002)
try:
    sk.submit("python main.py", files=files, name=sys.argv[1], framework="custom")
    print("submitted", flush=True)
except SubmarineError as exc:
    print("refused:", exc, flush=True)
"""


def same_name_submissions(data_dir: Path, tries: int = 2, prefix: str = "twin") -> Outcome:
    """Two processes submit under one --name at once, one with a 1 MB bundle and one with a 128 MB bundle
    (hashed and uploaded for longer): exactly one job runs and it is listed with its row; the other is
    refused in one line and leaves nothing. Stops what it started."""
    from submarine_kernel.session import Session

    outcome = Outcome("2 processes submit one --name at once (1 MB and 128 MB bundles)")
    env = {**os.environ, "SUBMARINE_DATA_DIR": str(data_dir), "SUBMARINE_RUNTIME": "local"}
    env.pop("SUBMARINE_STORAGE_ROOT", None)
    for attempt in range(tries):
        name = f"{prefix}-{attempt}"
        go = data_dir / f"go-{name}"
        procs = [subprocess.Popen([sys.executable, "-c", SAME_NAME_WORKER, name, str(4000 + attempt * 2 + size),
                                   str(REPO / "tests"), str(size), str(go)], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for size in (1, 128)]
        time.sleep(3)  # both at the start line, their files made
        go.write_text("go")
        answers = [p.communicate(timeout=300)[0].strip().splitlines() for p in procs]
        outcome.tries += 1
        last = [lines[-1] if lines else "" for lines in answers]
        if sorted(line.split(":")[0] for line in last) != ["refused", "submitted"]:
            outcome.fail(f"{name}: {last}")
        session = Session()
        try:
            listed = [r for r in session.records() if r.ref.name == name]
            folder = Path(session.runtime("local").jobs_dir) / name
            if not folder.exists():
                outcome.fail(f"{name}: no job runs")
            elif len(listed) != 1 or listed[0].pending:
                outcome.fail(f"{name}: the running job is not listed ({[r.state for r in listed]})")
            if listed:
                job = session.job(name, "local")
                if not job.status().terminal:
                    job.stop()
        finally:
            session.close()
    outcome.leftovers += len(staging_folders(data_dir / "bundles"))
    return outcome


def yarn_session(yarn, folder: Path, **traits):
    """A YARN session against the test server `yarn`, with its bundle store and registry in `folder`."""
    from traitlets.config import Config

    from submarine_kernel.registry import Registry
    from submarine_kernel.session import Session

    config = Config()
    config.SubmarineConfig.runtime = "yarn"
    config.SubmarineConfig.storage_root = (folder / "store").as_uri()
    config.YarnRuntime.shared_file_storage = True  # the test "cluster" shares this disk
    config.YarnRuntime.rm_urls = [yarn.url]
    config.YarnRuntime.user = "alice"
    config.YarnRuntime.registry_dns_domain = "ycluster.example.com"
    for key, value in traits.items():
        setattr(config.YarnRuntime, key, value)
    return Session(config=config, registry=Registry(folder / "registry.sqlite"))
