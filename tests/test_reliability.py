"""Nothing lost, nothing half-done (issue 13): concurrent uploads, kills, damaged stores and registries,
outages. Real processes on loopback; the loops are small here, bench/faults.py runs the same scenarios longer."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from submarine_kernel.algorithm import MANIFEST_NAME, Bundle
from submarine_kernel.storage import DamagedBundle, Storage, fetch_bundle, staging

from fault_support import concurrent_puts, killed_uploads, staging_folders

from k8s_support import cluster, trainer_cluster  # noqa: F401,E402 (fixtures: kmock with the official client)

try:  # moto's S3 server, for the races against S3
    from test_s3 import endpoint, s3  # noqa: F401 (fixtures)
except pytest.skip.Exception:
    pass


# -- 1. concurrent puts of the same content ----------------------------------------------------------
def test_concurrent_puts_of_the_same_bundle_all_succeed_on_local_disk(tmp_path):
    root = tmp_path / "store"
    outcome = concurrent_puts(root.as_uri(), {}, tmp_path, processes=4, rounds=2, megabytes=4, local_root=root)
    assert outcome.errors == [] and outcome.lost == 0 and outcome.tries == 8
    assert outcome.leftovers == 0
    assert len([p for p in root.iterdir()]) == 2  # one folder per bundle, nothing else


def test_concurrent_puts_of_the_same_bundle_all_succeed_on_hdfs(tmp_path):
    from webhdfs_server import WebHdfsTestServer

    server = WebHdfsTestServer().start()
    try:
        outcome = concurrent_puts("hdfs://namenode:8020/user/alice/store", {"namenodes": [server.url],
                                  "user": "alice"}, tmp_path, processes=3, rounds=2, megabytes=1)
    finally:
        server.stop()
    assert outcome.errors == [] and outcome.lost == 0 and outcome.tries == 6


def test_concurrent_puts_of_the_same_bundle_all_succeed_on_s3(tmp_path, request):
    pytest.importorskip("s3fs")
    from test_s3 import BUCKET, options

    endpoint = request.getfixturevalue("endpoint")
    request.getfixturevalue("s3")

    outcome = concurrent_puts(f"s3://{BUCKET}/store", options(endpoint), tmp_path, processes=3, rounds=1,
                              megabytes=2)
    assert outcome.errors == [] and outcome.lost == 0 and outcome.tries == 3


# -- 2. the registry is written before the job starts ------------------------------------------------
def test_a_killed_submitter_leaves_every_job_recorded_or_nothing(isolated_data_dir):
    from fault_support import killed_submitters

    outcome = killed_submitters(isolated_data_dir)
    assert outcome.errors == [] and outcome.lost == 0 and outcome.leftovers == 0
    assert outcome.tries == 5


def cli(*args, prefix=(), env=None) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "submarine_kernel", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def one_line_error(result) -> str:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("submarine-kernel: error: "), result.stderr
    return lines[0]


def submit_local(name: str, command: str = "true"):
    import submarine_kernel as sk

    return sk.submit(command, files={"ok.py": b"pass\n"}, name=name, framework="custom")


def nothing_started(data_dir: Path) -> bool:
    jobs, bundles = data_dir / "jobs", data_dir / "bundles"
    return not (jobs.exists() and any(jobs.iterdir())) and not (bundles.exists() and any(bundles.iterdir()))


def test_a_garbled_registry_refuses_the_submission_before_anything_is_uploaded_or_started(isolated_data_dir):
    from submarine_kernel.registry import RegistryError

    (isolated_data_dir / "registry.sqlite").write_bytes(b"this is not a database at all\n" * 200)
    with pytest.raises(RegistryError, match=r"registry .* is damaged \(file is not a database\): move it aside"):
        submit_local("garbled")
    assert nothing_started(isolated_data_dir)


def test_a_read_only_registry_refuses_the_submission_before_anything_starts(isolated_data_dir):
    from fault_support import unprivileged

    submit_local("first").wait(timeout=60)  # a registry with a row, then it turns read-only
    registry = isolated_data_dir / "registry.sqlite"
    registry.chmod(0o444)
    isolated_data_dir.chmod(0o555)
    try:
        result = subprocess.run([*unprivileged(), sys.executable, "-c",
                                 "import submarine_kernel as sk; sk.submit('true', files={'a.py': 'pass'}, name='second',"
                                 " framework='custom')"], capture_output=True, text=True, timeout=120)
    finally:
        isolated_data_dir.chmod(0o755)
        registry.chmod(0o600)
    assert "RegistryError: the job registry" in result.stderr and "is read-only" in result.stderr, result.stderr
    assert not (isolated_data_dir / "jobs" / "second").exists()


# -- 3. a damaged registry is one clear line --------------------------------------------------------------
@pytest.mark.parametrize("damage", ["truncated", "garbled", "directory", "empty"])
def test_a_damaged_registry_is_one_line_that_says_how_to_recover(isolated_data_dir, damage):
    submit_local("before-damage").wait(timeout=60)
    from submarine_kernel import session

    session._default.close()  # a live session makes a deleted registry again (as it should), racing the damage
    registry = isolated_data_dir / "registry.sqlite"
    data = registry.read_bytes()
    if damage == "truncated":
        registry.write_bytes(data[: len(data) // 3 + 100])
    elif damage == "garbled":
        registry.write_bytes(bytes(range(256)) * 64)
    elif damage == "directory":
        registry.unlink()
        registry.mkdir()
    else:
        registry.write_bytes(b"")
    for args in (["list"], ["status", "before-damage"]) if damage == "truncated" else (["list"],):
        line = one_line_error(cli(*args))
        assert f"the job registry {registry} is damaged" in line and "move it aside" in line, line
    if damage != "truncated":
        return
    # recovering: move it aside, rebuild the local jobs from their folders, list again
    registry.rename(registry.with_name("registry.sqlite.damaged"))
    rebuilt = cli("recover")
    assert rebuilt.returncode == 0 and "local: rebuilt 1 job(s): before-damage" in rebuilt.stdout, rebuilt
    listed = cli("list")
    assert listed.returncode == 0 and "before-damage" in listed.stdout and "SUCCEEDED" in listed.stdout, listed


def test_one_bad_row_is_skipped_and_reported_not_a_failed_listing(isolated_data_dir):
    import sqlite3

    for name in ("good-a", "bad-json", "bad-state", "good-b"):
        submit_local(name).wait(timeout=60)
    with sqlite3.connect(isolated_data_dir / "registry.sqlite") as db:
        db.execute("UPDATE jobs SET status = '{not json' WHERE name = 'bad-json'")
        db.execute("UPDATE jobs SET state = 'EXPLODED' WHERE name = 'bad-state'")
    listed = cli("list")
    assert listed.returncode == 0, listed
    assert "good-a" in listed.stdout and "good-b" in listed.stdout
    assert "bad-json" not in listed.stdout and "bad-state" not in listed.stdout
    warnings = [line for line in listed.stderr.splitlines() if "skipped the damaged registry row" in line]
    assert len(warnings) == 2 and "forget bad-json" in listed.stderr, listed.stderr
    line = one_line_error(cli("status", "bad-state"))
    assert "the registry row of job 'bad-state' is damaged" in line
    assert cli("forget", "bad-state").returncode == 0
    assert "bad-state" not in cli("list").stderr


# -- 4. stale history ---------------------------------------------------------------------------------
def test_a_job_whose_submitter_exited_is_listed_with_its_real_end(isolated_data_dir):
    code = ("import submarine_kernel as sk; sk.submit('python -c \"import time; time.sleep(1)\"', "
            "files={'a.py': 'pass'}, name='orphaned', framework='custom')")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)  # the submitter exits at once
    status_file = isolated_data_dir / "jobs" / "orphaned" / "status.json"
    from core_support import wait_until

    wait_until(lambda: status_file.exists() and json.loads(status_file.read_text())["state"] == "SUCCEEDED",
               what="the job ended")
    listed = cli("list")
    assert listed.returncode == 0 and "SUCCEEDED" in listed.stdout and "SUBMITTED" not in listed.stdout, listed
    from submarine_kernel.registry import Registry

    assert Registry().get("orphaned").state == "SUCCEEDED"  # written back, not only shown


def test_status_writes_back_what_it_learns(isolated_data_dir):
    from submarine_kernel.registry import Registry

    subprocess.run([sys.executable, "-c", "import submarine_kernel as sk; sk.submit('sleep 60', "
                    "files={'a.py': 'pass'}, name='read-back', framework='custom')"], check=True, timeout=120)
    from core_support import wait_until

    status = isolated_data_dir / "jobs" / "read-back" / "status.json"
    wait_until(lambda: status.exists() and json.loads(status.read_text())["state"] == "RUNNING", what="running")
    assert cli("status", "read-back").returncode == 0
    assert Registry().get("read-back").state == "RUNNING"
    assert cli("stop", "read-back").returncode == 0
    assert Registry().get("read-back").state == "STOPPED"


def test_replicas_never_outlive_their_supervisor(tmp_path):
    from core_support import all_gone, read_pids, running_pids, status_json, wait_until
    import signal as sig
    from test_local_runtime import sleeper_job

    job, out, go = sleeper_job(tmp_path, workers=2)
    pids = read_pids(out, ["worker-0", "worker-1"])
    running_pids(job)
    os.kill(status_json(job)["supervisor_pid"], sig.SIGKILL)
    # nobody reads the job's status: the replicas and their own children must end by themselves
    wait_until(lambda: all_gone([p for pair in pids.values() for p in pair]), timeout=30,
               what="the replicas of a killed supervisor ended")
    raw = wait_until(lambda: (status_json(job) or {}).get("state") == "FAILED" and status_json(job), timeout=30,
                     what="the job recorded FAILED")
    assert raw["raw_state"] == "supervisor-lost"


# -- stop grace (issue 15 item 6) ---------------------------------------------------------------------
def checkpoint_job(name, **params):
    import submarine_kernel as sk
    from core_support import job_file

    return sk.submit("python checkpointer.py", files={"checkpointer.py": job_file("checkpointer.py")}, name=name,
                     framework="custom", params=params)


def test_stop_gives_a_replica_that_traps_sigterm_its_grace_to_save_a_checkpoint():
    from core_support import wait_until

    job = checkpoint_job("graceful", save_seconds=1.0)
    wait_until(lambda: "training" in job.logs(), what="training")
    status = job.stop()
    assert status.state.value == "STOPPED" and status.message == "stopped on request"
    log = job.logs()
    assert "got SIGTERM, saving a checkpoint" in log and "checkpoint saved" in log, log


def test_stop_says_stopping_during_the_grace_and_a_second_stop_kills_at_once():
    from core_support import configure_local, wait_until

    runtime = configure_local(stop_wait=0.5)
    assert runtime.stop_grace == 30.0  # Kubernetes' default
    job = checkpoint_job("stubborn", ignore_term="1")
    wait_until(lambda: "training" in job.logs(), what="training")
    status = job.stop()
    assert not status.terminal and status.raw_state == "stopping"
    assert status.message == "stopping (grace 30 s)"
    runtime.stop_wait = 15.0
    pid = int(job.logs().split("training in pid ")[1].split()[0])
    status = job.stop()
    assert status.state.value == "STOPPED"
    from core_support import pid_gone

    wait_until(lambda: pid_gone(pid), timeout=10, what="the stubborn replica killed")


# -- 6. leftovers after a kill ------------------------------------------------------------------------
def test_staging_folders_of_killed_uploads_are_removed_and_a_live_one_is_kept(tmp_path):
    root = tmp_path / "store"
    root.mkdir()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live_folder = root / f".staging-abc-{live.pid}-{staging.host_tag()}-0011aabb"
        live_folder.mkdir()
        (live_folder / "part.bin").write_bytes(b"x" * 100)
        outcome = killed_uploads(root, tmp_path, tries=3, megabytes=16)
        assert staging_folders(root) == [live_folder]  # only the live upload's folder is left
        assert outcome.leftovers == 1
    finally:
        live.kill()
        live.wait()
    Storage(root.as_uri(), progress=False).put(Bundle({"again.py": b"pass\n"}))
    assert staging_folders(root) == []


def test_a_finished_supervisor_is_reaped_not_left_a_zombie():
    from core_support import wait_until

    job = submit_local("reaped")
    pid = int((Path(job.ref.extra["dir"]) / "supervisor.pid").read_text())
    assert job.wait(timeout=60).state.value == "SUCCEEDED"
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), timeout=20, what="the supervisor reaped")


# -- 5. bundles are verified on fetch -----------------------------------------------------------------
TRAIN = b"print('the real code')\n"


def stored(data_dir: Path, job) -> Path:
    return data_dir / "bundles" / job.upload.digest


def run_printer(name):
    import submarine_kernel as sk

    job = sk.submit("python train.py", files={"train.py": TRAIN, "lib/util.py": b"X = 1\n"}, name=name,
                    framework="custom")
    assert job.wait(timeout=60).state.value == "SUCCEEDED", job.logs()
    return job


@pytest.mark.parametrize("damage", ["tampered", "no-files", "missing-file"])
def test_a_damaged_stored_bundle_is_uploaded_again_with_a_warning(isolated_data_dir, damage, caplog):
    first = run_printer("first")
    folder = stored(isolated_data_dir, first)
    if damage == "tampered":  # same size, manifest intact
        (folder / "train.py").write_bytes(b"print('tampered code')\n"[: len(TRAIN)].ljust(len(TRAIN), b" "))
    elif damage == "no-files":
        manifest = json.loads((folder / MANIFEST_NAME).read_text())
        del manifest["files"]
        (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    else:
        (folder / "lib" / "util.py").unlink()
    with caplog.at_level("WARNING", logger="submarine_kernel"):
        second = run_printer("second")
    assert "the real code" in second.logs() and "tampered" not in second.logs()
    assert any("damaged" in r.getMessage() for r in caplog.records), caplog.text
    assert (folder / "train.py").read_bytes() == TRAIN  # healed in the store
    third = run_printer("third")  # and reused from now on
    assert third.upload.reused


def test_a_manifest_entry_outside_the_bundle_is_refused_and_nothing_is_written(tmp_path):
    root = tmp_path / "store"
    result = Storage(root.as_uri(), progress=False).put(Bundle({"train.py": b"pass\n"}))
    manifest_path = root / result.digest / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    manifest["files"].append({"name": "../../escape.txt", "size": 3, "sha256": hashlib.sha256(b"bad").hexdigest()})
    manifest_path.write_text(json.dumps(manifest))
    (tmp_path / "escape-source").mkdir()
    destination = tmp_path / "a" / "b" / "job"
    with pytest.raises(DamagedBundle, match=r"names '\.\./\.\./escape\.txt', a path outside the bundle"):
        fetch_bundle(result.uri, destination)
    assert not (tmp_path / "a" / "escape.txt").exists() and not destination.exists()


def test_a_file_changed_in_the_store_is_refused_on_fetch(tmp_path):
    root = tmp_path / "store"
    result = Storage(root.as_uri(), progress=False).put(Bundle({"train.py": b"print(1)\n"}))
    (root / result.digest / "train.py").write_bytes(b"print(2)\n")
    with pytest.raises(DamagedBundle, match="train.py in bundle .* does not match its manifest"):
        fetch_bundle(result.uri, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- 8. outages longer than the retry budget --------------------------------------------------------------
@pytest.fixture
def yarn_server():
    from yarn_server import YarnTestServer

    server = YarnTestServer().start()
    yield server
    server.stop()


@pytest.fixture
def fast_retries(monkeypatch):
    import submarine_kernel.retry as retry
    import submarine_kernel.session as session_module
    from submarine_kernel.retry import RetryPolicy

    fast = RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05)
    monkeypatch.setattr(retry, "DEFAULT_POLICY", fast)
    monkeypatch.setattr(session_module, "DEFAULT_POLICY", fast)
    return fast


def test_yarn_every_create_answer_lost_adopts_the_service_and_records_it(yarn_server, tmp_path, fast_retries):
    from test_faults import yarn_session, yarn_submit

    yarn_server.fail_next("POST", "/app/v1/services", "drop", times=5)
    session = yarn_session(yarn_server, tmp_path)
    try:
        job = yarn_submit(session, "all-lost")
        assert list(yarn_server.services) == ["all-lost"] and len(yarn_server.apps) == 1
        record = session.registry.get("all-lost")
        assert not record.pending and record.state == "SUBMITTED" and record.ref.name == job.name
        assert job.status().state.value in ("PENDING", "RUNNING", "SUBMITTED")
    finally:
        session.close()


def test_yarn_unreachable_during_submit_is_recorded_unconfirmed_then_settled(yarn_server, tmp_path, fast_retries):
    from test_faults import yarn_session, yarn_submit
    from submarine_kernel.errors import TransientError

    yarn_server.fail_next("POST", "/app/v1/services", "drop", times=5)
    yarn_server.fail_next("GET", "/app/v1/services/", 503, times=5)  # and the look-up after it fails too
    session = yarn_session(yarn_server, tmp_path)
    try:
        with pytest.raises(TransientError, match="submitting unsure failed 5 times"):
            yarn_submit(session, "unsure")
        record = session.registry.get("unsure")
        assert record.pending and record.status.raw_state == "submit-unconfirmed"
        assert "adopts the job or cleans it up" in record.status.message
        # the RM answers again: the next reader adopts the service the lost creates made
        records = session.records()
        # adopted: no longer pending; SUBMITTED or, on a loaded machine once the app id shows, PENDING
        assert [(r.ref.name, r.pending) for r in records] == [("unsure", False)]
        assert records[0].state in ("SUBMITTED", "PENDING"), records[0].state
        from submarine_kernel.runtimes.yarn import YarnJobData

        assert YarnJobData.of(session.registry.get("unsure").ref).deciding == "master-0"
    finally:
        session.close()


def test_k8s_an_unconfirmed_submission_is_adopted_when_whole_and_deleted_when_half_made(cluster, tmp_path,
                                                                                       fast_retries):
    from test_faults import PYTORCHJOBS, k8s_session, k8s_submit
    from k8s_support import NAMESPACE

    session = k8s_session(cluster, tmp_path)
    try:
        whole, half = k8s_submit(session, "whole"), k8s_submit(session, "half")
        # as if every create answer had been lost: the rows say "may have happened"; one job also lacks the
        # ConfigMap it mounts (its create never got through)
        for job in (whole, half):
            session.registry.mark_unconfirmed(job.ref, "the submission may have happened")
        clients = session.runtime("kubernetes").connect()
        clients.core.delete_namespaced_config_map("half-algorithm", NAMESPACE)
        records = session.records()
        assert [(r.ref.name, r.state) for r in records] == [("whole", "SUBMITTED")]
        assert records[0].ref.id == whole.ref.id and records[0].ref.extra["replicas"] == whole.ref.extra["replicas"]
        assert cluster.object(PYTORCHJOBS, NAMESPACE, "half") is None  # the half-made job is deleted
        assert cluster.object(PYTORCHJOBS, NAMESPACE, "whole") is not None
    finally:
        session.close()


def test_k8s_a_configmap_refused_through_every_retry_leaves_no_job_and_no_row(cluster, tmp_path, fast_retries):
    # The job is created, then every create of the ConfigMap it mounts is refused (503, nothing stored): the
    # submission fails in one line, the half-made job is deleted, no row is left, and the name is free again.
    from test_faults import PYTORCHJOBS, k8s_session, k8s_submit, posts
    from k8s_support import NAMESPACE
    from submarine_kernel.errors import TransientError

    cluster.refuse("POST", f"/api/v1/namespaces/{NAMESPACE}/configmaps", times=fast_retries.attempts)
    session = k8s_session(cluster, tmp_path)
    try:
        with pytest.raises(TransientError, match="ConfigMap"):
            k8s_submit(session, "no-configmap")
        assert cluster.object(PYTORCHJOBS, NAMESPACE, "no-configmap") is None
        assert cluster.object("v1/configmaps", NAMESPACE, "no-configmap-algorithm") is None
        assert session.records() == []
        assert len(posts(cluster, "v1/configmaps")) == fast_retries.attempts  # each retry tried it again
        job = k8s_submit(session, "no-configmap")  # the API is well again: the same name goes through
        assert cluster.object("v1/configmaps", NAMESPACE, "no-configmap-algorithm") is not None
        assert [r.ref.id for r in session.records()] == [job.ref.id]
    finally:
        session.close()


@pytest.mark.parametrize("framework, resource", [("pytorch", "trainer.kubeflow.org/v1alpha1/trainjobs"),
                                                 ("tensorflow", "jobset.x-k8s.io/v1alpha2/jobsets")])
def test_k8s_an_unconfirmed_trainer_v2_submission_is_adopted_not_forgotten(trainer_cluster, tmp_path, fast_retries,
                                                                            framework, resource):
    # Settling looks for the job under the kind the cluster's API makes (a TrainJob or JobSet on Trainer v2),
    # not under the v1 operator's kind: that found nothing and forgot a running job.
    from test_faults import k8s_session
    from k8s_support import NAMESPACE

    session = k8s_session(trainer_cluster, tmp_path)
    try:
        spec = session.build("python train.py", name="v2-unsure", framework=framework, workers=2,
                             image="repo/train:1")
        job = session.submit(spec, Bundle({"train.py": b"print('training')\n"}))
        session.registry.mark_unconfirmed(job.ref, "the submission may have happened")
        records = session.records()
        assert [(r.ref.name, r.state) for r in records] == [("v2-unsure", "SUBMITTED")]
        assert records[0].ref.id == job.ref.id and records[0].ref.extra == job.ref.extra
        assert trainer_cluster.object(resource, NAMESPACE, "v2-unsure") is not None
    finally:
        session.close()


@pytest.mark.parametrize("fault", [503, "drop"])
def test_yarn_stop_is_retried_and_idempotent(yarn_server, tmp_path, fast_retries, fault):
    from test_faults import yarn_session, yarn_submit

    session = yarn_session(yarn_server, tmp_path)
    try:
        job = yarn_submit(session, "to-stop")
        yarn_server.advance("to-stop", "STABLE")
        yarn_server.fail_next("PUT", "/app/v1/services/to-stop", fault)
        assert job.stop().state.value == "STOPPED"
        assert yarn_server.count("PUT", "/app/v1/services/to-stop") == 2
    finally:
        session.close()


def test_wait_rides_out_a_status_outage_longer_than_the_retry_budget(yarn_server, tmp_path, fast_retries):
    from test_faults import yarn_session, yarn_submit

    session = yarn_session(yarn_server, tmp_path)
    try:
        job = yarn_submit(session, "outage")
        job.status()  # the application id is known: polls list the applications
        yarn_server.advance("outage", "SUCCEEDED")
        yarn_server.fail_next("GET", "/ws/v1/cluster/apps", 503, times=3 * fast_retries.attempts)
        assert job.wait(timeout=60).state.value == "SUCCEEDED"
        assert yarn_server.count("GET", "/ws/v1/cluster/apps") > 3 * fast_retries.attempts
    finally:
        session.close()


def test_wait_returns_the_last_status_marked_stale_when_its_timeout_ends_in_an_outage(yarn_server, tmp_path,
                                                                                      fast_retries):
    from test_faults import yarn_session, yarn_submit

    session = yarn_session(yarn_server, tmp_path)
    try:
        job = yarn_submit(session, "cut-off")
        yarn_server.advance("cut-off", "STABLE")
        job.status()
        yarn_server.fail_next("GET", "/ws/v1/cluster/apps", 503, times=10_000)
        yarn_server.fail_next("GET", "/app/v1/services/cut-off", 503, times=10_000)
        status = job.wait(timeout=0.5)
        assert status.stale and status.state.value == "RUNNING" and "status unavailable" in status.message
    finally:
        session.close()


# -- 9. user-fixable conditions are one line ---------------------------------------------------------------
def test_a_read_only_data_folder_still_lists_and_a_new_one_is_one_line(isolated_data_dir, tmp_path):
    from fault_support import unprivileged

    submit_local("listed").wait(timeout=60)
    isolated_data_dir.chmod(0o555)
    (isolated_data_dir / "registry.sqlite").chmod(0o444)
    empty = tmp_path / "empty-data"
    empty.mkdir(mode=0o555)
    try:
        listed = cli("list", prefix=unprivileged())
        fresh = cli("list", prefix=unprivileged(), env={"SUBMARINE_DATA_DIR": str(empty)})
        nested = cli("list", prefix=unprivileged(), env={"SUBMARINE_DATA_DIR": str(empty / "sub")})
    finally:
        isolated_data_dir.chmod(0o755)
        (isolated_data_dir / "registry.sqlite").chmod(0o600)
    assert listed.returncode == 0 and "listed" in listed.stdout and "Traceback" not in listed.stderr, listed
    for result in (fresh, nested):
        line = one_line_error(result)
        assert ("cannot write the job registry" in line or "cannot create the data folder" in line) and \
            "SUBMARINE_DATA_DIR" in line, line


def test_a_read_only_jobs_folder_is_one_line_and_nothing_is_recorded(isolated_data_dir):
    from fault_support import unprivileged

    submit_local("earlier").wait(timeout=60)
    jobs = isolated_data_dir / "jobs"
    jobs.chmod(0o555)
    try:
        result = subprocess.run([*unprivileged(), sys.executable, "-c",
                                 "import submarine_kernel as sk\n"
                                 "from submarine_kernel.errors import SubmarineError\n"
                                 "try:\n"
                                 "    sk.submit('true', files={'a.py': 'pass'}, name='later', framework='custom')\n"
                                 "except SubmarineError as exc:\n"
                                 "    print(exc)\n"], capture_output=True, text=True, timeout=120)
    finally:
        jobs.chmod(0o700)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result
    assert f"{jobs}" in result.stdout and "writable" in result.stdout, result.stdout
    listed = cli("list")
    assert "earlier" in listed.stdout and "later" not in listed.stdout


def test_a_kernel_with_a_damaged_registry_loads_and_says_so_in_one_line(isolated_data_dir, tmp_path):
    from kernel_support import errors, execute, text

    (isolated_data_dir / "registry.sqlite").write_bytes(b"garbage" * 1000)
    nb = execute("print('kernel up')", "%submarine list", tmp_path=tmp_path)
    assert "kernel up" in text(nb.cells[0]) and not errors(nb.cells[0]), text(nb.cells[0])
    problems = errors(nb.cells[1])
    assert len(problems) == 1 and "is damaged (file is not a database): move it aside" in problems[0], problems
    assert "Traceback" not in text(nb.cells[1])
