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
    assert len(dry_runs) == 3
    kinds = []
    for text in dry_runs:
        documents = list(yaml.safe_load_all(text[text.index("apiVersion"):].split("\n[", 1)[0]))
        for obj in documents:
            kinds.append(obj["kind"])
            validate_manifest(obj)
    assert kinds == ["PyTorchJob", "ConfigMap", "Job", "ConfigMap", "Service", "TFJob", "ConfigMap"]
    assert "namespace: ml-team" in dry_runs[0] and "s3://ml-bundles/submarine/" in dry_runs[0]
    assert "is not a DNS-1035 label" in printed[-1]
