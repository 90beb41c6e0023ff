"""The Python API: sk.submit, Job.status/wait/logs/stop, sk.jobs, and nothing done when validation fails."""

from __future__ import annotations

import nbformat
import pytest

import submarine_kernel as sk
from submarine_kernel.errors import JobNotFound, SubmarineError, TitleError, ValidationError
from submarine_kernel.job_types import JobState
from submarine_kernel.job_handle import Job
from submarine_kernel.session import default_session

from core_support import TIMEOUT, job_file, stop_leftovers, unique, wait_until  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("stop_leftovers")


@pytest.fixture
def storage_root(tmp_path, monkeypatch):
    root = tmp_path / "store"
    monkeypatch.setenv("SUBMARINE_STORAGE_ROOT", root.as_uri())
    return root


def nothing_done(storage_root, data_dir):
    """No bundle uploaded, no job folder, no registry row."""
    assert not storage_root.exists() or not any(storage_root.iterdir())
    jobs = data_dir / "jobs"
    assert not jobs.exists() or not any(jobs.iterdir())
    assert sk.jobs() == []


def test_submit_status_wait_logs_jobs(storage_root):
    name = unique("api")
    job = sk.submit("python train.py", files={"train.py": "import os\nprint('rank', os.environ['RANK'])\n"},
                    name=name, workers=2, params={"epochs": 2})
    assert isinstance(job, Job) and job.name == name and repr(job) == f"<Job local/{name}>"
    assert job.upload.uri.startswith(storage_root.as_uri() + "/") and job.upload.bytes_uploaded > 0
    status = job.wait(timeout=TIMEOUT)
    assert status.state == JobState.SUCCEEDED and status.terminal
    assert status.submitted and status.started and status.finished
    assert [r.name for r in status.replicas] == ["master-0", "worker-0"]
    assert job.status().state == JobState.SUCCEEDED
    assert job.logs() == "rank 0" and job.logs("worker-0") == "rank 1"
    assert [j.name for j in sk.jobs()] == [name]
    assert sk.job(name).spec.params == {"epochs": 2}
    assert "logs" in job.links()
    wait_until(lambda: default_session().registry.get(name).state == "SUCCEEDED", what="registry updated")


def test_wait_true_and_unchanged_rerun_uploads_nothing(storage_root):
    files = {"train.py": "print('same')\n"}
    first = sk.submit("python train.py", files=files, name=unique("a"), wait=True)
    assert first.status().state == JobState.SUCCEEDED
    second = sk.submit("python train.py", files=files, name=unique("b"))
    assert second.upload.bytes_uploaded == 0 and second.upload.reused
    assert second.upload.uri == first.upload.uri
    assert second.wait(timeout=TIMEOUT).state == JobState.SUCCEEDED
    assert len(sk.jobs()) == 2


def test_wait_with_a_timeout_returns_the_running_status(tmp_path):
    go = tmp_path / "go"
    go.mkdir()
    job = sk.submit("python sleeper.py", files={"sleeper.py": job_file("sleeper.py")}, name=unique("w"),
                    framework="custom", params={"go": str(go)})
    assert not job.wait(timeout=0.2).terminal
    status = job.stop()
    assert status.state == JobState.STOPPED
    assert sk.job(job.name).status().state == JobState.STOPPED


def test_stop_through_the_api(tmp_path):
    job = sk.submit("sleep 600", files={"x.py": ""}, name=unique("stop"), workers=2)
    wait_until(lambda: job.status().state == JobState.RUNNING, what="running")
    assert job.stop().state == JobState.STOPPED
    wait_until(lambda: default_session().registry.get(job.name).state == "STOPPED", what="registry says STOPPED")


def test_submit_a_saved_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%%submarine.python utils/helper.py\nGREETING = 'hello from helper'"),
                nbformat.v4.new_markdown_cell("notes"),
                nbformat.v4.new_code_cell("%%submarine.python train.py\nfrom utils.helper import GREETING"),
                nbformat.v4.new_code_cell("%%submarine.python train.py\nprint(GREETING)")]
    path = tmp_path / "demo.ipynb"
    nbformat.write(nb, str(path))
    job = sk.submit("python train.py", notebook=str(path), name=unique("nb"))
    assert job.wait(timeout=TIMEOUT).state == JobState.SUCCEEDED
    assert job.logs() == "hello from helper"


def test_submit_collected_cells():
    collector = default_session().collector
    collector.add("train.py", "%%submarine.python train.py\nprint('first')", cell_id="c1")
    collector.add("train.py", "%%submarine.python train.py\nprint('second')", cell_id="c2")
    collector.add("train.py", "%%submarine.python train.py\nprint('first, re-run')", cell_id="c1")
    job = sk.submit("python train.py", name=unique("cells"))
    assert job.wait(timeout=TIMEOUT).state == JobState.SUCCEEDED
    assert job.logs() == "first, re-run\nsecond"


def test_dry_run_does_nothing(storage_root, isolated_data_dir):
    text = sk.submit("python t.py", files={"t.py": ""}, name=unique("dry"), workers=2, dry_run=True)
    assert isinstance(text, str) and "2 replica(s)" in text and "MASTER_ADDR=" in text
    nothing_done(storage_root, isolated_data_dir)


@pytest.mark.parametrize("kwargs, words", [
    ({"resources": "memory=8X,bogus=1", "workers": 0},
     ["memory='8X' has a bad unit", "unknown resource key 'bogus'", "--workers 0"]),
    ({"command": None}, ["role 'master' has no launch command"]),
    ({"command": "python t.py {lr}"}, ["uses {lr} but no such param is set: pass -p lr VALUE"]),
    ({"name": "Bad Name!"}, ["job name 'Bad Name!' is not a DNS-1035 label"]),
    ({"framework": "tensorflow", "chief": True, "ps": -1, "params": {"bad-name": 1}},
     ["--ps -1 must be 0 or more", "param name 'bad-name' is invalid"]),
    ({"resources": "gpu=64"}, ["asks for 64 GPU(s) but this machine has"]),
])
def test_validation_failure_uploads_and_submits_nothing(storage_root, isolated_data_dir, kwargs, words):
    options = {"command": "python t.py", "files": {"t.py": "print(1)"}, "name": unique("bad"), **kwargs}
    command = options.pop("command")
    with pytest.raises(ValidationError) as info:
        sk.submit(command, **options)
    for word in words:
        assert word in str(info.value)
    nothing_done(storage_root, isolated_data_dir)


def test_bad_file_title_or_notebook_uploads_nothing(storage_root, isolated_data_dir, tmp_path):
    with pytest.raises(TitleError, match="leaves the bundle"):
        sk.submit("python t.py", files={"../t.py": "x"}, name=unique("bad"))
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    with pytest.raises(ValidationError, match="not a readable .ipynb"):
        sk.submit("python t.py", notebook=str(broken), name=unique("bad"))
    nothing_done(storage_root, isolated_data_dir)


def test_unknown_runtime_and_job():
    with pytest.raises(SubmarineError, match="unknown runtime 'nope'"):
        sk.submit("python t.py", files={"t.py": ""}, runtime="nope")
    with pytest.raises(JobNotFound, match="no job named 'ghost' in the registry"):
        sk.job("ghost")


def test_default_name_is_unique_per_run():
    first = sk.submit("true", files={"t.py": ""})
    second = sk.submit("true", files={"t.py": ""})
    assert first.name != second.name
    for job in (first, second):
        assert job.wait(timeout=TIMEOUT).state == JobState.SUCCEEDED


def test_jobs_filter_by_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%%submarine.python t.py\nprint(1)")]
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, str(path))
    session = default_session()
    spec = session.build("python t.py", name=unique("nbf"))
    session.notebook = str(path)
    job = session.submit(spec, session.bundle(notebook=str(path)))
    session.notebook = None
    other = sk.submit("true", files={"t.py": ""}, name=unique("other"))
    assert [j.name for j in sk.jobs(notebook=str(path))] == [job.name]
    assert {j.name for j in sk.jobs()} == {job.name, other.name}
    for j in (job, other):
        j.wait(timeout=TIMEOUT)
