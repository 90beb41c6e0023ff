"""submarine-kernel benchmarks: one command, one table, ratios against a baseline measured in the same run.

    python bench/run.py                 # everything
    python bench/run.py --only load,submit --repeat 3
    python bench/run.py --only tracking,storage

Each section measures the project and its baseline back to back on this machine, so ratios hold even when
absolute numbers drift between machines.
"""

from __future__ import annotations

import argparse
import ast
import gc
import json
import logging
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))   # test peers (YARN server, kmock helpers) live with the tests


@dataclass
class Row:
    section: str
    metric: str
    value: str
    baseline: str
    ratio: str
    target: str
    ok: bool | None


SECTIONS: dict[str, Callable[[argparse.Namespace], list[Row]]] = {}
LABELS: dict[str, str] = {}  # section name (for --only) -> the label its rows carry


def section(name: str, label: str | None = None):
    def register(func):
        SECTIONS[name] = func
        LABELS[name] = label or name
        return func
    return register


def _kernel(name: str, env: dict):
    from submarine_kernel.kernelspec import kernel_manager

    km = kernel_manager(name)  # encrypted where it can be: no "running over TCP" warning amid the figures
    km.start_kernel(env=env)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return km, kc


def _timed_execute(kc, code: str) -> float:
    start = time.perf_counter()
    reply = kc.execute_interactive(code, timeout=600, output_hook=lambda msg: None)
    elapsed = time.perf_counter() - start
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"benchmark cell failed: {code!r}: {reply['content'].get('evalue')}")
    return elapsed


@section("load", "extension load")
def bench_extension_load(args) -> list[Row]:
    """`%load_ext submarine_kernel` in a fresh kernel vs a trivial cell in the same kind of fresh kernel."""
    loaded, bare = [], []
    env = {**os.environ, "SUBMARINE_DATA_DIR": args.data_dir}
    for _ in range(args.repeat):
        km, kc = _kernel("python3", env)
        try:
            _timed_execute(kc, "pass")                     # warm the execute path itself
            bare.append(_timed_execute(kc, "import json"))
            loaded.append(_timed_execute(kc, "%load_ext submarine_kernel"))
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    added_ms = (statistics.median(loaded) - statistics.median(bare)) * 1000
    return [Row("extension load", "%load_ext added (median)", f"{added_ms:.0f} ms",
                f"{statistics.median(bare) * 1000:.0f} ms bare cell", "", "< 150 ms", added_ms < 150)]


DDP_SCRIPT = textwrap.dedent("""
    import torch, torch.distributed as dist
    dist.init_process_group("gloo")
    t = torch.ones(4) * (dist.get_rank() + 1)
    dist.all_reduce(t)
    assert t[0].item() == sum(range(1, dist.get_world_size() + 1))
    dist.destroy_process_group()
""")


@section("submit", "local submit")
def bench_local_submit(args) -> list[Row]:
    """A trivial 2-replica DDP job through `%submarine run --wait` vs the same script under torchrun."""
    torchrun = shutil.which("torchrun")
    if torchrun is None:
        return [Row("local submit", "skipped", "torch is not installed: pip install torch==2.13.0",
                    "", "", "", None)]
    work = Path(tempfile.mkdtemp(prefix="bench-submit-"))
    script = work / "ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "SUBMARINE_DATA_DIR": args.data_dir}
    ours, theirs = [], []
    km, kc = _kernel("submarine", env)
    try:
        _timed_execute(kc, f"%%submarine.python ddp.py --no-local\n{DDP_SCRIPT}")
        for i in range(args.repeat):
            start = time.perf_counter()
            subprocess.run([torchrun, "--nproc_per_node", "2", str(script)], check=True, cwd=work,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            theirs.append(time.perf_counter() - start)
            ours.append(_timed_execute(kc, f"%submarine run --name bench-ddp-{os.getpid()}-{i} --workers 2 --wait "
                                           "-- python ddp.py"))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        shutil.rmtree(work, ignore_errors=True)
    ratio = statistics.median(ours) / statistics.median(theirs)
    return [Row("local submit", "2-replica DDP, wall time (median)", f"{statistics.median(ours):.2f} s",
                f"{statistics.median(theirs):.2f} s torchrun", f"{ratio:.2f}", "<= 1.2", ratio <= 1.2)]



def _kernel_value(kc, expression: str):
    """The value of a JSON-returning `expression` evaluated in the kernel (user_expressions: no output)."""
    reply = kc.execute_interactive("", user_expressions={"v": expression}, timeout=120,
                                   output_hook=lambda msg: None)
    result = reply["content"]["user_expressions"]["v"]
    if result.get("status") != "ok":
        raise RuntimeError(f"benchmark probe failed: {expression}: {result.get('evalue')}")
    return json.loads(ast.literal_eval(result["data"]["text/plain"]))  # the repr of the JSON string


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _cell_latencies(kc, count: int, seed: int) -> list[float]:
    """Round trips of a trivial cell, spread over a few poll intervals by a random pause before each."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        time.sleep(rng.uniform(0, 0.02))
        out.append(_timed_execute(kc, "pass"))
    return out


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
        probe = _kernel_value(kc, "_bench_probe()")
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
        km, kc = _kernel("submarine", env)
        _timed_execute(kc, TRACKING_SETUP + f"_bench_configure({yarn.url!r}, {str(kubeconfig)!r})\n")
        _timed_execute(kc, "pass")
        idle = _cell_latencies(kc, LATENCY_CELLS, seed=1)
        idle_threads = _kernel_value(kc, "_bench_probe()")["threads"]
        k8s_requests = lambda: len(cluster.requests(lambda r: True))  # noqa: E731
        measured: dict[int, dict] = {}
        submitted = 0
        rounds = max(6, 2 * args.repeat)
        for point in TRACKING_POINTS:
            _timed_execute(kc, f"_bench_submit('yarn', {submitted}, {point})\n"
                               f"_bench_submit('kubernetes', {submitted}, {point})")
            for i in range(submitted, point):
                _play_operator(cluster, f"bench-kube-{i}")
            submitted = point
            _wait_running(kc, point)
            time.sleep(2 * TRACKING_INTERVAL)  # let the status changes settle (registry writes, listeners)
            _between_rounds(yarn)
            before = _kernel_value(kc, "_bench_probe()")
            yarn_before, k8s_before = yarn.count(), k8s_requests()
            time.sleep((rounds - 1) * TRACKING_INTERVAL)
            _between_rounds(yarn)
            after = _kernel_value(kc, "_bench_probe()")
            done = after["rounds"] - before["rounds"]
            measured[point] = {"yarn": (yarn.count() - yarn_before) / done,
                               "kubernetes": (k8s_requests() - k8s_before) / done,
                               "threads": after["threads"], "rounds": done, "active": after["active"]}
        busy = _cell_latencies(kc, LATENCY_CELLS, seed=2)
        tracked = _kernel_value(kc, "_bench_probe()")
    finally:
        if kc is not None:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
        if cluster is not None:
            cluster.close()
        yarn.stop()
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    first, last = TRACKING_POINTS[0], TRACKING_POINTS[-1]
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
    p50, p95 = _percentile(busy, 50) * 1000, _percentile(busy, 95) * 1000
    idle50, idle95 = _percentile(idle, 50) * 1000, _percentile(idle, 95) * 1000
    rows.append(Row("tracking", f"`pass` cell, {tracked['active']} jobs tracked, p50 / p95",
                    f"{p50:.1f} / {p95:.1f} ms", f"{idle50:.1f} / {idle95:.1f} ms none tracked",
                    f"{p95 / idle95:.2f}", "p95 < 50 ms", p95 < 50))
    return rows



MB = 1000 * 1000
#: the storage bench's bundle: a few files of random bytes, 50 MB in all (two of them span several parts)
STORAGE_FILES = {"data/shard-0.bin": 20 * MB, "data/shard-1.bin": 15 * MB, "model.bin": 10 * MB,
                 "vocab.bin": 5 * MB - 4096, "train.py": 4096}
S3_KEY, S3_SECRET, S3_BUCKET = "AKIABENCHFAKEKEY0000", "bench/fake/secret/0000000000000000000000", "bench"


def _moto_server():
    """moto's ThreadedMotoServer on 127.0.0.1 (random port), counting the requests and body bytes it gets."""
    from moto.server import DomainDispatcherApplication, ThreadedMotoServer, create_backend_app
    from werkzeug.serving import make_server

    class CountingMotoServer(ThreadedMotoServer):
        def __init__(self):
            super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
            self.lock = threading.Lock()
            self.requests: list[tuple[str, str, int]] = []  # (method, path, body bytes)

        def _server_entry(self) -> None:  # ThreadedMotoServer's, with the app wrapped
            app = DomainDispatcherApplication(create_backend_app)

            def counting(environ, start_response):
                size = int(environ.get("HTTP_X_AMZ_DECODED_CONTENT_LENGTH") or environ.get("CONTENT_LENGTH") or 0)
                with self.lock:
                    self.requests.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), size))
                return app(environ, start_response)

            self._server = make_server(self._ip_address, self._port, counting, True)
            self._server_ready_event.set()
            self._server.serve_forever()

        def mark(self) -> int:
            with self.lock:
                return len(self.requests)

        def since(self, mark: int) -> list[tuple[str, str, int]]:
            with self.lock:
                return self.requests[mark:]

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr
    server = CountingMotoServer()
    server.start()
    return server


@contextmanager
def _fake_aws_env():
    """Fake credentials, and nothing that could reach real AWS or read the user's AWS files."""
    saved = dict(os.environ)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update({"AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET,
                       "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                       "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@section("storage")
def bench_storage(args) -> list[Row]:
    """A 50 MB bundle to moto's S3 through Storage.put vs a raw s3fs pipe of the same files (fresh prefix and
    fresh file system each run, as each run of a notebook has), then an unchanged re-run, counted at the server."""
    import boto3  # noqa: F401 - a missing one skips the section (run_section) before anything starts
    import s3fs
    from moto.server import ThreadedMotoServer  # noqa: F401
    from submarine_kernel.algorithm import Bundle
    from submarine_kernel.storage import Storage

    rng = random.Random(7)
    files = {name: rng.randbytes(size) for name, size in STORAGE_FILES.items()}
    total = sum(STORAGE_FILES.values())
    with _fake_aws_env():
        server = _moto_server()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            options = {"endpoint_url": endpoint, "key": S3_KEY, "secret": S3_SECRET, "region": "us-east-1"}

            def raw_fs():
                return s3fs.S3FileSystem(key=S3_KEY, secret=S3_SECRET, endpoint_url=endpoint,
                                         client_kwargs={"region_name": "us-east-1"}, skip_instance_cache=True)

            import boto3

            boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET,
                         region_name="us-east-1").create_bucket(Bucket=S3_BUCKET)

            def ours(prefix: str, bundle: Bundle):
                return Storage(f"s3://{S3_BUCKET}/{prefix}", options, progress=True).put(bundle)

            def raw(prefix: str):
                fs = raw_fs()
                fs.pipe({f"{S3_BUCKET}/{prefix}/{name}": data for name, data in files.items()})

            def clean(prefix: str):
                raw_fs().rm(f"{S3_BUCKET}/{prefix}", recursive=True)  # moto keeps objects in memory

            ours("warm", Bundle({"a.py": b"1"}))  # imports and first connections, for both clients
            raw("warm")
            ours_s, raw_s, sent, requests = [], [], [], [0, 0]
            for i in range(args.repeat):
                bundle = Bundle(dict(files))  # hashed inside put: addressing by content is part of the layer
                for which in ((0, 1) if i % 2 == 0 else (1, 0)):  # alternate the order
                    prefix = f"run-{os.getpid()}-{i}-{'ours' if which == 0 else 'raw'}"
                    gc.collect()  # the garbage of earlier runs (clients, sessions) is nobody's upload cost
                    mark = server.mark()
                    start = time.perf_counter()
                    if which == 0:
                        result = ours(prefix, bundle)
                    else:
                        raw(prefix)
                    elapsed = time.perf_counter() - start
                    got = server.since(mark)
                    body = sum(size for method, _, size in got if method in ("PUT", "POST"))
                    if body < total:
                        raise RuntimeError(f"the server got {body} bytes for a {total}-byte bundle")
                    (ours_s if which == 0 else raw_s).append(elapsed)
                    requests[which] = len(got)
                    if which == 0:
                        mark = server.mark()
                        again = Storage(f"s3://{S3_BUCKET}/{prefix}", options, progress=True).put(bundle)
                        rerun = server.since(mark)
                        sent.append((sum(size for _, _, size in rerun), len(rerun), again.reused))
                        assert result.bytes_uploaded >= total
                    clean(prefix)
        finally:
            server.stop()
    ours_mbs = total / MB / statistics.median(ours_s)
    raw_mbs = total / MB / statistics.median(raw_s)
    ratio = ours_mbs / raw_mbs
    rerun_bytes = max(b for b, _, _ in sent)
    rerun_requests = max(n for _, n, _ in sent)
    return [
        Row("storage", "unchanged re-run: bytes sent to S3", f"{rerun_bytes} B",
            f"in {rerun_requests} request(s), {total // MB} MB bundle", "", "0", rerun_bytes == 0),
        Row("storage", f"{total / MB:.0f} MB, {len(files)} files to moto S3 (median)",
            f"{ours_mbs:.1f} MB/s Storage.put, {requests[0]} req",
            f"{raw_mbs:.1f} MB/s raw s3fs pipe, {requests[1]} req", f"{ratio:.2f}", ">= 0.9", ratio >= 0.9),
    ]


def print_table(rows: list[Row]) -> None:
    headers = ["section", "metric", "value", "baseline", "ratio", "target", "ok"]
    cells = [[r.section, r.metric, r.value, r.baseline, r.ratio, r.target,
              "" if r.ok is None else ("yes" if r.ok else "NO")] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = " | ".join(h.ljust(w) for h, w in zip(headers, widths))
    print(line)
    print("-|-".join("-" * w for w in widths))
    for c in cells:
        print(" | ".join(v.ljust(w) for v, w in zip(c, widths)))


def _one_line(exc: BaseException, limit: int = 160) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def run_section(name: str, args: argparse.Namespace, show_traceback: bool = False) -> list[Row]:
    """The section's rows; a section that crashes still gets a row saying why, so the others' figures
    are printed whatever happens here."""
    try:
        return SECTIONS[name](args)
    except ModuleNotFoundError as exc:  # a plain `pip install -e .` lacks the test peers (kmock, moto, ...)
        print(f"{name}: skipped, {exc.name} is not installed", file=sys.stderr, flush=True)
        return [Row(LABELS[name], "skipped", f"{exc.name} is not installed: pip install -e '.[test]'",
                    "", "", "", None)]
    except Exception as exc:  # noqa: BLE001 - any failure of one section is reported in its row
        if show_traceback:
            traceback.print_exc()
        print(f"{name}: could not be measured: {_one_line(exc)}"
              f"{'' if show_traceback else ' (--traceback shows where)'}", file=sys.stderr, flush=True)
        return [Row(LABELS[name], "not measured", _one_line(exc), "", "", "runs", False)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per measurement (median is kept)")
    parser.add_argument("--traceback", action="store_true", help="print the traceback of a section that fails")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(SECTIONS)
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}: use {', '.join(SECTIONS)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="submarine-bench-") as data_dir:
        args.data_dir = data_dir
        os.environ["SUBMARINE_DATA_DIR"] = data_dir
        pending = list(chosen)
        try:
            while pending:
                print(f"running {pending[0]} ...", file=sys.stderr, flush=True)
                rows += run_section(pending[0], args, args.traceback)
                pending.pop(0)
        except KeyboardInterrupt:  # the figures measured so far are still worth a table
            rows += [Row(LABELS[name], "not measured", "interrupted", "", "", "runs", False) for name in pending]
    print(file=sys.stderr, flush=True)  # a progress bar (storage uploads) leaves its line open on a terminal
    print_table(rows)
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
