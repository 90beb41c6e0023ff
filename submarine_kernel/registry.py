"""Job history in SQLite, so jobs survive a kernel restart and a new process can list and re-attach them.

One row per job: its reference, spec (secrets redacted), bundle, params, latest status and metrics; beside
it what the run was made from (`provenance`) and what it used (`usage`: peaks and bounded samples, usage.py).
Tables are created when missing on every open, so an older file gains the new ones.
The file is created readable by its user only; every call opens its own connection, so the tracker
thread and the kernel thread never share one.

A job is recorded (state NEW, its submitter's pid in the ref) before anything is uploaded or started, and
confirmed once its runtime accepted it, so a killed submitter leaves a row a later session can settle
(session.py: adopt the job, or clean up). A damaged file is one RegistryError that says how to recover;
one bad row is skipped and reported (`Registry.skipped`), not a failed listing.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .config import data_dir, private_dir
from .errors import JobNotFound, SubmarineError, disk_full
from .job_types import JobRef, JobState, JobStatus, utcnow
from .secrets import redact_mapping, redacted_spec_json
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
CREATE TABLE IF NOT EXISTS provenance (
    runtime     TEXT NOT NULL,
    name        TEXT NOT NULL,
    record      TEXT NOT NULL,
    PRIMARY KEY (runtime, name)
);
CREATE TABLE IF NOT EXISTS usage (
    runtime     TEXT NOT NULL,
    name        TEXT NOT NULL,
    submitted   TEXT NOT NULL,
    summary     TEXT NOT NULL,
    samples     TEXT NOT NULL,
    PRIMARY KEY (runtime, name)
);
"""


#: how long a recorded-but-unconfirmed row of another host's submitter is presumed still in flight
PENDING_FOREIGN_SECONDS = 3600.0
#: ref.extra key of a recorded row: who is submitting it
SUBMITTER = "submitter"
#: raw state of a submission whose answer never came (create retried out): settled by the next check
UNCONFIRMED = "submit-unconfirmed"


class RegistryError(SubmarineError):
    """The registry file cannot be used: damaged, read-only, or in a folder that cannot be written."""


class NameInUse(SubmarineError):
    """The name belongs to a job that is being submitted or has not ended: a new submission may not take it."""


_TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
#: ref.extra keys of a recorded row: the finished job's row it replaced and that job's provenance record (JSON
#: text, or None), both put back if the submission is refused
_REPLACES = "replaces"
_REPLACES_PROVENANCE = "replaces_provenance"


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

    @property
    def pending(self) -> bool:
        """Recorded but not confirmed: the submission may or may not have reached the runtime."""
        return self.state == "NEW" or (self.status is not None and self.status.raw_state == UNCONFIRMED)


class Registry:
    """The job table in `<data dir>/registry.sqlite` (or any path given)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else data_dir() / "registry.sqlite"
        self.skipped: list[str] = []  # rows the last listing could not read, one line each
        self._ready = False  # opened on first use, so a damaged file never breaks %load_ext, only its use

    def _open(self) -> None:
        try:
            private_dir(self.path.parent)
        except OSError as exc:
            raise RegistryError(f"cannot create the data folder {self.path.parent} ({exc.strerror}): make it "
                                "writable, or point SUBMARINE_DATA_DIR at a folder you can write") from None
        with self._guard():
            if not self.path.exists():
                self._create()
            elif self.path.is_file() and self.path.stat().st_size == 0:
                raise sqlite3.DatabaseError("the file is empty (0 bytes): it was truncated")
            with closing(self._raw_connect()) as db:
                db.executescript(_SCHEMA)
        self._ready = True

    def _create(self) -> None:
        """Make the file with its schema under a temporary name, then link it into place: a registry is
        never seen half-made (so an empty file always means damage), and two creators cannot clash."""
        # pid and thread: two threads of one process may create it at once
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        os.close(os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600))
        try:
            with closing(sqlite3.connect(tmp, isolation_level=None)) as db:
                db.executescript(_SCHEMA)
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # another process made it first
        finally:
            tmp.unlink(missing_ok=True)

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:
            self._open()
        elif not os.path.lexists(self.path):
            # deleted (or moved aside) under this live process: a new, whole registry, never an empty file
            self._create()
            logging.getLogger("submarine_kernel").warning(
                "the job registry %s was deleted while in use: made a new one; `submarine-kernel recover` "
                "rebuilds the rows of earlier jobs", self.path)
        return self._raw_connect()

    def _raw_connect(self) -> sqlite3.Connection:
        # mode=rw: never create the file here (a file deleted since became a 0-byte "damaged" registry)
        db = sqlite3.connect(f"{self.path.absolute().as_uri()}?mode=rw", uri=True, timeout=30, isolation_level=None)
        db.execute("PRAGMA busy_timeout = 30000")
        db.row_factory = sqlite3.Row
        return db

    @contextmanager
    def _guard(self):
        """sqlite and file errors as one RegistryError that says what is wrong and how to recover."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "readonly" in text or "read-only" in text:
                raise RegistryError(f"the job registry {self.path} is read-only: make it (and its folder) "
                                    "writable, or point SUBMARINE_DATA_DIR at a folder you can write") from None
            if disk_full(exc):
                raise RegistryError(f"disk full: the job registry {self.path} cannot be written ({text}): free "
                                "space on its disk, or point SUBMARINE_DATA_DIR at another disk") from None
            if "locked" in text or "busy" in text:
                raise RegistryError(f"the job registry {self.path} stayed locked by another process: "
                                    "try again in a moment") from None
            raise self._damaged(text) from None
        except sqlite3.DatabaseError as exc:
            raise self._damaged(str(exc)) from None
        except OSError as exc:
            if isinstance(exc, IsADirectoryError):
                raise self._damaged("a folder is in its place") from None
            if disk_full(exc):
                raise RegistryError(f"disk full: the job registry {self.path} cannot be written: free space on "
                                    "its disk, or point SUBMARINE_DATA_DIR at another disk") from None
            if not isinstance(exc, PermissionError):
                raise
            raise RegistryError(f"cannot write the job registry {self.path} ({exc.strerror}): make it and its "
                                "folder writable, or point SUBMARINE_DATA_DIR at a folder you can write") from None

    def _damaged(self, reason: str) -> RegistryError:
        kind = "a folder is in its place" if self.path.is_dir() else reason
        return RegistryError(f"the job registry {self.path} is damaged ({kind}): move it aside "
                             f"(mv {self.path} {self.path}.damaged) and run again; `submarine-kernel recover` "
                             "then rebuilds the rows from the local job folders and the cluster's own job list")

    def add(self, ref: JobRef, spec: JobSpec, bundle_uri: str | None, notebook: str | None,
            status: JobStatus) -> None:
        """Record a job as submitted, in one step (Session.submit uses `record` then `confirm`)."""
        now = utcnow()
        with self._guard(), closing(self._connect()) as db:
            db.execute(
                "INSERT OR REPLACE INTO jobs (runtime, name, ref, spec, bundle_uri, notebook, params, state, status,"
                " submitted, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ref.runtime, ref.name, json.dumps(ref.to_dict()), redacted_spec_json(spec), bundle_uri, notebook,
                 json.dumps(redact_mapping(dict(spec.params)), default=str), status.state.value,
                 json.dumps(status.to_dict()), now, now))

    def record(self, runtime: str, spec: JobSpec, bundle_uri: str | None, notebook: str | None) -> JobRef:
        """Record a job about to be submitted (state NEW), before anything is uploaded or started.

        Refuses the name (`NameInUse`) while a live process is submitting a job of that name on that runtime,
        or while the row belongs to a job that has not ended: a live job's row is never replaced. A finished
        job's row is replaced, and kept inside the new row (with its provenance record, which `keep_provenance`
        then replaces) until it is confirmed: `remove(exact=True)` of a refused submission puts both back."""
        ref = JobRef(runtime, spec.name, extra={SUBMITTER: submitter_identity()})
        status = JobStatus(JobState.NEW, "recorded", message="recorded; being submitted")
        now = utcnow()
        with self._guard(), closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT * FROM jobs WHERE runtime = ? AND name = ?", (runtime, spec.name)).fetchone()
                if row is not None:
                    held = _held_by(row)
                    if held:
                        raise NameInUse(held)
                    if row["state"] in _TERMINAL:
                        made_from = db.execute("SELECT record FROM provenance WHERE runtime = ? AND name = ?",
                                               (runtime, spec.name)).fetchone()
                        ref = JobRef(runtime, spec.name, extra={**ref.extra, _REPLACES: dict(row),
                                                                _REPLACES_PROVENANCE: made_from and made_from[0]})
                db.execute(
                    "INSERT OR REPLACE INTO jobs (runtime, name, ref, spec, bundle_uri, notebook, params, state,"
                    " status, submitted, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (runtime, spec.name, json.dumps(ref.to_dict()), redacted_spec_json(spec), bundle_uri, notebook,
                     json.dumps(redact_mapping(dict(spec.params)), default=str), status.state.value,
                     json.dumps(status.to_dict()), now, now))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # sqlite already rolled back after some errors (a full disk)
                    db.execute("ROLLBACK")
                raise
        return ref

    def confirm(self, ref: JobRef, status: JobStatus, bundle_uri: str | None = None,
                recorded: JobRef | None = None) -> None:
        """The runtime accepted a recorded job: keep its real ref and first status (with `recorded`, only
        while the row still holds that recorded ref)."""
        query = ("UPDATE jobs SET ref = ?, state = ?, status = ?, bundle_uri = COALESCE(?, bundle_uri), updated = ?"
                 " WHERE runtime = ? AND name = ?" + (" AND ref = ?" if recorded else ""))
        args = (json.dumps(ref.to_dict()), status.state.value, json.dumps(status.to_dict()), bundle_uri, utcnow(),
                ref.runtime, ref.name) + ((json.dumps(recorded.to_dict()),) if recorded else ())
        with self._guard(), closing(self._connect()) as db:
            db.execute(query, args)

    def update_status(self, ref: JobRef, status: JobStatus) -> None:
        """The job's newest status; a row waiting to be confirmed or settled is left alone (settling decides)."""
        with self._guard(), closing(self._connect()) as db:
            db.execute("UPDATE jobs SET state = ?, status = ?, updated = ? WHERE runtime = ? AND name = ?"
                       " AND state != 'NEW' AND COALESCE(status, '') NOT LIKE ?",
                       (status.state.value, json.dumps(status.to_dict()), utcnow(), ref.runtime, ref.name,
                        f'%"raw_state": "{UNCONFIRMED}"%'))

    def mark_unconfirmed(self, ref: JobRef, message: str) -> None:
        """The submission may have happened (its answer was lost): the next check adopts or cleans it."""
        status = JobStatus(JobState.UNKNOWN, UNCONFIRMED, message=message)
        with self._guard(), closing(self._connect()) as db:
            db.execute("UPDATE jobs SET state = ?, status = ?, updated = ? WHERE runtime = ? AND name = ? AND ref = ?",
                       (status.state.value, json.dumps(status.to_dict()), utcnow(), ref.runtime, ref.name,
                        json.dumps(ref.to_dict())))

    def pending(self) -> list[JobRecord]:
        """Rows whose submission is not confirmed (NEW, or unconfirmed after a lost answer)."""
        with self._guard(), closing(self._connect()) as db:
            rows = db.execute("SELECT * FROM jobs WHERE state IN ('NEW', 'UNKNOWN')").fetchall()
        return [r for r in self._records(rows) if r.pending]

    def add_metrics(self, ref: JobRef, points: list[dict]) -> None:
        """Append reported metric points ({"step": ..., name: value}) to the job's history."""
        if not points:
            return
        with self._guard(), closing(self._connect()) as db:
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
        with self._guard(), closing(self._connect()) as db:
            row = db.execute(query, (name, runtime) if runtime else (name,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job named {name!r} in the registry: %submarine list shows the known jobs")
        try:
            return _record(row)
        except (ValueError, KeyError, TypeError) as exc:
            raise RegistryError(f"the registry row of job {name!r} is damaged ({type(exc).__name__}: {exc}): "
                                f"remove it with `submarine-kernel forget {name}`") from None

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
        with self._guard(), closing(self._connect()) as db:
            rows = db.execute(query, args).fetchall()
        return self._records(rows)

    def _records(self, rows) -> list[JobRecord]:
        """Rows as records; a row that cannot be read is skipped and described in `self.skipped`."""
        records, self.skipped = [], []
        for row in rows:
            try:
                records.append(_record(row))
            except (ValueError, KeyError, TypeError) as exc:
                self.skipped.append(f"skipped the damaged registry row of job {row['name']!r} ({type(exc).__name__}:"
                                    f" {str(exc)[:80]}): remove it with `submarine-kernel forget {row['name']}`")
        return records

    def remove(self, ref: JobRef, exact: bool = False) -> None:
        """Delete the job's row; with `exact` only while it still holds this very ref (a row another
        process recorded for the same name since is kept), and the finished job's row it replaced comes back with
        its provenance record (the refused attempt's own record goes)."""
        query = "DELETE FROM jobs WHERE runtime = ? AND name = ?" + (" AND ref = ?" if exact else "")
        args = (ref.runtime, ref.name) + ((json.dumps(ref.to_dict()),) if exact else ())
        replaced = ref.extra.get(_REPLACES) if exact else None
        with self._guard(), closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                if db.execute(query, args).rowcount and exact:
                    db.execute("DELETE FROM provenance WHERE runtime = ? AND name = ?", (ref.runtime, ref.name))
                    if isinstance(replaced, dict):
                        columns = ", ".join(replaced)
                        db.execute(f"INSERT INTO jobs ({columns}) VALUES ({', '.join('?' * len(replaced))})",
                                   tuple(replaced.values()))
                        if ref.extra.get(_REPLACES_PROVENANCE):
                            db.execute("INSERT INTO provenance (runtime, name, record) VALUES (?, ?, ?)",
                                       (ref.runtime, ref.name, ref.extra[_REPLACES_PROVENANCE]))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def forget(self, name: str) -> int:
        """Delete every row called `name` (a damaged one included); returns how many."""
        with self._guard(), closing(self._connect()) as db:
            db.execute("DELETE FROM provenance WHERE name = ?", (name,))
            db.execute("DELETE FROM usage WHERE name = ?", (name,))
            return db.execute("DELETE FROM jobs WHERE name = ?", (name,)).rowcount

    def keep_provenance(self, ref: JobRef, record: dict) -> None:
        """What the run was made from (provenance.capture), replacing an earlier job's of the same name."""
        with self._guard(), closing(self._connect()) as db:
            db.execute("INSERT OR REPLACE INTO provenance (runtime, name, record) VALUES (?, ?, ?)",
                       (ref.runtime, ref.name, json.dumps(record, default=str)))

    def provenance(self, ref: JobRef) -> dict | None:
        """The run's provenance record; None for runs recorded before runs kept one."""
        with self._guard(), closing(self._connect()) as db:
            row = db.execute("SELECT record FROM provenance WHERE runtime = ? AND name = ?",
                             (ref.runtime, ref.name)).fetchone()
        return json.loads(row["record"]) if row else None

    def keep_usage(self, runs: list[tuple[JobRef, dict]]) -> None:
        """What each run used (usage.py's form) and its peaks, in one transaction, tied to the job row's
        submission time: an earlier job of the same name never lends its usage to a later one."""
        from .usage import summary

        rows = [(json.dumps(summary(samples)), json.dumps(samples), ref.runtime, ref.name) for ref, samples in runs]
        with self._guard(), closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT OR REPLACE INTO usage (runtime, name, submitted, summary, samples) "
                               "SELECT runtime, name, submitted, ?, ? FROM jobs WHERE runtime = ? AND name = ?", rows)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def usage(self, ref: JobRef) -> dict | None:
        """The run's samples (usage.py's form); None for runs that kept none."""
        with self._guard(), closing(self._connect()) as db:
            row = db.execute("SELECT u.samples FROM usage u JOIN jobs j ON j.runtime = u.runtime AND "
                             "j.name = u.name AND j.submitted = u.submitted WHERE u.runtime = ? AND u.name = ?",
                             (ref.runtime, ref.name)).fetchone()
        return json.loads(row["samples"]) if row else None

    def usage_summaries(self) -> dict[str, dict]:
        """Every run's peaks and notes (usage.summary), keyed by `JobRef.key`: one query for a history."""
        with self._guard(), closing(self._connect()) as db:
            rows = db.execute("SELECT u.runtime, u.name, u.summary FROM usage u JOIN jobs j ON j.runtime = "
                              "u.runtime AND j.name = u.name AND j.submitted = u.submitted").fetchall()
        out = {}
        for row in rows:
            try:
                out[JobRef(row["runtime"], row["name"]).key] = json.loads(row["summary"])
            except ValueError:
                continue  # one damaged summary hides that run's peaks, not the history
        return out

    def __iter__(self) -> Iterator[JobRecord]:
        return iter(self.list())


def _process_start(pid: int) -> str | None:
    """The kernel's start time of `pid` (guards against a recycled pid); None without /proc."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def submitter_identity() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": _process_start(os.getpid())}


def submitter_alive(owner: dict | None, recorded: str) -> bool:
    """Whether the process that recorded a row may still be submitting it."""
    if not isinstance(owner, dict):
        return False
    if owner.get("host") != socket.gethostname():
        import datetime as dt

        try:
            age = time.time() - dt.datetime.fromisoformat(recorded).timestamp()
        except ValueError:
            return False
        return age < PENDING_FOREIGN_SECONDS
    pid = owner.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    start = _process_start(pid)
    return start is None or owner.get("start") in (None, start)


def _held_by(row: sqlite3.Row) -> str | None:
    """Why a new submission may not take this row's name (None when it may: the job ended, or its
    submitter died before confirming it)."""
    name, runtime, state = row["name"], row["runtime"], row["state"]
    if state == "NEW":
        try:
            owner = (json.loads(row["ref"]).get("extra") or {}).get(SUBMITTER)
        except (ValueError, AttributeError):
            return None
        if submitter_alive(owner, row["submitted"]):
            pid = owner.get("pid") if isinstance(owner, dict) else None
            return f"job {name!r} is being submitted by another process (pid {pid}): choose another --name"
        return None
    if state in _TERMINAL:
        return None
    gone = "; if it is gone, `submarine-kernel forget " + name + "` frees the name" if state == "UNKNOWN" else ""
    return (f"job {name!r} on {runtime} is {state} and keeps its name: stop it first (%submarine stop {name}) "
            f"or choose another --name{gone}")


def _record(row: sqlite3.Row) -> JobRecord:
    status: Any = json.loads(row["status"]) if row["status"] else None
    return JobRecord(
        ref=JobRef.from_dict(json.loads(row["ref"])), spec=JobSpec.from_dict(json.loads(row["spec"])),
        bundle_uri=row["bundle_uri"], notebook=row["notebook"], params=json.loads(row["params"]),
        state=JobState(row["state"]).value, status=JobStatus.from_dict(status) if status else None,
        metrics=json.loads(row["metrics"]), submitted=row["submitted"], updated=row["updated"])
