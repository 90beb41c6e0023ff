"""The environment contract every replica sees, on every runtime.

It is the one the Kubeflow training operator gives in a cluster (TF_CONFIG; MASTER_ADDR, MASTER_PORT,
WORLD_SIZE, RANK), plus SUBMARINE_* variables, so training code moves between runtimes unchanged.
"""

from __future__ import annotations

import json
from typing import Mapping, Sequence

from .spec import JobSpec

ALGORITHM_DIR = "submarine_algorithm"
#: TF_CONFIG's cluster keys, in the order the operator lists them
TF_ROLE_ORDER = ("chief", "master", "worker", "ps", "evaluator")


def replica_names(spec: JobSpec) -> list[tuple[str, int]]:
    """(role, index) of every replica, deciding role first."""
    order = sorted(spec.roles, key=lambda r: TF_ROLE_ORDER.index(r) if r in TF_ROLE_ORDER else 99)
    return [(role, i) for role in order for i in range(spec.roles[role].replicas)]


def submarine_env(spec: JobSpec, role: str, index: int) -> dict[str, str]:
    """SUBMARINE_* variables for one replica (params included)."""
    env = {
        "SUBMARINE_JOB_NAME": spec.name,
        "SUBMARINE_FRAMEWORK": spec.framework,
        "SUBMARINE_ROLE": role,
        "SUBMARINE_REPLICA_INDEX": str(index),
    }
    if spec.input_path:
        env["SUBMARINE_INPUT_PATH"] = spec.input_path
    if spec.checkpoint_path:
        env["SUBMARINE_CHECKPOINT_PATH"] = spec.checkpoint_path
    return env


def tf_config(cluster: Mapping[str, Sequence[str]], role: str, index: int) -> str:
    """TF_CONFIG as the operator writes it (evaluators are not part of the cluster, as in TFJob)."""
    members = {r: list(addrs) for r, addrs in cluster.items() if r != "evaluator"}
    return json.dumps({"cluster": members, "task": {"type": role, "index": index}, "environment": "cloud"})


def rank(spec: JobSpec, role: str, index: int) -> int:
    """Master is rank 0, worker i is rank i+1 (the operator's rule); without a master, worker i is rank i."""
    if role == "master":
        return 0
    return index + (1 if "master" in spec.roles else 0)


def distributed_env(spec: JobSpec, role: str, index: int, master_addr: str, master_port: int) -> dict[str, str]:
    """MASTER_ADDR / WORLD_SIZE / RANK for PyTorch and XGBoost jobs."""
    return {
        "MASTER_ADDR": master_addr,
        "MASTER_PORT": str(master_port),
        "WORLD_SIZE": str(spec.replica_count),
        "RANK": str(rank(spec, role, index)),
        "PYTHONUNBUFFERED": "1",
    }
