"""Nothing lost, round two (issue 25): each test reproduces one report of the reliability attack on main
(it failed there) and checks the fix: a checkpoint path with `..`, a second submission under a live job's
name, one malformed job breaking every listing, a read-only store, a full disk, a registry deleted under a
live kernel, a supervisor that cannot be stopped, and bad input that still got a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from submarine_kernel.errors import SubmarineError, ValidationError

from k8s_support import cluster  # noqa: F401 (fixture: kmock with the official client)


@pytest.fixture(autouse=True)
def ends_what_it_started(isolated_data_dir):
    """A failed test leaves no job running: the processes of every job under the data folder are ended."""
    yield
    jobs = isolated_data_dir / "jobs"
    inside = f"{jobs}/"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd").removesuffix(" (deleted)")
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if cwd.startswith(inside) or (inside in cmdline and "supervisor.py" in cmdline):
            try:
                os.kill(int(entry.name), 9)
            except OSError:
                pass


# -- 1. a checkpoint path is resolved before it is checked ------------------------------------------------
def test_clean_checkpoint_resolves_dot_dot_before_the_depth_check(tmp_path):
    from submarine_kernel.storage import clean_checkpoint

    victim = tmp_path / "data" / "victim"
    (victim / "a" / "b").mkdir(parents=True)
    (victim / "other" / "data").mkdir(parents=True)
    (victim / "other" / "data" / "keep.txt").write_text("precious")
    shallow = Path("/") / "data" / "victim"  # the report's path: /data/victim/a/b/../.. is two levels deep
    with pytest.raises(ValidationError, match=r"that is '/data/victim'.*only 2 levels deep"):
        clean_checkpoint(f"{shallow}/a/b/../..")
    # resolved, a deep path is deleted, and only it
    assert clean_checkpoint(f"{victim}/a/b/../b") is True
    assert not (victim / "a" / "b").exists()
    assert (victim / "other" / "data" / "keep.txt").read_text() == "precious"


def test_clean_checkpoint_refuses_a_file_and_a_folder_that_holds_the_working_directory(tmp_path, monkeypatch):
    from submarine_kernel.storage import clean_checkpoint

    job = tmp_path / "a" / "b" / "c" / "job"
    (job / "work").mkdir(parents=True)
    (job / "weights.pt").write_bytes(b"w")
    with pytest.raises(ValidationError, match="is a file, not a job's folder"):
        clean_checkpoint(str(job / "weights.pt"))
    monkeypatch.chdir(job / "work")
    with pytest.raises(ValidationError, match="it holds"):
        clean_checkpoint(str(job))
    assert (job / "weights.pt").exists()
    link = tmp_path / "a" / "b" / "c" / "link"
    link.symlink_to(tmp_path)  # deep as typed, a shallow folder once resolved
    with pytest.raises(ValidationError, match=f"that is {str(tmp_path)!r}.*it holds"):
        monkeypatch.chdir(tmp_path / "a")
        clean_checkpoint(str(link))
    assert (job / "weights.pt").exists()


# -- 2. a second submission never takes a live job's row ---------------------------------------------------
@pytest.fixture
def yarn_server():
    from yarn_server import YarnTestServer

    server = YarnTestServer().start()
    yield server
    server.stop()


def test_yarn_a_second_submission_of_a_running_name_keeps_the_first_jobs_row(yarn_server, tmp_path):
    from fault_support import yarn_session
    from test_faults import yarn_submit

    session = yarn_session(yarn_server, tmp_path)
    try:
        first = yarn_submit(session, "dup")
        yarn_server.advance("dup", "STABLE")
        with pytest.raises(SubmarineError, match=r"job 'dup' on yarn is \w+ and keeps its name: stop it first"):
            yarn_submit(session, "dup")
        record = session.registry.get("dup")
        assert record.ref.id == first.ref.id and not record.pending
        assert session.job("dup").status().state.value == "RUNNING"
        assert len(yarn_server.apps) == 1 and not [r for r in yarn_server.requests if r.method == "DELETE"]
    finally:
        session.close()


def test_yarn_a_refused_resubmission_of_a_finished_name_keeps_its_history(yarn_server, tmp_path):
    from fault_support import yarn_session
    from test_faults import BUNDLE, yarn_submit

    session = yarn_session(yarn_server, tmp_path)
    try:
        first = yarn_submit(session, "again")
        yarn_server.advance("again", "SUCCEEDED")
        assert first.wait(timeout=30).state.value == "SUCCEEDED"
        assert session.registry.provenance(first.ref)["image"] == "pytorch:2"
        other_image = session.build("python train.py", name="again", framework="pytorch", workers=2,
                                    image="pytorch:3")
        with pytest.raises(SubmarineError, match="already taken"):
            session.submit(other_image, BUNDLE)  # YARN keeps the finished service under its name
        record = session.registry.get("again")  # the finished job's row, replaced for the attempt, is back
        assert record.ref.id == first.ref.id and record.state == "SUCCEEDED" and not record.pending
        # and what it was made from, not the refused attempt's record
        assert session.registry.provenance(record.ref)["image"] == "pytorch:2"
    finally:
        session.close()


def test_k8s_a_second_submission_of_a_running_name_keeps_the_first_jobs_row(cluster, tmp_path):
    from test_faults import k8s_session, k8s_submit, PYTORCHJOBS
    from k8s_support import NAMESPACE

    session = k8s_session(cluster, tmp_path)
    try:
        first = k8s_submit(session, "dup")
        with pytest.raises(SubmarineError, match=r"job 'dup' on kubernetes is \w+ and keeps its name"):
            k8s_submit(session, "dup")
        record = session.registry.get("dup")
        assert record.ref.id == first.ref.id and not record.pending
        assert cluster.object(PYTORCHJOBS, NAMESPACE, "dup")["metadata"]["uid"] == first.ref.id
        assert cluster.object("v1/configmaps", NAMESPACE, "dup-algorithm") is not None
        assert [r.ref.name for r in session.records()] == ["dup"]
    finally:
        session.close()


def test_local_two_processes_submitting_one_name_leave_the_running_job_listed(isolated_data_dir):
    from fault_support import same_name_submissions

    outcome = same_name_submissions(isolated_data_dir, tries=3)  # main lost the row in 2 of 3
    assert outcome.errors == [] and outcome.lost == 0 and outcome.leftovers == 0, outcome


# -- 3. one malformed job never breaks every listing ------------------------------------------------------
def cli(*args, prefix=(), env=None) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "submarine_kernel", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def made_nothing(data_dir: Path) -> bool:
    """No job folder, no stored bundle and no registry row."""
    from submarine_kernel.registry import Registry

    jobs, bundles = data_dir / "jobs", data_dir / "bundles"
    rows = Registry(data_dir / "registry.sqlite").list() if (data_dir / "registry.sqlite").exists() else []
    return not (jobs.exists() and any(jobs.iterdir())) and not (bundles.exists() and any(bundles.iterdir())) \
        and rows == []


@pytest.mark.parametrize("values, problem", [
    ({"params": {"v": "a\x00b"}}, "param v holds a NUL byte: remove it"),
    ({"env": {"A": 5}}, "environment variable A is int 5: give it as text"),
    ({"env": {"A": "x\x00"}}, "environment variable A holds a NUL byte"),
    ({"params": {"v": object()}}, "param v is object"),
])
def test_values_a_process_cannot_receive_are_refused_before_anything_is_made(isolated_data_dir, values, problem):
    import submarine_kernel as sk

    with pytest.raises(ValidationError) as info:
        sk.submit("python a.py", files={"a.py": "pass"}, name="bad-value", framework="custom", **values)
    assert problem in str(info.value) and len(str(info.value).splitlines()) == 1, str(info.value)
    assert made_nothing(isolated_data_dir)


def test_a_job_whose_replicas_could_not_start_does_not_break_listing_the_others(isolated_data_dir):
    import json

    import submarine_kernel as sk
    from submarine_kernel.session import default_session

    good = sk.submit("true", files={"a.py": "pass"}, name="good", framework="custom", wait=True)
    session = default_session()
    # a spec past every check (a runtime plugin's, an older client's) with a value exec refuses
    spec = session.build("true", name="broken", framework="custom").replace(env={"A": 5})
    broken = session.submit(spec, session.bundle(files={"a.py": "pass"}))
    status = broken.wait(timeout=60)
    assert status.state.value == "FAILED" and "could not start a replica" in status.message, status
    for args in (("list",), ("status", "broken"), ("status", "good")):
        result = cli(*args)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result
    assert "good" in cli("list").stdout and {j.name for j in sk.jobs()} == {"good", "broken"}
    # a status file without replicas (what main's supervisor left) reads as its job's end, not a KeyError
    folder = Path(broken.ref.extra["dir"])
    (folder / "status.json").write_text(json.dumps({"state": "FAILED", "message": "supervisor failed: x"}))
    read = session.runtime("local").poll([broken.ref, good.ref])
    assert read[broken.ref.key].state.value == "FAILED" and "incomplete" in read[broken.ref.key].message
    assert read[good.ref.key].state.value == "SUCCEEDED"


# -- 4. reads work on a read-only store and say what they could not record ---------------------------------
def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def running_status(job) -> dict:
    import json
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            raw = json.loads((Path(job.ref.extra["dir"]) / "status.json").read_text())
        except (OSError, ValueError):
            raw = {}
        if raw.get("state") == "RUNNING":
            return raw
        time.sleep(0.05)
    raise AssertionError(f"{job.name} never ran")


def test_a_read_only_store_still_lists_shows_and_stops(isolated_data_dir):
    import signal

    import submarine_kernel as sk
    from fault_support import ReadOnlyStore, supervisor_family

    orphan = sk.submit("sleep 120", files={"a.py": "pass"}, name="orphan", framework="custom", workers=2)
    replicas = [r["pid"] for r in running_status(orphan)["replicas"].values()]
    supervisor, watchdog = supervisor_family(Path(orphan.ref.extra["dir"]))
    for pid in (watchdog, supervisor):  # the supervisor dies with no one left to record its job's end
        os.kill(pid, signal.SIGKILL)
    # a submitter killed after recording its row: a pending row for the next reader to settle
    subprocess.run([sys.executable, "-c", "from submarine_kernel.registry import Registry\n"
                    "from submarine_kernel.spec import build_spec\n"
                    "Registry().record('local', build_spec('pending', framework='custom', command='true'), '', None)"],
                   check=True, timeout=60)
    sk.session.set_default_session(None)
    with ReadOnlyStore(isolated_data_dir) as store:
        if store.problem:
            pytest.skip(f"cannot make a read-only store here: {store.problem}")
        results = {args: cli(*args) for args in (("list",), ("status", "orphan"), ("logs", "orphan"),
                                                   ("status", "pending"), ("stop", "orphan"))}
    for args, result in results.items():
        assert result.returncode == 0 and "Traceback" not in result.stderr, (args, result)
        assert "read-only" not in result.stdout, (args, result)
    listed = results[("list",)]
    assert "orphan" in listed.stdout and "pending" in listed.stdout, listed
    assert "not recorded" in listed.stderr, listed.stderr
    assert "FAILED" in results[("status", "orphan")].stdout and "not recorded" in results[("status", "orphan")].stdout
    assert not any(_alive(pid) for pid in replicas)  # ended although nothing could be written
    # writable again: the next reader records what the read-only ones could not
    sk.session.set_default_session(None)
    names = {job.name: job.status().state.value for job in sk.jobs()}
    assert names == {"orphan": "FAILED"}, names


# -- 5. a full disk is one line, and no verdict is lost to it ----------------------------------------------
@pytest.fixture
def full_disk(isolated_data_dir):
    """The data folder on a 20 MiB tmpfs (a disk that really fills up)."""
    from fault_support import FullDisk

    with FullDisk(isolated_data_dir, megabytes=20) as disk:
        if disk.problem:
            pytest.skip(f"cannot mount a small tmpfs here: {disk.problem}")
        yield disk
        from submarine_kernel import session

        if session._default is not None:  # nothing may hold the folder when it is unmounted
            session._default.close()
        session.set_default_session(None)


def test_a_bundle_that_fits_the_store_but_not_the_job_folder_is_one_line(full_disk):
    import submarine_kernel as sk
    from fault_support import bundle_files

    files = bundle_files(7, 6, count=3)  # 6 MiB: stored once, then copied 5 times into the job folder
    with pytest.raises(SubmarineError) as info:
        sk.submit("python -c pass", files=files, name="too-big", framework="custom", workers=2)
    assert str(info.value).startswith("disk full: job 'too-big' needs about 5 x 6.0 MiB in "), str(info.value)
    assert not (full_disk.folder / "jobs" / "too-big").exists()
    assert [r.ref.name for r in sk.session.default_session().records()] == []


def test_a_full_disk_is_said_in_one_line_not_a_damaged_registry(full_disk):
    import submarine_kernel as sk

    sk.submit("true", files={"a.py": "pass"}, name="before", framework="custom", wait=True)
    full_disk.fill()
    with pytest.raises(SubmarineError) as info:
        sk.submit("true", files={"b.py": "x = 1\n" * 10000}, name="after", framework="custom")
    message = str(info.value)
    assert message.startswith("disk full: ") and "damaged" not in message, message
    full_disk.free()
    sk.session.set_default_session(None)
    assert [j.name for j in sk.jobs()] == ["before"]  # the registry is healthy


def test_a_job_that_ends_while_the_disk_is_full_keeps_its_verdict(full_disk):
    import time

    import submarine_kernel as sk

    job = sk.submit("python -c 'import time; time.sleep(3)'", files={"a.py": "pass"}, name="ends-full",
                    framework="custom", workers=2)
    running_status(job)
    full_disk.fill()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not job.runtime.poll([job.ref])[job.ref.key].terminal:
        time.sleep(0.2)
    status = job.runtime.poll([job.ref])[job.ref.key]
    assert status.state.value == "SUCCEEDED", status
    assert [r.state.value for r in status.replicas] == ["SUCCEEDED", "SUCCEEDED"], status.replicas


# -- 6. a registry deleted under a live kernel -------------------------------------------------------------
def test_a_registry_deleted_under_a_live_session_is_made_again_whole(isolated_data_dir, caplog):
    import logging
    import time

    import submarine_kernel as sk

    job = sk.submit("python -c 'import time; time.sleep(1.5)'", files={"a.py": "pass"}, name="followed",
                    framework="custom")
    registry = isolated_data_dir / "registry.sqlite"
    registry.unlink()  # the tracker is following the job: its next write meets no file
    with caplog.at_level(logging.WARNING, logger="submarine_kernel"):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not job.session.tracker.last(job.ref).terminal:
            time.sleep(0.1)
        assert job.session.tracker.last(job.ref).state.value == "SUCCEEDED"
        time.sleep(0.5)  # the tracker's write after the end
    assert not [r for r in caplog.records if r.exc_info], "a traceback went into the next cell"
    said = [r.getMessage() for r in caplog.records]
    assert len([m for m in said if "was deleted while in use" in m]) == 1, said
    assert registry.stat().st_size > 0
    listed = cli("list")
    assert listed.returncode == 0 and "damaged" not in listed.stderr, listed
    recovered = cli("recover")
    assert recovered.returncode == 0 and "followed" in recovered.stdout, recovered
    assert "SUCCEEDED" in cli("status", "followed").stdout


# -- 7. stop always ends a job; a hung replica is seen -----------------------------------------------------
def local_job(name: str, command: str = "sleep 120", workers: int = 2, **traits):
    import submarine_kernel as sk
    from submarine_kernel.session import default_session

    runtime = default_session().runtime("local")
    runtime.stop_wait = 3.0  # the default 15 s made main's stop wait that long and answer RUNNING
    for trait, value in traits.items():
        setattr(runtime, trait, value)
    job = sk.submit(command, files={"a.py": "pass"}, name=name, framework="custom", workers=workers)
    return job, running_status(job)


def wait_until(predicate, timeout: float = 30.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_stop_ends_a_job_whose_supervisor_is_sigstopped(isolated_data_dir):
    import signal
    import time

    job, raw = local_job("frozen")
    replicas = [r["pid"] for r in raw["replicas"].values()]
    os.kill(raw["supervisor_pid"], signal.SIGSTOP)
    status = job.stop()
    assert status.state.value == "STOPPED" and "SIGSTOP" in status.message, status
    assert wait_until(lambda: not any(_alive(p) for p in replicas + [raw["supervisor_pid"]]), 10)
    time.sleep(1.0)  # its watchdog saw the supervisor go: the verdict it found written stands
    assert job.status().state.value == "STOPPED"
    assert {r.state.value for r in job.status().replicas} == {"STOPPED"}


def test_stop_ends_a_running_job_whose_folder_was_deleted(isolated_data_dir):
    import shutil

    job, raw = local_job("homeless")
    replicas = [r["pid"] for r in raw["replicas"].values()]
    shutil.rmtree(job.ref.extra["dir"])
    assert "its processes still run" in job.status().message
    job.stop()
    assert wait_until(lambda: not any(_alive(p) for p in replicas + [raw["supervisor_pid"]]), 10)
    assert "still run" not in job.status().message


def test_a_hung_deciding_replica_is_shown_in_the_status(isolated_data_dir):
    import signal

    job, raw = local_job("quiet", stall_after=2.0)
    decider = raw["replicas"]["worker-0"]["pid"]
    assert wait_until(lambda: "worker-0 shows no progress (no log output, no CPU time)" in job.status().message, 20)
    os.killpg(decider, signal.SIGSTOP)
    assert wait_until(lambda: "worker-0 is stopped (SIGSTOP)" in job.status().message, 10), job.status()
    assert job.status().state.value == "RUNNING"
    os.killpg(decider, signal.SIGCONT)
    job.stop()


def test_stall_timeout_ends_a_job_whose_deciding_replica_makes_no_progress(isolated_data_dir):
    import signal

    job, raw = local_job("hung", command="python -c 'import time\nwhile True: time.sleep(0.01)'",
                         stall_timeout=3.0, stop_grace=2.0)
    os.killpg(raw["replicas"]["worker-0"]["pid"], signal.SIGSTOP)  # hung: no output, no CPU from now on
    status = job.wait(timeout=60)
    assert status.state.value == "FAILED" and "worker-0 made no progress" in status.message, status
    assert "LocalRuntime.stall_timeout = 3 s" in status.message
    assert not any(_alive(r["pid"]) for r in raw["replicas"].values())


# -- 8. bad input through the API: one line, nothing made --------------------------------------------------
@pytest.mark.parametrize("values, problem", [
    ({"files": {"x.py": 5}}, "files['x.py'] is int: give its text or bytes"),
    ({"files": ["x.py"]}, "files is a list: give a dict"),
    ({"resources": 5}, "resources is a int: give text like 'cpu=2,memory=4G'"),
    ({"params": ["lr", 1]}, "params is a list: give a dict of name → value"),
    ({"env": "A=1"}, "env is a str: give a dict"),
    ({"workers": "2"}, "workers is a str: give a whole number"),
    ({"params": {"v": "x" * 200_000}}, "is 195 KiB: a process takes at most 128 KiB per environment variable"),
    ({"command": "echo " + "x" * 140_000}, "the launch command of worker is 137 KiB with its params: a process "
                                           "takes at most 128 KiB per argument"),
    ({"env": {f"E{i}": "x" * 100_000 for i in range(12)}}, "together: keep them under 1,024 KiB"),
])
def test_bad_api_values_are_one_line_and_make_nothing(isolated_data_dir, values, problem):
    import submarine_kernel as sk

    arguments = {"files": {"a.py": "pass"}, "name": "bad-api", "framework": "custom", **values}
    command = arguments.pop("command", "python a.py")
    with pytest.raises(ValidationError) as info:
        sk.submit(command, **arguments)
    assert problem in str(info.value) and len(str(info.value).splitlines()) == 1, str(info.value)
    assert made_nothing(isolated_data_dir)


def test_a_notebook_cell_without_source_is_one_line(isolated_data_dir, tmp_path):
    import submarine_kernel as sk
    from test_badinput import NO_SOURCE_NOTEBOOK

    path = tmp_path / "no_source.ipynb"
    path.write_text(NO_SOURCE_NOTEBOOK)
    with pytest.raises(ValidationError, match="cell 1 has no source: re-save it from Jupyter"):
        sk.submit("python t.py", notebook=str(path), name="from-notebook", framework="custom")
    assert made_nothing(isolated_data_dir)
