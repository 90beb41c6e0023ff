"""notebooks/kubernetes.ipynb runs top to bottom without a cluster, and is committed with its outputs cleared."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml

from k8s_support import validate_core, validate_operator_job

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "kubernetes.ipynb"


@pytest.mark.slow
def test_notebook_dry_runs_through_the_magics_and_the_python_api(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))  # nothing may reach a real cluster
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = ["".join(o.get("text", "") for o in c.outputs if o.output_type == "stream")
               for c in nb.cells if c.cell_type == "code"]
    dry_runs = [text for text in printed if "(dry run: nothing was created)" in text]
    assert len(dry_runs) == 3
    kinds = []
    for text in dry_runs:
        documents = list(yaml.safe_load_all(text[text.index("apiVersion"):].split("\n[", 1)[0]))
        for obj in documents:
            kinds.append(obj["kind"])
            if obj["apiVersion"] == "kubeflow.org/v1":
                validate_operator_job(obj)
            else:
                validate_core(obj)
    assert kinds == ["PyTorchJob", "ConfigMap", "Job", "ConfigMap", "Service", "TFJob", "ConfigMap"]
    assert "namespace: ml-team" in dry_runs[0] and "s3://ml-bundles/submarine/" in dry_runs[0]
    assert "is not a DNS-1035 label" in printed[-1]
