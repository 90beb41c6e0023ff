"""tests/clusters/hadoop.py itself: `up` prints the settings and `down` stops every daemon; a daemon that cannot
start is one line with the tail of its log; without Java or Maven the tests skip (or fail under CI)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from clusters import common, hadoop

HARNESS = Path(hadoop.__file__)


def test_without_java_or_maven_the_cluster_tests_skip_with_one_line_and_fail_under_ci(monkeypatch):
    monkeypatch.setattr(hadoop, "missing_tools", lambda *names: ["java", "mvn"])
    problem = hadoop.toolchain_problem()
    assert problem == "the real Hadoop cluster needs java and mvn (Java 17 and Maven) on PATH"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs java and mvn"):
        common.skip_or_fail(problem)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI needs the real cluster"):
        common.skip_or_fail(problem)


@pytest.mark.real_cluster
@pytest.mark.slow
def test_up_prints_the_settings_and_down_stops_every_daemon(tmp_path):
    if hadoop.toolchain_problem():
        common.skip_or_fail(hadoop.toolchain_problem())
    env = {**os.environ, "SUBMARINE_HADOOP_DIR": str(tmp_path / "cluster")}
    up = subprocess.run([sys.executable, str(HARNESS), "up"], env=env, capture_output=True, text=True, timeout=300)
    try:
        assert up.returncode == 0, up.stderr
        settings = dict(line.removeprefix("export ").split("=", 1) for line in up.stdout.splitlines())
        assert settings["SUBMARINE_YARN_RM_URLS"].startswith("http://127.0.0.1:")
        info = requests.get(f"{settings['SUBMARINE_YARN_RM_URLS']}/ws/v1/cluster/info", timeout=10).json()
        assert info["clusterInfo"]["state"] == "STARTED"
        again = subprocess.run([sys.executable, str(HARNESS), "up"], env=env, capture_output=True, text=True)
        assert again.returncode == 1 and "already up" in again.stderr
    finally:
        down = subprocess.run([sys.executable, str(HARNESS), "down"], env=env, capture_output=True, text=True,
                              timeout=120)
    assert down.returncode == 0, down.stderr
    state = hadoop.HadoopCluster.load(tmp_path / "cluster")
    assert state.pids == {}
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{settings['SUBMARINE_YARN_RM_URLS']}/ws/v1/cluster/info", timeout=5)


@pytest.mark.real_cluster
@pytest.mark.slow
def test_a_daemon_that_cannot_start_is_one_line_with_its_log(tmp_path):
    if hadoop.toolchain_problem():
        common.skip_or_fail(hadoop.toolchain_problem())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cluster = hadoop.HadoopCluster(tmp_path / "cluster", ports={"nn_http": taken.getsockname()[1]})
        with pytest.raises(hadoop.HadoopUnavailable) as caught:
            cluster.start()
    message = str(caught.value)
    assert "\n" not in message and "namenode" in message and "BindException" in message, message
    assert f"(log: {tmp_path / 'cluster' / 'logs' / 'namenode.log'})" in message
    assert cluster.pids == {}  # the daemons that did start were stopped
