"""Pod logs per replica: find the newest pod of a replica (by the operator's labels, the Indexed Job's or
JobSet's completion index), and read or stream its main container's log line by line."""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator

from ...errors import RuntimeFailure, SubmarineError
from ...job_types import JobRef
from ...retry import retried
from .client import Client, iter_lines
from .data import KubernetesJobData
from .labels import JOB_LABEL
from .status import pod_job, pod_replica


def read_log(connect: Callable[[], Client], ref: JobRef, namespace: str, replica: str | None, tail: int | None,
             follow: bool) -> Iterator[str]:
    """Lines of one replica's pod log (the deciding replica when None); `follow` streams until it ends."""
    data = KubernetesJobData.of(ref)
    names = list(data.replicas)
    replica = replica or data.deciding or (names[0] if names else None)
    if names and replica not in names:
        raise SubmarineError(f"job {ref.name!r} has no replica {replica!r}: use one of {', '.join(names)}")
    client = connect()
    pod = retried(lambda: pod_of(client, ref, namespace, replica), f"reading the log of {ref.name}")
    if pod is None:
        raise SubmarineError(f"replica {replica} of job {ref.name!r} has no pod in namespace {namespace!r} "
                             "(not started yet, or cleaned up): wait for it, or keep pods with "
                             "KubernetesRuntime.clean_pod_policy = 'None'")
    kwargs: dict[str, Any] = {"container": data.container or None, "follow": follow, "_preload_content": False}
    if tail is not None:
        kwargs["tail_lines"] = tail
    # A followed log may stay silent for long: no read timeout then.
    kwargs["_request_timeout"] = None if follow else client.request_timeout
    response = retried(lambda: client.call("read the log of", f"pod {pod!r}", client.core.read_namespaced_pod_log,
                                           pod, namespace, **kwargs),
                       f"reading the log of {ref.name}")
    return _lines(response, f"pod {pod!r}", client)


def pod_of(client: Client, ref: JobRef, namespace: str, replica: str | None) -> str | None:
    """The name of the newest pod of `replica` (of any replica when None); None when it has none."""
    response = client.call("list the pods of", f"job {ref.name!r}", client.core.list_namespaced_pod, namespace,
                           label_selector=f"{JOB_LABEL}={ref.name}", _preload_content=False)
    data = KubernetesJobData.of(ref)
    pods = [p for p in json.loads(response.data).get("items", []) if pod_job(p) == ref.name]
    matching = [p for p in pods if replica is None or pod_replica(p, data) == replica]
    matching.sort(key=lambda p: p["metadata"].get("creationTimestamp") or "")
    return matching[-1]["metadata"]["name"] if matching else None


def _lines(response, what: str, client: Client) -> Iterator[str]:
    from urllib3.exceptions import HTTPError

    try:
        yield from iter_lines(response)
    except (HTTPError, OSError) as exc:
        raise RuntimeFailure(f"the log of {what} broke off ({type(exc).__name__}) at {client.host}: "
                             "read it again") from None
    finally:
        response.release_conn()
