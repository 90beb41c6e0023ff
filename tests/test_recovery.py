"""Rebuilding a lost registry from the runtimes' own lists (`submarine-kernel recover`): local job folders,
the Kubernetes job objects (kmock, v1 operator and Trainer v2) and the YARN services (the YARN test server).
A rebuilt row carries the job's spec (secrets `***`), notebook, bundle and reference, and its state read once;
objects that are not jobs of ours (foreign ones, a TrainJob's own JobSet) are left out."""

from __future__ import annotations

import pytest
from traitlets.config import Config

from submarine_kernel import cli
from submarine_kernel.algorithm import Bundle
from submarine_kernel.registry import Registry
from submarine_kernel.retry import RetryPolicy
from submarine_kernel.session import Session

from k8s_support import NAMESPACE, cluster, now, trainer_cluster, write_kubeconfig  # noqa: F401 (fixtures)
from yarn_server import YarnTestServer

NOTEBOOK = "/home/jane/team/mnist.ipynb"
BUNDLE = Bundle({"train.py": b"print('training')\n", "utils/data.py": b"X = 1\n"}, notebook=NOTEBOOK)
PARAMS = {"api_token": "hunter2-sentinel", "lr": 0.1}


def session_for(runtime: str, folder, **traits) -> Session:
    folder.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.SubmarineConfig.runtime = runtime
    config.SubmarineConfig.storage_root = (folder / "store").as_uri()
    section = {"kubernetes": "KubernetesRuntime", "yarn": "YarnRuntime"}[runtime]
    for key, value in traits.items():
        setattr(config[section], key, value)
    return Session(config=config, notebook=NOTEBOOK, registry=Registry(folder / "registry.sqlite"))


def submit(session: Session, name: str, **options):
    options = {"framework": "pytorch", "workers": 2, "image": "repo/train:1", **options}
    spec = session.build("python train.py", name=name, params=dict(PARAMS), **options)
    return session.submit(spec, BUNDLE)


def recover(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["recover", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_rebuilt_like(record, job) -> None:
    """A rebuilt row describes the job as its submission did (secrets `***`)."""
    assert record.ref.id == job.ref.id
    assert record.spec.roles == job.spec.roles and record.spec.framework == job.spec.framework
    assert record.spec.params["api_token"] == "***" and record.spec.params["lr"] == 0.1
    assert record.notebook == NOTEBOOK and record.bundle_uri == job.upload.uri


def test_kubernetes_jobs_are_rebuilt_from_the_clusters_list(cluster, tmp_path, isolated_data_dir, monkeypatch,
                                                            capsys):
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", cluster.url)
    session = session_for("kubernetes", tmp_path / "first", kubeconfig=str(kubeconfig), api="training-operator")
    try:
        kept = submit(session, "kept-pytorch")
        ps = submit(session, "kept-tf", framework="tensorflow", ps=1)
    finally:
        session.close()
    cluster.patch(f"/apis/kubeflow.org/v1/namespaces/{NAMESPACE}/pytorchjobs/kept-pytorch", {"status": {
        "conditions": [{"type": "Succeeded", "status": "True", "lastTransitionTime": now(), "message": "done"}]}})
    cluster.create(f"/apis/kubeflow.org/v1/namespaces/{NAMESPACE}/pytorchjobs", {  # somebody else's job
        "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "foreign", "namespace": NAMESPACE},
        "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "pytorch", "image": "x"}]}}}}}})

    # the registry is lost: a new one is rebuilt from the cluster, with the local runtime's folders
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("SUBMARINE_RUNTIME", "kubernetes")
    code, out, err = recover(capsys)
    assert code == 0, err
    assert out.splitlines() == ["local: rebuilt 0 job(s)", "kubernetes: rebuilt 2 job(s): kept-pytorch, kept-tf"]
    registry = Registry(isolated_data_dir / "registry.sqlite")
    records = {r.ref.name: r for r in registry.list()}
    assert set(records) == {"kept-pytorch", "kept-tf"}
    assert_rebuilt_like(records["kept-pytorch"], kept)
    assert_rebuilt_like(records["kept-tf"], ps)
    assert records["kept-pytorch"].state == "SUCCEEDED" and records["kept-tf"].state == "SUBMITTED"
    extra = records["kept-tf"].ref.extra
    assert {k: extra[k] for k in ("plural", "replicas", "deciding", "delivery", "api")} == \
        {k: ps.ref.extra[k] for k in ("plural", "replicas", "deciding", "delivery", "api")}
    assert "hunter2-sentinel" not in (isolated_data_dir / "registry.sqlite").read_bytes().decode("latin-1")

    code, out, _ = recover(capsys, "--runtime", "kubernetes")  # nothing twice
    assert code == 0 and out.strip() == "kubernetes: rebuilt 0 job(s)"


def test_a_trainjob_is_rebuilt_and_the_jobset_it_made_is_not(trainer_cluster, tmp_path, isolated_data_dir,
                                                           monkeypatch, capsys):
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", trainer_cluster.url)
    session = session_for("kubernetes", tmp_path / "first", kubeconfig=str(kubeconfig))
    try:
        job = submit(session, "v2-job")
    finally:
        session.close()
    created = trainer_cluster.object("trainer.kubeflow.org/v1alpha1/trainjobs", NAMESPACE, "v2-job")
    # the Trainer controller's JobSet carries the TrainJob's labels, but it is part of that job
    trainer_cluster.create(f"/apis/jobset.x-k8s.io/v1alpha2/namespaces/{NAMESPACE}/jobsets", {
        "apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
        "metadata": {"name": "v2-job", "namespace": NAMESPACE, "labels": created["metadata"]["labels"],
                     "ownerReferences": [{"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
                                          "name": "v2-job", "uid": created["metadata"]["uid"], "controller": True}]},
        "spec": {"replicatedJobs": []}})
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    code, out, err = recover(capsys, "--runtime", "kubernetes")
    assert code == 0 and out.strip() == "kubernetes: rebuilt 1 job(s): v2-job", err
    record = Registry(isolated_data_dir / "registry.sqlite").get("v2-job")
    assert_rebuilt_like(record, job)
    assert record.ref.extra["plural"] == "trainjobs" and record.ref.extra["api"] == "trainer"
    assert record.ref.extra["replicas"] == job.ref.extra["replicas"]


@pytest.fixture
def yarn(tmp_path):
    server = YarnTestServer(definitions_dir=str(tmp_path / "default-fs")).start()
    yield server
    server.stop()


def test_yarn_services_are_rebuilt_from_the_resourcemanagers_list(yarn, tmp_path, isolated_data_dir, monkeypatch,
                                                                  capsys):
    session = session_for("yarn", tmp_path / "first", rm_urls=[yarn.url], user="alice", shared_file_storage=True,
                          registry_dns_domain="ycluster.example.com")
    try:
        finished, running = submit(session, "yarn-done"), submit(session, "yarn-running")
        gone = submit(session, "yarn-gone")
    finally:
        session.close()
    yarn.advance("yarn-done", "SUCCEEDED")
    yarn.advance("yarn-running", "STABLE")
    yarn.services["yarn-gone"].destroyed = True  # destroyed: its service can no longer be read
    foreign = {**yarn.services["yarn-running"].spec, "name": "not-ours", "configuration": {}}
    yarn.create(foreign, "alice")

    monkeypatch.setenv("SUBMARINE_YARN_RM_URLS", yarn.url)
    monkeypatch.setenv("HADOOP_USER_NAME", "alice")
    # a finished service's GET carries no configuration on a real RM (3.4): its definition is read from
    # where YARN stored it in the default file system (here a folder)
    monkeypatch.setenv("SUBMARINE_YARN_DEFAULT_FS", (tmp_path / "default-fs").as_uri())
    code, out, err = recover(capsys, "--runtime", "yarn")
    assert code == 0, err
    assert out.strip() == "yarn: rebuilt 2 job(s): yarn-done, yarn-running"
    records = {r.ref.name: r for r in Registry(isolated_data_dir / "registry.sqlite").list()}
    assert_rebuilt_like(records["yarn-done"], finished)
    assert records["yarn-done"].state == "SUCCEEDED"
    assert_rebuilt_like(records["yarn-running"], running)
    assert records["yarn-running"].state == "RUNNING"
    assert records["yarn-running"].ref.extra["components"] == running.ref.extra["components"]
    assert gone.ref.name not in records


def test_an_unreachable_cluster_is_one_line_and_the_other_runtimes_still_rebuild(tmp_path, isolated_data_dir,
                                                                                 monkeypatch, capsys):
    import socket

    import submarine_kernel as sk

    sk.submit("true", files={"train.py": "print(1)\n"}, name="local-one").wait(timeout=60)
    (isolated_data_dir / "registry.sqlite").rename(tmp_path / "registry.damaged")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("SUBMARINE_YARN_RM_URLS", dead)
    monkeypatch.setattr("submarine_kernel.retry.DEFAULT_POLICY", RetryPolicy(attempts=2, base_delay=0.01))
    code, out, err = recover(capsys, "--runtime", "local", "--runtime", "yarn")
    assert code == 1
    assert out.strip() == "local: rebuilt 1 job(s): local-one"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("submarine-kernel: error: cannot list the yarn runtime's jobs: ")
    assert Registry(isolated_data_dir / "registry.sqlite").get("local-one").state == "SUCCEEDED"


def test_a_default_fs_that_cannot_be_read_is_one_line(yarn, tmp_path, isolated_data_dir, monkeypatch, capsys):
    import socket

    session = session_for("yarn", tmp_path / "first", rm_urls=[yarn.url], user="alice", shared_file_storage=True,
                          registry_dns_domain="ycluster.example.com")
    try:
        submit(session, "yarn-done")
    finally:
        session.close()
    yarn.advance("yarn-done", "SUCCEEDED")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"webhdfs://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("SUBMARINE_YARN_RM_URLS", yarn.url)
    monkeypatch.setenv("HADOOP_USER_NAME", "alice")
    monkeypatch.setenv("SUBMARINE_YARN_DEFAULT_FS", dead)
    monkeypatch.setattr("submarine_kernel.retry.DEFAULT_POLICY", RetryPolicy(attempts=2, base_delay=0.01))
    code, out, err = recover(capsys, "--runtime", "yarn")
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("submarine-kernel: error: cannot list the yarn runtime's jobs: cannot read the "
                               f"stored definition of YARN service 'yarn-done' at {dead}"
                               "/user/alice/.yarn/services/yarn-done/yarn-done.json: "), lines[0]
    assert "YarnRuntime.default_fs" in lines[0]
