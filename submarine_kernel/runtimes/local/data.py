"""What a local job's JobRef carries (`JobRef.extra`, as the registry stores it): the job's folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...job_types import JobRef


@dataclass(frozen=True)
class LocalJobData:
    """The runtime's own facts about one job, typed; `JobRef.extra` is their stored form."""

    dir: str = ""  # the job's folder (job.json, status.json, logs/, one folder per replica)

    @classmethod
    def of(cls, ref: JobRef) -> "LocalJobData":
        return cls(dir=str(ref.extra.get("dir") or ""))

    def to_extra(self) -> dict[str, str]:
        return {"dir": self.dir}

    @classmethod
    def ref(cls, name: str, job_dir: Path | str) -> JobRef:
        """The JobRef of the local job `name` kept in `job_dir`."""
        return JobRef("local", name, id=str(job_dir), extra=cls(dir=str(job_dir)).to_extra())
