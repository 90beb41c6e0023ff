"""Reliability under faults: concurrent uploads, SIGKILLed submitters, uploads and supervisors, damaged
bundles, lost cluster answers, a lost registry, same-name submissions, a full disk, a read-only store, a
SIGSTOPped supervisor (the last three mount a tmpfs or a read-only bind mount: root only, else skipped). Real processes and loopback servers only; one table at the end.

    python bench/faults.py                    # every scenario, the default tries
    python bench/faults.py --tries 26         # as many SIGKILLs as the issue's report
    python bench/faults.py --only puts,kills

Columns: tries; lost (a failed upload, a job that runs with no registry row, a row with no job, a damaged
bundle that ran); leftovers (staging folders, job folders nobody knows, replica processes still running).
The scenarios are the ones tests/test_reliability.py runs with a few tries (tests/fault_support.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the scenarios and the test servers live with the tests

from fault_support import (Outcome, concurrent_puts, killed_submitters, killed_uploads,  # noqa: E402
                           same_name_submissions, yarn_session)


def fresh_data_dir(base: Path, name: str) -> Path:
    path = base / name
    path.mkdir()
    os.environ["SUBMARINE_DATA_DIR"] = str(path)
    os.environ.pop("SUBMARINE_STORAGE_ROOT", None)
    os.environ["SUBMARINE_RUNTIME"] = "local"
    from submarine_kernel import session

    session.set_default_session(None)
    return path


def scenario_puts(base: Path, tries: int) -> list[Outcome]:
    out = []
    root = base / "puts-file"
    work = base / "puts-work"
    work.mkdir()
    out.append(concurrent_puts(root.as_uri(), {}, work, processes=4, rounds=max(1, tries // 4), megabytes=16,
                               local_root=root))
    from webhdfs_server import WebHdfsTestServer

    server = WebHdfsTestServer().start()
    try:
        hdfs_work = base / "puts-hdfs"
        hdfs_work.mkdir()
        out.append(concurrent_puts("hdfs://namenode:8020/user/alice/store", {"namenodes": [server.url], "user": "alice"},
                                   hdfs_work, processes=4, rounds=max(1, tries // 8), megabytes=2))
    finally:
        server.stop()
    try:
        from moto.server import ThreadedMotoServer
        import boto3
    except ImportError:
        return out
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        options = {"endpoint_url": endpoint, "key": "bench", "secret": "bench-secret", "region": "us-east-1"}
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench", aws_secret_access_key="bench-secret",
                     region_name="us-east-1").create_bucket(Bucket="bundles")
        s3_work = base / "puts-s3"
        s3_work.mkdir()
        out.append(concurrent_puts("s3://bundles/store", options, s3_work, processes=4, rounds=max(1, tries // 8),
                                   megabytes=4))
    finally:
        moto.stop()
    return out


def scenario_kills(base: Path, tries: int) -> list[Outcome]:
    data = fresh_data_dir(base, "kills")
    submitters = killed_submitters(data, tries=tries)
    uploads = killed_uploads(base / "kills-store", base, tries=max(1, tries // 2), megabytes=16)
    return [submitters, uploads]


def scenario_supervisors(base: Path, tries: int) -> list[Outcome]:
    """SIGKILL a job's supervisor; nobody reads its status; its replicas must end by themselves."""
    import submarine_kernel as sk

    fresh_data_dir(base, "supervisors")
    outcome = Outcome("SIGKILL of a local job's supervisor, no reader")
    for attempt in range(max(1, tries // 4)):
        outcome.tries += 1
        job = sk.submit("python -c 'import time; time.sleep(120)'", files={"a.py": b"pass\n"},
                        name=f"orphan-{attempt}", framework="custom", workers=2)
        raw = wait_for(lambda: _status_json(job) if (_status_json(job) or {}).get("state") == "RUNNING" else None)
        os.kill(raw["supervisor_pid"], signal.SIGKILL)
        pids = [r["pid"] for r in raw["replicas"].values()]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.1)
        alive = [p for p in pids if _alive(p)]
        outcome.leftovers += len(alive)
        for pid in alive:
            os.killpg(pid, signal.SIGKILL)
        if job.status().state.value != "FAILED":
            outcome.fail(f"{job.name}: {job.status().state.value} after its supervisor died")
    return [outcome]


def scenario_damaged_bundles(base: Path, tries: int) -> list[Outcome]:
    """Tamper with a stored bundle in each way, run again: the job must run the real code."""
    import json

    import submarine_kernel as sk
    from submarine_kernel.algorithm import MANIFEST_NAME

    data = fresh_data_dir(base, "bundles")
    outcome = Outcome("a stored bundle tampered / without files / missing a file, then a re-run")
    real = b"print('real code')\n"
    for attempt in range(max(3, tries // 4)):
        outcome.tries += 1
        files = {"train.py": real, "seed.txt": str(attempt).encode()}
        first = sk.submit("python train.py", files=files, name=f"first-{attempt}", framework="custom", wait=True)
        folder = data / "bundles" / first.upload.digest
        damage = attempt % 3
        if damage == 0:
            (folder / "train.py").write_bytes(b"print('evil code')\n")
        elif damage == 1:
            manifest = json.loads((folder / MANIFEST_NAME).read_text())
            manifest.pop("files")
            (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
        else:
            (folder / "seed.txt").unlink()
        try:
            again = sk.submit("python train.py", files=files, name=f"again-{attempt}", framework="custom", wait=True)
            if "real code" not in again.logs():
                outcome.fail(f"again-{attempt} ran: {again.logs()[:80]!r}")
        except Exception as exc:
            outcome.fail(f"again-{attempt}: {type(exc).__name__}: {exc}"[:200])
    return [outcome]


def scenario_lost_answers(base: Path, tries: int) -> list[Outcome]:
    """Every create answer of a YARN submission lost: the service must be adopted and recorded."""
    from submarine_kernel import retry
    from submarine_kernel import session as session_module
    from submarine_kernel.algorithm import Bundle
    from submarine_kernel.retry import RetryPolicy
    from yarn_server import YarnTestServer

    fast = RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05)
    retry.DEFAULT_POLICY = session_module.DEFAULT_POLICY = fast
    outcome = Outcome("YARN: every create answer lost (5 of 5)")
    server = YarnTestServer().start()
    try:
        (base / "yarn").mkdir(exist_ok=True)
        session = yarn_session(server, base / "yarn")
        try:
            for attempt in range(max(1, tries // 4)):
                outcome.tries += 1
                name = f"lost-{attempt}"
                server.fail_next("POST", "/app/v1/services", "drop", times=5)
                try:
                    spec = session.build("python train.py", name=name, framework="pytorch", workers=2, image="pt:2")
                    session.submit(spec, Bundle({"train.py": b"print(1)\n"}))
                except Exception as exc:  # the lost answers must not fail it: the service is adopted
                    outcome.fail(f"{name}: {type(exc).__name__}: {exc}"[:200])
                    continue
                running = name in server.services
                recorded = [r for r in session.records() if r.ref.name == name and not r.pending]
                if running != bool(recorded):
                    outcome.fail(f"{name}: service {'exists' if running else 'absent'}, "
                                 f"row {'present' if recorded else 'absent'}")
        finally:
            session.close()
    finally:
        server.stop()
    return [outcome]


def scenario_lost_registry(base: Path, tries: int) -> list[Outcome]:
    """The registry deleted under running and finished YARN jobs: `recover` must rebuild every row from the
    ResourceManager's own list, each with the job's id and roles."""
    from submarine_kernel.algorithm import Bundle
    from submarine_kernel.recovery import rebuild
    from submarine_kernel.registry import Registry
    from yarn_server import YarnTestServer

    outcome = Outcome("YARN: registry deleted, rebuilt by `recover`")
    server = YarnTestServer().start()
    try:
        folder = base / "lost-registry"
        folder.mkdir(exist_ok=True)
        session = yarn_session(server, folder)
        try:
            jobs = {}
            for attempt in range(max(1, tries // 2)):
                name = f"kept-{attempt}"
                spec = session.build("python train.py", name=name, framework="pytorch", workers=2, image="pt:2")
                jobs[name] = session.submit(spec, Bundle({"train.py": f"print({attempt})\n".encode()}))
                server.advance(name, "SUCCEEDED" if attempt % 2 else "STABLE")
            session.registry.path.unlink()
            fresh = Registry(folder / "registry.sqlite")
            rebuild(fresh, session.runtime())
            rows = {r.ref.name: r for r in fresh.list()}
            for name, job in jobs.items():
                outcome.tries += 1
                row = rows.get(name)
                if row is None or row.ref.id != job.ref.id or row.spec.roles != job.spec.roles:
                    outcome.fail(f"{name}: {'no row' if row is None else 'a row unlike the job'} after recover")
        finally:
            session.close()
    finally:
        server.stop()
    return [outcome]


def scenario_same_name(base: Path, tries: int) -> list[Outcome]:
    """Two processes submit under one --name at once: the running job keeps its row (main lost it)."""
    data = fresh_data_dir(base, "same-name")
    return [same_name_submissions(data, tries=max(2, tries // 3))]


def _end_job_processes(data: Path) -> int:
    """SIGKILL whatever still runs of the jobs under `data`; returns how many processes that was."""
    from submarine_kernel.runtimes.local import processes

    ended = 0
    for folder in (data / "jobs").iterdir() if (data / "jobs").is_dir() else ():
        supervisors, groups = processes.job_processes(folder)
        ended += len(supervisors) + len(groups)
        processes.end_processes(groups, supervisors, 0)
    return ended


def scenario_full_disk(base: Path, tries: int) -> list[Outcome]:
    """The data folder on a 20 MiB tmpfs: jobs that end while it is full keep their verdict (both replicas
    SUCCEEDED), and a submission while it is full is one "disk full" line that leaves no row and no folder."""
    import submarine_kernel as sk
    from submarine_kernel.errors import SubmarineError
    from fault_support import FullDisk

    data = fresh_data_dir(base, "full-disk")
    outcome = Outcome("a 20 MiB data disk filled while a job runs, then a submission")
    with FullDisk(data, megabytes=20) as disk:
        if disk.problem:
            print(f"# fulldisk: skipped, cannot mount a tmpfs: {disk.problem}", file=sys.stderr)
            return []
        try:
            for attempt in range(max(1, tries // 2)):
                outcome.tries += 1
                job = sk.submit("python -c 'import time; time.sleep(4)'", files={"a.py": b"pass\n"},
                                name=f"ends-full-{attempt}", framework="custom", workers=2)
                wait_for(lambda: (_status_json(job) or {}).get("state") == "RUNNING")
                disk.fill()
                try:
                    refused = sk.submit("true", files={"b.py": f"x = {attempt}\n".encode() * 1000},
                                        name=f"refused-{attempt}", framework="custom")
                    # the disk had room again (a job's reserve freed at its end): a whole job, not a loss
                    outcome.errors.append(f"refused-{attempt}: the disk had room again; it ran")
                    refused.wait(timeout=60)
                    refused.runtime.remove(refused.ref)
                    sk.session.default_session().registry.forget(refused.name)
                except SubmarineError as exc:
                    if not str(exc).startswith("disk full: "):
                        outcome.fail(f"refused-{attempt}: {str(exc)[:120]}")
                except Exception as exc:
                    outcome.fail(f"refused-{attempt}: {type(exc).__name__}: {exc}"[:200])
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and (_status_json(job) or {}).get("state") == "RUNNING":
                    time.sleep(0.1)
                disk.free()
                status = job.status()
                if status.state.value != "SUCCEEDED" or {r.state.value for r in status.replicas} != {"SUCCEEDED"}:
                    outcome.fail(f"{job.name}: {status.state.value} ({status.message[:100]})")
                if (data / "jobs" / f"refused-{attempt}").exists():
                    outcome.leftovers += 1
                if [r for r in sk.session.default_session().registry.list() if r.ref.name == f"refused-{attempt}"]:
                    outcome.fail(f"refused-{attempt}: a registry row with no job")
            outcome.leftovers += _end_job_processes(data)
        finally:
            sk.session.default_session().close()
            sk.session.set_default_session(None)
    return [outcome]


def scenario_read_only(base: Path, tries: int) -> list[Outcome]:
    """A read-only data folder (a read-only bind mount: root ignores file modes) holding a pending row and a
    job whose supervisor died unseen: `list`, `status`, `logs` and `stop` answer without a traceback, the
    dead job's replicas end, and once writable the next reader records the job FAILED and settles the row."""
    import subprocess

    import submarine_kernel as sk
    from fault_support import ReadOnlyStore, supervisor_family

    data = fresh_data_dir(base, "read-only")
    outcome = Outcome("a read-only data folder: list, status, logs, stop")
    for attempt in range(max(1, tries // 4)):
        outcome.tries += 1
        name, pending = f"orphan-{attempt}", f"pending-{attempt}"
        job = sk.submit("sleep 120", files={"a.py": b"pass\n"}, name=name, framework="custom", workers=2)
        raw = wait_for(lambda: _status_json(job) if (_status_json(job) or {}).get("state") == "RUNNING" else None)
        for pid in reversed(supervisor_family(Path(job.ref.extra["dir"]))):
            if pid:
                os.kill(pid, signal.SIGKILL)
        subprocess.run([sys.executable, "-c", "import sys\nfrom submarine_kernel.registry import Registry\n"
                        "from submarine_kernel.spec import build_spec\n"
                        "Registry().record('local', build_spec(sys.argv[1], framework='custom', command='true'),"
                        " '', None)", pending], check=True, timeout=60)
        sk.session.default_session().close()
        sk.session.set_default_session(None)
        with ReadOnlyStore(data) as store:
            if store.problem:
                print(f"# readonly: skipped, cannot bind-mount read-only: {store.problem}", file=sys.stderr)
                return []
            for args in (["list"], ["status", name], ["logs", name], ["stop", name]):
                result = subprocess.run([sys.executable, "-m", "submarine_kernel", *args], capture_output=True,
                                        text=True, timeout=120)
                if result.returncode != 0 or "Traceback" in result.stderr:
                    outcome.fail(f"{' '.join(args)}: {(result.stderr.strip().splitlines() or [''])[-1][:150]}")
                elif args == ["list"] and not (name in result.stdout and pending in result.stdout):
                    outcome.fail(f"list on a read-only store misses a job: {result.stdout[:150]}")
        outcome.leftovers += len([r for r in raw["replicas"].values() if _alive(r["pid"])])
        states = {j.name: j.status().state.value for j in sk.jobs()}
        if states.get(name) != "FAILED" or pending in states:
            outcome.fail(f"after the store is writable again: {states}")
    outcome.leftovers += _end_job_processes(data)
    return [outcome]


def scenario_stopped_supervisors(base: Path, tries: int) -> list[Outcome]:
    """SIGSTOP a running job's supervisor, then `stop`: the job ends STOPPED, its replicas and supervisor go."""
    import submarine_kernel as sk
    from submarine_kernel.session import default_session

    data = fresh_data_dir(base, "sigstop")
    default_session().runtime("local").stop_wait = 3.0
    outcome = Outcome("SIGSTOP of a local job's supervisor, then stop")
    for attempt in range(max(1, tries // 2)):
        outcome.tries += 1
        job = sk.submit("sleep 120", files={"a.py": b"pass\n"}, name=f"frozen-{attempt}", framework="custom",
                        workers=2)
        raw = wait_for(lambda: _status_json(job) if (_status_json(job) or {}).get("state") == "RUNNING" else None)
        os.kill(raw["supervisor_pid"], signal.SIGSTOP)
        status = job.stop()
        pids = [r["pid"] for r in raw["replicas"].values()] + [raw["supervisor_pid"]]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.05)
        outcome.leftovers += len([p for p in pids if _alive(p)])
        time.sleep(0.5)  # its watchdog must keep the verdict the stop wrote
        if status.state.value != "STOPPED" or job.status().state.value != "STOPPED":
            outcome.fail(f"{job.name}: {status.state.value}, then {job.status().state.value}")
    outcome.leftovers += _end_job_processes(data)
    return [outcome]


SCENARIOS = {"puts": scenario_puts, "kills": scenario_kills, "supervisors": scenario_supervisors,
             "bundles": scenario_damaged_bundles, "lost": scenario_lost_answers, "registry": scenario_lost_registry,
             "samename": scenario_same_name, "fulldisk": scenario_full_disk, "readonly": scenario_read_only,
             "sigstop": scenario_stopped_supervisors}


def _status_json(job):
    import json

    try:
        return json.loads((Path(job.ref.extra["dir"]) / "status.json").read_text())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError("a bench job never started")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=10, help="tries per scenario (scaled down for the slow ones)")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated: {', '.join(SCENARIOS)}")
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # moto's per-request lines
    logging.getLogger("submarine_kernel").setLevel(logging.ERROR)  # "retrying 2/5" notices
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="submarine-faults-") as tmp:
        for name in [n.strip() for n in args.only.split(",") if n.strip()]:
            if name not in SCENARIOS:
                parser.error(f"unknown scenario {name!r}: use {', '.join(SCENARIOS)}")
            started = time.monotonic()
            outcomes += SCENARIOS[name](Path(tmp), args.tries)
            print(f"# {name}: {time.monotonic() - started:.1f} s", file=sys.stderr)
        from submarine_kernel import session

        if session._default is not None:
            session._default.close()
    width = max(len(o.scenario) for o in outcomes)
    print(f"{'scenario':<{width}}  {'tries':>5}  {'lost':>4}  {'leftovers':>9}")
    for o in outcomes:
        print(f"{o.scenario:<{width}}  {o.tries:>5}  {o.lost:>4}  {o.leftovers:>9}")
    for o in outcomes:
        for error in o.errors:
            print(f"  {o.scenario}: {error}")
    return 1 if any(o.lost or o.leftovers for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
