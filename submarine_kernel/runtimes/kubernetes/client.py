"""The API client: one set of `kubernetes` API objects per connection, every request made through `call`
(which turns API errors into one-line SubmarineErrors naming the credentials used, and connection errors and
5xx into TransientError), reading, creating, patching and deleting objects by kind, and what each release of
the `kubernetes` client needs (`wire_bool`, `get_json`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from ...errors import RuntimeFailure, SubmarineError, TransientError
from .credentials import Credentials
from .kinds import Kind, custom_kind, missing_api, missing_api_fix

#: the release where the client validates its arguments with pydantic and writes booleans as `true`
PYDANTIC_CLIENT_MAJOR = 37


class NotFound(RuntimeFailure):
    """404 from the API."""


class NamespaceNotFound(NotFound):
    """404 because the namespace does not exist."""


class AlreadyExists(RuntimeFailure):
    """409 from the API."""


@dataclass
class Client:
    """The API objects of one connection, and the words for its credentials (never their values)."""

    api: Any
    custom: Any
    core: Any
    batch: Any
    apps: Any
    credentials: str
    namespace: str | None  # the kubeconfig context's (or the pod's) namespace
    host: str
    request_timeout: float = 30.0

    @classmethod
    def connect(cls, credentials: Credentials, request_timeout: float) -> "Client":
        try:
            from kubernetes import client
        except ModuleNotFoundError:
            raise SubmarineError("the kubernetes runtime needs the package 'kubernetes': "
                                 "pip install 'submarine-kernel[kubernetes]'") from None
        from ...secrets import redact_url

        configuration = client.Configuration()
        namespace, words = credentials.load(configuration)
        api = client.ApiClient(configuration)
        return cls(api=api, custom=client.CustomObjectsApi(api), core=client.CoreV1Api(api),
                   batch=client.BatchV1Api(api), apps=client.AppsV1Api(api), credentials=words, namespace=namespace,
                   host=redact_url(configuration.host or ""), request_timeout=request_timeout)

    def __repr__(self) -> str:
        return f"Client({self.host}, {self.credentials})"

    def close(self) -> None:
        try:
            self.api.close()
        except Exception:  # closing a pool that never opened
            pass

    # -- requests -------------------------------------------------------------------------------------------
    def call(self, action: str, what: str, fn: Callable, *args, **kwargs):
        """One API request; every failure becomes a one-line SubmarineError."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        kwargs.setdefault("_request_timeout", self.request_timeout)
        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            raise self.api_error(exc, action, what) from None
        except (HTTPError, OSError) as exc:  # transient: the session retries it with backoff
            raise TransientError(f"cannot reach the Kubernetes API at {self.host} ({self.credentials}) to "
                                 f"{action} {what}: {type(exc).__name__}; check that the cluster is up and "
                                 "KubernetesRuntime.kubeconfig/context point at it") from None

    def api_error(self, exc, action: str, what: str) -> SubmarineError:
        status = getattr(exc, "status", 0) or 0
        body = _status_body(exc)
        message = (str(body.get("message") or exc.reason or "").splitlines() or [""])[0]
        if status == 403 and message.startswith("admission webhook "):
            # an operator's webhook refused the object itself (403 too): not a matter of credentials
            return RuntimeFailure(f"the Kubernetes API rejected {what}: {message}")
        if status in (401, 403):
            verb = "did not accept" if status == 401 else "refused"
            return RuntimeFailure(f"the Kubernetes API {verb} the credentials of {self.credentials} to {action} "
                                  f"{what} ({status}: {message}): ask for access, or choose other credentials with "
                                  "KubernetesRuntime.kubeconfig/context")
        if status == 404:
            details = body.get("details") or {}
            if details.get("kind") == "namespaces":
                return NamespaceNotFound(f"namespace {details.get('name')!r} does not exist: create it, or set "
                                         "KubernetesRuntime.namespace")
            return NotFound(f"cannot {action} {what}: not found ({message})")
        if status == 409:
            return AlreadyExists(f"cannot {action} {what}: it already exists; choose another job name "
                                 "(--name) or stop and remove the old job")
        if status == 422:
            return RuntimeFailure(f"the Kubernetes API rejected {what}: {message}")
        failure = TransientError if status >= 500 or status == 429 else RuntimeFailure  # may pass by itself
        return failure(f"the Kubernetes API failed to {action} {what} ({status} {exc.reason}): {message}")

    # -- objects --------------------------------------------------------------------------------------------
    def create(self, obj: dict[str, Any], kind: Kind | None = None) -> dict[str, Any]:
        namespace = obj["metadata"]["namespace"]
        what = describe(obj)
        kind = kind or custom_kind(obj)
        if kind is not None and kind.custom:
            try:
                created = self.call("create", what, self.custom.create_namespaced_custom_object,
                                    kind.group, kind.version, namespace, kind.plural, obj)
            except NamespaceNotFound:
                raise
            except NotFound:
                raise RuntimeFailure(f"{missing_api(kind)} is not installed in this cluster (the API has no "
                                     f"{kind.plural}.{kind.group}): {missing_api_fix(kind)}") from None
            return created or obj
        creators = {"Job": self.batch.create_namespaced_job, "ConfigMap": self.core.create_namespaced_config_map,
                    "Secret": self.core.create_namespaced_secret, "Service": self.core.create_namespaced_service,
                    "Deployment": self.apps.create_namespaced_deployment}
        created = self.call("create", what, creators[obj["kind"]], namespace, obj)
        return self.api.sanitize_for_serialization(created) if created is not None else obj

    def patch_custom(self, obj: Mapping[str, Any], patch: dict) -> None:
        kind = custom_kind(obj)
        meta = obj["metadata"]
        self.call("update", describe(obj), self.custom.patch_namespaced_custom_object, kind.group, kind.version,
                  meta["namespace"], kind.plural, meta["name"], patch)

    def patch_job(self, action: str, kind: Kind, namespace: str, name: str, patch: dict) -> None:
        what = f"{kind.kind} {name!r} in namespace {namespace!r}"
        if kind.custom:
            self.call(action, what, self.custom.patch_namespaced_custom_object, kind.group, kind.version,
                      namespace, kind.plural, name, patch)
        else:
            self.call(action, what, self.batch.patch_namespaced_job, name, namespace, patch)

    def read_job(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        """The job object (or a custom object beside it) as a dict; None when there is none."""
        what = f"{kind.kind} {name!r} in namespace {namespace!r}"
        try:
            if kind.custom:
                return self.call("read", what, self.custom.get_namespaced_custom_object, kind.group,
                                 kind.version, namespace, kind.plural, name)
            return self.api.sanitize_for_serialization(
                self.call("read", what, self.batch.read_namespaced_job, name, namespace))
        except NotFound:
            return None

    def list_jobs(self, kind: Kind, namespace: str, selector: str) -> list[dict[str, Any]] | None:
        """The job objects of `kind` matching the label `selector`, as dicts; None when the cluster does not
        serve the kind (its API is not installed)."""
        what = f"the {kind.plural} in namespace {namespace!r}"
        try:
            if kind.custom:
                listed = self.call("list", what, self.custom.list_namespaced_custom_object, kind.group,
                                   kind.version, namespace, kind.plural, label_selector=selector)
            else:
                listed = self.api.sanitize_for_serialization(
                    self.call("list", what, self.batch.list_namespaced_job, namespace, label_selector=selector))
        except NamespaceNotFound:
            raise
        except NotFound:
            return None
        return list((listed or {}).get("items") or [])

    def read_core(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A ConfigMap, Secret or Service as a dict; None when there is none."""
        readers = {"ConfigMap": self.core.read_namespaced_config_map, "Secret": self.core.read_namespaced_secret,
                   "Service": self.core.read_namespaced_service}
        try:
            return self.api.sanitize_for_serialization(
                self.call("read", f"{kind} {name!r} in namespace {namespace!r}", readers[kind], name, namespace))
        except NotFound:
            return None

    def delete_job(self, kind: Kind, namespace: str, name: str, missing_ok: bool) -> None:
        """Delete with background propagation: what the job owns goes with it."""
        what = f"{kind.kind} {name!r} in namespace {namespace!r}"
        try:
            if kind.custom:
                self.call("delete", what, self.custom.delete_namespaced_custom_object, kind.group, kind.version,
                          namespace, kind.plural, name, propagation_policy="Background")
            else:
                self.call("delete", what, self.batch.delete_namespaced_job, name, namespace,
                          propagation_policy="Background")
        except NotFound:
            if not missing_ok:
                raise


def describe(obj: Mapping[str, Any]) -> str:
    """`PyTorchJob 'x' in namespace 'ml'`, as errors name an object."""
    meta = obj["metadata"]
    return f"{obj['kind']} {meta['name']!r} in namespace {meta['namespace']!r}"


def iter_lines(response) -> Iterator[str]:
    """Lines of a streamed response as they arrive, the last one even without a newline (a log's last
    words often have none; kubernetes.watch's iter_resp_lines drops them)."""
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=False):
        buffer += chunk if isinstance(chunk, bytes) else chunk.encode("utf-8")
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", errors="replace")
    if buffer:
        yield buffer.decode("utf-8", errors="replace")


def shutdown(response) -> None:
    """Unblock a thread reading `response` (as kubernetes.watch.Watch.stop does)."""
    import socket

    try:
        sock = getattr(getattr(response, "connection", None), "sock", None)
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _status_body(exc) -> dict:
    try:
        body = json.loads(exc.body) if getattr(exc, "body", None) else {}
        return body if isinstance(body, dict) else {}
    except (TypeError, ValueError):
        return {}


# -- what each client release needs ---------------------------------------------------------------------
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
