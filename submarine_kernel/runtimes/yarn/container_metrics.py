"""What YARN's NodeManagers report of each container's resource use, as usage.py samples.

A Hadoop 3 NodeManager publishes one `ContainerResource_<container id>` bean per container in its `/jmx`
(`yarn.nodemanager.container-metrics.enable`, on by default), filled by its containers monitor: physical
memory (`PMemUsageMBs...`, MiB) and CPU (`PCpuUsagePercent...`, percent of one core, as `top`), each with the
interval's and the lifetime's min and max. It fills the values only when the container ends, unless
`yarn.nodemanager.container-metrics.period-ms` is set (then after that period, and on every read after):
an empty bean is that, said once. No GPU use is among them. Beans stay
`yarn.nodemanager.container-metrics.unregister-delay-ms` (10 s) after a container ends, so the last read
after a job ended still finds their lifetime peaks.
"""

from __future__ import annotations

import time
from typing import Mapping

from ... import usage

SOURCE = "YARN NodeManager container metrics (/jmx)"
BEANS = "Hadoop:service=NodeManager,name=ContainerResource_*"
MIB = 1 << 20
NOT_YET = ("no live resource metrics: the NodeManager publishes a container's metrics only when it ends; set "
           "yarn.nodemanager.container-metrics.period-ms (e.g. 10000) on the NodeManagers to see them while it runs")
NO_BEANS = ("no resource metrics: the NodeManager lists no container metrics (yarn.nodemanager.container-metrics."
            "enable is off, or the containers ended over 10 s ago)")
NO_GPU = "no GPU metrics: YARN's container metrics do not report GPU use"
NO_CONTAINER = "no resource metrics yet: YARN has started no container of this job"


def beans_by_container(answer: Mapping) -> dict[str, dict]:
    """The `/jmx` answer's ContainerResource beans by container id."""
    found = {}
    for bean in answer.get("beans") or []:
        name = str(bean.get("name", ""))
        if "ContainerResource_" in name:
            found[name.rsplit("ContainerResource_", 1)[1]] = bean
    return found


def has_values(bean: Mapping) -> bool:
    return "PMemUsageMBsMaxMBs" in bean or "PCpuUsagePercentMaxPercents" in bean


def _number(bean: Mapping, key: str) -> float | None:
    value = bean.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def add_samples(samples: dict, replicas: Mapping[str, str], beans: Mapping[str, dict], budget: int,
                now: float | None = None) -> None:
    """One point per replica (`replica name → container id`) whose bean has values: the last interval's
    largest CPU % and memory, and the container's lifetime maxima as its peaks; the notes say what is missing."""
    now = round(time.time() if now is None else now, 1)
    waiting = False
    for replica, container in replicas.items():
        bean = beans.get(container)
        if bean is None:
            continue
        if not has_values(bean):
            waiting = True
            continue
        memory = _number(bean, "PMemUsageMBsIMaxMBs")
        if memory is None:
            memory = _number(bean, "PMemUsageMBsMaxMBs")
        cpu = _number(bean, "PCpuUsagePercentIMaxPercents")
        if cpu is None:
            cpu = _number(bean, "PCpuUsagePercentMaxPercents")
        usage.add_point(samples, replica, [now, cpu, None if memory is None else int(memory * MIB), None, None], budget)
        peak_memory = _number(bean, "PMemUsageMBsMaxMBs")
        usage.raise_peaks(samples, replica, cpu=_number(bean, "PCpuUsagePercentMaxPercents"),
                          rss=None if peak_memory is None else int(peak_memory * MIB))
    # the notes say what holds now: why nothing shows yet (while nothing does), and that GPU use is never there
    why = ""
    if not samples["replicas"]:
        why = NO_CONTAINER if not replicas else NOT_YET if waiting else NO_BEANS
    samples["notes"] = [n for n in (why, NO_GPU) if n]
