"""notebooks/yarn.ipynb runs top to bottom without a cluster, and is committed with its outputs cleared."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from yarn_server import schema_errors

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "yarn.ipynb"


@pytest.mark.slow
def test_notebook_dry_runs_through_the_magics_and_the_python_api(tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = ["".join(o.get("text", "") for o in c.outputs if o.output_type == "stream")
               for c in nb.cells if c.cell_type == "code"]
    dry_runs = [text for text in printed if "/app/v1/services" in text]
    assert len(dry_runs) == 2
    for text in dry_runs:
        head = text.partition("# the same job with Hadoop Submarine's command line:")[0]
        service = json.loads(head[head.index("{"):])
        assert schema_errors(service) == []
        assert text.startswith("# YARN service") or "no problems" in text
    assert "POST https://rm1.example.com:8090/app/v1/services" in dry_runs[0]
    assert "hdfs://mycluster/user/alice/submarine/" in dry_runs[0]
    assert "yarn jar hadoop-submarine-all" in dry_runs[1]
