"""Shared pieces of the Kubernetes tests: the protocol schemas, manifest checks the operator's webhook
would make, and kmock's KubernetesEmulator served from a background thread so that the synchronous
`kubernetes` client (and the runtime's watch threads) can talk to it over real HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import re
import threading
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

TOKEN = "k8s-test-token-5f1b9c"  # a credential that must never show up anywhere
NAMESPACE = "ml"
DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
CONTAINER_NAMES = {"TFJob": "tensorflow", "PyTorchJob": "pytorch", "XGBoostJob": "xgboost"}
REPLICA_KEYS = {"TFJob": "tfReplicaSpecs", "PyTorchJob": "pytorchReplicaSpecs", "XGBoostJob": "xgbReplicaSpecs"}
CRD_FILES = {"TFJob": "tfjobs", "PyTorchJob": "pytorchjobs", "XGBoostJob": "xgboostjobs"}
#: Kubeflow Trainer v2 and JobSet CRDs, by kind
TRAINER_CRD_FILES = {"TrainJob": "trainer.kubeflow.org_trainjobs.yaml",
                     "TrainingRuntime": "trainer.kubeflow.org_trainingruntimes.yaml",
                     "ClusterTrainingRuntime": "trainer.kubeflow.org_clustertrainingruntimes.yaml",
                     "JobSet": "jobset.x-k8s.io_jobsets.yaml"}
#: the resources kmock serves: the v1 training operator's cluster, and a Trainer v2 cluster
CORE_RESOURCES = ("v1/pods", "v1/configmaps", "v1/secrets", "v1/services", "batch/v1/jobs", "apps/v1/deployments")
OPERATOR_RESOURCES = ("kubeflow.org/v1/tfjobs", "kubeflow.org/v1/pytorchjobs", "kubeflow.org/v1/xgboostjobs")
TRAINER_RESOURCES = ("trainer.kubeflow.org/v1alpha1/trainjobs", "trainer.kubeflow.org/v1alpha1/trainingruntimes",
                     "jobset.x-k8s.io/v1alpha2/jobsets", "scheduling.x-k8s.io/v1alpha1/podgroups",
                     "scheduling.volcano.sh/v1beta1/podgroups")


# -- schemas -----------------------------------------------------------------------------------------------
def protocols_dir() -> Path:
    """The upstream schemas kept in the clone (tests/protocols/README.md names their sources)."""
    return Path(__file__).resolve().parent / "protocols"


@lru_cache(maxsize=None)
def crd_schema(kind: str, strict: bool = True) -> dict:
    """The CRD's openAPIV3Schema; `strict` also refuses unknown fields, as the API server's strict field
    validation does (the raw schema would let a misspelt field through)."""
    if kind in TRAINER_CRD_FILES:
        path = protocols_dir() / "kubeflow-trainer" / TRAINER_CRD_FILES[kind]
    else:
        path = protocols_dir() / "kubeflow" / f"kubeflow.org_{CRD_FILES[kind]}.yaml"
    crd = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return _closed(schema) if strict else schema


def _closed(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out \
                and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


def validate_operator_job(job: dict) -> None:
    """jsonschema against the CRD, plus the webhook rules the schema does not hold."""
    _crd_validator(job["kind"]).validate(job)
    problems = webhook_problems(job)
    assert not problems, problems


@lru_cache(maxsize=None)
def _crd_validator(kind: str):
    import jsonschema

    schema = crd_schema(kind)
    validator = jsonschema.validators.extend(jsonschema.validators.validator_for(schema),
                                             {"x-kubernetes-list-map-keys": _unique_list_map_keys})
    return validator(schema)


def _unique_list_map_keys(validator, keys, instance, schema):
    """What the API server checks of a list declared `x-kubernetes-list-type: map` and jsonschema does not:
    no two items with the same keys (a Trainer runtime patch keys volumeMounts by name, a pod by mountPath)."""
    import jsonschema

    if schema.get("x-kubernetes-list-type") != "map" or not validator.is_type(instance, "array"):
        return
    seen = set()
    for item in instance:
        key = tuple(item.get(k) for k in keys) if isinstance(item, dict) else (item,)
        if key in seen:
            yield jsonschema.ValidationError(f"duplicate item {dict(zip(keys, key))} in a list keyed by {keys}")
        seen.add(key)


def webhook_problems(job: dict) -> list[str]:
    """The training operator's admission webhook: DNS-1035 name, named containers, images, one chief/master."""
    kind = job["kind"]
    problems = []
    name = job["metadata"]["name"]
    if not DNS1035.match(name) or len(name) > 63:
        problems.append(f"name {name!r} is not DNS-1035")
    specs = job["spec"][REPLICA_KEYS[kind]]
    for rtype, rspec in specs.items():
        containers = rspec["template"]["spec"]["containers"]
        named = [c for c in containers if c["name"] == CONTAINER_NAMES[kind]]
        if not named:
            problems.append(f"{rtype}: no container named {CONTAINER_NAMES[kind]!r}")
        for c in containers:
            if not c.get("image"):
                problems.append(f"{rtype}: container {c['name']!r} has no image")
        if rtype in ("Chief", "Master") and rspec.get("replicas", 1) > 1:
            problems.append(f"{rtype} has {rspec['replicas']} replicas")
    if kind == "PyTorchJob" and specs.get("Master", {}).get("replicas") != 1:
        problems.append("PyTorchJob needs exactly one Master")
    return problems


def validate_trainer_object(obj: dict) -> None:
    """A TrainJob, (Cluster)TrainingRuntime or JobSet against its CRD, strictly, plus the CEL rules of the
    CRDs that jsonschema does not run (DNS-1035 names) and the host names the pods get."""
    assert obj["apiVersion"] == {"JobSet": "jobset.x-k8s.io/v1alpha2"}.get(obj["kind"], "trainer.kubeflow.org/v1alpha1")
    _crd_validator(obj["kind"]).validate(obj)
    name = obj["metadata"]["name"]
    assert DNS1035.match(name) and len(name) <= 63, f"name {name!r} is not DNS-1035"
    if obj["kind"] == "JobSet":
        for rjob in obj["spec"]["replicatedJobs"]:
            for index in range(rjob["template"]["spec"].get("completions", 1)):
                host = f"{name}-{rjob['name']}-0-{index}"  # <jobset>-<replicatedJob>-<jobIndex>-<podIndex>
                assert DNS1035.match(host) and len(host) <= 63, f"pod host name {host!r} is not a DNS label"
            containers = rjob["template"]["spec"]["template"]["spec"]["containers"]
            assert all(c.get("image") for c in containers), f"{rjob['name']}: a container has no image"


def validate_manifest(obj: dict) -> None:
    """Any object the runtime creates, against the schema it belongs to (the CRD, or Kubernetes' own)."""
    if obj["apiVersion"] == "kubeflow.org/v1":
        validate_operator_job(obj)
    elif obj["kind"] in TRAINER_CRD_FILES:
        validate_trainer_object(obj)
    elif obj["kind"] == "PodGroup":  # no PodGroup CRD is kept under tests/protocols: its few fields by hand
        assert obj["apiVersion"] in ("scheduling.x-k8s.io/v1alpha1", "scheduling.volcano.sh/v1beta1")
        assert isinstance(obj["spec"]["minMember"], int) and obj["spec"]["minMember"] > 0
        assert set(obj["spec"]) <= {"minMember", "scheduleTimeoutSeconds", "queue", "minResources"}
    else:
        validate_core(json.loads(json.dumps(obj).replace("<uid of the job, filled in at submit>",
                                                         "0f0f0f0f-0000-4000-8000-000000000000")))


def validate_core(obj: dict, version: str = "1.33") -> None:
    """A core kind (ConfigMap, Job, Service, Deployment) against Kubernetes' own schema, strictly, offline."""
    import kubernetes_validate

    kubernetes_validate.validate(obj, version, strict=True)


# -- an API server for tests -------------------------------------------------------------------------------
def _api_server_class():
    import kmock

    class ApiServer(kmock.KubernetesEmulator):
        """The emulator, plus what a real API server adds on writes: uid, resourceVersion, timestamps."""

        _versions = itertools.count(100)
        #: [method, path prefix, times left]: handle the request, then close the connection unanswered
        lost_responses: list = []
        #: [method, path prefix, times left]: answer 503 without handling it (etcd refused the write)
        refused: list = []

        async def __call__(self, raw_request):
            response = await super().__call__(raw_request)
            for lost in self.lost_responses:
                if lost[0] == raw_request.method and raw_request.path.startswith(lost[1]) and lost[2] > 0:
                    lost[2] -= 1
                    raw_request.transport.close()  # the object exists now; its creator never hears of it
                    break
            return response

        async def _handle(self, request):
            for rule in self.refused:
                method = str(getattr(request.method, "value", request.method)).upper()
                if rule[0] == method and request.url.path.startswith(rule[1]) and rule[2] > 0:
                    rule[2] -= 1
                    from aiohttp import web

                    return web.json_response(status=503, data={
                        "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 503,
                        "reason": "ServiceUnavailable", "message": "etcdserver: request timed out"})
            data = request.data
            if request.resource is not None and isinstance(data, dict):
                meta = data.setdefault("metadata", {})
                if request.action == kmock.action.CREATE:
                    meta.setdefault("uid", str(uuid.uuid4()))
                    meta.setdefault("creationTimestamp", now())
                    if request.namespace and not meta.get("namespace"):
                        meta["namespace"] = request.namespace
                if request.action in (kmock.action.CREATE, kmock.action.UPDATE):
                    meta["resourceVersion"] = str(next(self._versions))
            return await super()._handle(request)

        async def _serve_watch(self, request):
            # A real API server sends its headers at once; the emulator holds them back until the first
            # event, which would leave a client waiting for headers on a quiet resource. A bookmark
            # (without a resourceVersion) opens the stream, as allowWatchBookmarks lets a server do.
            yield {"type": "BOOKMARK", "object": {"kind": "Status", "metadata": {}}}
            async for event in super()._serve_watch(request):
                yield event

    return ApiServer


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class EmulatedCluster:
    """kmock's KubernetesEmulator on 127.0.0.1 in its own event-loop thread; the test drives it synchronously
    and plays the training operator by patching .status."""

    def __init__(self, resources=CORE_RESOURCES + OPERATOR_RESOURCES):
        import kmock

        self.kmock = kmock
        self._resources = tuple(resources)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="kmock", daemon=True)
        self._thread.start()
        self.api = None
        self.server = None
        self.run(self._start())

    async def _start(self):
        self.api = _api_server_class()()
        await self.api.__aenter__()
        self.server = self.kmock.Server(self.api)
        await self.server.__aenter__()
        for resource in self._resources:
            self.api.resources[resource] = {}
        # The client wants 201 for a created custom object (it answers None for 200).
        for group in sorted({r.split("/")[0] for r in self._resources if r.count("/") == 2}
                            - {"batch", "apps"}):
            self.api[self.kmock.action.CREATE][self.kmock.resource(group=group)] << 201 << (lambda r: r.data)

    @property
    def url(self) -> str:
        return str(self.server.url).rstrip("/")

    def run(self, coroutine, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def lose_response(self, method: str, path_prefix: str, times: int = 1) -> None:
        """The next `times` matching requests are handled, then their connection closes without an answer."""
        async def add():
            self.api.lost_responses = [*self.api.lost_responses, [method.upper(), path_prefix, times]]
        self.run(add())

    def refuse(self, method: str, path_prefix: str, times: int = 1) -> None:
        """The next `times` matching requests are answered 503 and change nothing (a write etcd refused)."""
        async def add():
            self.api.refused = [*self.api.refused, [method.upper(), path_prefix, times]]
        self.run(add())

    def configure(self, fn: Callable[[Any], Any]):
        """Add reactions from the loop's own thread (the DSL is not thread-safe)."""
        async def apply():
            return fn(self.api)
        return self.run(apply())

    def close(self):
        async def stop():
            await self.server.__aexit__(None, None, None)
            await self.api.__aexit__(None, None, None)
        try:
            self.run(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
            self.loop.close()

    # -- the test plays the API's other clients ------------------------------------------------------------
    async def _json(self, method: str, path: str, body: Any = None, content_type: str = "application/json"):
        response = await self.api.request(method, path, data=json.dumps(body) if body is not None else None,
                                          headers={"Content-Type": content_type})
        text = await response.text()
        return response.status, json.loads(text) if text else None

    def create(self, path: str, obj: dict) -> dict:
        status, body = self.run(self._json("POST", path, obj))
        assert status in (200, 201), body
        return body

    def patch(self, path: str, patch: dict) -> dict:
        status, body = self.run(self._json("PATCH", path, patch, "application/merge-patch+json"))
        assert status == 200, body
        return body

    def get(self, path: str) -> tuple[int, Any]:
        return self.run(self._json("GET", path))

    def requests(self, predicate: Callable[[Any], bool]) -> list:
        """The requests the API server received that match `predicate` (in order)."""
        return [r for r in list(self.api._requests) if predicate(r)]

    def object(self, resource: str, namespace: str, name: str) -> dict | None:
        async def read():
            key = (self.kmock.resource(resource), namespace, name)
            if key not in self.api.objects or self.api.objects[key].deleted:
                return None
            return dict(self.api.objects[key].raw)
        return self.run(read())


def write_kubeconfig(path: Path, server: str, namespace: str = NAMESPACE) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "emulated",
        "clusters": [{"name": "emulator", "cluster": {"server": server}}],
        "users": [{"name": "jane", "user": {"token": TOKEN}}],
        "contexts": [{"name": "emulated", "context": {"cluster": "emulator", "user": "jane", "namespace": namespace}}],
    }))
    return path


def wait_for(predicate: Callable[[], Any], timeout: float = 10, interval: float = 0.05, what: str = "condition"):
    """Poll `predicate` until it is truthy; return its value or fail naming `what` (see core_support)."""
    from core_support import wait_until

    return wait_until(predicate, timeout=timeout, interval=interval, what=what)


@pytest.fixture
def cluster():
    """A kmock Kubernetes emulator for one test (import this fixture into a test module to use it): a
    cluster with the v1 training operator."""
    emulated = EmulatedCluster()
    yield emulated
    emulated.close()


@pytest.fixture
def trainer_cluster():
    """A kmock emulator serving Kubeflow Trainer v2, JobSet and the PodGroup kinds (no v1 operator)."""
    emulated = EmulatedCluster(CORE_RESOURCES + TRAINER_RESOURCES)
    yield emulated
    emulated.close()
