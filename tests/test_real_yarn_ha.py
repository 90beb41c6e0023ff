"""ResourceManager fail-over on a real Hadoop: two ResourceManagers with ZooKeeper leader election and their
state in ZooKeeper (tests/clusters/hadoop.py `ha=True`, Hadoop's TestRMFailover settings). The active one is
killed mid-job; the standby takes over the running application, and the job, followed through
`submarine_kernel/net/failover.py`, is tracked to SUCCEEDED with the same application id.
"""

from __future__ import annotations

import time

import pytest
from traitlets.config import Config

from submarine_kernel.algorithm import Bundle
from submarine_kernel.registry import Registry
from submarine_kernel.session import Session

pytestmark = [pytest.mark.real_cluster, pytest.mark.slow]

JOB = b"import sys, time\nprint('started', flush=True)\ntime.sleep(float(sys.argv[1]))\nprint('done', flush=True)\n"


@pytest.fixture(scope="module")
def ha_cluster(tmp_path_factory):
    from clusters import hadoop

    began = time.monotonic()
    with hadoop.started_for_tests(tmp_path_factory.mktemp("hadoop-ha"), ha=True) as cluster:
        print(f"HA cluster up in {time.monotonic() - began:.1f}s")
        yield cluster


def test_a_job_survives_the_active_resourcemanager_being_killed(ha_cluster, tmp_path):
    cluster = ha_cluster
    active = cluster.active_rm()  # whichever won the election
    assert active in cluster.resourcemanagers and len(cluster.rm_urls) == 2
    active_url = cluster.rm_urls[cluster.resourcemanagers.index(active)]
    [standby_url] = [url for url in cluster.rm_urls if url != active_url]
    [standby] = [daemon for daemon in cluster.resourcemanagers if daemon != active]
    config = Config()
    config.SubmarineConfig.runtime = "yarn"
    config.SubmarineConfig.storage_root = cluster.storage_root
    config.SubmarineConfig.storage_options = {"namenodes": [cluster.namenode_url], "user": cluster.user}
    config.SubmarineConfig.poll_interval = 1.0
    # the standby first: its 307 "This is standby RM" answer must move the client on to the active one
    config.YarnRuntime.rm_urls = [standby_url, active_url]
    config.YarnRuntime.user = cluster.user
    config.YarnRuntime.default_memory_mib = 256
    session = Session(config=config, registry=Registry(tmp_path / "registry.sqlite"))
    try:
        session.submit(session.build("python job.py 45", name="ha-job", framework="custom", workers=1),
                             Bundle({"job.py": JOB}))
        runtime = session.runtime("yarn")
        assert runtime.client.active_url == active_url
        deadline = time.monotonic() + 180
        while session.registry.get("ha-job").state != "RUNNING":
            assert time.monotonic() < deadline, session.registry.get("ha-job").state
            time.sleep(1)
        app_id = session.registry.get("ha-job").ref.id
        assert app_id.startswith("application_")

        killed_at = time.monotonic()
        assert cluster.kill_active_rm() == active
        while cluster.active_rm() != standby:
            assert time.monotonic() - killed_at < 90, "the standby ResourceManager never became active"
            time.sleep(0.5)
        took_over = time.monotonic() - killed_at
        states_after_kill = set()
        deadline = time.monotonic() + 180
        while session.registry.get("ha-job").state not in ("SUCCEEDED", "FAILED", "STOPPED"):
            states_after_kill.add(session.registry.get("ha-job").state)
            assert time.monotonic() < deadline, session.registry.get("ha-job").state
            time.sleep(1)
        record = session.registry.get("ha-job")
        assert record.state == "SUCCEEDED", (record.state, record.status.message)
        assert record.ref.id == app_id  # the same application, recovered by the new active RM
        assert runtime.client.active_url == standby_url
        assert "done" in list(runtime.logs(record.ref))
        print(f"standby active {took_over:.1f}s after the kill; states seen after it: {sorted(states_after_kill)}")
    finally:
        try:
            session.runtime("yarn").client.destroy_service("ha-job")
        finally:
            session.close()
