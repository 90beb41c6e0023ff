"""The Kubernetes runtime: JobSpec → Kubeflow Trainer v2, training operator v1 or plain Indexed Job objects,
created and followed through the official `kubernetes` client. `runtime.py` holds the Runtime class; each
other module names its one job (client, watch, status, logs, manifests, trainer, api_choice, data...)."""

from .data import KubernetesJobData
from .runtime import KubernetesRuntime

__all__ = ["KubernetesJobData", "KubernetesRuntime"]
