"""notebooks/yarn.ipynb runs top to bottom without a cluster (outputs: test_notebooks.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kernel_support import run_notebook_file
from yarn_rules import schema_errors

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "yarn.ipynb"


@pytest.mark.slow
def test_notebook_dry_runs_through_the_magics_and_the_python_api(tmp_path):
    printed = run_notebook_file(NOTEBOOK, tmp_path)
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
