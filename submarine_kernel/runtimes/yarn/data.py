"""What the YARN runtime keeps about a job in `JobRef.extra`, typed: the RM that took it, when, how its
replicas map onto YARN components, its TensorBoard quicklink and the replica that decides its outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ...job_types import JobRef
from ...spec import JobSpec
from .service import ComponentPlan, component_plan


@dataclass(frozen=True)
class YarnJobData:
    """The runtime's own facts about one job, typed; `JobRef.extra` is their stored form."""

    #: the ResourceManager that accepted the job (links point there)
    rm: str = ""
    user: str = ""
    #: milliseconds since the epoch, from just before the POST (the apps list call's startedTimeBegin)
    submitted_ms: int = 0
    components: tuple[ComponentPlan, ...] = field(default_factory=tuple)
    tensorboard: str = ""
    #: the replica whose end decides the job's (`worker-0`): the default replica of `logs`
    deciding: str = ""

    @classmethod
    def ref(cls, spec: JobSpec, app_id: str, *, rm: str, user: str, submitted_ms: int,
            tensorboard: str = "") -> JobRef:
        """The JobRef of the service made from `spec` (a spec without roles, rebuilt from a service that kept
        none, maps no components)."""
        data = cls(rm=rm, user=user, submitted_ms=submitted_ms,
                   components=tuple(component_plan(spec)) if spec.roles else (),
                   deciding=f"{spec.deciding_role}-0" if spec.roles else "", tensorboard=tensorboard)
        return JobRef("yarn", spec.name, id=app_id, extra=data.to_extra())

    @classmethod
    def of(cls, ref: JobRef) -> "YarnJobData":
        extra: Mapping[str, Any] = ref.extra or {}
        try:
            submitted_ms = int(extra.get("submitted_ms") or 0)
        except (TypeError, ValueError):
            submitted_ms = 0
        components = tuple(ComponentPlan(name, role, int(first), int(count))
                           for name, (role, first, count) in (extra.get("components") or {}).items())
        return cls(rm=str(extra.get("rm") or ""), user=str(extra.get("user") or ""), submitted_ms=submitted_ms,
                   components=components, tensorboard=str(extra.get("tensorboard") or ""),
                   # rows written by older versions call it "decider"
                   deciding=str(extra.get("deciding") or extra.get("decider") or ""))

    def to_extra(self) -> dict[str, Any]:
        """The plain mapping the registry stores (component plans as [role, first index, count])."""
        extra: dict[str, Any] = {
            "rm": self.rm,
            "user": self.user,
            "submitted_ms": self.submitted_ms,
            "components": {p.name: [p.role, p.first_index, p.count] for p in self.components},
            "deciding": self.deciding,
        }
        if self.tensorboard:
            extra["tensorboard"] = self.tensorboard
        return extra
