"""After a kernel restart: a new Session with the same registry and runtime configuration lists every job and
re-attaches to the unfinished ones, on YARN (test server) and Kubernetes (kmock); the local runtime's
re-attach from another process is in test_local_runtime.py."""

from __future__ import annotations

import pytest
from traitlets.config import Config

from submarine_kernel.algorithm import Bundle
from submarine_kernel.registry import Registry
from submarine_kernel.session import Session

from k8s_support import NAMESPACE, EmulatedCluster, now, wait_for, write_kubeconfig
from yarn_server import YarnTestServer

BUNDLE = Bundle({"train.py": b"print('hi')\n"})


def restart(config: Config, registry_path) -> Session:
    """What a kernel restart leaves: the registry file and the configuration, nothing in memory."""
    return Session(config=config, registry=Registry(registry_path))


def check_reattach(config: Config, tmp_path, submit_two, finish) -> None:
    registry_path = tmp_path / "registry.sqlite"
    first = restart(config, registry_path)
    try:
        done_name, running_name = submit_two(first)
    finally:
        first.close()  # the kernel dies: its tracker and clients are gone
    session = restart(config, registry_path)
    try:
        assert sorted(r.ref.name for r in session.records()) == sorted([done_name, running_name])
        assert session.registry.get(done_name).state == "SUCCEEDED"
        refs = session.reattach()
        assert [ref.name for ref in refs] == [running_name]  # only the unfinished one is followed again
        assert [ref.name for ref in session.tracker.active] == [running_name]
        finish(running_name)
        wait_for(lambda: session.registry.get(running_name).state == "SUCCEEDED", timeout=20,
                 what="the re-attached job recorded SUCCEEDED")
        wait_for(lambda: session.tracker.active == [], what="the tracker to let the ended job go")
        assert session.registry.get(running_name).ref.id  # the ref survived the restart with its id
    finally:
        session.close()


def test_yarn_jobs_are_listed_and_reattached_after_a_restart(tmp_path):
    yarn = YarnTestServer().start()
    try:
        config = Config()
        config.SubmarineConfig.runtime = "yarn"
        config.SubmarineConfig.storage_root = (tmp_path / "store").as_uri()
        config.YarnRuntime.shared_file_storage = True  # the test "cluster" shares this disk
        config.SubmarineConfig.poll_interval = 0.1
        config.YarnRuntime.rm_urls = [yarn.url]
        config.YarnRuntime.user = "alice"
        config.YarnRuntime.registry_dns_domain = "ycluster.example.com"

        def submit_two(session):
            jobs = []
            for name in ("yarn-done", "yarn-running"):
                spec = session.build("python train.py", name=name, framework="pytorch", workers=2, image="pt:2")
                jobs.append(session.submit(spec, BUNDLE))
            yarn.advance("yarn-done", "SUCCEEDED")
            yarn.advance("yarn-running", "STABLE")
            wait_for(lambda: session.registry.get("yarn-done").state == "SUCCEEDED", what="first job recorded")
            wait_for(lambda: session.registry.get("yarn-running").state == "RUNNING", what="second job running")
            return "yarn-done", "yarn-running"

        check_reattach(config, tmp_path, submit_two, lambda name: yarn.advance(name, "SUCCEEDED"))
    finally:
        yarn.stop()


def test_kubernetes_jobs_are_listed_and_reattached_after_a_restart(tmp_path):
    pytest.importorskip("kubernetes")
    pytest.importorskip("kmock")
    cluster = EmulatedCluster()
    jobs_path = f"/apis/kubeflow.org/v1/namespaces/{NAMESPACE}/pytorchjobs"

    def operator(name: str, *conditions: str) -> None:
        cluster.patch(f"{jobs_path}/{name}", {"status": {"conditions": [
            {"type": c, "status": "True", "lastTransitionTime": now()} for c in conditions]}})

    try:
        config = Config()
        config.SubmarineConfig.runtime = "kubernetes"
        config.SubmarineConfig.storage_root = (tmp_path / "store").as_uri()
        config.SubmarineConfig.poll_interval = 0.1
        config.KubernetesRuntime.kubeconfig = str(write_kubeconfig(tmp_path / "kubeconfig", cluster.url))
        config.KubernetesRuntime.request_timeout = 5.0

        def submit_two(session):
            for name in ("k8s-done", "k8s-running"):
                spec = session.build("python train.py", name=name, framework="pytorch", workers=2, image="pt:2")
                session.submit(spec, BUNDLE)
            operator("k8s-done", "Created", "Running", "Succeeded")
            operator("k8s-running", "Created", "Running")
            wait_for(lambda: session.registry.get("k8s-done").state == "SUCCEEDED", what="first job recorded")
            wait_for(lambda: session.registry.get("k8s-running").state == "RUNNING", what="second job running")
            return "k8s-done", "k8s-running"

        check_reattach(config, tmp_path, submit_two,
                       lambda name: operator(name, "Created", "Running", "Succeeded"))
    finally:
        cluster.close()
