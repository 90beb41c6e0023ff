"""The YARN runtime end to end against the YARN test server: submit, poll many jobs with one call, stop,
destroy, errors in one line, ResourceManager HA, logs and links, and the whole session flow with HDFS."""

from __future__ import annotations

import socket

import pytest

from submarine_kernel.algorithm import Bundle
from submarine_kernel.names import job_name_problems
from submarine_kernel.errors import SubmarineError, ValidationError
from submarine_kernel.runtimes import runtime_class
from submarine_kernel.job_types import JobRef, JobState
from submarine_kernel.runtimes.yarn import (ResourceManagerUnreachable, ServiceNameTaken, ServiceRejected,
                                            YarnAuthError, YarnJobData, YarnRuntime)
from submarine_kernel.spec import build_spec

from webhdfs_server import WebHdfsTestServer
from yarn_server import YarnTestServer
from yarn_rules import schema_errors

BUNDLE = Bundle({"train.py": b"print('hi')\n"})
BUNDLE_URI = "hdfs://nn:8020/user/alice/bundles/abc123"


@pytest.fixture
def yarn():
    server = YarnTestServer().start()
    yield server
    server.stop()


def make_runtime(*urls, **traits) -> YarnRuntime:
    return YarnRuntime(rm_urls=list(urls), **{"user": "alice", "registry_dns_domain": "ycluster.example.com", **traits})


def spec(name="job-1", **kw):
    return build_spec(name, framework=kw.pop("framework", "tensorflow"), workers=kw.pop("workers", 2),
                      command="python train.py", image="tf:2", **kw)


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_runtime_is_registered_by_name():
    assert runtime_class("yarn") is YarnRuntime


def test_submit_posts_a_valid_service_and_keeps_the_app_id(yarn):
    rt = make_runtime(yarn.url)
    ref = rt.submit(spec(), BUNDLE, BUNDLE_URI)
    posted = [r for r in yarn.requests if r.method == "POST"][0]
    assert posted.path == "/app/v1/services" and posted.query["user.name"] == "alice"
    assert schema_errors(posted.body) == []
    assert ref.runtime == "yarn" and ref.name == "job-1" and ref.id == yarn.services["job-1"].app_id
    assert ref.extra["components"] == {"master": ["worker", 0, 1], "worker": ["worker", 1, 1]}
    status = rt.poll([ref])[ref.key]
    assert status.state == JobState.PENDING and status.raw_state == "ACCEPTED"
    assert status.links["rm_app"] == f"{yarn.url}/cluster/app/{ref.id}"
    assert status.links["yarn_ui"] == f"{yarn.url}/ui2/#/yarn-app/{ref.id}/components?service=job-1"


def test_many_jobs_are_followed_with_one_list_call(yarn):
    rt = make_runtime(yarn.url)
    refs = [rt.submit(spec(f"job-{i}"), BUNDLE, BUNDLE_URI) for i in range(6)]
    yarn.advance("job-0", "SUCCEEDED")
    yarn.advance("job-1", "FAILED", "master-0 exited with code 1")
    yarn.advance("job-2", "STABLE")
    yarn.advance("job-3", "STOPPED")
    yarn.reset_counts()
    statuses = rt.poll(refs)
    assert yarn.count() == 1 and yarn.count("GET", "/ws/v1/cluster/apps") == 1
    listed = yarn.requests[0].query
    assert listed["applicationTypes"] == "yarn-service" and listed["user"] == "alice"
    assert int(listed["startedTimeBegin"]) <= min(r.extra["submitted_ms"] for r in refs)
    states = {ref.name: statuses[ref.key].state for ref in refs}
    assert states == {"job-0": JobState.SUCCEEDED, "job-1": JobState.FAILED, "job-2": JobState.RUNNING,
                      "job-3": JobState.STOPPED, "job-4": JobState.PENDING, "job-5": JobState.PENDING}
    failed = statuses[refs[1].key]
    assert failed.message == "master-0 exited with code 1" and failed.raw_state == "FINISHED/FAILED"
    assert failed.finished and failed.submitted and failed.links["tracking"].endswith(f"/proxy/{refs[1].id}/")


def test_jobs_without_a_known_app_id_need_one_service_get_each(yarn):
    yarn.post_reports_app_id = False
    yarn.app_id_delay = 60.0
    rt = make_runtime(yarn.url)
    fresh = [rt.submit(spec(f"fresh-{i}"), BUNDLE, BUNDLE_URI) for i in range(3)]
    assert all(ref.id == "" for ref in fresh)
    yarn.reset_counts()
    statuses = rt.poll(fresh)
    assert yarn.count("GET", "/app/v1/services/") == 3 and yarn.count("GET", "/ws/v1/cluster/apps") == 0
    assert all(s.state == JobState.PENDING for s in statuses.values())
    yarn.app_id_delay = 0.0  # the ids appear
    yarn.reset_counts()
    rt.poll(fresh)
    assert yarn.count("GET", "/app/v1/services/") == 3 and yarn.count("GET", "/ws/v1/cluster/apps") == 1
    yarn.reset_counts()
    statuses = rt.poll(fresh)  # now known: the list call alone
    assert yarn.count() == 1
    # a later process (empty cache) learns the id again from the service, once
    assert JobRef.from_dict(fresh[0].to_dict()).id == ""
    assert all(s.state == JobState.PENDING for s in statuses.values())


def test_replicas_with_poll_replicas(yarn):
    rt = make_runtime(yarn.url, poll_replicas=True)
    ref = rt.submit(spec("replicas", workers=3), BUNDLE, BUNDLE_URI)
    yarn.advance("replicas", "STABLE")
    status = rt.poll([ref])[ref.key]
    assert [(r.name, r.role, r.index, r.state) for r in status.replicas] == [
        ("worker-0", "worker", 0, JobState.RUNNING), ("worker-1", "worker", 1, JobState.RUNNING),
        ("worker-2", "worker", 2, JobState.RUNNING)]  # JobSpec replica names; worker 0 runs in master-0


def test_stop_and_remove(yarn):
    rt = make_runtime(yarn.url)
    ref = rt.submit(spec("stopper"), BUNDLE, BUNDLE_URI)
    yarn.advance("stopper", "STABLE")
    rt.stop(ref)
    put = [r for r in yarn.requests if r.method == "PUT"][0]
    assert put.path == "/app/v1/services/stopper" and put.body == {"state": "STOPPED"}
    assert rt.poll([ref])[ref.key].state == JobState.STOPPED
    rt.remove(ref)
    assert [r.path for r in yarn.requests if r.method == "DELETE"] == ["/app/v1/services/stopper"]
    assert rt.poll([ref])[ref.key].state == JobState.STOPPED  # the RM keeps the finished application
    rt.stop(ref)  # a destroyed service: nothing to stop, no error
    rt.remove(ref)


def test_taken_name_and_rejected_spec_are_one_line_errors(yarn):
    rt = make_runtime(yarn.url)
    rt.submit(spec("taken"), BUNDLE, BUNDLE_URI)
    with pytest.raises(ServiceNameTaken) as taken:
        rt.submit(spec("taken"), BUNDLE, BUNDLE_URI)
    assert "'taken' is already taken" in str(taken.value) and "\n" not in str(taken.value)
    bad = spec("rejected")
    with pytest.raises(ServiceRejected) as rejected:  # a component name YARN refuses, past our own checks
        rt.client.create_service({**rt.service(bad, BUNDLE, BUNDLE_URI), "components": [
            {"name": "Bad_Component", "number_of_containers": 1, "launch_command": "x",
             "resource": {"cpus": 1, "memory": "256"}}]})
    assert "(400)" in str(rejected.value) and "can not use '_'" in str(rejected.value)


def test_validation_problems_stop_submission_before_any_call(yarn):
    """The spec is checked once, where Session.build makes it (YarnRuntime.check included); submit trusts it."""
    from traitlets.config import Config

    from submarine_kernel.session import Session

    config = Config()
    config.SubmarineConfig.runtime = "yarn"
    config.SubmarineConfig.storage_root = "hdfs://namenode:8020/user/alice/submarine"
    config.YarnRuntime.rm_urls = [yarn.url]
    config.YarnRuntime.user = "alice"
    config.YarnRuntime.registry_dns_domain = "ycluster.example.com"
    session = Session(config=config)
    try:
        with pytest.raises(ValidationError) as problems:
            session.build("python train.py", name="Bad_Name", framework="tensorflow", workers=2, image="tf:2")
    finally:
        session.close()
    assert problems.value.problems == job_name_problems("Bad_Name")  # the one name rule, as on every runtime
    assert yarn.count() == 0


def test_unreachable_resource_managers_are_named(yarn):
    first, second = dead_url(), dead_url()
    rt = make_runtime(first, second)
    with pytest.raises(ResourceManagerUnreachable) as error:
        rt.submit(spec(), BUNDLE, BUNDLE_URI)
    assert first in str(error.value) and second in str(error.value) and "rm_urls" in str(error.value)


def test_failover_when_the_first_rm_is_down(yarn):
    rt = make_runtime(dead_url(), yarn.url)
    ref = rt.submit(spec("failover"), BUNDLE, BUNDLE_URI)
    assert ref.extra["rm"] == yarn.url
    yarn.reset_counts()
    rt.poll([ref])
    assert yarn.count() == 1  # the RM that answered is asked first from then on


@pytest.mark.parametrize("style", ["hadoop3", "hadoop2"])
def test_failover_from_a_standby_rm(yarn, style):
    standby = YarnTestServer(standby=style, active_url=yarn.url).start()
    try:
        rt = make_runtime(standby.url, yarn.url)
        ref = rt.submit(spec("ha-job"), BUNDLE, BUNDLE_URI)
        assert "ha-job" in yarn.services and ref.extra["rm"] == yarn.url
        assert rt.poll([ref])[ref.key].state == JobState.PENDING
        alone = make_runtime(standby.url)
        with pytest.raises(ResourceManagerUnreachable) as error:
            alone.poll([ref])
        assert f"standby, pointing to {yarn.url}: add it to YarnRuntime.rm_urls" in str(error.value)
    finally:
        standby.stop()


def test_401_and_403_say_what_to_do():
    server = YarnTestServer(require_user=True, forbidden_users=("mallory",)).start()
    try:
        with pytest.raises(YarnAuthError) as unauthorized:
            make_runtime(server.url, user="", registry_dns_domain="").submit(spec(workers=1), BUNDLE, BUNDLE_URI)
        assert "401" in str(unauthorized.value) and "Kerberos" in str(unauthorized.value)
        with pytest.raises(YarnAuthError) as forbidden:
            make_runtime(server.url, user="mallory").submit(spec(), BUNDLE, BUNDLE_URI)
        assert "403" in str(forbidden.value) and "mallory" in str(forbidden.value)
    finally:
        server.stop()


def test_logs_of_a_replica_through_its_nodemanager(yarn):
    rt = make_runtime(yarn.url)
    ref = rt.submit(spec("logged", workers=2), BUNDLE, BUNDLE_URI)
    yarn.advance("logged", "STABLE")
    record = yarn.services["logged"]
    yarn.container_logs[(yarn.container_id(record, "worker", 0), "stdout.txt")] = "step 1\nstep 2\nstep 3\n"
    yarn.container_logs[(yarn.container_id(record, "master", 0), "stdout.txt")] = "chief\n"
    yarn.container_logs[(yarn.container_id(record, "master", 0), "stderr.txt")] = "warning\n"
    assert list(rt.logs(ref, "worker-1")) == ["step 1", "step 2", "step 3"]  # worker 1 runs in worker-0
    assert list(rt.logs(ref, "worker-0")) == ["chief", "warning"]  # worker 0 is the master container
    assert list(rt.logs(ref, "worker-1", tail=1)) == ["step 3"]
    assert list(rt.logs(ref)) == ["chief", "warning"]  # the deciding replica by default
    assert list(rt.logs(ref, "master-0")) == ["chief", "warning"]  # YARN's instance names work too
    with pytest.raises(SubmarineError, match="no running container 'ps-0'"):
        list(rt.logs(ref, "ps-0"))


def test_rows_of_older_versions_name_the_deciding_replica_decider(yarn):
    rt = make_runtime(yarn.url)
    ref = rt.submit(spec("old-row", workers=2), BUNDLE, BUNDLE_URI)
    assert YarnJobData.of(JobRef.from_dict(ref.to_dict())) == YarnJobData.of(ref)  # the registry's round trip
    old = {k: v for k, v in ref.extra.items() if k != "deciding"}
    old_ref = JobRef(ref.runtime, ref.name, ref.id, {**old, "decider": "worker-1"})
    assert YarnJobData.of(old_ref).deciding == "worker-1" and "decider" not in YarnJobData.of(old_ref).to_extra()
    yarn.advance("old-row", "STABLE")
    record = yarn.services["old-row"]
    yarn.container_logs[(yarn.container_id(record, "worker", 0), "stdout.txt")] = "from worker 1\n"
    assert list(rt.logs(old_ref)) == ["from worker 1"]


def test_follow_reads_until_the_job_ends(yarn):
    rt = make_runtime(yarn.url, follow_interval=0.01)
    ref = rt.submit(spec("followed", workers=1), BUNDLE, BUNDLE_URI)
    yarn.advance("followed", "STABLE")
    key = (yarn.container_id(yarn.services["followed"], "master", 0), "stdout.txt")
    yarn.container_logs[key] = "one\n"
    lines = rt.logs(ref, follow=True)
    assert next(lines) == "one"
    yarn.container_logs[key] = "one\ntwo\n"
    yarn.advance("followed", "SUCCEEDED")
    assert list(lines) == ["two"]  # written before the end: still read, then the follow stops


def test_link_templates_and_tensorboard(yarn):
    rt = make_runtime(yarn.url, tensorboard=True, link_templates={"app": "{rm}/cluster/app/{app_id}?u={user}"})
    ref = rt.submit(spec("tb-job", checkpoint_path="hdfs://nn/user/alice/ckpt/tb-job"), BUNDLE, BUNDLE_URI)
    assert rt.links(ref) == {"app": f"{yarn.url}/cluster/app/{ref.id}?u=alice",
                             "tensorboard": "http://tensorboard-0.tb-job.alice.ycluster.example.com:6006"}
    url = rt.start_tensorboard("tb-alone", "hdfs://nn/user/alice/ckpt")
    assert url == "http://tensorboard-0.tb-alone.alice.ycluster.example.com:6006"
    assert schema_errors(yarn.services["tb-alone"].spec) == []
    assert rt.stop_tensorboard("tb-alone") is True and rt.stop_tensorboard("tb-alone") is False
    bad = make_runtime(yarn.url, link_templates={"x": "{rm}/{nope}"})
    with pytest.raises(SubmarineError, match=r"YarnRuntime\.link_templates .*use only \{rm\}, \{app_id\}, "
                                             r"\{service\}, \{user\}"):
        bad.links(ref)


def test_session_flow_uploads_to_hdfs_and_submits_to_yarn(yarn, tmp_path):
    """%submarine run's path: check, upload the bundle over WebHDFS, POST the service, track it."""
    from traitlets.config import Config

    from submarine_kernel.session import Session

    hdfs = WebHdfsTestServer().start()
    try:
        config = Config()
        config.SubmarineConfig.runtime = "yarn"
        config.SubmarineConfig.storage_root = "hdfs://namenode:8020/user/alice/submarine"
        config.SubmarineConfig.storage_options = {"namenodes": [hdfs.url], "user": "alice"}
        config.YarnRuntime.rm_urls = [yarn.url]
        config.YarnRuntime.user = "alice"
        config.YarnRuntime.registry_dns_domain = "ycluster.example.com"
        session = Session(config=config)
        try:
            job_spec = session.build("python train.py", name="session-job", framework="pytorch", workers=2,
                                     image="pytorch:2")
            job = session.submit(job_spec, Bundle({"train.py": b"print('hi')\n"}))
            posted = yarn.services["session-job"].spec
            sources = {f["src_file"] for f in posted["configuration"]["files"]}
            digest = job.upload.digest if hasattr(job, "upload") else None
            assert any(src.startswith("hdfs://namenode:8020/user/alice/submarine/") for src in sources)
            stored = {p for p in hdfs.nodes if p.startswith("/user/alice/submarine/")}
            assert any(p.endswith("/train.py") for p in stored) and any(p.endswith("/params.json") is False
                                                                       for p in stored)
            if digest:
                assert f"/user/alice/submarine/{digest}/.submarine-manifest.json" in stored
            yarn.advance("session-job", "SUCCEEDED")
            assert job.wait(timeout=20).state == JobState.SUCCEEDED
        finally:
            session.close()
    finally:
        hdfs.stop()


def test_resource_use_of_many_jobs_costs_one_jmx_call_per_nodemanager(yarn):
    """Which container runs which replica is asked once per job, for a few jobs a round; after that a round
    of usage is one /jmx call per NodeManager (the test server is one), whatever the number of jobs."""
    from submarine_kernel.runtimes.yarn.runtime import USAGE_SERVICES_PER_ROUND

    rt = make_runtime(yarn.url)
    refs = [rt.submit(spec(f"job-{i}"), BUNDLE, BUNDLE_URI) for i in range(USAGE_SERVICES_PER_ROUND + 2)]
    for ref in refs:
        yarn.advance(ref.name, "STABLE")
    yarn.reset_counts()
    rt.usage(refs)
    assert yarn.count("GET", "/app/v1/services/") == USAGE_SERVICES_PER_ROUND and yarn.count("GET", "/jmx") == 1
    yarn.reset_counts()
    first = rt.usage(refs)  # the two left
    assert yarn.count("GET", "/app/v1/services/") == 2 and yarn.count("GET", "/jmx") == 1
    assert all(set(first[r.key]["replicas"]) == {"worker-0", "worker-1"} for r in refs), first
    yarn.reset_counts()
    again = rt.usage(refs)
    assert yarn.count() == 1 and yarn.count("GET", "/jmx") == 1
    entry = again[refs[0].key]["replicas"]["worker-0"]
    assert entry["peak"] == {"cpu": 95.0, "rss": 128 << 20} and entry["points"][-1][1:3] == [80.0, 120 << 20]
