"""`KubernetesJobData`: what the Kubernetes runtime keeps about a job in `JobRef.extra`, typed.

The registry stores `extra` as a plain mapping; `of` reads one back (rows written by older versions lack
some keys, and those get the defaults), `to_extra` writes it. The runtime touches `ref.extra` only here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

from ...contract import replica_names
from ...job_types import JobRef
from ...spec import JobSpec


@dataclass(frozen=True)
class KubernetesJobData:
    """How to find one job's objects and pods again, and how it was made."""

    #: where the job lives ("": the runtime's namespace, as rows without one meant)
    namespace: str = ""
    #: the job object's plural (`pytorchjobs`, `trainjobs`, `jobs`) and kind
    plural: str = ""
    kind: str = ""
    #: the container whose log is a replica's log ("": the pod's only one)
    container: str = ""
    #: replica names (`worker-1`) in completion-index order
    replicas: tuple[str, ...] = field(default_factory=tuple)
    #: the replica whose end decides the job's (and whose log `logs` reads by default)
    deciding: str = ""
    #: how the algorithm files reach the pods: "configmap" or "storage"
    delivery: str = ""
    #: the API chosen at submit (`trainer`, `training-operator`, `job`) and why, in words
    api: str = ""
    api_reason: str = ""
    #: the Kueue LocalQueue the job waits in ("" for none)
    queue: str = ""

    @classmethod
    def ref(cls, spec: JobSpec, job: Mapping[str, Any], *, namespace: str, plural: str, kind: str,
            container: str, **made: str) -> JobRef:
        """The JobRef of the job object `job` made from `spec` (its uid; its replicas from the spec); `made`
        says how it was made (delivery, api, api_reason, queue)."""
        data = cls(namespace=namespace, plural=plural, kind=kind, container=container,
                   replicas=tuple(f"{role}-{index}" for role, index in replica_names(spec)),
                   deciding=f"{spec.deciding_role}-0" if spec.roles else "", **made)
        return JobRef("kubernetes", spec.name, (job.get("metadata") or {}).get("uid", ""), data.to_extra())

    @classmethod
    def of(cls, ref: JobRef) -> "KubernetesJobData":
        """The data of `ref`, from its extra mapping; unknown keys are ignored, missing ones defaulted."""
        return cls.from_extra(ref.extra)

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any] | None) -> "KubernetesJobData":
        extra = extra or {}
        values = {f.name: extra[f.name] for f in fields(cls) if extra.get(f.name) is not None}
        values["replicas"] = tuple(values.get("replicas") or ())
        return cls(**values)

    def to_extra(self) -> dict[str, Any]:
        """A plain mapping for `JobRef.extra` (what the registry stores)."""
        out = asdict(self)
        out["replicas"] = list(self.replicas)
        return out
