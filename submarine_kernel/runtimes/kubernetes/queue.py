"""Kueue: where a queued job waits. 'waiting in queue Q (N ahead)' from Kueue's on-demand visibility API,
asked once per LocalQueue at most every QUEUE_POSITION_TTL seconds; a cluster without it (404) or that does
not let us use it (403) is not asked again."""

from __future__ import annotations

import threading
import time
from typing import Callable, Sequence

from ...errors import SubmarineError, TransientError
from ...job_types import JobRef, JobStatus
from .client import Client, get_json
from .data import KubernetesJobData

#: seconds a LocalQueue's positions are reused before being asked again
QUEUE_POSITION_TTL = 10.0
#: the pending workloads of a LocalQueue, with their positions
KUEUE_VISIBILITY = "/apis/visibility.kueue.x-k8s.io/v1beta1/namespaces/{namespace}/localqueues/{queue}/pendingworkloads"


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


class QueuePositions:
    """The positions of queued jobs, per (namespace, LocalQueue), cached for QUEUE_POSITION_TTL seconds."""

    def __init__(self):
        self._lock = threading.Lock()
        self._positions: dict[tuple[str, str], tuple[float, dict[str, int]]] = {}
        self._no_visibility: set[tuple[str, str]] = set()

    def reset(self) -> None:
        """Forget everything, also which clusters had no visibility API (a new connection)."""
        with self._lock:
            self._positions, self._no_visibility = {}, set()

    def add(self, refs: Sequence[JobRef], statuses: dict[str, JobStatus], connect: Callable[[], Client],
            default_namespace: Callable[[], str]) -> None:
        """Say how many wait ahead in the message of each queued job, where Kueue answers."""
        for ref in refs:
            status = statuses[ref.key]
            data = KubernetesJobData.of(ref)
            if status.raw_state != "Queued" or not data.queue:
                continue
            key = (data.namespace or default_namespace(), data.queue)
            if key in self._no_visibility:
                continue
            cached = self._positions.get(key)
            if cached is None or time.monotonic() - cached[0] > QUEUE_POSITION_TTL:
                try:
                    client = connect()
                    path = KUEUE_VISIBILITY.format(namespace=key[0], queue=data.queue)
                    summary = client.call("read the positions in", f"LocalQueue {data.queue!r}", get_json,
                                          client.api, path)
                except TransientError:
                    continue  # a blip: the next poll asks again
                except SubmarineError:  # no visibility API (404), or not allowed to use it (403)
                    with self._lock:
                        self._no_visibility.add(key)
                    continue
                cached = (time.monotonic(), queue_positions(summary))
                with self._lock:
                    self._positions[key] = cached
            ahead = cached[1].get(ref.id, cached[1].get(f"{data.kind}/{ref.name}"))
            if ahead is not None:
                status.message = f"waiting in queue {data.queue!r} ({ahead} ahead)"
