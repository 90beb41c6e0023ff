"""Which Kubernetes training API a job uses, and why (asking the cluster's discovery for `auto`).

`KubernetesRuntime.api` is `auto` (default), `trainer` (Kubeflow Trainer v2 TrainJob, JobSet for TensorFlow),
`training-operator` (the v1 TFJob/PyTorchJob/XGBoostJob) or `job` (a plain Indexed Job). `auto` asks the API
server's discovery which groups it serves and takes Trainer v2 first, then v1, then the plain Job; without a
cluster (a dry run with no kubeconfig) it renders Trainer v2 and says so. The choice is plain data, shown
in the dry run's header and in `%submarine status`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Collection

if TYPE_CHECKING:
    from ...spec import JobSpec
    from .kinds import Kind
    from .client import Client
    from .data import KubernetesJobData

TRAINER = "trainer"
TRAINING_OPERATOR = "training-operator"
PLAIN_JOB = "job"
AUTO = "auto"
APIS = (AUTO, TRAINER, TRAINING_OPERATOR, PLAIN_JOB)
TRAINER_GROUP_VERSION = "trainer.kubeflow.org/v1alpha1"
OPERATOR_GROUP_VERSION = "kubeflow.org/v1"
#: what api 'auto' asks the discovery for, in the order it prefers
DISCOVERY_ORDER = (TRAINER_GROUP_VERSION, OPERATOR_GROUP_VERSION)
TITLES = {TRAINER: "Kubeflow Trainer v2", TRAINING_OPERATOR: "Kubeflow training operator v1",
          PLAIN_JOB: "a plain Indexed Job"}


@dataclass(frozen=True)
class ApiChoice:
    """The API a job is built for, and the reason in words (shown to the user)."""

    api: str
    reason: str

    @property
    def title(self) -> str:
        return TITLES[self.api]

    def describe(self) -> str:
        return f"{self.title} ({self.reason})"


def kind_for(choice: ApiChoice, spec: "JobSpec") -> "Kind":
    """The kind of job object `spec` becomes on the API of `choice`."""
    from .kinds import OPERATOR_KINDS, PLAIN_JOB
    from .trainer import trainer_kind

    if choice.api == TRAINER:
        return trainer_kind(spec)
    if choice.api == TRAINING_OPERATOR:
        return OPERATOR_KINDS.get(spec.framework, PLAIN_JOB)
    return PLAIN_JOB


def choose(setting: str, served: Collection[str] | None) -> ApiChoice:
    """The API for `setting`; `served` are the group/versions the cluster serves (None: no cluster asked)."""
    if setting not in APIS:
        raise ValueError(f"unknown api {setting!r}")
    if setting != AUTO:
        return ApiChoice(setting, f"KubernetesRuntime.api = {setting!r}")
    if served is None:
        return ApiChoice(TRAINER, "api 'auto' without a cluster to ask: rendered for Trainer v2, the current "
                                  "Kubeflow API; a submission asks the cluster's discovery")
    if TRAINER_GROUP_VERSION in served:
        return ApiChoice(TRAINER, f"api 'auto': the cluster serves {TRAINER_GROUP_VERSION}")
    if OPERATOR_GROUP_VERSION in served:
        return ApiChoice(TRAINING_OPERATOR, f"api 'auto': the cluster serves {OPERATOR_GROUP_VERSION}, "
                                            f"not {TRAINER_GROUP_VERSION}")
    return ApiChoice(PLAIN_JOB, f"api 'auto': the cluster serves neither {TRAINER_GROUP_VERSION} nor "
                                f"{OPERATOR_GROUP_VERSION}")


def details(data: "KubernetesJobData") -> dict[str, str]:
    """How a job runs, for `%submarine status`: the API and why, its queue."""
    out = {}
    if data.api in TITLES:
        out["api"] = f"{TITLES[data.api]}: {data.kind} ({data.api_reason or 'chosen at submit'})"
    if data.queue:
        out["queue"] = f"Kueue LocalQueue {data.queue!r}"
    return out


def discover(client: "Client") -> set[str]:
    """Which of the training APIs the API server serves (`GET /apis/<group>/<version>` of each, in the
    order api 'auto' prefers them, stopping at the first served)."""
    from ...retry import retried
    from .client import NotFound

    served: set[str] = set()
    for group_version in DISCOVERY_ORDER:
        group, version = group_version.split("/")
        try:
            retried(lambda: client.call("discover", f"the API {group_version}", client.custom.get_api_resources,
                                        group, version, _preload_content=False), "asking the cluster's discovery")
        except NotFound:
            continue
        served.add(group_version)
        break
    return served
