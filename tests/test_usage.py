"""What each run used: a real kernel runs a 2-replica local job that burns CPU and holds memory; the samples
the supervisor took are plausible, live in the status view, kept in the registry and shown in the history.
The GPU paths: the real nvidia-ml-py on this machine (no NVIDIA driver: NVML itself refuses), and fakes of its
module for what a machine without a GPU cannot produce (no module at all; a GPU that answers)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from submarine_kernel import usage
from submarine_kernel.job_types import JobRef, JobState, JobStatus
from submarine_kernel.registry import Registry
from submarine_kernel.runtimes.local import sampler
from submarine_kernel.spec import build_spec

from core_support import imported_by_load_ext, installed_command, job_file
from kernel_support import execute, html, text

BURNER = Path(__file__).parent / "jobs" / "burner.py"
MIB = 1 << 20
HELD_MIB = 96


def burner_cell() -> str:
    return "%%submarine.python burner.py --no-local\n" + job_file("burner.py")


@pytest.mark.slow
def test_a_real_kernel_records_what_a_two_replica_job_used(tmp_path, isolated_data_dir):
    nb = execute(
        burner_cell(),
        f"%submarine run --name burn-usage --workers 2 --wait -- python burner.py --mb {HELD_MIB} --seconds 9",
        "%submarine history",
        "%submarine status burn-usage",
        tmp_path=tmp_path)
    run = text(nb.cells[1])
    assert "SUCCEEDED" in run, run
    registry = Registry(isolated_data_dir / "registry.sqlite")
    ref = JobRef("local", "burn-usage")
    samples = registry.usage(ref)
    assert samples is not None and set(samples["replicas"]) == {"master-0", "worker-0"}, samples
    for name, entry in samples["replicas"].items():
        # one busy core each on a shared 2-core machine: well above idle, whatever else runs beside it
        assert entry["peak"]["cpu"] > 15, (name, entry)
        assert entry["peak"]["rss"] > HELD_MIB * MIB, (name, entry)  # the held bytes are resident
        assert len(entry["points"]) >= 3
    assert samples["notes"] == [] or all(n.startswith("no GPU metrics (NVML: ") for n in samples["notes"])
    summary = registry.usage_summaries()["local/burn-usage"]
    assert summary["peaks"]["rss"] > HELD_MIB * MIB
    shown = html(nb.cells[2])
    assert "What each run used" in shown and "peak CPU" in shown and "peak mem" in shown, shown
    assert "burn-usage" in shown
    status = text(nb.cells[3])
    assert "used: peak CPU " in status and " MiB" in status, status
    shell = subprocess.run([installed_command("submarine-kernel"), "status", "burn-usage"], capture_output=True,
                           text=True, timeout=60)
    assert shell.returncode == 0 and "used: peak CPU " in shell.stdout, shell  # the same line in a terminal


def test_a_replica_that_holds_memory_and_burns_cpu_is_sampled(tmp_path):
    """The sampler on its own, over a real process group: the numbers a burner must produce."""
    proc = subprocess.Popen([sys.executable, str(BURNER), "--mb", "48", "--seconds", "4"],
                            stdout=subprocess.PIPE, start_new_session=True)
    try:
        proc.stdout.readline()  # "holding ...": the memory is touched
        taken = sampler.Sampler(str(tmp_path), [{"name": "worker-0", "env": {}}], None, interval=0.5)
        for _ in range(4):
            taken.sample({"worker-0": proc.pid})
            time.sleep(0.5)
        taken.write()
    finally:
        proc.kill()
        proc.wait()
    written = json.loads((tmp_path / sampler.USAGE_NAME).read_text())
    entry = written["replicas"]["worker-0"]
    assert entry["peak"]["rss"] > 48 * MIB and entry["peak"]["cpu"] > 15, entry
    assert entry["points"][0][usage.CPU] is None  # the first sample has no interval to measure over
    # no GPUs asked: NVML is tried only where nvidia-ml-py is installed (the gpu extra), and then says why not
    assert written["notes"] in ([], ["no GPU metrics (NVML: NVML Shared Library Not Found)"]), written["notes"]
    assert written["sampler_cpu_seconds"] < 1.0


def test_an_ended_group_stops_its_series_and_old_points_are_thinned():
    samples = usage.empty("test", 1.0)
    for second in range(300):
        usage.add_point(samples, "worker-0", [second, float(second % 7), second * 1000, None, None], budget=40)
    points = samples["replicas"]["worker-0"]["points"]
    assert len(points) <= 40
    assert points[0][usage.T] == 0 and points[-1][usage.T] == 299  # the whole run still shows
    assert [p[usage.T] for p in points[-20:]] == list(range(280, 300))  # the newest stay sharp
    assert samples["replicas"]["worker-0"]["peak"] == {"cpu": 6.0, "rss": 299000}  # thinning keeps peaks
    assert max(p[usage.RSS] for p in points) == 299000
    assert usage.points_budget(1) == usage.MAX_POINTS and usage.points_budget(1000) == usage.MIN_POINTS


def test_peaks_text_sparkline_and_notes():
    samples = usage.empty("test", 2.0, ["no GPU metrics (NVML: NVML Shared Library Not Found)"])
    assert usage.peaks_text(samples) == "no GPU metrics (NVML: NVML Shared Library Not Found)"
    usage.add_point(samples, "worker-0", [1, 150.0, 600 * MIB, None, None])
    usage.add_point(samples, "worker-1", [1, 20.0, 2 * 1024 * MIB, 45.0, 3 * 1024 * MIB])
    assert usage.peaks_text(samples) == "peak CPU 150 % · peak mem 2.0 GiB · GPU 45 % / 3.0 GiB"
    assert usage.sparkline([0, 50, 100, None]) == "▁▅█ "
    assert usage.sparkline([0, 0]) == "▁▁"


# -- GPU through NVML --------------------------------------------------------------------------------------
def test_real_nvidia_ml_py_without_a_gpu_says_so_once(tmp_path):
    """nvidia-ml-py installed on a machine without NVIDIA's driver (this one): NVML's own reason, one line."""
    pynvml = pytest.importorskip("pynvml", reason="nvidia-ml-py (the gpu extra) is not installed")
    if Path("/dev/nvidiactl").exists():
        pytest.skip("this machine has a GPU: NVML answers")
    taken = sampler.Sampler(str(tmp_path), [{"name": "worker-0", "env": {"CUDA_VISIBLE_DEVICES": "0"}}],
                            str(Path(pynvml.__file__).parent))
    for _ in range(3):
        taken.sample({"worker-0": 1})
    notes = taken.usage["notes"]
    assert len(notes) == 1 and notes[0].startswith("no GPU metrics (NVML: "), notes
    assert "Not Found" in notes[0] or "Driver" in notes[0], notes


def test_no_nvidia_ml_py_says_so_for_a_gpu_job(tmp_path, monkeypatch):
    # A fake: the module is made missing (no GPU machine here to compare with a real absence on one)
    monkeypatch.setitem(sys.modules, "pynvml", None)
    taken = sampler.Sampler(str(tmp_path), [{"name": "worker-0", "env": {"CUDA_VISIBLE_DEVICES": "0"}}], None)
    taken.sample({"worker-0": 1})
    taken.sample({"worker-0": 1})
    assert taken.usage["notes"] == [
        "no GPU metrics (NVML: nvidia-ml-py is not installed: pip install 'submarine-kernel[gpu]' in the kernel's "
        "environment)"]


class FakeNvml:
    """A fake of nvidia-ml-py's `pynvml`, only because no GPU exists on this machine: two devices, a process
    of ours on device 1, and optionally a failure at init or on a read (NVML raises its NVMLError then)."""

    class NVMLError(Exception):
        pass

    def __init__(self, fail_init: str = "", fail_read: str = ""):
        self.fail_init, self.fail_read, self.shutdown = fail_init, fail_read, False

    def nvmlInit(self):
        if self.fail_init:
            raise self.NVMLError(self.fail_init)

    def nvmlShutdown(self):
        self.shutdown = True

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetUtilizationRates(self, handle):
        if self.fail_read:
            raise self.NVMLError(self.fail_read)
        return SimpleNamespace(gpu=[10, 70][handle], memory=0)

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        return [SimpleNamespace(pid=4242, usedGpuMemory=512 * MIB), SimpleNamespace(pid=1, usedGpuMemory=None)] \
            if handle == 1 else [SimpleNamespace(pid=999, usedGpuMemory=MIB)]


def test_nvml_reader_reads_the_replicas_devices_and_processes():
    reader = sampler.NvmlReader(FakeNvml())
    assert reader.read(["0", "1"], {4242, 1}) == (40.0, 512 * MIB)
    assert reader.read([], {4242}) == (None, None)  # a replica without GPUs
    reader.close()
    assert reader.nvml.shutdown


def test_nvml_errors_become_one_line_and_stop_reading():
    failed = sampler.NvmlReader(FakeNvml(fail_init="Driver Not Loaded"))
    assert failed.note == "no GPU metrics (NVML: Driver Not Loaded)"
    assert failed.read(["0"], {1}) == (None, None)
    lost = sampler.NvmlReader(FakeNvml(fail_read="GPU is lost"))
    assert lost.note == "" and lost.read(["0"], {1}) == (None, None)
    assert lost.note == "no GPU metrics (NVML: GPU is lost)" and lost.nvml is None


# -- the registry ----------------------------------------------------------------------------------------
def test_an_old_registry_gains_the_usage_table_and_a_reused_name_shows_no_earlier_usage(tmp_path):
    path = tmp_path / "registry.sqlite"
    old = sqlite3.connect(path)  # a registry as it was before usage existed: jobs and provenance only
    old.executescript("CREATE TABLE jobs (runtime TEXT NOT NULL, name TEXT NOT NULL, ref TEXT NOT NULL, spec TEXT "
                      "NOT NULL, bundle_uri TEXT, notebook TEXT, params TEXT NOT NULL DEFAULT '{}', state TEXT NOT "
                      "NULL, status TEXT, metrics TEXT NOT NULL DEFAULT '[]', submitted TEXT NOT NULL, updated "
                      "TEXT NOT NULL, PRIMARY KEY (runtime, name));")
    old.close()
    registry = Registry(path)
    job = build_spec("reused", command="python t.py")
    ref = JobRef("local", "reused")
    registry.add(ref, job, None, None, JobStatus(JobState.SUCCEEDED, "done"))
    samples = usage.empty("local", 2.0)
    usage.add_point(samples, "worker-0", [1, 50.0, 10 * MIB, None, None])
    registry.keep_usage([(ref, samples)])
    assert registry.usage(ref) == samples
    assert registry.usage_summaries()["local/reused"]["peaks"]["cpu"] == 50.0
    time.sleep(1.1)  # submission times have one-second resolution
    registry.add(ref, job, None, None, JobStatus(JobState.RUNNING, "running"))  # the name taken again
    assert registry.usage(ref) is None and "local/reused" not in registry.usage_summaries()
    assert registry.forget("reused") == 1


# -- YARN: the NodeManager's container metrics --------------------------------------------------------------
#: a ContainerResource bean as Hadoop 3.4.2's NodeManager (the real-cluster harness) answered before its first
#: flush (yarn.nodemanager.container-metrics.period-ms = -1, the default, while the container runs)
EMPTY_BEAN = {"name": "Hadoop:service=NodeManager,name=ContainerResource_container_1_0001_01_000002",
              "modelerType": "ContainerResource_container_1_0001_01_000002"}
#: ... and after it (the keys the runtime reads; values from the same cluster, a burner holding 80 MiB)
FULL_BEAN = {**EMPTY_BEAN, "PMemUsageMBsIMaxMBs": 94.0, "PMemUsageMBsMaxMBs": 94.0,
             "PCpuUsagePercentIMaxPercents": 31.0, "PCpuUsagePercentMaxPercents": 49.0, "pMemLimitMBs": 384}


def test_container_metrics_notes_say_what_yarn_has_not_published():
    from submarine_kernel.runtimes.yarn import container_metrics as cm

    samples = usage.empty(cm.SOURCE, 10.0)
    cm.add_samples(samples, {}, {}, 40)
    assert samples["notes"] == [cm.NO_CONTAINER, cm.NO_GPU]
    container = "container_1_0001_01_000002"
    cm.add_samples(samples, {"worker-0": container}, cm.beans_by_container({"beans": [EMPTY_BEAN]}), 40)
    assert samples["notes"][0].startswith("no live resource metrics: the NodeManager publishes")
    assert not samples["replicas"]
    cm.add_samples(samples, {"worker-0": container}, {}, 40)
    assert samples["notes"][0] == cm.NO_BEANS
    cm.add_samples(samples, {"worker-0": container}, cm.beans_by_container({"beans": [FULL_BEAN]}), 40, now=5)
    assert samples["notes"] == [cm.NO_GPU]
    entry = samples["replicas"]["worker-0"]
    assert entry["points"] == [[5, 31.0, 94 * MIB, None, None]]
    assert entry["peak"] == {"cpu": 49.0, "rss": 94 * MIB}  # the container's lifetime maxima


# -- Kubernetes: the metrics API ---------------------------------------------------------------------------
def pod_metrics_item(name: str, *containers: tuple[str, str]) -> dict:
    """A PodMetrics item in metrics.k8s.io/v1beta1's shape (k8s.io/metrics types.go: containers[].usage)."""
    return {"metadata": {"name": name, "namespace": "ml"}, "timestamp": "2026-12-07T05:00:00Z", "window": "15s",
            "containers": [{"name": f"c{i}", "usage": {"cpu": cpu, "memory": memory}}
                           for i, (cpu, memory) in enumerate(containers)]}


def test_pod_metrics_become_cpu_percent_and_bytes_per_replica():
    pytest.importorskip("kubernetes")
    from submarine_kernel.runtimes.kubernetes import pod_metrics as pm

    samples = usage.empty(pm.SOURCE, 10.0)
    pm.add_samples(samples, {}, {}, 40)
    assert samples["notes"] == [pm.NO_POD, pm.NO_GPU]
    pods = {"worker-0": "job-worker-0", "worker-1": "job-worker-1"}
    pm.add_samples(samples, pods, {}, 40)
    assert samples["notes"] == [pm.NOT_MEASURED, pm.NO_GPU]
    metrics = {"job-worker-0": pod_metrics_item("job-worker-0", ("1500m", "100Mi"), ("250000000n", "12Mi")),
               "job-worker-1": pod_metrics_item("job-worker-1", ("20m", "1Gi"))}
    pm.add_samples(samples, pods, metrics, 40, now=7)
    assert samples["replicas"]["worker-0"]["points"] == [[7, 175.0, 112 * MIB, None, None]]
    assert samples["replicas"]["worker-1"]["peak"] == {"cpu": 2.0, "rss": 1024 * MIB}
    assert samples["notes"] == [pm.NO_GPU]
    pm.add_samples(samples, pods, None, 40)
    assert samples["notes"] == [pm.NOT_SERVED]


def test_load_ext_imports_no_usage_module_and_no_nvml():
    assert imported_by_load_ext([
        "submarine_kernel.usage", "submarine_kernel.runtimes.local.sampler", "pynvml",
        "submarine_kernel.runtimes.yarn.container_metrics", "submarine_kernel.runtimes.kubernetes.pod_metrics",
        "submarine_kernel.widgets.usage_view", "submarine_kernel.widgets.run_details"]) == []


@pytest.mark.slow
def test_the_status_view_draws_sparklines_and_the_history_compares_use_and_provenance(tmp_path):
    """Two real local runs with different params: the live view of one shows a sparkline row per replica, and
    the history's compare view shows both runs' peaks and how they were made differently."""
    import submarine_kernel as sk
    from submarine_kernel.session import default_session
    from submarine_kernel.widgets.history import RunHistory
    from submarine_kernel.widgets.status import JobStatusView

    from core_support import wait_until

    session = default_session()
    jobs = [sk.submit("python burner.py --mb 32 --seconds {seconds}", files={"burner.py": BURNER.read_text()},
                      name=f"spark-{seconds}", workers=2, params={"seconds": seconds}) for seconds in (6, 7)]
    view = JobStatusView(session, jobs[1].ref, follow_logs=False)
    try:
        assert view.usage in view.children
        # the second sample on: CPU measured over an interval, the held MiB resident
        wait_until(lambda: "master-0" in view.usage.value and "worker-0" in view.usage.value
                   and " %" in view.usage.value and " MiB" in view.usage.value, timeout=60)
        assert any(ch in view.usage.value for ch in usage.SPARK)
        for job in jobs:
            assert job.wait(timeout=120).state == JobState.SUCCEEDED
        wait_until(lambda: len(session.registry.usage_summaries()) == 2, timeout=30)
        wait_until(lambda: view.finished, timeout=30)  # collapsed to its summary, which keeps the peaks
        assert "used: peak CPU " in view.summary.value, view.summary.value
    finally:
        view.close()
    history = RunHistory(session)
    try:
        shown = history.compare.value
        assert "What each run used" in shown and shown.count("peak CPU ") == 2, shown
        assert "Made from" in shown and "param seconds" in shown, shown
        assert "What each run used" in history.static_html()
    finally:
        history.close()


def test_a_local_job_without_samples_says_why(tmp_path):
    from submarine_kernel.runtimes.local import LocalRuntime
    from submarine_kernel.runtimes.local.data import LocalJobData

    runtime = LocalRuntime(jobs_dir=str(tmp_path))
    old, new = tmp_path / "old-job", tmp_path / "new-job"
    for folder, job in ((old, {"name": "old-job", "replicas": []}),
                        (new, {"name": "new-job", "replicas": [], "nvml_path": None})):
        folder.mkdir()
        (folder / "job.json").write_text(json.dumps(job))
    refs = [LocalJobData.ref("old-job", old), LocalJobData.ref("new-job", new)]
    answers = runtime.usage(refs)
    assert answers[refs[0].key]["notes"] == [
        "no resource samples: the job was started before submarine-kernel sampled resource use"]
    assert answers[refs[1].key]["notes"] == ["no resource samples yet (the job's supervisor takes one every 2 s)"]


def test_pod_metrics_that_cannot_be_read_say_why():
    pytest.importorskip("kubernetes")
    from submarine_kernel.runtimes.kubernetes import pod_metrics as pm

    samples = usage.empty(pm.SOURCE, 10.0)
    pm.add_samples(samples, {"worker-0": "p"}, "the Kubernetes API refused the credentials of x to list the pod "
                                               "metrics of namespace 'ml' (403: forbidden)", 40)
    assert samples["notes"] == ["no resource metrics: the Kubernetes API refused the credentials of x to list the "
                                "pod metrics of namespace 'ml' (403: forbidden)"]


def test_a_cluster_runtime_keeps_samples_between_calls_and_lets_ended_jobs_go(monkeypatch):
    import time as clock

    from submarine_kernel.runtimes.yarn import YarnRuntime

    runtime = YarnRuntime(rm_urls=["http://127.0.0.1:9"])
    kept = runtime.kept_usage("yarn/a", "test")
    assert runtime.kept_usage("yarn/a", "test") is kept and kept["interval"] == runtime.usage_interval
    later = clock.monotonic() + 3601
    monkeypatch.setattr(clock, "monotonic", lambda: later)
    runtime.kept_usage("yarn/b", "test")
    assert set(runtime._kept_usage) == {"yarn/b"}
