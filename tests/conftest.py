"""Shared fixtures: every test gets its own data directory, so registry, jobs and bundles never leak."""

from __future__ import annotations

import sys

import pytest


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path_factory, monkeypatch):
    """A private SUBMARINE_DATA_DIR and a fresh default session for each test."""
    data = tmp_path_factory.mktemp("submarine-data")
    monkeypatch.setenv("SUBMARINE_DATA_DIR", str(data))
    for var in ("SUBMARINE_RUNTIME", "SUBMARINE_STORAGE_ROOT"):
        monkeypatch.delenv(var, raising=False)
    from submarine_kernel import session

    session.set_default_session(None)
    yield data
    if session._default is not None:
        session._default.close()
    session.set_default_session(None)


@pytest.fixture
def python_exe() -> str:
    return sys.executable


@pytest.fixture(scope="session")
def hadoop_cluster(tmp_path_factory):
    """A real pseudo-distributed Hadoop (tests/clusters/hadoop.py) for the whole session: skipped with one
    line without Java or Maven (failed under CI); a cluster that cannot start fails with its log's tail."""
    from clusters import hadoop

    with hadoop.started_for_tests(tmp_path_factory.mktemp("hadoop")) as cluster:
        yield cluster
