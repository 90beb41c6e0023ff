"""The environment contract every replica sees, on every runtime: the one rule, per framework.

It is the one the Kubeflow training operator gives in a cluster, plus SUBMARINE_* variables, so training code
moves between runtimes unchanged:

| framework  | address variables                                              |
|------------|----------------------------------------------------------------|
| tensorflow | `TF_CONFIG`                                                    |
| pytorch    | `MASTER_ADDR`, `MASTER_PORT`, `WORLD_SIZE`, `RANK`, `LOCAL_RANK` |
| xgboost    | `MASTER_ADDR`, `MASTER_PORT`, `WORLD_SIZE`, `RANK`, `LOCAL_RANK` |
| custom     | both: a custom job's replicas have no other way to find each other |

Every replica also gets `SUBMARINE_JOB_NAME`, `SUBMARINE_FRAMEWORK`, `SUBMARINE_ROLE`, `SUBMARINE_REPLICA_INDEX`,
`SUBMARINE_INPUT_PATH`, `SUBMARINE_CHECKPOINT_PATH` (when set) and `PYTHONUNBUFFERED=1`.

`replica_env` is the one place that composes them. Runtimes that learn a replica's index only when it starts
(YARN's `${COMPONENT_ID}`, a JobSet's completion index) ask for the index-free form (`index=None`): the
values that hold the index come back as `Indexed`, which each runtime writes in its own syntax.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Sequence, Union

from .spec import JobSpec

ALGORITHM_DIR = "submarine_algorithm"
#: TF_CONFIG's cluster keys, in the order the operator lists them
TF_ROLE_ORDER = ("chief", "master", "worker", "ps", "evaluator")
#: which frameworks get TF_CONFIG, and which get the PyTorch-style MASTER_ADDR/WORLD_SIZE/RANK
TF_CONFIG_FRAMEWORKS = ("tensorflow", "custom")
RANKED_FRAMEWORKS = ("pytorch", "xgboost", "custom")
#: the variables a training operator v1 (TFJob, PyTorchJob, XGBoostJob) writes itself
OPERATOR_VARIABLES = ("TF_CONFIG", "MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK")
# A TF_CONFIG task index that cannot occur elsewhere in the JSON, split out to leave the index open.
_INDEX_SENTINEL = 918273645546372819


@dataclass(frozen=True)
class Indexed:
    """A value holding the replica's index plus `offset` between two fixed texts: `before` + (index + offset) +
    `after`. Runtimes that know the index only when the replica starts write it in their own syntax."""

    before: str
    offset: int = 0
    after: str = ""

    def at(self, index: int) -> str:
        return f"{self.before}{index + self.offset}{self.after}"


Value = Union[str, Indexed]


@dataclass(frozen=True)
class Addresses:
    """Where a runtime's replicas listen: role → `host:port` per index (replica order), and the port the
    deciding replica's process group listens on (`MASTER_PORT`)."""

    cluster: Mapping[str, Sequence[str]]
    master_port: int


def replica_names(spec: JobSpec) -> list[tuple[str, int]]:
    """(role, index) of every replica, deciding role first."""
    order = sorted(spec.roles, key=lambda r: TF_ROLE_ORDER.index(r) if r in TF_ROLE_ORDER else 99)
    return [(role, i) for role in order for i in range(spec.roles[role].replicas)]


def rank(spec: JobSpec, role: str, index: int) -> int:
    """Master is rank 0, worker i is rank i+1 (the operator's rule); without a master, worker i is rank i."""
    if role == "master":
        return 0
    return index + (1 if "master" in spec.roles else 0)


def replica_env(spec: JobSpec, role: str, index: int | None, addresses: Addresses | None) -> dict[str, Value]:
    """The contract's variables for replica `index` of `role`, in the order a shell may export them.

    `index=None`: the index is not known yet; the values that hold it are `Indexed`. `addresses=None`: the
    training operator v1 writes the address variables (`OPERATOR_VARIABLES`) itself, so they are left out."""

    def indexed(offset: int = 0, before: str = "", after: str = "") -> Value:
        pattern = Indexed(before, offset, after)
        return pattern if index is None else pattern.at(index)

    env: dict[str, Value] = {
        "SUBMARINE_JOB_NAME": spec.name,
        "SUBMARINE_FRAMEWORK": spec.framework,
        "SUBMARINE_ROLE": role,
        "SUBMARINE_REPLICA_INDEX": indexed(),
    }
    if spec.input_path:
        env["SUBMARINE_INPUT_PATH"] = spec.input_path
    if spec.checkpoint_path:
        env["SUBMARINE_CHECKPOINT_PATH"] = spec.checkpoint_path
    env["PYTHONUNBUFFERED"] = "1"
    if addresses is not None and spec.framework in TF_CONFIG_FRAMEWORKS:
        before, _, after = tf_config(addresses.cluster, role, _INDEX_SENTINEL).partition(str(_INDEX_SENTINEL))
        env["TF_CONFIG"] = indexed(0, before, after)
    if spec.framework in RANKED_FRAMEWORKS:
        if addresses is not None:
            deciding_role = replica_names(spec)[0][0]
            env["MASTER_ADDR"] = addresses.cluster[deciding_role][0].rsplit(":", 1)[0]
            env["MASTER_PORT"] = str(addresses.master_port)
            env["WORLD_SIZE"] = str(spec.replica_count)
            env["RANK"] = indexed(rank(spec, role, 0))
        env["LOCAL_RANK"] = "0"  # one process per replica, each its own node with its own devices, like a pod
    return env


def tf_config(cluster: Mapping[str, Sequence[str]], role: str, index: int) -> str:
    """TF_CONFIG as the operator writes it (evaluators are not part of the cluster, as in TFJob)."""
    members = {r: list(addrs) for r, addrs in cluster.items() if r != "evaluator"}
    return json.dumps({"cluster": members, "task": {"type": role, "index": index}, "environment": "cloud"})
