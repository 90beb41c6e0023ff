"""Job history in SQLite, so jobs survive a kernel restart and a new process can list and re-attach them.

One row per job: its reference, spec (secrets redacted), bundle, params, latest status and metrics.
The file is created readable by its user only; every call opens its own connection, so the tracker
thread and the kernel thread never share one.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .config import data_dir, private_dir
from .errors import JobNotFound
from .runtimes.base import JobRef, JobStatus, utcnow
from .secrets import redact_mapping
from .spec import JobSpec

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    runtime     TEXT NOT NULL,
    name        TEXT NOT NULL,
    ref         TEXT NOT NULL,
    spec        TEXT NOT NULL,
    bundle_uri  TEXT,
    notebook    TEXT,
    params      TEXT NOT NULL DEFAULT '{}',
    state       TEXT NOT NULL,
    status      TEXT,
    metrics     TEXT NOT NULL DEFAULT '[]',
    submitted   TEXT NOT NULL,
    updated     TEXT NOT NULL,
    PRIMARY KEY (runtime, name)
);
CREATE INDEX IF NOT EXISTS jobs_by_time ON jobs (submitted);
"""


@dataclass
class JobRecord:
    ref: JobRef
    spec: JobSpec
    bundle_uri: str | None
    notebook: str | None
    params: dict
    state: str
    status: JobStatus | None
    metrics: list
    submitted: str
    updated: str


class Registry:
    """The job table in `<data dir>/registry.sqlite` (or any path given)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else data_dir() / "registry.sqlite"
        private_dir(self.path.parent)
        if not self.path.exists():
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA busy_timeout = 30000")
        db.row_factory = sqlite3.Row
        return db

    def add(self, ref: JobRef, spec: JobSpec, bundle_uri: str | None, notebook: str | None,
            status: JobStatus) -> None:
        """Record a newly submitted job."""
        spec_data = spec.to_dict()
        spec_data["env"] = redact_mapping(spec_data["env"])
        spec_data["params"] = redact_mapping(spec_data["params"])  # the params column is not the only copy
        spec_data["param_values"] = redact_mapping(spec_data.get("param_values") or {})
        for role in spec_data["roles"].values():
            role["env"] = redact_mapping(role["env"])
        now = utcnow()
        with closing(self._connect()) as db:
            db.execute(
                "INSERT OR REPLACE INTO jobs (runtime, name, ref, spec, bundle_uri, notebook, params, state, status,"
                " submitted, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ref.runtime, ref.name, json.dumps(ref.to_dict()), json.dumps(spec_data), bundle_uri, notebook,
                 json.dumps(redact_mapping(dict(spec.params)), default=str), status.state.value,
                 json.dumps(status.to_dict()), now, now))

    def update_status(self, ref: JobRef, status: JobStatus) -> None:
        with closing(self._connect()) as db:
            db.execute("UPDATE jobs SET state = ?, status = ?, updated = ? WHERE runtime = ? AND name = ?",
                       (status.state.value, json.dumps(status.to_dict()), utcnow(), ref.runtime, ref.name))

    def add_metrics(self, ref: JobRef, points: list[dict]) -> None:
        """Append reported metric points ({"step": ..., name: value}) to the job's history."""
        if not points:
            return
        with closing(self._connect()) as db:
            row = db.execute("SELECT metrics FROM jobs WHERE runtime = ? AND name = ?",
                             (ref.runtime, ref.name)).fetchone()
            if row is None:
                return
            metrics = json.loads(row["metrics"]) + points
            db.execute("UPDATE jobs SET metrics = ? WHERE runtime = ? AND name = ?",
                       (json.dumps(metrics), ref.runtime, ref.name))

    def get(self, name: str, runtime: str | None = None) -> JobRecord:
        """The newest job called `name` (on `runtime` when given)."""
        query = "SELECT * FROM jobs WHERE name = ?" + (" AND runtime = ?" if runtime else "") + \
                " ORDER BY submitted DESC LIMIT 1"
        with closing(self._connect()) as db:
            row = db.execute(query, (name, runtime) if runtime else (name,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job named {name!r} in the registry: %submarine list shows the known jobs")
        return _record(row)

    def list(self, notebook: str | None = None, active_only: bool = False, limit: int | None = None
             ) -> list[JobRecord]:
        """Jobs, newest first; only this notebook's or only unfinished ones when asked."""
        clauses, args = [], []
        if notebook:
            clauses.append("notebook = ?")
            args.append(notebook)
        if active_only:
            clauses.append("state NOT IN ('SUCCEEDED', 'FAILED', 'STOPPED')")
        query = "SELECT * FROM jobs" + (" WHERE " + " AND ".join(clauses) if clauses else "") + \
                " ORDER BY submitted DESC, rowid DESC" + (f" LIMIT {int(limit)}" if limit else "")
        with closing(self._connect()) as db:
            return [_record(row) for row in db.execute(query, args)]

    def remove(self, ref: JobRef) -> None:
        with closing(self._connect()) as db:
            db.execute("DELETE FROM jobs WHERE runtime = ? AND name = ?", (ref.runtime, ref.name))

    def __iter__(self) -> Iterator[JobRecord]:
        return iter(self.list())


def _record(row: sqlite3.Row) -> JobRecord:
    status: Any = json.loads(row["status"]) if row["status"] else None
    return JobRecord(
        ref=JobRef.from_dict(json.loads(row["ref"])), spec=JobSpec.from_dict(json.loads(row["spec"])),
        bundle_uri=row["bundle_uri"], notebook=row["notebook"], params=json.loads(row["params"]),
        state=row["state"], status=JobStatus.from_dict(status) if status else None,
        metrics=json.loads(row["metrics"]), submitted=row["submitted"], updated=row["updated"])
