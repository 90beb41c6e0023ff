"""The kinds of job objects the runtime creates (v1 operator jobs, the plain Job, Trainer v2's TrainJob and
JobSet) and the custom kinds made beside them, with where each is served, how its pods look, and what to say
when the cluster does not serve one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ...spec import JobSpec


@dataclass(frozen=True)
class Kind:
    """One kind of job object the runtime creates, and how its pods look."""

    group: str
    version: str
    kind: str
    plural: str
    replica_specs_key: str | None  # None for the plain Job
    container: str  # the name the operator's webhook requires
    port: int  # where replicas talk to each other

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def operator(self) -> bool:
        """A v1 training operator kind (TFJob, PyTorchJob, XGBoostJob)."""
        return self.replica_specs_key is not None

    @property
    def custom(self) -> bool:
        """Served through the custom objects API (everything but the core batch/v1 Job)."""
        return self.group != "batch"


TFJOB = Kind("kubeflow.org", "v1", "TFJob", "tfjobs", "tfReplicaSpecs", "tensorflow", 2222)
PYTORCHJOB = Kind("kubeflow.org", "v1", "PyTorchJob", "pytorchjobs", "pytorchReplicaSpecs", "pytorch", 23456)
XGBOOSTJOB = Kind("kubeflow.org", "v1", "XGBoostJob", "xgboostjobs", "xgbReplicaSpecs", "xgboost", 9999)
PLAIN_JOB = Kind("batch", "v1", "Job", "jobs", None, "submarine", 29500)
TRAINJOB = Kind("trainer.kubeflow.org", "v1alpha1", "TrainJob", "trainjobs", None, "node", 29500)
JOBSET = Kind("jobset.x-k8s.io", "v1alpha2", "JobSet", "jobsets", None, "tensorflow", 2222)
TRAINING_RUNTIME = Kind("trainer.kubeflow.org", "v1alpha1", "TrainingRuntime", "trainingruntimes", None, "node",
                        29500)
OPERATOR_KINDS = {"tensorflow": TFJOB, "pytorch": PYTORCHJOB, "xgboost": XGBOOSTJOB}
#: every kind a job can be, by plural (the plural is what a JobRef keeps)
KINDS_BY_PLURAL = {k.plural: k for k in (TFJOB, PYTORCHJOB, XGBOOSTJOB, PLAIN_JOB, TRAINJOB, JOBSET)}
#: role → replica type key in the operator's replica specs
REPLICA_TYPES = {"chief": "Chief", "master": "Master", "worker": "Worker", "ps": "PS", "evaluator": "Evaluator"}
#: custom kinds created beside a job, by kind: plural (group and version come from apiVersion)
_OWNED_CUSTOM_PLURALS = {"TrainingRuntime": "trainingruntimes", "PodGroup": "podgroups"}


def job_kind(spec: JobSpec, training_operator: bool) -> Kind:
    """The v1 kind of object `spec` becomes: the operator's kind for its framework, else a plain Job."""
    if training_operator and spec.framework in OPERATOR_KINDS:
        return OPERATOR_KINDS[spec.framework]
    return PLAIN_JOB


def kind_of_plural(plural: str) -> Kind:
    """The job kind a JobRef names by plural (rows of old versions name none: the plain Job)."""
    return KINDS_BY_PLURAL.get(plural, PLAIN_JOB)


def custom_kind(obj: Mapping[str, Any]) -> Kind | None:
    """The Kind of a custom object created beside a job (TrainingRuntime, PodGroup); None for core kinds."""
    group, _, version = obj.get("apiVersion", "").rpartition("/")
    plural = _OWNED_CUSTOM_PLURALS.get(obj.get("kind", ""))
    if not group or group in ("apps", "batch") or plural is None:
        return None
    return Kind(group, version, obj["kind"], plural, None, "", 0)


def missing_api(kind: Kind) -> str:
    """What to call the API a 404 on creating `kind` says is missing."""
    if kind.operator:
        return "the Kubeflow training operator"
    if kind.group == "trainer.kubeflow.org":
        return "Kubeflow Trainer v2"
    if kind.group == "jobset.x-k8s.io":
        return "JobSet (which Kubeflow Trainer v2 runs on)"
    return f"the {kind.kind} API of {kind.group}"


def missing_api_fix(kind: Kind) -> str:
    """What to do about it: install the API, or pick one the cluster serves."""
    if kind.kind == "PodGroup":
        return "install that gang scheduler, or set KubernetesRuntime.scheduler = 'default'"
    if kind.operator:
        return "install it, or set KubernetesRuntime.api = 'job' to run a plain Job ('auto' picks what is served)"
    return ("install it, or set KubernetesRuntime.api = 'training-operator' or 'job' ('auto' picks what is "
            "served)")
