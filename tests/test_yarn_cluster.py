"""Against a real ResourceManager, skipped unless SUBMARINE_TEST_YARN_URL is set.

Variables: SUBMARINE_TEST_YARN_URL (comma-separated RM URLs), SUBMARINE_TEST_YARN_USER,
SUBMARINE_TEST_YARN_IMAGE (an image the NodeManagers can run, default python:3.11-slim),
SUBMARINE_TEST_YARN_DOMAIN (registry DNS domain), SUBMARINE_TEST_KERBEROS=1 to use the current ticket,
SUBMARINE_TEST_HDFS_ROOT and SUBMARINE_TEST_WEBHDFS_URL for the bundle (otherwise the service only runs
`true`, with no algorithm files).
"""

from __future__ import annotations

import os
import time

import pytest

from submarine_kernel.algorithm import Bundle
from submarine_kernel.names import unique_name
from submarine_kernel.job_types import JobState
from submarine_kernel.runtimes.yarn import YarnRuntime
from submarine_kernel.spec import build_spec

pytestmark = [pytest.mark.cluster, pytest.mark.slow,
              pytest.mark.skipif(not os.environ.get("SUBMARINE_TEST_YARN_URL"),
                                 reason="set SUBMARINE_TEST_YARN_URL to test a real YARN cluster")]


@pytest.fixture
def cluster_runtime():
    traits = {"rm_urls": os.environ["SUBMARINE_TEST_YARN_URL"].split(","),
              "registry_dns_domain": os.environ.get("SUBMARINE_TEST_YARN_DOMAIN", ""),
              "kerberos": bool(os.environ.get("SUBMARINE_TEST_KERBEROS"))}
    if os.environ.get("SUBMARINE_TEST_YARN_USER"):
        traits["user"] = os.environ["SUBMARINE_TEST_YARN_USER"]
    runtime = YarnRuntime(**traits)
    yield runtime
    runtime.close()


def test_submit_follow_stop_and_destroy(cluster_runtime):
    image = os.environ.get("SUBMARINE_TEST_YARN_IMAGE", "python:3.11-slim")
    spec = build_spec(unique_name("sk-test"), framework="custom", workers=1, command="sleep 600", image=image,
                      resources="memory=512M,vcores=1")
    assert cluster_runtime.check(spec) == []
    bundle = Bundle({"README.txt": b"submarine-kernel cluster test\n"})
    root = os.environ.get("SUBMARINE_TEST_HDFS_ROOT")
    if root:
        from submarine_kernel.storage import Storage

        uri = Storage(root, {"namenodes": os.environ["SUBMARINE_TEST_WEBHDFS_URL"].split(",")}).put(bundle).uri
    else:
        bundle, uri = Bundle({}), "hdfs:///tmp"
    ref = cluster_runtime.submit(spec, bundle, uri)
    try:
        deadline = time.time() + 300
        status = cluster_runtime.poll([ref])[ref.key]
        while status.state in (JobState.SUBMITTED, JobState.PENDING) and time.time() < deadline:
            time.sleep(5)
            status = cluster_runtime.poll([ref])[ref.key]
        assert status.state == JobState.RUNNING, status
        assert status.links["rm_app"].endswith(cluster_runtime.app_id(ref))
        cluster_runtime.stop(ref)
        deadline = time.time() + 120
        while not status.terminal and time.time() < deadline:
            time.sleep(3)
            status = cluster_runtime.poll([ref])[ref.key]
        assert status.state == JobState.STOPPED, status
    finally:
        cluster_runtime.remove(ref)
