"""Which Kubernetes training API a job uses, and why; and what the installed `kubernetes` client needs.

`KubernetesRuntime.api` is `auto` (default), `trainer` (Kubeflow Trainer v2 TrainJob, JobSet for TensorFlow),
`training-operator` (the v1 TFJob/PyTorchJob/XGBoostJob) or `job` (a plain Indexed Job). `auto` asks the API
server's discovery which groups it serves and takes Trainer v2 first, then v1, then the plain Job; without a
cluster (a dry run with no kubeconfig) it renders Trainer v2 and says so. The choice is plain data, shown
in the dry run's header and in `%submarine status`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Collection

TRAINER = "trainer"
TRAINING_OPERATOR = "training-operator"
PLAIN_JOB = "job"
AUTO = "auto"
APIS = (AUTO, TRAINER, TRAINING_OPERATOR, PLAIN_JOB)
TRAINER_GROUP_VERSION = "trainer.kubeflow.org/v1alpha1"
JOBSET_GROUP_VERSION = "jobset.x-k8s.io/v1alpha2"
OPERATOR_GROUP_VERSION = "kubeflow.org/v1"
#: what api 'auto' asks the discovery for, in the order it prefers
DISCOVERY_ORDER = (TRAINER_GROUP_VERSION, OPERATOR_GROUP_VERSION)
#: the release where the client validates its arguments with pydantic and writes booleans as `true`
PYDANTIC_CLIENT_MAJOR = 37
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


def client_major() -> int:
    """The major version of the installed `kubernetes` client (0 when it does not say)."""
    import kubernetes

    try:
        return int(str(getattr(kubernetes, "__version__", "0")).split(".")[0])
    except ValueError:
        return 0


def wire_bool(value: bool):
    """A boolean query parameter as the installed client must be given it to send `true`/`false`.

    Up to release 36 the client writes Python's `True`, which Go servers accept but stricter peers do not,
    so it gets the string; from 37 its pydantic checks refuse strings and it writes `true` itself.
    """
    if client_major() >= PYDANTIC_CLIENT_MAJOR:
        return bool(value)
    return "true" if value else "false"


#: Kueue's on-demand visibility API: the pending workloads of a LocalQueue, with their positions
KUEUE_VISIBILITY = "/apis/visibility.kueue.x-k8s.io/v1beta1/namespaces/{namespace}/localqueues/{queue}/pendingworkloads"


def get_json(api_client, path: str, _request_timeout: float | None = None) -> dict:
    """GET an API path that no generated method covers (a subresource path with slashes), with the client's
    credentials; raises the client's ApiException on an error status, as its generated methods do."""
    from kubernetes.client.exceptions import ApiException

    headers = {"Accept": "application/json"}
    if client_major() >= PYDANTIC_CLIENT_MAJOR:  # the generator of 37 splits serialising from sending
        method, url, headers, body, post = api_client.param_serialize(
            "GET", path, header_params=headers, auth_settings=["BearerToken"])
        response = api_client.call_api(method, url, headers, body, post, _request_timeout=_request_timeout)
        data = response.read()
        if response.status >= 400:
            raise ApiException(status=response.status, reason=response.reason, body=data)
    else:
        response = api_client.call_api(path, "GET", header_params=headers, auth_settings=["BearerToken"],
                                       _preload_content=False, _return_http_data_only=True,
                                       _request_timeout=_request_timeout)
        data = response.data
    return json.loads(data or b"{}")


def queue_positions(summary: dict) -> dict[str, int]:
    """owner uid (and owner name) → workloads ahead of it in its LocalQueue, from a PendingWorkloadsSummary."""
    out: dict[str, int] = {}
    for item in summary.get("items") or []:
        position = item.get("positionInLocalQueue")
        if not isinstance(position, int):
            continue
        for owner in (item.get("metadata") or {}).get("ownerReferences") or []:
            for key in (owner.get("uid"), f"{owner.get('kind')}/{owner.get('name')}"):
                if key:
                    out[key] = position
    return out


def details(extra: dict) -> dict[str, str]:
    """How a job runs, for `%submarine status`, from its JobRef's extra: the API and why, its queue."""
    out = {}
    api = extra.get("api")
    if api in TITLES:
        out["api"] = f"{TITLES[api]}: {extra.get('kind', '')} ({extra.get('api_reason') or 'chosen at submit'})"
    if extra.get("queue"):
        out["queue"] = f"Kueue LocalQueue {extra['queue']!r}"
    return out


def missing_api(kind) -> str:
    """What to call the API a 404 on creating `kind` says is missing."""
    if kind.operator:
        return "the Kubeflow training operator"
    if kind.group == "trainer.kubeflow.org":
        return "Kubeflow Trainer v2"
    if kind.group == "jobset.x-k8s.io":
        return "JobSet (which Kubeflow Trainer v2 runs on)"
    return f"the {kind.kind} API of {kind.group}"


def missing_api_fix(kind) -> str:
    if kind.kind == "PodGroup":
        return "install that gang scheduler, or set KubernetesRuntime.scheduler = 'default'"
    if kind.operator:
        return "install it, or set KubernetesRuntime.api = 'job' to run a plain Job ('auto' picks what is served)"
    return ("install it, or set KubernetesRuntime.api = 'training-operator' or 'job' ('auto' picks what is "
            "served)")
