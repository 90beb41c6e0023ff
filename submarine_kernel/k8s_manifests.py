"""JobSpec + Bundle → Kubernetes manifests, as plain dicts (no `kubernetes` import, no cluster).

tensorflow → TFJob, pytorch → PyTorchJob, xgboost → XGBoostJob (the Kubeflow training operator v1), and a
plain `batch/v1` Indexed Job plus a headless Service for clusters without the operator (framework `custom`,
or `KubernetesRuntime.training_operator = False`); the plain Job sets the environment contract itself.

Algorithm files travel in a ConfigMap owned by the job when they fit, else an init container fetches them
from the bundle's storage URI (s3:// or hdfs://). Either way they are in `<workdir>/submarine_algorithm`
(on PYTHONPATH) and in the working directory itself.

Secrets: env values and params whose names look secret (`secrets.is_secret_key`) go into a Secret
`<job>-secrets` owned by the job, referenced with `valueFrom.secretKeyRef`; a secret param on the command line
is written as `"${SUBMARINE_PARAM_<NAME>}"` for the pod's shell to expand; a params.json holding a secret param
moves from the ConfigMap into that Secret and is projected into the same folder (the code reads the real
value). Dry runs show the Secret with `***` values. The stored bundle's params.json shows secret params
as `***` (storage delivery: the pods read them from env only).
"""

from __future__ import annotations

import base64
import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence
from urllib.parse import quote, urlsplit

from .algorithm import PARAMS_NAME, Bundle, params_json
from .contract import ALGORITHM_DIR, distributed_env, replica_names, submarine_env, tf_config
from .errors import SubmarineError
from .secrets import REDACTED, is_secret_key
from .spec import JobSpec, Resources
from .secrets import redact_url

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "submarine-kernel"
COMPONENT_LABEL = "app.kubernetes.io/component"
JOB_LABEL = "submarine-kernel/job"
#: the token of one submission (set by Session.submit), so a retried create can recognise its own job
SUBMISSION_LABEL = "submarine-kernel/submission"
#: labels the training operator puts on every pod it creates
OPERATOR_JOB_NAME_LABEL = "training.kubeflow.org/job-name"
OPERATOR_REPLICA_TYPE_LABEL = "training.kubeflow.org/replica-type"
OPERATOR_REPLICA_INDEX_LABEL = "training.kubeflow.org/replica-index"
#: label the Job controller puts on Indexed Job pods (Kubernetes 1.28+)
COMPLETION_INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
DIGEST_ANNOTATION = "submarine-kernel/bundle-digest"
BUNDLE_URI_ANNOTATION = "submarine-kernel/bundle-uri"
#: what a ConfigMap may hold: etcd's 1 MiB object limit less room for metadata
CONFIGMAP_LIMIT = 1024 * 1024 - 64 * 1024
ALGORITHM_VOLUME = "submarine-algorithm"
WORKSPACE_VOLUME = "submarine-workspace"
FETCH_CONTAINER = "fetch-algorithm"
TENSORBOARD_PORT = 6006
OWNER_UID_PLACEHOLDER = "<uid of the job, filled in at submit>"

_CONFIGMAP_KEY_BAD = re.compile(r"[^-._a-zA-Z0-9]")
_LABEL_VALUE_BAD = re.compile(r"[^-_.a-zA-Z0-9]")


@dataclass(frozen=True)
class Kind:
    """One kind of job object the runtime creates, and how its pods look."""

    group: str
    version: str
    kind: str
    plural: str
    replica_specs_key: str | None  # None for the plain Job
    container: str  # the name the operator's webhook requires
    port: int  # where replicas talk to each other

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def operator(self) -> bool:
        """A v1 training operator kind (TFJob, PyTorchJob, XGBoostJob)."""
        return self.replica_specs_key is not None

    @property
    def custom(self) -> bool:
        """Served through the custom objects API (everything but the core batch/v1 Job)."""
        return self.group != "batch"


TFJOB = Kind("kubeflow.org", "v1", "TFJob", "tfjobs", "tfReplicaSpecs", "tensorflow", 2222)
PYTORCHJOB = Kind("kubeflow.org", "v1", "PyTorchJob", "pytorchjobs", "pytorchReplicaSpecs", "pytorch", 23456)
XGBOOSTJOB = Kind("kubeflow.org", "v1", "XGBoostJob", "xgboostjobs", "xgbReplicaSpecs", "xgboost", 9999)
PLAIN_JOB = Kind("batch", "v1", "Job", "jobs", None, "submarine", 29500)
OPERATOR_KINDS = {"tensorflow": TFJOB, "pytorch": PYTORCHJOB, "xgboost": XGBOOSTJOB}
KINDS_BY_PLURAL = {k.plural: k for k in (TFJOB, PYTORCHJOB, XGBOOSTJOB, PLAIN_JOB)}
#: role → replica type key in the operator's replica specs
REPLICA_TYPES = {"chief": "Chief", "master": "Master", "worker": "Worker", "ps": "PS", "evaluator": "Evaluator"}


@dataclass(frozen=True)
class ClusterOptions:
    """Everything about the cluster that is not in the JobSpec (KubernetesRuntime's traits)."""

    namespace: str = "default"
    training_operator: bool = True
    service_account: str = ""
    image_pull_policy: str = "IfNotPresent"
    image_pull_secrets: Sequence[str] = ()
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, Any]] = ()
    priority_class: str = ""
    pod_annotations: Mapping[str, str] = field(default_factory=dict)
    restart_policy: str = "Never"
    clean_pod_policy: str = "Running"
    ttl_seconds_after_finished: int | None = 86400
    backoff_limit: int | None = 0
    active_deadline_seconds: int | None = None
    job_success_policy: bool = True
    working_dir: str = "/workspace"
    limit_cpu: bool = True
    bundle_delivery: str = "auto"  # auto | configmap | storage
    configmap_limit: int = CONFIGMAP_LIMIT
    s3_fetch_image: str = "amazon/aws-cli:2.17.0"
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_credentials_secret: str = ""
    hdfs_fetch_image: str = "curlimages/curl:8.8.0"
    webhdfs_url: str = ""
    hdfs_user: str = ""
    #: Kubeflow Trainer v2: the ClusterTrainingRuntime (or TrainingRuntime) per framework
    trainer_runtimes: Mapping[str, str] = field(default_factory=lambda: {
        "pytorch": "torch-distributed", "xgboost": "xgboost-distributed"})
    trainer_runtime_kind: str = "ClusterTrainingRuntime"
    #: Kueue LocalQueue (label + created suspended); "" for none
    queue: str = ""
    #: gang scheduling: default | volcano | coscheduling
    scheduler: str = "default"
    scheduler_name: str = ""
    gang_timeout_seconds: int = 60


def job_kind(spec: JobSpec, options: ClusterOptions) -> Kind:
    """The kind of object `spec` becomes: the operator's kind for its framework, else a plain Job."""
    if options.training_operator and spec.framework in OPERATOR_KINDS:
        return OPERATOR_KINDS[spec.framework]
    return PLAIN_JOB


def configmap_name(job_name: str) -> str:
    return f"{job_name}-algorithm"


def secret_name(job_name: str) -> str:
    return f"{job_name}-secrets"


def tensorboard_name(name: str) -> str:
    """A DNS-1035 name for the TensorBoard Deployment and Service of `name` (at most 63 characters)."""
    from .names import sanitize

    return f"{sanitize(name, 63 - len('-tensorboard'))}-tensorboard"


def label_value(value: Any) -> str:
    """`value` made a valid label value: at most 63 of [-_.a-zA-Z0-9], alphanumeric at both ends."""
    text = _LABEL_VALUE_BAD.sub("-", str(value))[:63]
    return re.sub(r"^[^a-zA-Z0-9]+|[^a-zA-Z0-9]+$", "", text)


def job_labels(spec: JobSpec) -> dict[str, str]:
    """The caller's labels (notebook, user...) plus the managed-by and job-name labels."""
    labels = {key: label_value(value) for key, value in spec.labels.items()}
    labels[MANAGED_BY_LABEL] = MANAGED_BY
    labels[JOB_LABEL] = label_value(spec.name)
    return labels


def owner_reference(job: Mapping[str, Any]) -> dict[str, Any]:
    """An ownerReference to a created job object, so that the garbage collector deletes with it."""
    return {"apiVersion": job["apiVersion"], "kind": job["kind"], "name": job["metadata"]["name"],
            "uid": job["metadata"].get("uid") or OWNER_UID_PLACEHOLDER}


# -- pod pieces --------------------------------------------------------------------------------------------
def container_resources(resources: Resources, limit_cpu: bool = True) -> dict[str, dict[str, str]]:
    """requests and limits; GPUs and other extended resources as limits equal to requests."""
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if resources.cpus is not None:
        cpu = str(int(resources.cpus)) if float(resources.cpus).is_integer() else f"{round(resources.cpus * 1000)}m"
        requests["cpu"] = cpu
        if limit_cpu:
            limits["cpu"] = cpu
    if resources.memory_mib is not None:
        requests["memory"] = limits["memory"] = f"{resources.memory_mib}Mi"
    if resources.gpus:
        requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(resources.gpus)
    for name, count in resources.other.items():
        if count:
            requests[name] = limits[name] = str(count)
    out = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def env_list(env: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Kubernetes env entries; a value that is a dict is a `valueFrom` source."""
    return [{"name": k, "valueFrom": v} if isinstance(v, Mapping) else {"name": k, "value": str(v)}
            for k, v in env.items()]


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def configmap_keys(names: Sequence[str]) -> dict[str, str]:
    """file path → ConfigMap key (keys allow only [-._a-zA-Z0-9], so `utils/data.py` → `utils__data.py`)."""
    keys: dict[str, str] = {}
    used: set[str] = set()
    for name in sorted(names):
        key = _CONFIGMAP_KEY_BAD.sub("_", name.replace("/", "__"))
        if key.startswith(".."):
            key = "_" + key.lstrip(".")
        key = key[:240]
        candidate, n = key, 1
        while candidate in used:
            n += 1
            candidate = f"{key}.{n}"
        used.add(candidate)
        keys[name] = candidate
    return keys


def configmap_size(bundle: Bundle) -> int:
    """Bytes the bundle takes in a ConfigMap (binary files are base64-encoded)."""
    size = 0
    for name, data in bundle.files.items():
        size += len(name) + (len(data) if _is_text(data) else 4 * ((len(data) + 2) // 3))
    return size


def algorithm_configmap(name: str, namespace: str, bundle: Bundle, labels: Mapping[str, str]) -> dict[str, Any]:
    keys = configmap_keys(list(bundle.files))
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    for file, content in sorted(bundle.files.items()):
        if _is_text(content):
            data[keys[file]] = content.decode("utf-8")
        else:
            binary[keys[file]] = base64.b64encode(content).decode("ascii")
    cm: dict[str, Any] = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {**labels, COMPONENT_LABEL: "algorithm"},
                     "annotations": {DIGEST_ANNOTATION: bundle.digest}},
        "immutable": True,
        "data": data,
    }
    if binary:
        cm["binaryData"] = binary
    return cm


def choose_delivery(bundle: Bundle, bundle_uri: str, options: ClusterOptions) -> str:
    """'configmap' or 'storage'; raise when the bundle can reach the pods neither way."""
    if not bundle.files:
        return "configmap"  # a job without files: nothing stored, an empty algorithm folder
    fits = configmap_size(bundle) <= options.configmap_limit
    if options.bundle_delivery == "configmap":
        if not fits:
            raise SubmarineError(f"the algorithm files take {configmap_size(bundle)} bytes, over the ConfigMap limit "
                                 f"of {options.configmap_limit}: set KubernetesRuntime.bundle_delivery = 'auto' and "
                                 "store bundles on s3:// or hdfs://")
        return "configmap"
    if options.bundle_delivery == "auto" and fits:
        return "configmap"
    scheme = urlsplit(bundle_uri).scheme
    if scheme not in ("s3", "s3a", "hdfs", "webhdfs"):
        why = "bundle_delivery is 'storage'" if options.bundle_delivery == "storage" else \
            f"the algorithm files take {configmap_size(bundle)} bytes, over the ConfigMap limit"
        raise SubmarineError(f"{why}, but the bundle is stored at {redact_url(bundle_uri)!r}, which pods cannot "
                             "read: set SubmarineConfig.storage_root to an s3:// or hdfs:// URL")
    return "storage"


def fetch_init_container(bundle: Bundle, bundle_uri: str, options: ClusterOptions) -> dict[str, Any]:
    """An init container that downloads the bundle into the workspace, checks every file's sha256, and
    copies the files into the working directory too."""
    workspace = "/submarine-workspace"
    target = f"{workspace}/{ALGORITHM_DIR}"
    parts = urlsplit(bundle_uri)
    lines = ["set -eu", f"mkdir -p {shlex.quote(target)}"]
    env: dict[str, Any] = {}
    container: dict[str, Any] = {"name": FETCH_CONTAINER}
    if parts.scheme in ("s3", "s3a"):
        source = f"s3://{parts.netloc}{parts.path.rstrip('/')}/"
        flags = ["--recursive", "--only-show-errors", "--exclude", ".submarine-manifest.json"]
        if options.s3_endpoint_url:
            flags += ["--endpoint-url", options.s3_endpoint_url]
        if options.s3_region:
            env["AWS_DEFAULT_REGION"] = options.s3_region
        lines.append(" ".join(["aws", "s3", "cp", *map(shlex.quote, flags), shlex.quote(source),
                               shlex.quote(target + "/")]))
        container["image"] = options.s3_fetch_image
        if options.s3_credentials_secret:
            container["envFrom"] = [{"secretRef": {"name": options.s3_credentials_secret}}]
    else:  # hdfs:// or webhdfs:// through the WebHDFS REST API, which curl speaks
        if options.webhdfs_url:
            base = options.webhdfs_url.rstrip("/")
        elif parts.scheme == "webhdfs":
            base = f"http://{parts.netloc}"
        else:
            base = f"http://{parts.hostname}:9870"
        user = f"&user.name={quote(options.hdfs_user)}" if options.hdfs_user else ""
        for name in sorted(bundle.files):
            url = f"{base}/webhdfs/v1{quote(posixpath.join(parts.path, name))}?op=OPEN{user}"
            destination = f"{target}/{name}"
            if "/" in name:
                lines.append(f"mkdir -p {shlex.quote(posixpath.dirname(destination))}")
            lines.append(f"curl -fsSL -o {shlex.quote(destination)} {shlex.quote(url)}")
        container["image"] = options.hdfs_fetch_image
    checks = "\n".join(f"{_sha256(data)}  {name}" for name, data in sorted(bundle.files.items()))
    lines.append(f"cd {shlex.quote(target)} && sha256sum -c - <<'SUBMARINE_SHA256'\n{checks}\nSUBMARINE_SHA256")
    lines.append(f"cp -R {shlex.quote(target)}/. {shlex.quote(workspace)}/")
    container.update({
        "imagePullPolicy": options.image_pull_policy,
        "command": ["/bin/sh", "-c", "\n".join(lines)],
        "volumeMounts": [{"name": WORKSPACE_VOLUME, "mountPath": workspace}],
    })
    if env:
        container["env"] = env_list(env)
    return container


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


# -- gang scheduling and queues ---------------------------------------------------------------------------
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
#: the scheduler a pod-group plugin needs when KubernetesRuntime.scheduler_name does not say
SCHEDULER_NAMES = {"volcano": "volcano", "coscheduling": "scheduler-plugins-scheduler"}
VOLCANO_GROUP_ANNOTATION = "scheduling.k8s.io/group-name"
COSCHEDULING_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"


def add_scheduler(pod: dict, options: ClusterOptions) -> None:
    """The pod's schedulerName for gang scheduling (nothing for the default scheduler)."""
    if options.scheduler != "default":
        pod["schedulerName"] = options.scheduler_name or SCHEDULER_NAMES[options.scheduler]


def add_pod_group_membership(pod_metadata: dict, group: str, options: ClusterOptions) -> None:
    """Mark the pod a member of PodGroup `group` the way its scheduler looks for it."""
    if options.scheduler == "volcano":
        pod_metadata.setdefault("annotations", {})[VOLCANO_GROUP_ANNOTATION] = group
    elif options.scheduler == "coscheduling":
        pod_metadata.setdefault("labels", {})[COSCHEDULING_GROUP_LABEL] = group


def pod_group(spec: JobSpec, options: ClusterOptions, labels: Mapping[str, str]) -> dict[str, Any] | None:
    """The PodGroup that makes the scheduler start all replicas or none (None for the default scheduler)."""
    if options.scheduler == "default":
        return None
    meta = {"name": spec.name, "namespace": options.namespace, "labels": {**labels, COMPONENT_LABEL: "pod-group"}}
    if options.scheduler == "volcano":
        return {"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup", "metadata": meta,
                "spec": {"minMember": spec.replica_count}}
    return {"apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup", "metadata": meta,
            "spec": {"minMember": spec.replica_count, "scheduleTimeoutSeconds": options.gang_timeout_seconds}}


# -- whole jobs --------------------------------------------------------------------------------------------
@dataclass
class JobPlan:
    """The objects one job becomes: the job first, then what it owns (ConfigMap, headless Service)."""

    kind: Kind
    job: dict[str, Any]
    configmap: dict[str, Any] | None = None
    service: dict[str, Any] | None = None
    delivery: str = "configmap"
    #: replica names (`worker-1`) in completion-index order; the plain Job's pods are found by index
    replicas: list[str] = field(default_factory=list)
    #: secret-looking env values and params (and params.json when it holds any), referenced by the pods
    secret: dict[str, Any] | None = None
    #: objects the job refers to, so created before it and made owned by it afterwards (a TrainingRuntime)
    before: list[dict[str, Any]] = field(default_factory=list)
    #: the name of the job's main container, whose log is the replica's log
    container: str = ""
    #: a gang-scheduling PodGroup (volcano or coscheduling) for jobs whose controller makes none
    pod_group: dict[str, Any] | None = None

    def owned_objects(self, created_job: Mapping[str, Any] | None = None,
                      redact: bool = False) -> list[dict[str, Any]]:
        """Secret, ConfigMap and Service with an ownerReference to the created job (a placeholder uid when
        None); `redact` shows the Secret's values as `***` (dry runs)."""
        owner = owner_reference(created_job or self.job)
        out = []
        for obj in (self.secret, self.configmap, self.service, self.pod_group):
            if obj is not None:
                obj = json.loads(json.dumps(obj))
                obj["metadata"]["ownerReferences"] = [owner]
                if redact and obj["kind"] == "Secret":
                    obj["stringData"] = {key: REDACTED for key in obj.get("stringData", {})}
                out.append(obj)
        return out

    def objects(self, redact: bool = True) -> list[dict[str, Any]]:
        """Every object in creation order; the Secret's values hidden unless `redact` is False."""
        before = [json.loads(json.dumps(o)) for o in self.before]
        for obj in before:
            obj["metadata"]["ownerReferences"] = [owner_reference(self.job)]
        return [*before, self.job, *self.owned_objects(redact=redact)]


def plan_job(spec: JobSpec, bundle: Bundle, bundle_uri: str, options: ClusterOptions) -> JobPlan:
    """Build every object of one job (nothing is sent anywhere)."""
    kind = job_kind(spec, options)
    labels = job_labels(spec)
    delivery = choose_delivery(bundle, bundle_uri, options)
    workdir = options.working_dir.rstrip("/") or "/"
    cm_name = configmap_name(spec.name)
    volumes, mounts, init = _algorithm_volumes(bundle, bundle_uri, options, delivery, cm_name, workdir)
    annotations = {DIGEST_ANNOTATION: bundle.digest, BUNDLE_URI_ANNOTATION: redact_url(bundle_uri)}
    metadata = {"name": spec.name, "namespace": options.namespace, "labels": dict(labels),
                "annotations": annotations}
    secrets = _Secrets(spec)
    if delivery == "configmap" and secrets.params and PARAMS_NAME in bundle.files:
        # params.json holds a secret: it comes from the Secret, projected into the same algorithm folder
        # (the bundle's own copy shows `***`: it is stored where others may read it)
        secrets.data[PARAMS_NAME] = params_json(spec.params_file()).decode("utf-8")
        in_configmap = Bundle({k: v for k, v in bundle.files.items() if k != PARAMS_NAME}, notebook=bundle.notebook)
        volumes = [_projected_algorithm_volume(bundle, cm_name, secrets.name)]
    else:
        in_configmap = bundle
    configmap = (algorithm_configmap(cm_name, options.namespace, in_configmap, labels)
                 if delivery == "configmap" else None)
    replicas = [f"{role}-{index}" for role, index in replica_names(spec)]
    if kind.operator:
        job = _operator_job(spec, kind, options, metadata, labels, volumes, mounts, init, workdir, secrets)
        return JobPlan(kind, job, configmap, None, delivery, replicas, secrets.manifest(options.namespace, labels),
                       container=kind.container)
    job, service = _plain_job(spec, options, metadata, labels, volumes, mounts, init, workdir, secrets)
    return JobPlan(kind, job, configmap, service, delivery, replicas, secrets.manifest(options.namespace, labels),
                   container=kind.container, pod_group=pod_group(spec, options, labels))


class _Secrets:
    """Secret-looking env values and params of one job, kept out of the job, its command and its ConfigMap.

    Env entries whose name looks secret (AWS_SECRET_ACCESS_KEY, HF_TOKEN, SUBMARINE_PARAM_API_KEY...) become
    `valueFrom.secretKeyRef`s into one Secret owned by the job; a secret param on the command line becomes a
    reference to its SUBMARINE_PARAM_* variable, which the shell expands in the pod.
    """

    def __init__(self, spec: JobSpec):
        self.name = secret_name(spec.name)
        self.params = {k for k in spec.params if is_secret_key(k)}
        self.data: dict[str, str] = {}
        values: dict[str, dict[str, str]] = {}  # var → role → value
        for role in spec.roles:
            for key, value in spec.role_env(role).items():
                if is_secret_key(key):
                    values.setdefault(key, {})[role] = str(value)
        self._keys: dict[tuple[str, str], str] = {}  # (role, var) → key in the Secret
        for var, by_role in values.items():
            shared = len(set(by_role.values())) == 1
            for role, value in by_role.items():
                key = _CONFIGMAP_KEY_BAD.sub("_", var if shared else f"{role}.{var}")
                self._keys[(role, var)] = key
                self.data[key] = value
        masked = {k: (f"__SUBMARINE_SECRET_PARAM_{k.upper()}__" if k in self.params else v)
                  for k, v in spec.params.items()}
        self._masked = spec.replace(params=masked)

    def ref(self, role: str, var: str) -> dict[str, Any] | None:
        key = self._keys.get((role, var))
        return {"secretKeyRef": {"name": self.name, "key": key}} if key else None

    def env(self, role: str, env: Mapping[str, Any]) -> dict[str, Any]:
        """`env` with secret values replaced by references to the Secret."""
        return {k: (self.ref(role, k) or v) if isinstance(v, str) else v for k, v in env.items()}

    def command(self, spec: JobSpec, role: str) -> str:
        """The role's launch command with each secret param read from its variable in the pod."""
        command = self._masked.launch_command(role)
        for name in self.params:
            command = command.replace(f"__SUBMARINE_SECRET_PARAM_{name.upper()}__",
                                      f'"${{SUBMARINE_PARAM_{name.upper()}}}"')
        return command

    def manifest(self, namespace: str, labels: Mapping[str, str]) -> dict[str, Any] | None:
        if not self.data:
            return None
        return {"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": self.name, "namespace": namespace,
                             "labels": {**labels, COMPONENT_LABEL: "secrets"}},
                "type": "Opaque", "immutable": True, "stringData": dict(sorted(self.data.items()))}


def _projected_algorithm_volume(bundle: Bundle, cm_name: str, secret: str) -> dict[str, Any]:
    """The algorithm folder from the ConfigMap, with params.json from the Secret."""
    keys = configmap_keys([n for n in bundle.files if n != PARAMS_NAME])
    return {"name": ALGORITHM_VOLUME, "projected": {"defaultMode": 0o755, "sources": [
        {"configMap": {"name": cm_name, "items": [{"key": keys[n], "path": n} for n in sorted(keys)]}},
        {"secret": {"name": secret, "items": [{"key": PARAMS_NAME, "path": PARAMS_NAME}]}}]}}


def _algorithm_volumes(bundle: Bundle, bundle_uri: str, options: ClusterOptions, delivery: str, cm_name: str,
                       workdir: str) -> tuple[list[dict], list[dict], list[dict]]:
    algorithm_dir = posixpath.join(workdir, ALGORITHM_DIR)
    if delivery == "configmap":
        keys = configmap_keys(list(bundle.files))
        volumes = [{"name": ALGORITHM_VOLUME, "configMap": {
            "name": cm_name, "defaultMode": 0o755,
            "items": [{"key": keys[name], "path": name} for name in sorted(bundle.files)]}}]
        # The folder, plus each file again by subPath so that `python train.py` works in the working directory.
        mounts = [{"name": ALGORITHM_VOLUME, "mountPath": algorithm_dir, "readOnly": True}]
        mounts += [{"name": ALGORITHM_VOLUME, "mountPath": posixpath.join(workdir, name), "subPath": name,
                    "readOnly": True} for name in sorted(bundle.files)]
        return volumes, mounts, []
    volumes = [{"name": WORKSPACE_VOLUME, "emptyDir": {}}]
    mounts = [{"name": WORKSPACE_VOLUME, "mountPath": workdir}]
    return volumes, mounts, [fetch_init_container(bundle, bundle_uri, options)]


def _pod_spec(options: ClusterOptions, containers: list[dict], volumes: list[dict], init: list[dict],
              restart_policy: str | None = None, subdomain: str | None = None) -> dict[str, Any]:
    pod: dict[str, Any] = {}
    if options.service_account:
        pod["serviceAccountName"] = options.service_account
    if options.priority_class:
        pod["priorityClassName"] = options.priority_class
    if options.node_selector:
        pod["nodeSelector"] = dict(options.node_selector)
    if options.tolerations:
        pod["tolerations"] = [dict(t) for t in options.tolerations]
    if options.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": name} for name in options.image_pull_secrets]
    if restart_policy:
        pod["restartPolicy"] = restart_policy
    if subdomain:
        pod["subdomain"] = subdomain
    if init:
        pod["initContainers"] = init
    pod["containers"] = containers
    pod["volumes"] = volumes
    return pod


def _pod_metadata(labels: Mapping[str, str], options: ClusterOptions) -> dict[str, Any]:
    meta: dict[str, Any] = {"labels": dict(labels)}
    if options.pod_annotations:
        meta["annotations"] = dict(options.pod_annotations)
    return meta


def _base_env(spec: JobSpec, workdir: str) -> dict[str, Any]:
    return {"PYTHONPATH": f"{posixpath.join(workdir, ALGORITHM_DIR)}:{workdir}", "PYTHONUNBUFFERED": "1"}


def _container(spec: JobSpec, role: str, kind: Kind, options: ClusterOptions, env: Mapping[str, Any],
               script: str, mounts: list[dict], workdir: str, resources: Resources) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": kind.container,
        "image": spec.role_image(role) or "",
        "imagePullPolicy": options.image_pull_policy,
        "command": ["/bin/sh", "-c", script],
        "workingDir": workdir,
        "env": env_list(env),
        "volumeMounts": mounts,
    }
    resources_dict = container_resources(resources, options.limit_cpu)
    if resources_dict:
        container["resources"] = resources_dict
    if not kind.operator:
        container["ports"] = [{"name": "submarine", "containerPort": kind.port}]
    return container


def _operator_job(spec: JobSpec, kind: Kind, options: ClusterOptions, metadata: dict, labels: dict,
                  volumes: list, mounts: list, init: list, workdir: str, secrets: "_Secrets") -> dict[str, Any]:
    replica_specs = {}
    for role_name, role in spec.roles.items():
        # One template serves every replica of a role, so the index comes from the pod's operator label.
        env: dict[str, Any] = {**_base_env(spec, workdir), **submarine_env(spec, role_name, 0)}
        env["SUBMARINE_REPLICA_INDEX"] = {"fieldRef": {
            "fieldPath": f"metadata.labels['{OPERATOR_REPLICA_INDEX_LABEL}']"}}
        env.update(secrets.env(role_name, spec.role_env(role_name)))
        container = _container(spec, role_name, kind, options, env, secrets.command(spec, role_name), mounts,
                               workdir, role.resources)
        pod = _pod_spec(options, [container], volumes, init)
        add_scheduler(pod, options)  # the operator makes the PodGroup when it runs with gang scheduling
        replica_specs[REPLICA_TYPES[role_name]] = {
            "replicas": role.replicas,
            "restartPolicy": options.restart_policy,
            "template": {"metadata": _pod_metadata(labels, options), "spec": pod},
        }
    run_policy: dict[str, Any] = {"cleanPodPolicy": options.clean_pod_policy}
    if options.scheduler != "default":
        run_policy["schedulingPolicy"] = {"minAvailable": spec.replica_count}
        if options.scheduler == "coscheduling":
            run_policy["schedulingPolicy"]["scheduleTimeoutSeconds"] = options.gang_timeout_seconds
    if options.queue:
        metadata["labels"][QUEUE_LABEL] = options.queue
        run_policy["suspend"] = True  # Kueue resumes it on admission
    for key, value in (("ttlSecondsAfterFinished", options.ttl_seconds_after_finished),
                       ("backoffLimit", options.backoff_limit),
                       ("activeDeadlineSeconds", options.active_deadline_seconds)):
        if value is not None:
            run_policy[key] = value
    return {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": metadata,
            "spec": {kind.replica_specs_key: replica_specs, "runPolicy": run_policy}}


def plain_job_addresses(spec: JobSpec, namespace: str) -> dict[str, list[str]]:
    """role → `host:port` of each replica: the Indexed Job's stable pod hostnames under the headless Service."""
    cluster: dict[str, list[str]] = {}
    for index, (role, _) in enumerate(replica_names(spec)):
        cluster.setdefault(role, []).append(f"{spec.name}-{index}.{spec.name}.{namespace}.svc:{PLAIN_JOB.port}")
    return cluster


def plain_job_env(spec: JobSpec, namespace: str) -> list[dict[str, str]]:
    """Per completion index: the contract the operator would have injected, computed here."""
    cluster = plain_job_addresses(spec, namespace)
    deciding = replica_names(spec)[0]
    master_addr = cluster[deciding[0]][0].rsplit(":", 1)[0]
    out = []
    for role, index in replica_names(spec):
        env = {**spec.role_env(role), **submarine_env(spec, role, index)}
        if spec.framework in ("tensorflow", "custom"):
            env["TF_CONFIG"] = tf_config(cluster, role, index)
        if spec.framework in ("pytorch", "xgboost", "custom"):
            env.update(distributed_env(spec, role, index, master_addr, PLAIN_JOB.port))
        out.append(env)
    return out


def indexed_launch(spec: JobSpec, per_index_env: Sequence[Mapping[str, Any]], secrets: "_Secrets",
                   prelude: str = "") -> tuple[str, dict[str, Any]]:
    """One shell script for every replica of an Indexed Job: a `case` on the completion index exports that
    replica's own variables and runs its role's command; returns (script, the variables all replicas share)."""
    order = replica_names(spec)
    per_index = [secrets.env(role, env) for (role, _), env in zip(order, per_index_env)]
    common = {k: v for k, v in per_index[0].items() if all(env.get(k) == v for env in per_index)}
    cases = []
    secret_env: dict[str, Any] = {}  # role-specific secrets: one variable per role, exported by its case
    for index, ((role, _), env) in enumerate(zip(order, per_index)):
        exports = []
        for k, v in env.items():
            if k in common:
                continue
            if isinstance(v, Mapping):
                holder = f"SUBMARINE_SECRET_{_LABEL_VALUE_BAD.sub('_', role).upper()}_{k}"
                secret_env[holder] = v
                exports.append(f'{k}="${{{holder}}}"')
            else:
                exports.append(f"{k}={shlex.quote(v)}")
        export = f"export {' '.join(exports)}; " if exports else ""
        cases.append(f"  {index}) {export}exec /bin/sh -c {shlex.quote(secrets.command(spec, role))} ;;")
    script = "\n".join([
        *([prelude] if prelude else []),
        'case "${JOB_COMPLETION_INDEX}" in', *cases,
        '  *) echo "submarine-kernel: no replica for completion index ${JOB_COMPLETION_INDEX}" >&2; exit 2 ;;',
        "esac"])
    return script, {**common, **secret_env}


def _plain_job(spec: JobSpec, options: ClusterOptions, metadata: dict, labels: dict, volumes: list,
               mounts: list, init: list, workdir: str, secrets: "_Secrets") -> tuple[dict[str, Any], dict[str, Any]]:
    order = replica_names(spec)
    script, env = indexed_launch(spec, plain_job_env(spec, options.namespace), secrets)
    first_role = order[0][0]
    env = {**_base_env(spec, workdir), **env}
    container = _container(spec, first_role, PLAIN_JOB, options, env, script, mounts, workdir,
                           spec.roles[first_role].resources)
    restart = "OnFailure" if options.restart_policy == "OnFailure" else "Never"
    count = spec.replica_count
    pod = _pod_spec(options, [container], volumes, init, restart, subdomain=spec.name)
    add_scheduler(pod, options)
    pod_meta = _pod_metadata(labels, options)
    add_pod_group_membership(pod_meta, spec.name, options)
    job_spec: dict[str, Any] = {
        "completionMode": "Indexed", "completions": count, "parallelism": count,
        "template": {"metadata": pod_meta, "spec": pod},
    }
    if options.queue:
        metadata["labels"][QUEUE_LABEL] = options.queue
        job_spec["suspend"] = True  # Kueue resumes it on admission
    if options.job_success_policy and count > 1:
        # Index 0 is the deciding replica (chief, master or worker 0): its success ends the job, as in TFJob.
        job_spec["successPolicy"] = {"rules": [{"succeededIndexes": "0"}]}
    for key, value in (("ttlSecondsAfterFinished", options.ttl_seconds_after_finished),
                       ("backoffLimit", options.backoff_limit),
                       ("activeDeadlineSeconds", options.active_deadline_seconds)):
        if value is not None:
            job_spec[key] = value
    job = {"apiVersion": PLAIN_JOB.api_version, "kind": "Job", "metadata": metadata, "spec": job_spec}
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": spec.name, "namespace": options.namespace,
                     "labels": {**labels, COMPONENT_LABEL: "replica-dns"}},
        "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                 "selector": {JOB_LABEL: labels[JOB_LABEL], MANAGED_BY_LABEL: MANAGED_BY},
                 "ports": [{"name": "submarine", "port": PLAIN_JOB.port, "targetPort": PLAIN_JOB.port}]},
    }
    return job, service


def plain_job_problems(spec: JobSpec, options: ClusterOptions) -> list[str]:
    """What the plain Job cannot do: it runs every replica from one pod template."""
    problems = []
    roles = list(spec.roles.values())
    if len({spec.role_image(r.name) for r in roles}) > 1 or len({r.resources.to_cli() for r in roles}) > 1:
        problems.append("without the training operator every replica runs from one pod template: give every role "
                        "the same image and resources, or set KubernetesRuntime.training_operator = True")
    if "ps" in spec.roles and not options.job_success_policy:
        problems.append("parameter servers never exit, so a plain Job with --ps only ends with "
                        "KubernetesRuntime.job_success_policy = True (Kubernetes 1.31+)")
    if options.restart_policy not in ("Never", "OnFailure"):
        problems.append(f"a plain Job cannot use restart_policy {options.restart_policy!r}: use Never or OnFailure")
    return problems


# -- TensorBoard -------------------------------------------------------------------------------------------
def tensorboard_objects(name: str, logdir: str, options: ClusterOptions, image: str,
                        labels: Mapping[str, str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A one-replica TensorBoard Deployment reading `logdir`, and a Service in front of it."""
    tb_name = tensorboard_name(name)
    tb_labels = {**(labels or {}), MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: "tensorboard",
                 JOB_LABEL: label_value(name)}
    selector = {MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: "tensorboard", "app.kubernetes.io/instance": tb_name}
    container: dict[str, Any] = {
        "name": "tensorboard", "image": image, "imagePullPolicy": options.image_pull_policy,
        "command": ["tensorboard", "--logdir", logdir, "--host", "0.0.0.0", "--port", str(TENSORBOARD_PORT)],
        "ports": [{"name": "http", "containerPort": TENSORBOARD_PORT}],
        "readinessProbe": {"httpGet": {"path": "/", "port": TENSORBOARD_PORT}, "periodSeconds": 10},
    }
    env = {}
    if logdir.startswith(("s3://", "s3a://")):
        if options.s3_endpoint_url:
            env["S3_ENDPOINT"] = options.s3_endpoint_url
            env["AWS_ENDPOINT_URL"] = options.s3_endpoint_url
        if options.s3_region:
            env["AWS_REGION"] = options.s3_region
        if options.s3_credentials_secret:
            container["envFrom"] = [{"secretRef": {"name": options.s3_credentials_secret}}]
    if env:
        container["env"] = env_list(env)
    pod_spec = _pod_spec(options, [container], [], [])
    pod_spec.pop("volumes")
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": tb_name, "namespace": options.namespace, "labels": {**tb_labels, **selector}},
        "spec": {"replicas": 1, "selector": {"matchLabels": selector},
                 "template": {"metadata": {"labels": {**tb_labels, **selector}}, "spec": pod_spec}},
    }
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": tb_name, "namespace": options.namespace, "labels": {**tb_labels, **selector}},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": TENSORBOARD_PORT,
                                                  "targetPort": TENSORBOARD_PORT}]},
    }
    return deployment, service


def to_yaml(objects: Sequence[Mapping[str, Any]], comment: str = "") -> str:
    """Objects as one multi-document YAML text, in creation order."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data):  # templates share lists: print them out, not as &id001 anchors
            return True

    def text(dumper, value):  # scripts read best as `|` blocks
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    header = "".join(f"# {line}\n" for line in comment.splitlines()) if comment else ""
    return header + yaml.dump_all([dict(o) for o in objects], Dumper=Dumper, sort_keys=False,
                                  default_flow_style=False, width=120)
