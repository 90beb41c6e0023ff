"""notebooks/kubernetes.ipynb runs top to bottom without a cluster (outputs: test_notebooks.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from k8s_support import validate_manifest
from kernel_support import run_notebook_file

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "kubernetes.ipynb"


@pytest.mark.slow
def test_notebook_dry_runs_through_the_magics_and_the_python_api(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))  # nothing may reach a real cluster
    printed = run_notebook_file(NOTEBOOK, tmp_path)
    dry_runs = [text for text in printed if "(dry run: nothing was created)" in text]
    assert len(dry_runs) == 4
    kinds = []
    for text in dry_runs:
        documents = list(yaml.safe_load_all(text[text.index("apiVersion"):].split("\n[", 1)[0]))
        for obj in documents:
            kinds.append(obj["kind"])
            validate_manifest(obj)
    assert kinds == ["TrainJob", "ConfigMap",  # Trainer v2 first
                     "JobSet", "ConfigMap", "PodGroup",  # TensorFlow on Trainer v2, gang-scheduled
                     "PyTorchJob", "ConfigMap",  # the legacy operator
                     "Job", "ConfigMap", "Service"]  # the Python API's plain Job
    trainjob = dry_runs[0]
    assert "# api: Kubeflow Trainer v2 (api 'auto' without a cluster to ask" in trainjob
    assert "kueue.x-k8s.io/queue-name: team-a" in trainjob and "suspend: true" in trainjob
    assert "# a real submission still needs:\n#   - no kubeconfig at" in trainjob
    assert "namespace: ml-team" in trainjob and "s3://ml-bundles/submarine/" in trainjob
    assert "# api: Kubeflow training operator v1 (KubernetesRuntime.api = 'training-operator')" in dry_runs[2]
    assert "characters long: keep it to" in printed[-1]
