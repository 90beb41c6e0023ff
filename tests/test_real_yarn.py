"""The YARN runtime and HDFS storage on a real Hadoop (tests/clusters/hadoop.py): a ResourceManager with the
Services API, a NodeManager running containers as host processes, a NameNode and DataNode with WebHDFS.

No registry DNS runs here, so distributed jobs find their peers through the Services API (rendezvous.py).
Containers run `python` from the NodeManager's PATH, which the harness points at this test venv.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from kernel_support import FrontendKernel
from submarine_kernel.algorithm import Bundle
from submarine_kernel.job_types import JobState
from submarine_kernel.runtimes.yarn import YarnRuntime
from submarine_kernel.spec import build_spec
from submarine_kernel.storage import Storage

pytestmark = [pytest.mark.real_cluster, pytest.mark.slow]

QUICKSTART = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


def quickstart_cells() -> list[str]:
    import nbformat

    return ["".join(cell.source) for cell in nbformat.read(QUICKSTART, as_version=4).cells if cell.cell_type == "code"]


def runtime_for(cluster, **traits) -> YarnRuntime:
    return YarnRuntime(rm_urls=[cluster.rm_url], user=cluster.user, default_memory_mib=384, poll_replicas=True,
                       **traits)


def storage_for(cluster) -> Storage:
    return Storage(cluster.storage_root, {"namenodes": [cluster.namenode_url], "user": cluster.user})


def wait_for(runtime: YarnRuntime, ref, timeout: float = 240, replicas_seen: set | None = None):
    """The job's status once terminal; `replicas_seen` collects every (replica, state) polled on the way."""
    deadline = time.monotonic() + timeout
    status = runtime.poll([ref])[ref.key]
    while not status.terminal and time.monotonic() < deadline:
        if replicas_seen is not None:
            replicas_seen |= {(replica.name, replica.state) for replica in status.replicas}
        time.sleep(1)
        status = runtime.poll([ref])[ref.key]
    return status


def test_quickstart_training_cells_on_real_yarn_and_hdfs(hadoop_cluster, tmp_path):
    cluster = hadoop_cluster
    cells = quickstart_cells()
    config = "\n".join([
        f"%config YarnRuntime.rm_urls = [{cluster.rm_url!r}]",
        f"%config YarnRuntime.user = {cluster.user!r}",
        "%config YarnRuntime.default_memory_mib = 384",
        "%config YarnRuntime.poll_replicas = True",
        f"%config SubmarineConfig.storage_root = {cluster.storage_root!r}",
        f"%config SubmarineConfig.storage_options = {{'namenodes': [{cluster.namenode_url!r}], "
        f"'user': {cluster.user!r}}}",
    ])
    run = next(c for c in cells if c.startswith("%submarine run")).replace("%submarine run", "%submarine run "
                                                                            "--runtime yarn --name qs-yarn", 1)
    with FrontendKernel(cwd=str(tmp_path)) as kernel:
        for source in [cells[0], config, *cells[1:5]]:  # load, configure, params, data, model.py, train.py
            reply, printed = kernel.run(source)
            assert reply["content"]["status"] == "ok", (source[:60], printed, kernel.errors)
        reply, printed = kernel.run(run)
        assert reply["content"]["status"] == "ok", (printed, kernel.errors)  # --wait: an error if it failed
        assert "bundle uploaded" in printed and cluster.storage_root in printed, printed
        reply, status = kernel.run("%submarine status qs-yarn")
        assert "qs-yarn on yarn: SUCCEEDED" in status, status
        reply, logs = kernel.run("%submarine logs qs-yarn --replica worker-0 --tail 5")
        assert "rank 1/2 epoch 2 loss" in logs, logs
        reply, logs = kernel.run("%submarine logs qs-yarn --replica master-0")
        assert "rank 0/2 epoch 0 loss" in logs, logs
        reply, printed = kernel.run("import os; print(os.path.exists(os.path.join(checkpoint_path, 'model.pt')))")
        assert printed.strip() == "True", printed  # rank 0 saved it on this host
    # the files went over WebHDFS into the cluster's HDFS, where YARN localized them from
    listing = requests.get(f"{cluster.namenode_url}/webhdfs/v1/user/{cluster.user}/submarine",
                           params={"op": "LISTSTATUS", "user.name": cluster.user}, timeout=10).json()
    bundles = [s["pathSuffix"] for s in listing["FileStatuses"]["FileStatus"] if s["type"] == "DIRECTORY"]
    assert bundles
    names = set()
    for bundle in bundles:
        inside = requests.get(f"{cluster.namenode_url}/webhdfs/v1/user/{cluster.user}/submarine/{bundle}",
                              params={"op": "LISTSTATUS", "user.name": cluster.user}, timeout=10).json()
        names |= {s["pathSuffix"] for s in inside["FileStatuses"]["FileStatus"]}
    assert {"model.py", "train.py"} <= names


def test_each_container_checks_the_localized_files_against_their_sha256(hadoop_cluster):
    runtime, storage = runtime_for(hadoop_cluster), storage_for(hadoop_cluster)
    bundle = Bundle({"job.py": b"print('the submitted code ran')\n"})
    uri = storage.put(bundle).uri
    # someone changes the file in HDFS after the upload: YARN localizes what HDFS holds now
    changed = requests.put(f"{hadoop_cluster.namenode_url}/webhdfs/v1{urlsplit(uri).path}/job.py",
                           params={"op": "CREATE", "overwrite": "true", "user.name": hadoop_cluster.user},
                           allow_redirects=False, timeout=10)
    assert changed.status_code == 307
    assert requests.put(changed.headers["Location"], data=b"print('changed code ran')\n", timeout=10).status_code == 201
    spec = build_spec("sha-check", framework="custom", workers=1, command="python job.py")
    ref = runtime.submit(spec, bundle, uri)
    try:
        status = wait_for(runtime, ref)
        assert status.state == JobState.FAILED, status
        stderr = "\n".join(runtime.logs(ref, "worker-0"))
        assert "job.py: FAILED" in stderr and "differ from those submitted" in stderr, stderr
        assert "changed code ran" not in stderr
    finally:
        runtime.remove(ref)


TF_STYLE = b'''import json, os, socket, sys, time
config = json.loads(os.environ["TF_CONFIG"])
task = config["task"]
me = config["cluster"][task["type"]][task["index"]]
print("TF_CONFIG", json.dumps(config, sort_keys=True), flush=True)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", int(me.rsplit(":", 1)[1])))
server.listen()
if task["type"] == "ps":
    while True:  # a parameter server serves until the job ends it
        server.accept()[0].close()
deadline = time.time() + 120
for role, addresses in config["cluster"].items():
    for address in addresses:
        host, port = address.rsplit(":", 1)
        while True:
            try:
                socket.create_connection((host, int(port)), timeout=2).close()
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit(f"cannot reach {role} at {address}")
                time.sleep(0.5)
print("reached every peer", flush=True)
time.sleep(3)  # peers still checking reach this server
'''


def test_tensorflow_style_ps_and_workers_find_each_other_and_the_ps_ends_with_the_job(hadoop_cluster):
    runtime, storage = runtime_for(hadoop_cluster), storage_for(hadoop_cluster)
    bundle = Bundle({"tf_style.py": TF_STYLE})
    spec = build_spec("tf-style", framework="tensorflow", workers=2, ps=1, command="python tf_style.py",
                      resources="memory=384M,vcores=1")
    ref = runtime.submit(spec, bundle, storage.put(bundle).uri)
    try:
        seen: set = set()
        status = wait_for(runtime, ref, replicas_seen=seen)
        assert status.state == JobState.SUCCEEDED, status
        # per-replica states from the service's containers as the RM reported them while the job ran
        assert {("worker-0", JobState.RUNNING), ("worker-1", JobState.RUNNING), ("ps-0", JobState.RUNNING)} <= seen
        configs = {}
        for replica in ("worker-0", "worker-1", "ps-0"):
            lines = list(runtime.logs(ref, replica))
            config = json.loads(next(line for line in lines if line.startswith("TF_CONFIG ")).split(" ", 1)[1])
            configs[replica] = config
            if replica.startswith("worker"):
                assert "reached every peer" in lines, lines
        assert {r: (c["task"]["type"], c["task"]["index"]) for r, c in configs.items()} == {
            "worker-0": ("worker", 0), "worker-1": ("worker", 1), "ps-0": ("ps", 0)}
        clusters = {json.dumps(c["cluster"], sort_keys=True) for c in configs.values()}
        assert len(clusters) == 1  # every replica sees the same cluster
        cluster = configs["ps-0"]["cluster"]
        assert len(cluster["worker"]) == 2 and len(cluster["ps"]) == 1 and "__peer_" not in json.dumps(cluster)
        service = runtime.client.get_service("tf-style")
        assert service is not None and service["state"] in ("SUCCEEDED", "STOPPED"), service
        app = runtime.client.get_app(runtime.app_id(ref))
        assert app["state"] == "FINISHED" and app["finalStatus"] == "SUCCEEDED", app
    finally:
        runtime.remove(ref)


def test_the_log_of_a_replica_that_never_got_a_container_says_so(hadoop_cluster):
    """A job ends with its deciding replica, and YARN then withdraws the other components' pending requests: a
    replica still waiting for room never starts. Its log is one line saying so, not "no running container yet"
    (seen when a contract probe's master ended before its workers were placed). Here the second 7 GB worker can
    never fit beside the first on the 12 GB NodeManager."""
    from submarine_kernel.errors import SubmarineError

    runtime, storage = runtime_for(hadoop_cluster), storage_for(hadoop_cluster)
    # the master ends at once; a worker holds its 7 GB until the job's end stops it
    bundle = Bundle({"quick.py": b"import os, time\nprint(os.environ['SUBMARINE_ROLE'], 'started', flush=True)\n"
                                 b"if os.environ['SUBMARINE_ROLE'] == 'worker':\n    time.sleep(120)\n"})
    spec = build_spec("never-placed", framework="pytorch", workers=3, command="python quick.py",
                      resources={"master": "memory=256M,vcores=1", "worker": "memory=7G,vcores=1"})
    ref = runtime.submit(spec, bundle, storage.put(bundle).uri)
    try:
        assert wait_for(runtime, ref).state == JobState.SUCCEEDED
        assert "master started" in "\n".join(runtime.logs(ref, "master-0"))
        with pytest.raises(SubmarineError, match=r"^replica worker-1 of job 'never-placed' never started: the job "
                                                 r"ended before YARN gave it a container, so it has no log; the "
                                                 r"replicas that ran: master-0(, worker-0)?$"):
            list(runtime.logs(ref, "worker-1"))
    finally:
        runtime.remove(ref)


def test_gpus_are_scheduled_against_the_declared_count_and_an_impossible_ask_fails_clearly(hadoop_cluster):
    runtime, storage = runtime_for(hadoop_cluster), storage_for(hadoop_cluster)
    # it holds its GPU a few seconds: the RM counts whole GPU-seconds
    bundle = Bundle({"gpu.py": b"import time\nprint('on a gpu container', flush=True)\ntime.sleep(3)\n"})
    uri = storage.put(bundle).uri
    ok = runtime.submit(build_spec("gpu-one", framework="custom", workers=1, command="python gpu.py",
                                   resources="memory=384M,vcores=1,gpu=1"), bundle, uri)
    too_many = runtime.submit(build_spec("gpu-many", framework="custom", workers=1, command="python gpu.py",
                                         resources=f"memory=384M,vcores=1,gpu={hadoop_cluster_gpus() + 1}"),
                              bundle, uri)
    try:
        assert wait_for(runtime, ok).state == JobState.SUCCEEDED
        assert "on a gpu container" in "\n".join(runtime.logs(ok, "worker-0"))
        used = resource_seconds(hadoop_cluster, runtime.app_id(ok))
        assert used["yarn.io/gpu"] > 0, used  # the container held a GPU
        failed = wait_for(runtime, too_many, timeout=120)
        assert failed.state == JobState.FAILED, failed
        assert "can never give" in failed.message and "maximum allowed allocation" in failed.message, failed.message
        deadline = time.monotonic() + 60  # and it was stopped, not left holding its AM
        while runtime.client.get_app(runtime.app_id(too_many))["state"] not in ("FINISHED", "KILLED"):
            assert time.monotonic() < deadline
            time.sleep(1)
    finally:
        runtime.remove(ok)
        runtime.remove(too_many)


def hadoop_cluster_gpus() -> int:
    from clusters.hadoop import NM_GPUS

    return NM_GPUS


def resource_seconds(cluster, app_id: str) -> dict[str, int]:
    """The application's resourceSecondsMap. Jersey 1 writes it as `{"entry": {...}, "entry": {...}}`:
    duplicate keys, of which a plain JSON parse keeps only the last."""
    text = requests.get(f"{cluster.rm_url}/ws/v1/cluster/apps/{app_id}", timeout=10).text
    found = {}

    def collect(pairs):
        for key, value in pairs:
            if key == "entry" and isinstance(value, dict) and "key" in value:
                found[value["key"]] = int(value["value"])
        return dict(pairs)

    json.loads(text, object_pairs_hook=collect)
    return found


class CountingProxy:
    """A loopback HTTP proxy in front of the RM that counts each (method, path) it forwards, so a test can
    tell how many requests the runtime sent (the RM itself keeps no per-endpoint count)."""

    def __init__(self, target: str):
        import collections
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.counts: collections.Counter = collections.Counter()
        proxy = self

        class Forward(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _forward(self):
                proxy.counts[(self.command, self.path.split("?")[0])] += 1
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
                answer = requests.request(self.command, target + self.path, data=body, allow_redirects=False,
                                          headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                                          timeout=30)
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("transfer-encoding", "content-length", "connection", "content-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def test_stop_destroy_clean_reattach_and_recover_with_one_list_request_per_poll(hadoop_cluster, tmp_path):
    from traitlets.config import Config

    from submarine_kernel.recovery import rebuild
    from submarine_kernel.registry import Registry
    from submarine_kernel.session import Session

    proxy = CountingProxy(hadoop_cluster.rm_url)
    config = Config()
    config.SubmarineConfig.runtime = "yarn"
    config.SubmarineConfig.storage_root = hadoop_cluster.storage_root
    config.SubmarineConfig.storage_options = {"namenodes": [hadoop_cluster.namenode_url], "user": hadoop_cluster.user}
    config.SubmarineConfig.poll_interval = 1.0
    config.YarnRuntime.rm_urls = [proxy.url]
    config.YarnRuntime.user = hadoop_cluster.user
    config.YarnRuntime.default_memory_mib = 256
    registry_path = tmp_path / "registry.sqlite"
    bundle = Bundle({"job.py": b"import sys, time\nprint('job', sys.argv[1:], flush=True)\ntime.sleep(float(sys.argv[1]))\n"})
    names = {"life-done": "0", "life-running": "600", "life-stopped": "600"}
    first = Session(config=config, registry=Registry(registry_path))
    runtime = first.runtime("yarn")
    try:
        for name, seconds in names.items():
            first.submit(first.build(f"python job.py {seconds}", name=name, framework="custom", workers=1), bundle)
        deadline = time.monotonic() + 240
        while not (first.registry.get("life-done").state == "SUCCEEDED"
                   and first.registry.get("life-running").state == "RUNNING"
                   and first.registry.get("life-stopped").state == "RUNNING"):
            assert time.monotonic() < deadline, {n: first.registry.get(n).state for n in names}
            time.sleep(1)
        # every tracked job's state comes from one apps-list request per poll, nothing else
        proxy.counts.clear()
        time.sleep(5)
        sent = dict(proxy.counts)
        lists = sent.pop(("GET", "/ws/v1/cluster/apps"), 0)
        assert 2 <= lists <= 7 and sent == {}, (lists, sent)
    finally:
        first.close()  # the kernel dies
    second = Session(config=config, registry=Registry(registry_path))
    try:
        assert sorted(r.ref.name for r in second.records()) == sorted(names)
        assert sorted(ref.name for ref in second.reattach()) == ["life-running", "life-stopped"]
        runtime = second.runtime("yarn")
        # a finished job this process never polled: its service GET lists no containers, so the logs are
        # found through the containers its service AM logged
        assert "job ['0']" in list(runtime.logs(second.registry.get("life-done").ref))
        runtime.stop(second.registry.get("life-stopped").ref)
        deadline = time.monotonic() + 120
        while second.registry.get("life-stopped").state != "STOPPED":
            assert time.monotonic() < deadline, second.registry.get("life-stopped").state
            time.sleep(1)
        # a registry lost altogether: `submarine-kernel recover` rebuilds it from the RM's own list; the RM's
        # GET of a finished service carries no properties, so theirs come from YARN's stored definition (WebHDFS)
        fresh = Registry(tmp_path / "rebuilt.sqlite")
        added = rebuild(fresh, runtime)  # the session's cluster also holds the other tests' finished jobs
        assert [name for name in added if name in names] == list(names)
        rebuilt = {r.ref.name: r for r in fresh.list() if r.ref.name in names}
        assert {name: r.spec.launch_command("worker") for name, r in rebuilt.items()} == \
            {name: f"python job.py {seconds}" for name, seconds in names.items()}
        assert {name: r.state for name, r in rebuilt.items()} == \
            {"life-done": "SUCCEEDED", "life-running": "RUNNING", "life-stopped": "STOPPED"}
        assert rebuilt["life-done"].ref.id == second.registry.get("life-done").ref.id
        assert rebuilt["life-done"].bundle_uri == second.registry.get("life-done").bundle_uri
        # %submarine clean: the finished services are destroyed (the RM keeps their applications)
        assert second.remove_finished() == 2
        assert runtime.client.get_service("life-done") is None and runtime.client.get_service("life-stopped") is None
        assert runtime.client.get_service("life-running") is not None
    finally:
        for name in names:
            second.runtime("yarn").client.destroy_service(name)
        second.close()
        proxy.stop()


def shape(value):
    """The structure of a JSON answer without its values: keys, nesting and JSON types."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def missing_from(real, fake, path="") -> list[str]:
    """Where the fake's answer has a key or type the real one does not (the fake may leave optional keys out)."""
    if isinstance(fake, dict):
        if not isinstance(real, dict):
            return [f"{path or '/'}: fake object, real {type(real).__name__}"]
        return [problem for key in fake for problem in (
            [f"{path}/{key}: only in the fake"] if key not in real else missing_from(real[key], fake[key], f"{path}/{key}"))]
    if isinstance(fake, list):
        if not isinstance(real, list):
            return [f"{path}: fake list, real {type(real).__name__}"]
        return missing_from(real[0], fake[0], f"{path}[]") if fake and real else []
    if fake != real and {fake, real} != {"int", "float"}:
        return [f"{path}: fake {fake}, real {real}"]
    return []


def test_the_fake_rm_answers_the_same_requests_in_the_real_rm_shapes(hadoop_cluster):
    """tests/yarn_server.py is kept for faults a real RM cannot produce; its answers keep the real shapes."""
    from yarn_server import YarnTestServer

    fake = YarnTestServer().start()
    user = hadoop_cluster.user
    good = {"name": "shape-check", "version": "1", "components": [{
        "name": "master", "number_of_containers": 1, "restart_policy": "NEVER",
        "resource": {"cpus": 1, "memory": "256"}, "launch_command": "sleep 60"}]}
    requests_to_send = [
        ("POST", "/app/v1/services", good),
        ("POST", "/app/v1/services", good),  # the name is taken now
        ("POST", "/app/v1/services", {**good, "name": "bad_name"}),
        ("POST", "/app/v1/services", {**good, "name": "misspelt", "components": [
            {**good["components"][0], "restartPolicy": "NEVER"}]}),
        ("GET", "/app/v1/services/no-such-service", None),
        ("PUT", "/app/v1/services/no-such-service", {"state": "STOPPED"}),
        ("DELETE", "/app/v1/services/no-such-service", None),
        ("GET", "/ws/v1/cluster/apps/application_1_0001", None),
    ]
    try:
        for method, path, body in requests_to_send:
            answers = [requests.request(method, f"{url}{path}", params={"user.name": user}, json=body, timeout=30)
                       for url in (hadoop_cluster.rm_url, fake.url)]
            real, faked = answers
            assert real.status_code == faked.status_code, (method, path, body, real.text, faked.text)
            assert missing_from(shape(real.json()), shape(faked.json())) == [], (method, path, real.text, faked.text)
        # a running service and the apps list (the fake's service only runs once told to)
        fake.advance("shape-check", "STABLE")
        deadline = time.monotonic() + 120
        while True:
            real = requests.get(f"{hadoop_cluster.rm_url}/app/v1/services/shape-check", params={"user.name": user},
                                timeout=10).json()
            if any(c.get("containers") and c["containers"][0].get("ip") for c in real["components"]):
                break
            assert time.monotonic() < deadline, real
            time.sleep(1)
        faked = requests.get(f"{fake.url}/app/v1/services/shape-check", params={"user.name": user}, timeout=10).json()
        assert missing_from(shape(real), shape(faked)) == []
        real_apps = requests.get(f"{hadoop_cluster.rm_url}/ws/v1/cluster/apps", timeout=10).json()
        fake_apps = requests.get(f"{fake.url}/ws/v1/cluster/apps", timeout=10).json()
        assert missing_from(shape(real_apps), shape(fake_apps)) == []
        # the NodeManager's container metrics, once its monitor has filled them (container-metrics.period-ms)
        query = {"qry": "Hadoop:service=NodeManager,name=ContainerResource_*"}
        node = f"http://127.0.0.1:{hadoop_cluster.ports['nm_web']}/jmx"
        while True:
            real_jmx = requests.get(node, params=query, timeout=10).json()
            if any("PMemUsageMBsMaxMBs" in bean for bean in real_jmx["beans"]):
                break
            assert time.monotonic() < deadline + 60, real_jmx
            time.sleep(1)
        fake_jmx = requests.get(f"{fake.url}/jmx", params=query, timeout=10).json()
        real_jmx["beans"] = [b for b in real_jmx["beans"] if "PMemUsageMBsMaxMBs" in b]
        assert fake_jmx["beans"] and missing_from(shape(real_jmx), shape(fake_jmx)) == []
    finally:
        requests.delete(f"{hadoop_cluster.rm_url}/app/v1/services/shape-check", params={"user.name": user}, timeout=30)
        fake.stop()


def test_each_replica_s_cpu_and_memory_come_from_its_nodemanager(hadoop_cluster):
    """The NodeManager's own container metrics (ContainerResource_<id> in its /jmx; the harness sets
    yarn.nodemanager.container-metrics.period-ms so they fill while containers run): two burning workers'
    CPU % and memory, live and after the job ended, and the line saying YARN reports no GPU use."""
    from submarine_kernel import usage
    from submarine_kernel.runtimes.yarn import container_metrics

    runtime, storage = runtime_for(hadoop_cluster), storage_for(hadoop_cluster)
    bundle = Bundle({"burner.py": (Path(__file__).parent / "jobs" / "burner.py").read_bytes()})
    spec = build_spec("usage-yarn", framework="custom", workers=2, command="python burner.py --mb 80 --seconds 30")
    ref = runtime.submit(spec, bundle, storage.put(bundle).uri)
    try:
        deadline, live = time.monotonic() + 180, None
        status = runtime.poll([ref])[ref.key]
        while not status.terminal and time.monotonic() < deadline:
            samples = runtime.usage([ref])[ref.key]
            if len(samples["replicas"]) == 2:
                live = json.loads(json.dumps(samples))
            time.sleep(3)
            status = runtime.poll([ref])[ref.key]
        assert status.state == JobState.SUCCEEDED, status
        final = runtime.usage([ref])[ref.key]  # the beans outlive their containers by 10 s
        assert live is not None, final  # seen while the job ran, not only at its end
        for samples in (live, final):
            assert set(samples["replicas"]) == {"worker-0", "worker-1"}, samples
            for entry in samples["replicas"].values():
                assert entry["peak"]["cpu"] > 15 and entry["peak"]["rss"] > 80 * (1 << 20), entry
            assert samples["notes"] == [container_metrics.NO_GPU]
        assert usage.peaks_text(final).startswith("peak CPU ")
    finally:
        runtime.remove(ref)
