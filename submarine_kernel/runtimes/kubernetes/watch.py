"""The watch cache: one list+watch per namespace and resource, in one daemon thread, shared by every job
there; `poll` answers from it. A watch that ends or drops is resumed from the last resourceVersion seen, and
`410 Gone` (too old) lists again; a failure is shown in every status answered from the cache, worded as the
other retries are ("retrying 2/5")."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable, Mapping

from ... import retry
from .client import Client, iter_lines, shutdown, wire_bool
from .kinds import KINDS_BY_PLURAL
from .labels import SELECTOR, managed


def open_watch(client: Client, namespace: str, plural: str, watch_timeout: int) -> "ResourceWatch":
    """A started watch of `plural` ("pods", "jobs" or a job kind's plural) in `namespace`."""
    if plural == "pods":
        def list_fn(**kw):
            return client.core.list_namespaced_pod(namespace, **kw)
    elif plural == "jobs":
        def list_fn(**kw):
            return client.batch.list_namespaced_job(namespace, **kw)
    else:
        kind = KINDS_BY_PLURAL[plural]

        def list_fn(**kw):
            return client.custom.list_namespaced_custom_object(kind.group, kind.version, namespace, plural, **kw)
    watch = ResourceWatch(f"{plural} in namespace {namespace!r}", list_fn,
                          lambda exc: client.api_error(exc, "watch", f"{plural} in {namespace!r}"),
                          client.request_timeout, watch_timeout)
    watch.start()
    return watch


class ResourceWatch:
    """List, then watch, one resource in one namespace, in one daemon thread; keeps the objects by name.

    A watch that ends or drops is resumed from the last resourceVersion seen; `410 Gone` (too old) lists
    again. Only objects labelled as managed by submarine-kernel are kept (the selector is also sent).
    """

    def __init__(self, what: str, list_fn: Callable, describe_error: Callable[[Exception], Exception],
                 request_timeout: float, watch_timeout: int):
        self.what = what
        self._list_fn = list_fn
        self._describe_error = describe_error
        self._request_timeout = request_timeout
        self._watch_timeout = watch_timeout
        self._objects: dict[str, dict] = {}
        self._gone: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._response = None
        self.synced = threading.Event()
        self.connected = False
        self.error = ""
        self.resource_version: str | None = None
        self.lists = 0
        self.watches = 0
        self.failures = 0  # failed list/watch requests in a row
        self._thread = threading.Thread(target=self._run, name=f"submarine-watch {what}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether its thread still runs (it ends soon after `stop`)."""
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stopping.set()
        response = self._response
        if response is not None:
            shutdown(response)
        # A request still waiting for its response ends at its own timeout; the thread is a daemon.
        self._thread.join(timeout=2)

    def lookup(self, name: str) -> tuple[dict | None, dict | None]:
        """(the live object, the last state of a deleted one)."""
        with self._lock:
            return self._objects.get(name), self._gone.get(name)

    def items(self) -> list[dict]:
        with self._lock:
            return list(self._objects.values())

    def seed(self, obj: Mapping[str, Any]) -> None:
        """Know a just-created object before its ADDED event arrives."""
        name = obj.get("metadata", {}).get("name")
        if name:
            with self._lock:
                self._objects.setdefault(name, dict(obj))
                self._gone.pop(name, None)

    def _run(self) -> None:
        from kubernetes.client.exceptions import ApiException

        delay = 0.5
        while not self._stopping.is_set():
            began = time.monotonic()
            try:
                if self.resource_version is None:
                    self._relist()
                self._stream()
                delay = 0.5
                if time.monotonic() - began < 1:  # a server that ends watches at once must not spin us
                    self._stopping.wait(0.2)
                continue
            except ApiException as exc:
                if exc.status == 410:  # our resourceVersion is too old: start over from a fresh list
                    self.resource_version = None
                    continue
                error = str(self._describe_error(exc))
            except Exception as exc:  # a dropped connection or a read timeout: resume from resource_version
                if self._stopping.is_set():
                    break
                error = f"the watch of {self.what} dropped ({type(exc).__name__}); reconnecting"
            self.connected = False
            self.failures += 1
            # visible in every status answered from this cache, as the tracker words its own retries (the
            # policy is looked up at each failure, so a replaced one applies)
            self.error = f"{error}; {retry.DEFAULT_POLICY.note(self.failures, every=30)}"
            self._stopping.wait(delay)
            delay = min(delay * 2, 30)

    def _relist(self) -> None:
        response = self._list_fn(label_selector=SELECTOR, _preload_content=False,
                                 _request_timeout=self._request_timeout)
        data = json.loads(response.data)
        objects = {o["metadata"]["name"]: o for o in data.get("items") or [] if managed(o)}
        with self._lock:
            for name, old in self._objects.items():
                if name not in objects:  # deleted while we were not watching
                    self._gone[name] = old
            self._objects = objects
        self.resource_version = (data.get("metadata") or {}).get("resourceVersion") or ""
        self.lists += 1
        self.connected, self.error, self.failures = True, "", 0
        self.synced.set()

    def _stream(self) -> None:
        from kubernetes.client.exceptions import ApiException

        # "true" as the API documents it (wire_bool: each client release wants it given differently)
        kwargs: dict[str, Any] = {"label_selector": SELECTOR, "watch": wire_bool(True),
                                  "allow_watch_bookmarks": wire_bool(True),
                                  "timeout_seconds": self._watch_timeout, "_preload_content": False,
                                  "_request_timeout": (self._request_timeout, self._watch_timeout + 30)}
        if self.resource_version:
            kwargs["resource_version"] = self.resource_version
        response = self._list_fn(**kwargs)
        self._response = response
        self.watches += 1
        self.connected, self.error, self.failures = True, "", 0
        try:
            for line in iter_lines(response):
                if self._stopping.is_set():
                    return
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    raise ApiException(status=obj.get("code", 500), reason=f"{obj.get('reason')}: {obj.get('message')}")
                self._apply(event.get("type"), obj)
        finally:
            self._response = None
            response.release_conn()

    def _apply(self, kind: str | None, obj: dict) -> None:
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if kind != "BOOKMARK" and managed(obj):
            name = obj["metadata"]["name"]
            with self._lock:
                if kind == "DELETED":
                    self._objects.pop(name, None)
                    self._gone[name] = obj
                else:
                    self._objects[name] = obj
                    self._gone.pop(name, None)
        if version:
            self.resource_version = version
