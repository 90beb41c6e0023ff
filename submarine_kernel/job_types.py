"""The job data every layer shares: states, statuses, references, and the submission token.

The registry, tracker, render, widgets and magics use these without importing any runtime. A `JobRef` carries
its runtime's own facts as `extra` (a plain mapping, as the registry stores it); each runtime reads and writes
it only through its typed data class (`LocalJobData`, `YarnJobData`, `KubernetesJobData`).
"""

from __future__ import annotations

import datetime as _dt
import enum
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping


#: JobSpec label with the token of one submission (set by Session.submit): a runtime recognises the job that
#: a retried or interrupted submission made by it
SUBMISSION_LABEL = "submarine-kernel/submission"


#: JobStatus.details key of a sweep trial its early-stopping rule stopped: the last step it ran. Such a job stays
#: STOPPED (what its runtime says, and what every reader of the registry knows); views show it as PRUNED
PRUNED_AT_STEP = "pruned at step"
PRUNED = "PRUNED"


class JobState(str, enum.Enum):
    NEW = "NEW"
    SUBMITTED = "SUBMITTED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"
    UNKNOWN = "UNKNOWN"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.STOPPED)

    def __str__(self) -> str:
        return self.value


def utcnow() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class ReplicaStatus:
    """One replica (`worker-1`): its state, the runtime's raw state, exit code and where it runs."""

    name: str
    role: str
    index: int
    state: JobState = JobState.UNKNOWN
    raw_state: str = ""
    exit_code: int | None = None
    host: str | None = None
    started: str | None = None
    finished: str | None = None


@dataclass
class JobStatus:
    """A job's standard state plus everything views show: times, replicas, message, links."""

    state: JobState
    raw_state: str = ""
    submitted: str | None = None
    started: str | None = None
    finished: str | None = None
    replicas: list[ReplicaStatus] = field(default_factory=list)
    message: str = ""
    links: dict[str, str] = field(default_factory=dict)
    stale: bool = False
    #: facts about how the job runs, shown under its state (Kubernetes: which API, and why)
    details: dict[str, str] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.state.terminal

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "JobStatus":
        replicas = [ReplicaStatus(**{**r, "state": JobState(r["state"])}) for r in data.get("replicas", [])]
        return cls(**{**data, "state": JobState(data["state"]), "replicas": replicas})

    def same_as(self, other: "JobStatus | None") -> bool:
        return other is not None and self.to_dict() == other.to_dict()


@dataclass(frozen=True)
class JobRef:
    """How a runtime finds a job again, in this process or a later one."""

    runtime: str
    name: str
    id: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.runtime}/{self.name}"

    def to_dict(self) -> dict:
        return {"runtime": self.runtime, "name": self.name, "id": self.id, "extra": dict(self.extra)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "JobRef":
        return cls(data["runtime"], data["name"], data.get("id", ""), data.get("extra", {}))


def submission_token(labels: Mapping[str, str] | None) -> str:
    """The submission token among a job's labels ("" when it has none)."""
    return (labels or {}).get(SUBMISSION_LABEL, "") or ""


def same_submission(ours: Mapping[str, str] | None, found: Mapping[str, str] | None) -> bool:
    """Whether a job found on a runtime (its labels `found`) is the one this submission (labels `ours`)
    made: a retried create that meets it adopts it; a different or missing token means the name is taken."""
    token = submission_token(ours)
    return bool(token) and submission_token(found) == token
