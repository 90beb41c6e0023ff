"""The tracking section: many jobs followed by one kernel's tracker (the YARN test server and kmock), the cost
of a poll round and the latency of cells typed meanwhile, against the same kernel idle."""

from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
import time
from pathlib import Path

from bench_table import Row, section
from kernel_timing import cell_latencies, kernel_value, percentile, start_kernel, timed_execute



#: the kernel side of the tracking bench: jobs go in through the Python API, probes read the tracker
TRACKING_SETUP = textwrap.dedent("""
    import json as _json, threading as _threading
    import submarine_kernel as _sk
    from submarine_kernel.session import default_session as _default_session

    def _bench_configure(rm_url, kubeconfig):
        from traitlets.config import Config

        config = Config()
        config.YarnRuntime.rm_urls = [rm_url]
        config.YarnRuntime.user = "bench"
        config.YarnRuntime.registry_dns_domain = "bench.example.com"
        config.YarnRuntime.shared_file_storage = True  # the test "cluster" shares this disk
        config.KubernetesRuntime.kubeconfig = kubeconfig
        _default_session().reconfigure(config)

    def _bench_submit(runtime, start, stop):
        for i in range(start, stop):
            _sk.submit("python train.py", files={"train.py": "print('training')\\n"}, name=f"bench-{runtime[:4]}-{i}",
                       runtime=runtime, framework="pytorch", workers=2, image="pytorch/pytorch:2.3.0")

    def _bench_probe():
        tracker = _default_session().tracker
        refs = tracker.active
        running = {}
        for ref in refs:
            status = tracker.last(ref)
            if status is not None and status.state.value == "RUNNING" and not status.stale:
                running[ref.runtime] = running.get(ref.runtime, 0) + 1
        return _json.dumps({"threads": _threading.active_count(), "rounds": tracker.rounds, "active": len(refs),
                            "running": running})
""")


#: jobs tracked at each measuring point; the last is the "100 concurrent jobs" of the targets
TRACKING_POINTS = (1, 10, 100)
#: the tracker's poll interval in the kernel (half the default 1 s: twice the polling load per second)
TRACKING_INTERVAL = 0.5
LATENCY_CELLS = 200


def _play_operator(cluster, name: str) -> None:
    """What the training operator would do for one PyTorchJob: Running, and a running pod per replica."""
    from k8s_support import NAMESPACE, now

    from submarine_kernel.runtimes.kubernetes import labels as lbl

    cluster.patch(f"/apis/kubeflow.org/v1/namespaces/{NAMESPACE}/pytorchjobs/{name}", {"status": {
        "conditions": [{"type": c, "status": "True", "lastTransitionTime": now(), "message": f"job is {c}"}
                       for c in ("Created", "Running")],
        "startTime": now(), "replicaStatuses": {"Master": {"active": 1}, "Worker": {"active": 1}}}})
    for rtype in ("master", "worker"):
        cluster.create(f"/api/v1/namespaces/{NAMESPACE}/pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{name}-{rtype}-0", "namespace": NAMESPACE, "creationTimestamp": now(),
                         "labels": {lbl.MANAGED_BY_LABEL: lbl.MANAGED_BY, lbl.JOB_LABEL: name,
                                    lbl.OPERATOR_JOB_NAME_LABEL: name, lbl.OPERATOR_REPLICA_TYPE_LABEL: rtype,
                                    lbl.OPERATOR_REPLICA_INDEX_LABEL: "0"}},
            "spec": {"nodeName": "node-0"}, "status": {"phase": "Running", "startTime": now()}})


def _between_rounds(yarn) -> None:
    """Return mid-way between two tracker rounds: a round's YARN list call just arrived, the next is half an
    interval away; counting windows that start and end there hold whole rounds only."""
    seen = yarn.count()
    deadline = time.monotonic() + 10 * TRACKING_INTERVAL
    while yarn.count() == seen and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(TRACKING_INTERVAL / 2)


def _wait_running(kc, expected: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        probe = kernel_value(kc, "_bench_probe()")
        if all(probe["running"].get(rt, 0) >= expected for rt in ("yarn", "kubernetes")):
            return probe
        if time.monotonic() > deadline:
            raise RuntimeError(f"the tracker did not see {expected} running jobs per runtime: {probe}")
        time.sleep(0.1)


@section("tracking")
def bench_tracking(args) -> list[Row]:
    """Jobs on the YARN test server and on kmock, kept RUNNING, followed by the tracker of a real Submarine
    kernel (submitted there through the Python API): requests per poll round counted at each server and the
    kernel's threads at 1, 10 and 100 jobs per runtime, and a trivial cell's latency with none vs all tracked."""
    import kmock  # noqa: F401 - imported here so a missing one skips the section before anything starts
    import kubernetes  # noqa: F401
    from k8s_support import EmulatedCluster, write_kubeconfig
    from yarn_server import YarnTestServer
    work = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    yarn = YarnTestServer(timeline={"STARTED": 0.0, "STABLE": 0.0}).start()  # RUNNING until the bench ends
    cluster = None
    km = kc = None
    try:
        cluster = EmulatedCluster()
        kubeconfig = write_kubeconfig(work / "kubeconfig", cluster.url)
        env = {**os.environ, "SUBMARINE_DATA_DIR": str(work / "data"),
               "SUBMARINE_POLL_INTERVAL": str(TRACKING_INTERVAL)}
        km, kc = start_kernel("submarine", env)
        timed_execute(kc, TRACKING_SETUP + f"_bench_configure({yarn.url!r}, {str(kubeconfig)!r})\n")
        timed_execute(kc, "pass")
        idle = cell_latencies(kc, LATENCY_CELLS, seed=1)
        idle_threads = kernel_value(kc, "_bench_probe()")["threads"]
        k8s_requests = lambda: len(cluster.requests(lambda r: True))  # noqa: E731
        measured: dict[int, dict] = {}
        submitted = 0
        rounds = max(6, 2 * args.repeat)
        for point in TRACKING_POINTS:
            timed_execute(kc, f"_bench_submit('yarn', {submitted}, {point})\n"
                               f"_bench_submit('kubernetes', {submitted}, {point})")
            for i in range(submitted, point):
                _play_operator(cluster, f"bench-kube-{i}")
            submitted = point
            _wait_running(kc, point)
            time.sleep(2 * TRACKING_INTERVAL)  # let the status changes settle (registry writes, listeners)
            _between_rounds(yarn)
            before = kernel_value(kc, "_bench_probe()")
            yarn_before, k8s_before = yarn.count(), k8s_requests()
            time.sleep((rounds - 1) * TRACKING_INTERVAL)
            _between_rounds(yarn)
            after = kernel_value(kc, "_bench_probe()")
            done = after["rounds"] - before["rounds"]
            measured[point] = {"yarn": (yarn.count() - yarn_before) / done,
                               "kubernetes": (k8s_requests() - k8s_before) / done,
                               "threads": after["threads"], "rounds": done, "active": after["active"]}
        busy = cell_latencies(kc, LATENCY_CELLS, seed=2)
        tracked = kernel_value(kc, "_bench_probe()")
    finally:
        if kc is not None:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
        if cluster is not None:
            cluster.close()
        yarn.stop()
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    first = TRACKING_POINTS[0]
    for runtime, label in (("yarn", "YARN test server"), ("kubernetes", "kmock")):
        per = [measured[p][runtime] for p in TRACKING_POINTS]
        low, high = per[0], per[-1]
        ratio = f"{high / low:.2f}" if low else "-"
        ok = high <= 1.25 * low + 0.2  # constant; the slack absorbs one watch renewal in a window
        rows.append(Row("tracking", f"{label}: requests/poll at {', '.join(map(str, TRACKING_POINTS))} jobs",
                        " / ".join(f"{v:.2f}" for v in per), f"{low:.2f} at {first} job", ratio,
                        "constant", ok))
    threads = [measured[p]["threads"] for p in TRACKING_POINTS]
    rows.append(Row("tracking", f"kernel threads at {', '.join(map(str, TRACKING_POINTS))} jobs/runtime",
                    " / ".join(map(str, threads)), f"{threads[0]} at {first} ({idle_threads} with none)",
                    f"{threads[-1] / threads[0]:.2f}", "constant", threads[-1] == threads[0]))
    p50, p95 = percentile(busy, 50) * 1000, percentile(busy, 95) * 1000
    idle50, idle95 = percentile(idle, 50) * 1000, percentile(idle, 95) * 1000
    rows.append(Row("tracking", f"`pass` cell, {tracked['active']} jobs tracked, p50 / p95",
                    f"{p50:.1f} / {p95:.1f} ms", f"{idle50:.1f} / {idle95:.1f} ms none tracked",
                    f"{p95 / idle95:.2f}", "p95 < 50 ms", p95 < 50))
    return rows
