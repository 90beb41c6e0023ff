"""What the Kubernetes metrics API reports of each replica's pod, as usage.py samples.

`metrics.k8s.io/v1beta1` PodMetrics (served by metrics-server or an adapter, from the kubelets' cAdvisor):
each container's CPU (cores, as a quantity: `250m`, `12345678n`) and memory working set (`100Mi`) over a
recent window. One list per namespace per round covers every job there; a cluster that does not serve the
API says so in one line. It reports no GPU use (that needs NVIDIA's DCGM exporter and Prometheus).
"""

from __future__ import annotations

import time
from typing import Mapping

from ... import usage

SOURCE = "Kubernetes metrics API (metrics.k8s.io PodMetrics)"
NOT_SERVED = "no resource metrics: metrics.k8s.io is not served by this cluster"
NO_POD = "no resource metrics yet: no pod of this job runs"
NOT_MEASURED = "no resource metrics yet: the metrics API has not measured this job's pods (it does every ~15 s)"
NO_GPU = "no GPU metrics: the Kubernetes metrics API does not report GPU use"


def pod_totals(item: Mapping) -> tuple[float | None, int | None]:
    """(CPU % of one core, memory bytes) of one PodMetrics item: its containers summed."""
    from kubernetes.utils import parse_quantity  # the client's own quantity rules (n, u, m, Ki, Mi, G...)

    cpu, memory, seen = 0.0, 0, False
    for container in item.get("containers") or []:
        used = container.get("usage") or {}
        try:
            if "cpu" in used:
                cpu += float(parse_quantity(used["cpu"])) * 100
            if "memory" in used:
                memory += int(parse_quantity(used["memory"]))
            seen = True
        except ValueError:
            continue  # one unreadable quantity: that container is left out, not the job
    return (round(cpu, 1), memory) if seen else (None, None)


def add_samples(samples: dict, replica_pods: Mapping[str, str], metrics: Mapping[str, Mapping] | str | None,
                budget: int, now: float | None = None) -> None:
    """One point per replica (`replica → pod name`) the metrics list (`pod name → PodMetrics`; None when the
    API is not served, or the one-line reason it could not be read) has; the notes say what holds now."""
    if isinstance(metrics, str):
        samples["notes"] = [f"no resource metrics: {metrics}"]
        return
    now = round(time.time() if now is None else now, 1)
    for replica, pod in replica_pods.items():
        item = (metrics or {}).get(pod)
        if item is None:
            continue
        cpu, memory = pod_totals(item)
        if cpu is not None or memory is not None:
            usage.add_point(samples, replica, [now, cpu, memory, None, None], budget)
    why = ""
    if metrics is None:
        why = NOT_SERVED
    elif not samples["replicas"]:
        why = NO_POD if not replica_pods else NOT_MEASURED
    samples["notes"] = [why] if metrics is None else [n for n in (why, NO_GPU) if n]
