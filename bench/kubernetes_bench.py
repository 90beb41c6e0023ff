"""The kubernetes section: what following 1, 10 and 100 jobs costs the real API server
(tests/clusters/kubernetes.py): requests per `poll` against the naive one GET per job, and how the watches
reconnect (renewals resume from their resourceVersion; a relist would re-read every job)."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench_table import Row, section

JOB_COUNTS = (1, 10, 100)
POLLS = 20
WATCH_TIMEOUT = 3  # seconds: the server ends each watch after this, so renewals happen within the window
WATCH_WINDOW = 10.0


@section("kubernetes", "k8s following")
def bench_kubernetes(args) -> list[Row]:
    from clusters.kubernetes import API_SERVER, ControlPlane, build

    from submarine_kernel.algorithm import Bundle
    from submarine_kernel.runtimes.kubernetes import KubernetesRuntime
    from submarine_kernel.spec import build_spec

    plane = ControlPlane(Path(tempfile.mkdtemp(prefix="bench-k8s-")), build(API_SERVER)).start()
    rows = []
    try:
        for count in JOB_COUNTS:
            namespace = plane.create_namespace(f"bench-{count}")
            runtime = KubernetesRuntime(kubeconfig=str(plane.kubeconfig), namespace=namespace, api="job",
                                        watch_timeout=WATCH_TIMEOUT)
            sent = count_requests(runtime)
            try:
                refs = [runtime.submit(build_spec(f"bench-{i}", framework="pytorch", workers=1, image="repo/t:1",
                                                  command="python t.py"), Bundle({"t.py": b"pass\n"}), "file:///b")
                        for i in range(count)]
                runtime.poll(refs)  # starts the watches and waits for their first list
                before, began = len(sent), time.perf_counter()
                seconds = []
                for _ in range(POLLS):
                    start = time.perf_counter()
                    statuses = runtime.poll(refs)
                    seconds.append(time.perf_counter() - start)
                assert len(statuses) == count
                per_poll = (len(sent) - before) / POLLS
                rows.append(Row("k8s following", f"requests per poll, {count} job(s)", f"{per_poll:.2f}",
                                f"{count} (a GET per job)", f"{per_poll / count:.2f}", "0: the watch cache answers",
                                per_poll == 0))
                rows.append(Row("k8s following", f"poll time, {count} job(s)",
                                f"{statistics.median(seconds) * 1000:.2f} ms", "", "", "", None))
                watches = runtime.watches()
                lists, opened = sum(w.lists for w in watches), sum(w.watches for w in watches)
                time.sleep(max(0.0, WATCH_WINDOW - (time.perf_counter() - began)))
                reconnects = sum(w.watches for w in watches) - opened
                relists = sum(w.lists for w in watches) - lists
                rows.append(Row("k8s following", f"watch reconnects in {WATCH_WINDOW:.0f} s, {count} job(s)",
                                f"{reconnects} renewals, {relists} relists", f"{len(watches)} watches, "
                                f"timeout {WATCH_TIMEOUT} s", "", "renewals resume, 0 relists",
                                relists == 0 and reconnects >= len(watches)))
            finally:
                runtime.close()
    finally:
        plane.stop()
    return rows


def count_requests(runtime) -> list[str]:
    """The requests the runtime's API client sends from now on (watch threads included), as "METHOD url"."""
    sent: list[str] = []
    pool = runtime.connect().api.rest_client.pool_manager
    original = pool.request

    def request(method, url, *args, **kwargs):
        sent.append(f"{method} {url}")
        return original(method, url, *args, **kwargs)
    pool.request = request
    return sent
