"""The local runtime: real replica processes, the environment contract, logs, stop, failures, re-attach."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import submarine_kernel as sk
from submarine_kernel.errors import JobNotFound, SubmarineError, ValidationError
from submarine_kernel.job_types import JobState
from submarine_kernel.runtimes.base import runtime_class
from submarine_kernel.session import default_session

from core_support import (TIMEOUT, all_gone, configure_local, job_dir, job_file, read_pids, release, running_pids,
                          status_json, stop_leftovers, unique, wait_until)  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("stop_leftovers")

SLEEPER = {"sleeper.py": job_file("sleeper.py")}


def sleeper_job(tmp_path, workers=2, framework="custom", ps=0, chief=False, name=None):
    """A job of tests/jobs/sleeper.py replicas: each records its pids and exits when told to."""
    out, go = tmp_path / "out", tmp_path / "go"
    out.mkdir(exist_ok=True)
    go.mkdir(exist_ok=True)
    params = {"out": str(out), "go": str(go)}
    job = sk.submit("python sleeper.py", files=SLEEPER, name=name or unique("sleep"), framework=framework,
                    workers=workers, ps=ps, chief=chief, params=params)
    return job, out, go


def replica_states(status) -> dict[str, JobState]:
    return {r.name: r.state for r in status.replicas}


# -- environment contract ------------------------------------------------------------------------------
def test_tf_config_two_workers_one_ps_checked_from_inside(tmp_path):
    configure_local(success_grace=60)
    name = unique("tf")
    job = sk.submit("python tf_config_check.py", files={"tf_config_check.py": job_file("tf_config_check.py")},
                    name=name, framework="tensorflow", workers=2, ps=1,
                    env={"EXPECT_CLUSTER": json.dumps({"worker": 2, "ps": 1}), "EXPECT_JOB_NAME": name})
    status = job.wait(timeout=TIMEOUT)
    logs = {r: job.logs(r) for r in ("worker-0", "worker-1", "ps-0")}
    assert status.state == JobState.SUCCEEDED, (status.message, logs)
    assert status.message == "worker-0 succeeded"
    states = replica_states(status)
    assert states["worker-0"] == states["worker-1"] == JobState.SUCCEEDED
    assert states["ps-0"] == JobState.STOPPED  # a PS never ends by itself: stopped after success
    assert "worker-0 TF_CONFIG OK" in logs["worker-0"] and "worker-1 TF_CONFIG OK" in logs["worker-1"]
    assert "ps-0 got hello from worker-0" in logs["ps-0"] and "ps-0 got hello from worker-1" in logs["ps-0"]
    ps_pid = status_json(job)["replicas"]["ps-0"]["pid"]
    assert all_gone([ps_pid])


def test_tf_config_check_fails_when_the_contract_is_wrong(tmp_path):
    """The in-replica check really checks: a wrong expectation makes the job fail with its reason logged."""
    name = unique("tfbad")
    job = sk.submit("python tf_config_check.py", files={"tf_config_check.py": job_file("tf_config_check.py")},
                    name=name, framework="tensorflow", workers=1,
                    env={"EXPECT_CLUSTER": json.dumps({"worker": 2}), "EXPECT_JOB_NAME": name})
    status = job.wait(timeout=TIMEOUT)
    assert status.state == JobState.FAILED
    assert "worker-0 exited with code 3" in status.message
    assert "TF_CONFIG CHECK FAILED: cluster is" in job.logs("worker-0")


def test_pytorch_env_contract_and_localized_files(tmp_path):
    name = unique("pt")
    out = tmp_path / "seen"
    out.mkdir()
    files = {"env_check.py": job_file("env_check.py"), "utils/data.py": "VALUE = 42\n"}
    job = sk.submit("python env_check.py", files=files, name=name, framework="pytorch", workers=3,
                    input_path="/data/input", checkpoint_path="/data/ckpt/" + name,
                    params={"epochs": 3, "out": str(out)},
                    env={"EXPECT_WORLD_SIZE": "3", "EXPECT_JOB_NAME": name, "EXPECT_INPUT_PATH": "/data/input",
                         "EXPECT_CHECKPOINT_PATH": "/data/ckpt/" + name})
    status = job.wait(timeout=TIMEOUT)
    logs = {r.name: job.logs(r.name) for r in status.replicas}
    assert status.state == JobState.SUCCEEDED, (status.message, logs)
    assert set(logs) == {"master-0", "worker-0", "worker-1"}
    for replica, text in logs.items():
        assert f"{replica} env OK" in text
    seen = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert {n: s["env"]["RANK"] for n, s in seen.items()} == {"master-0": "0", "worker-0": "1", "worker-1": "2"}
    assert len({s["env"]["MASTER_PORT"] for s in seen.values()}) == 1
    assert len({s["cwd"] for s in seen.values()}) == 3  # a working directory per replica
    assert all(s["problems"] == [] for s in seen.values())
    assert all(s["env"]["CUDA_VISIBLE_DEVICES"] == "" for s in seen.values())  # no GPU asked for


def test_per_replica_logs_tail_and_follow(tmp_path):
    script = "import os, sys\nfor i in range(5):\n    print(os.environ['SUBMARINE_ROLE'], i)\n" \
             "print('to stderr', file=sys.stderr)\n"
    job = sk.submit("python log.py", files={"log.py": script}, name=unique("logs"), workers=2)
    assert job.wait(timeout=TIMEOUT).state == JobState.SUCCEEDED
    assert job.logs().splitlines() == ["master 0", "master 1", "master 2", "master 3", "master 4", "to stderr"]
    assert job.logs("worker-0").splitlines()[0] == "worker 0"
    assert job.logs("worker-0", tail=2).splitlines() == ["worker 4", "to stderr"]
    assert list(job.follow("worker-0"))[-1] == "to stderr"  # ends because the job has ended
    logs_dir = job_dir(job) / "logs"
    assert sorted(p.name for p in logs_dir.iterdir()) == ["master-0.log", "worker-0.log"]
    assert job.links()["logs"] == logs_dir.as_uri()
    with pytest.raises(SubmarineError, match="has no replica 'ps-0': use one of master-0, worker-0"):
        job.logs("ps-0")


def test_follow_streams_a_running_job(tmp_path):
    job, out, go = sleeper_job(tmp_path, workers=1)
    lines = job.follow("worker-0")
    first = next(lines, None)
    assert first == "worker-0 sleeping", f"follow ended before the first line: {job.status()}"
    release(go, "all", 0)
    assert list(lines) == ["worker-0 done with 0"]
    assert job.wait(timeout=TIMEOUT).state == JobState.SUCCEEDED


# -- submit, stop, failures ----------------------------------------------------------------------------
def test_submit_returns_at_once_while_the_job_runs(tmp_path):
    job, out, go = sleeper_job(tmp_path, workers=2)
    assert job.status().state in (JobState.SUBMITTED, JobState.PENDING, JobState.RUNNING)
    running_pids(job)
    assert job.status().state == JobState.RUNNING
    release(go, "all", 0)
    assert job.wait(timeout=TIMEOUT).state == JobState.SUCCEEDED


def test_stop_ends_every_replica_process_group(tmp_path):
    job, out, go = sleeper_job(tmp_path, workers=3)
    names = ["worker-0", "worker-1", "worker-2"]
    pids = read_pids(out, names)
    assert set(running_pids(job)) == set(names)
    status = job.stop()
    assert status.state == JobState.STOPPED
    assert status.message == "stopped on request"
    assert set(replica_states(status).values()) == {JobState.STOPPED}
    everything = [p for pair in pids.values() for p in pair]  # replicas and their own children
    wait_until(lambda: all_gone(everything), what="every replica and grandchild gone")
    job.stop()  # stopping a finished job is a no-op
    assert job.status().state == JobState.STOPPED


def test_replica_killed_from_outside_fails_the_job_with_the_signal(tmp_path):
    job, out, go = sleeper_job(tmp_path, workers=2)
    pids = read_pids(out, ["worker-0", "worker-1"])
    victim = running_pids(job)["worker-1"]
    os.kill(victim, signal.SIGKILL)
    status = job.wait(timeout=TIMEOUT)
    assert status.state == JobState.FAILED
    assert "worker-1 was killed by signal 9 (SIGKILL)" in status.message
    by_name = {r.name: r for r in status.replicas}
    assert by_name["worker-1"].state == JobState.FAILED and by_name["worker-1"].exit_code == -signal.SIGKILL
    assert by_name["worker-0"].state == JobState.STOPPED
    wait_until(lambda: all_gone([p for pair in pids.values() for p in pair]), what="all replica processes gone")


def test_failing_replica_fails_the_job_and_stops_the_others(tmp_path):
    job, out, go = sleeper_job(tmp_path, workers=3, framework="pytorch")
    names = ["master-0", "worker-0", "worker-1"]
    pids = read_pids(out, names)
    release(go, "worker-1", 7)  # worker-1 crashes, leaving its own child behind
    status = job.wait(timeout=TIMEOUT)
    assert status.state == JobState.FAILED
    assert status.message == "worker-1 exited with code 7: worker-1 done with 7"  # its last words
    states = replica_states(status)
    assert states == {"master-0": JobState.STOPPED, "worker-0": JobState.STOPPED, "worker-1": JobState.FAILED}
    assert {r.name: r.exit_code for r in status.replicas}["worker-1"] == 7
    assert "worker-1 done with 7" in job.logs("worker-1")
    wait_until(lambda: all_gone([p for pair in pids.values() for p in pair]),
               what="every replica and grandchild gone, the failed replica's own child included")


def test_supervisor_killed_from_outside_shows_failed(tmp_path):
    job, out, go = sleeper_job(tmp_path, workers=2)
    pids = read_pids(out, ["worker-0", "worker-1"])
    running_pids(job)
    supervisor = status_json(job)["supervisor_pid"]
    os.kill(supervisor, signal.SIGKILL)
    status = job.wait(timeout=TIMEOUT)
    assert status.state == JobState.FAILED
    assert status.raw_state == "supervisor-lost"
    assert "supervisor ended unexpectedly" in status.message
    wait_until(lambda: all_gone([p for pair in pids.values() for p in pair]), what="orphaned replicas stopped")
    assert job.status().state == JobState.FAILED  # and it stays so


def test_chief_decides_success_and_other_workers_are_stopped_after_grace(tmp_path):
    configure_local(success_grace=0.5)
    job, out, go = sleeper_job(tmp_path, workers=2, framework="tensorflow", chief=True)
    running_pids(job)
    release(go, "chief-0", 0)
    status = job.wait(timeout=TIMEOUT)
    assert status.state == JobState.SUCCEEDED and status.message == "chief-0 succeeded"
    assert replica_states(status) == {"chief-0": JobState.SUCCEEDED, "worker-0": JobState.STOPPED}


def test_master_failure_fails_the_job_even_if_workers_succeeded(tmp_path):
    job, out, go = sleeper_job(tmp_path, workers=3, framework="pytorch")
    running_pids(job)
    release(go, "worker-0", 0)
    release(go, "worker-1", 0)
    wait_until(lambda: all(status_json(job)["replicas"][w]["state"] == "SUCCEEDED" for w in ("worker-0", "worker-1")),
               what="workers succeeded")
    assert job.status().state == JobState.RUNNING  # workers alone do not decide
    release(go, "master-0", 5)
    status = job.wait(timeout=TIMEOUT)
    assert status.state == JobState.FAILED and status.message == "master-0 exited with code 5: master-0 done with 5"


def test_master_success_waits_for_workers_to_finish(tmp_path):
    job, out, go = sleeper_job(tmp_path, workers=2, framework="pytorch")
    running_pids(job)
    release(go, "master-0", 0)
    wait_until(lambda: status_json(job)["replicas"]["master-0"]["state"] == "SUCCEEDED", what="master done")
    release(go, "worker-0", 0)
    status = job.wait(timeout=TIMEOUT)
    assert status.state == JobState.SUCCEEDED
    assert replica_states(status) == {"master-0": JobState.SUCCEEDED, "worker-0": JobState.SUCCEEDED}


def test_worker_zero_decides_without_chief_or_master(tmp_path):
    configure_local(success_grace=0.5)
    job, out, go = sleeper_job(tmp_path, workers=2, framework="custom")
    running_pids(job)
    release(go, "worker-0", 0)
    status = job.wait(timeout=TIMEOUT)
    assert status.state == JobState.SUCCEEDED and status.message == "worker-0 succeeded"
    assert replica_states(status)["worker-1"] == JobState.STOPPED


def test_missing_command_binary_fails_with_exit_code(tmp_path):
    job = sk.submit("definitely-not-a-command-xyz", files={"x.py": ""}, name=unique("nocmd"), workers=1)
    status = job.wait(timeout=TIMEOUT)
    assert status.state == JobState.FAILED and status.message.startswith("master-0 exited with code 127: ")
    assert "not found" in status.message  # the shell's own line says which command
    assert "not found" in job.logs()


# -- GPUs ----------------------------------------------------------------------------------------------
def test_gpu_request_without_gpus_refused_before_anything_starts(tmp_path, monkeypatch, isolated_data_dir):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # this machine shows no GPU
    with pytest.raises(ValidationError) as info:
        sk.submit("python x.py", files={"x.py": "print(1)"}, name=unique("gpu"), workers=2, resources="gpu=1")
    assert "the job asks for 2 GPU(s) but this machine has 0: lower gpu= in the resources" in str(info.value)
    bundles = isolated_data_dir / "bundles"
    assert not bundles.exists() or not any(bundles.iterdir())
    jobs = isolated_data_dir / "jobs"
    assert not jobs.exists() or not any(jobs.iterdir())
    assert sk.jobs() == []


def test_each_replica_gets_its_own_gpu_slice(tmp_path):
    configure_local(gpus=4)  # pretend: only CUDA_VISIBLE_DEVICES is handed out, nothing touches a GPU
    script = "import os\nprint('GPUS=' + os.environ['CUDA_VISIBLE_DEVICES'])\n"
    job = sk.submit("python g.py", files={"g.py": script}, name=unique("gpus"), workers=2, resources="gpu=2")
    assert job.wait(timeout=TIMEOUT).state == JobState.SUCCEEDED
    assert job.logs("master-0") == "GPUS=0,1"
    assert job.logs("worker-0") == "GPUS=2,3"
    with pytest.raises(ValidationError, match="asks for 6 GPU"):
        sk.submit("python g.py", files={"g.py": script}, name=unique("gpus"), workers=3, resources="gpu=2")


# -- names and the runtime interface -------------------------------------------------------------------
def test_local_name_rules_and_duplicates(tmp_path):
    for bad in ("bad/name", ".hidden", "My_Job"):  # the one job name rule: what runs here runs on a cluster
        with pytest.raises(ValidationError, match=f"job name '{bad}' is not a DNS-1035 label"):
            sk.submit("python x.py", files={"x.py": ""}, name=bad)
    name = unique("dup")
    assert sk.submit("true", files={"x.py": ""}, name=name).wait(timeout=TIMEOUT).state == JobState.SUCCEEDED
    with pytest.raises(ValidationError, match=f"a local job named '{name}' already exists: choose another --name"):
        sk.submit("true", files={"x.py": ""}, name=name)


def test_render_is_a_dry_run_with_the_contract(tmp_path, isolated_data_dir):
    text = sk.submit("python t.py --lr {lr}", files={"t.py": ""}, name=unique("dry"), framework="tensorflow",
                     workers=2, ps=1, params={"lr": "0.1; echo hi"}, dry_run=True)
    assert "3 replica(s)" in text and "TF_CONFIG=" in text and "SUBMARINE_PARAM_LR=" in text
    assert "# ps-0 in" in text
    assert "/bin/sh -c " + shlex.quote("python t.py --lr '0.1; echo hi'") in text
    assert not (isolated_data_dir / "jobs").exists() and not (isolated_data_dir / "bundles").exists()
    assert sk.jobs() == []


def test_dry_run_shows_no_secret_param():
    text = sk.submit("python t.py", files={"t.py": ""}, name=unique("dry"), workers=1, dry_run=True,
                     params={"api_key": "sekrit-value", "lr": 0.5}, env={"HF_TOKEN": "hf_sekrit"})
    assert "sekrit" not in text
    assert "SUBMARINE_PARAM_API_KEY='***'" in text
    assert shlex.quote("python t.py --api_key '***' --lr 0.5") in text


def test_poll_unknown_job_and_logs_of_missing_job(tmp_path):
    from submarine_kernel.job_types import JobRef

    runtime = runtime_class("local")()
    ref = JobRef("local", "nope", extra={"dir": str(tmp_path / "nope")})
    status = runtime.poll([ref])[ref.key]
    assert status.state == JobState.UNKNOWN and "is gone" in status.message
    with pytest.raises(JobNotFound, match="no local job 'nope'"):
        runtime.logs(ref)
    with pytest.raises(JobNotFound, match="no local job 'nope'"):
        runtime.stop(ref)


def test_remove_refuses_a_running_job(tmp_path):
    job, out, go = sleeper_job(tmp_path, workers=1)
    with pytest.raises(SubmarineError, match="is still running: stop it first"):
        job.runtime.remove(job.ref)
    job.stop()
    job.runtime.remove(job.ref)
    assert not job_dir(job).exists()


# -- re-attach from a new process ----------------------------------------------------------------------
def test_reattach_from_a_new_process(tmp_path):
    """A loaded machine: the submitter exits before the job's supervisor has started."""
    from submarine_kernel.runtimes.local import processes

    go = tmp_path / "go"
    go.mkdir()
    start = tmp_path / "start"  # the supervisor waits for it: the test decides when the job starts
    slow = tmp_path / "slow_supervisor.py"
    slow.write_text(textwrap.dedent(f"""
        import os, runpy, sys, time
        while not os.path.exists({str(start)!r}):
            time.sleep(0.05)
        sys.argv = [{str(processes.SUPERVISOR)!r}] + sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")
    """))
    name = unique("reattach")
    submitter = textwrap.dedent(f"""
        import pathlib
        import submarine_kernel as sk
        from submarine_kernel.runtimes.local import processes
        processes.SUPERVISOR = pathlib.Path({str(slow)!r})
        job = sk.submit("python sleeper.py", files={{"sleeper.py": {job_file('sleeper.py')!r}}}, name={name!r},
                        workers=2, framework="custom", params={{"go": {str(go)!r}}})
        print(job.status().state)
    """)
    done = subprocess.run([sys.executable, "-c", submitter], capture_output=True, text=True, timeout=TIMEOUT,
                          env=os.environ.copy(), cwd=str(Path(__file__).resolve().parents[1]))
    assert done.returncode == 0, done.stderr
    # this process never submitted it: the registry knows it, and the tracker follows it
    records = default_session().records()
    assert [r.ref.name for r in records] == [name]
    assert [j.name for j in sk.jobs()] == [name]
    assert not JobState(records[0].state).terminal
    session = default_session()
    seen = []
    session.tracker.listen(lambda ref, status: seen.append(status.state))
    assert [ref.name for ref in session.reattach()] == [name]
    job = sk.job(name)
    wait_until(lambda: seen, what="tracker announced the re-attached job")
    assert seen[0] == JobState.SUBMITTED  # its supervisor has not started
    start.touch()
    # polling may skip a short state: release the job only once the tracker itself saw it run
    wait_until(lambda: JobState.RUNNING in seen, what="tracker saw the re-attached job running")
    release(go, "all", 0)
    assert job.wait(timeout=TIMEOUT).state == JobState.SUCCEEDED
    wait_until(lambda: seen and seen[-1] == JobState.SUCCEEDED, what="tracker saw the end")
    wait_until(lambda: session.registry.get(name).state == "SUCCEEDED", what="registry updated")
    assert session.tracker.active == []


def test_stop_right_after_submit_while_the_supervisor_is_still_starting(tmp_path, monkeypatch):
    """A slow machine: the supervisor has not written its first status when stop comes."""
    from submarine_kernel.runtimes.local import processes

    slow = tmp_path / "slow_supervisor.py"
    slow.write_text(textwrap.dedent(f"""
        import runpy, sys, time
        time.sleep(1.5)
        sys.argv = [{str(processes.SUPERVISOR)!r}] + sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")
    """))
    monkeypatch.setattr(processes, "SUPERVISOR", slow)
    job, out, go = sleeper_job(tmp_path, workers=2)
    assert status_json(job) is None  # nothing started yet
    status = job.stop()
    assert status.state == JobState.STOPPED, status.message
    assert job.wait(timeout=TIMEOUT).state == JobState.STOPPED
    assert replica_states(job.status()) == {"worker-0": JobState.STOPPED, "worker-1": JobState.STOPPED}
    pids = [r["pid"] for r in status_json(job)["replicas"].values() if r["pid"]]
    wait_until(lambda: all_gone(pids), what="replicas gone")
