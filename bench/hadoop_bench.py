"""The real-Hadoop section: on the pseudo-distributed cluster of tests/clusters/hadoop.py,

- a bundle uploaded to HDFS through the project's Storage (WebHDFS) against Hadoop's own Java client putting
  the same files (`hdfs dfs -put`, i.e. `org.apache.hadoop.fs.FsShell -put`, a fresh JVM as a user runs it);
- submit-to-RUNNING of the same service through the runtime's REST path against Hadoop's own
  `yarn app -launch` (`org.apache.hadoop.yarn.client.cli.ApplicationCLI`), both timed until the RM reports
  the application RUNNING.

Without Java or Maven the section says so in its row.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench_table import Row, section

LABEL = "real Hadoop"
MB = 1000 * 1000
#: a bundle like a small project's: a few code files and two data files, 12 MB in all
FILES = {"train.py": 4096, "model.py": 2048, "data/part-0.bin": 8 * MB, "data/part-1.bin": 4 * MB}


def _fresh_bundle_dir(root: Path):
    from submarine_kernel.algorithm import Bundle

    rng = random.Random(0)
    files = {name: rng.randbytes(size) for name, size in FILES.items()}
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return Bundle(files)


def _java(cluster, main: str, *args: str) -> subprocess.CompletedProcess:
    from clusters.hadoop import JVM_FLAGS

    env = {**os.environ, "HADOOP_CONF_DIR": str(cluster.conf_dir), "HADOOP_USER_NAME": cluster.user}
    return subprocess.run(["java", "-Xmx256m", *JVM_FLAGS, "-cp", cluster.classpath(), main, *args], env=env,
                          capture_output=True, text=True, timeout=300)


def _wait_running(cluster, name: str, timeout: float = 180) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        apps = requests.get(f"{cluster.rm_url}/ws/v1/cluster/apps", params={"applicationTypes": "yarn-service"},
                            timeout=10).json()
        for app in ((apps.get("apps") or {}).get("app") or []):
            if app["name"] == name and app["state"] == "RUNNING":
                return
        time.sleep(0.2)
    raise TimeoutError(f"service {name} was not RUNNING after {timeout:.0f}s")


def _service(name: str) -> dict:
    return {"name": name, "version": "1", "components": [{
        "name": "master", "number_of_containers": 1, "restart_policy": "NEVER",
        "resource": {"cpus": 1, "memory": "256"}, "launch_command": "sleep 120"}]}


@section("hadoop", LABEL)
def bench_real_hadoop(args) -> list[Row]:
    from clusters import hadoop

    problem = hadoop.toolchain_problem()
    if problem:
        return [Row(LABEL, "skipped", f"needs java/mvn: {problem}", "", "", "", None)]
    from submarine_kernel.runtimes.yarn import YarnRuntime
    from submarine_kernel.storage import Storage

    repeat = max(1, min(args.repeat, 3))  # each launch holds a container; a few are enough for a median
    with tempfile.TemporaryDirectory(prefix="hadoop-bench-") as temp:
        began = time.monotonic()
        cluster = hadoop.HadoopCluster(Path(temp) / "cluster").start()
        start_s = time.monotonic() - began
        try:
            local = Path(temp) / "bundle"
            bundle = _fresh_bundle_dir(local)
            ours, theirs = [], []
            for i in range(repeat):
                storage = Storage(f"{cluster.storage_root}/bench-{i}",
                                  {"namenodes": [cluster.namenode_url], "user": cluster.user})
                t0 = time.perf_counter()
                storage.put(bundle)
                ours.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                done = _java(cluster, "org.apache.hadoop.fs.FsShell", "-put", "-f", str(local),
                             f"{cluster.default_fs}/user/{cluster.user}/fsshell-{i}")
                theirs.append(time.perf_counter() - t0)
                if done.returncode:
                    raise RuntimeError(f"FsShell -put failed: {done.stderr.strip().splitlines()[-1:]}")
            upload, put = statistics.median(ours), statistics.median(theirs)
            runtime = YarnRuntime(rm_urls=[cluster.rm_url], user=cluster.user)
            rest, cli = [], []
            for i in range(repeat):
                name = f"bench-rest-{i}"
                t0 = time.perf_counter()
                runtime.client.create_service(_service(name))
                _wait_running(cluster, name)
                rest.append(time.perf_counter() - t0)
                runtime.client.destroy_service(name)
                name = f"bench-cli-{i}"
                spec = Path(temp) / f"{name}.json"
                spec.write_text(json.dumps(_service(name)))
                t0 = time.perf_counter()
                done = _java(cluster, "org.apache.hadoop.yarn.client.cli.ApplicationCLI", "app", "-launch", name,
                             str(spec))  # `yarn app` passes its subcommand as the first argument
                if done.returncode:
                    raise RuntimeError(f"yarn app -launch failed ({done.returncode}): "
                                       f"{(done.stderr + done.stdout).strip().splitlines()[-3:]}")
                _wait_running(cluster, name)
                cli.append(time.perf_counter() - t0)
                runtime.client.destroy_service(name)
            launch, app_launch = statistics.median(rest), statistics.median(cli)
        finally:
            cluster.stop()
    size = sum(FILES.values()) / MB
    return [
        Row(LABEL, "cluster start (jars cached)", f"{start_s:.1f} s", "", "", "< 60 s", start_s < 60),
        Row(LABEL, f"bundle upload to HDFS, {size:.0f} MB", f"{upload:.2f} s", f"{put:.2f} s hdfs dfs -put (its JVM included)",
            f"{upload / put:.2f}x", "<= 1x", upload <= put),
        Row(LABEL, "submit to RUNNING (REST)", f"{launch:.2f} s", f"{app_launch:.2f} s yarn app -launch (JVM incl.)",
            f"{launch / app_launch:.2f}x", "<= 1x", launch <= app_launch),
    ]
