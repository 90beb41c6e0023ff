"""The Kubernetes runtime: Kubeflow Trainer v2 (TrainJob, or a JobSet for TensorFlow), the training operator v1
(TFJob, PyTorchJob, XGBoostJob) or a plain Indexed Job, through the official `kubernetes` client (imported on
first use, never at `%load_ext`). Which one: `KubernetesRuntime.api`, chosen by `k8s_api` (discovery for `auto`).

Manifests are built by `k8s_trainer` and `k8s_manifests`; this module talks to the cluster: it creates the job
and then the objects it owns, follows every tracked job through one list+watch per namespace and resource
(shared by all jobs, resumed from the last resourceVersion, listed again after `410 Gone`), answers `poll`
from that cache, reads pod logs per replica, and turns API errors into one-line SubmarineErrors that say
which credentials were used (never their values).
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from traitlets import Bool, CaselessStrEnum, Dict, Enum, Float, Int, List, Unicode, observe

from .. import k8s_api
from .. import k8s_manifests as m
from .. import k8s_trainer as trainer
from ..algorithm import Bundle
from ..errors import RuntimeFailure, SubmarineError, TransientError, ValidationError
from ..retry import DEFAULT_POLICY, retried
from ..names import dns1035_problems
from ..spec import JobSpec
from ..job_types import JobRef, JobState, JobStatus, ReplicaStatus
from .base import Runtime

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: how long the first poll of a namespace waits for its initial list
FIRST_SYNC_WAIT = 5.0
#: seconds a LocalQueue's positions (Kueue's visibility API) are reused before being asked again
QUEUE_POSITION_TTL = 10.0
_OPERATOR_STATES = {
    "Created": JobState.PENDING, "Running": JobState.RUNNING, "Restarting": JobState.RUNNING,
    "Suspended": JobState.PENDING, "Succeeded": JobState.SUCCEEDED, "Failed": JobState.FAILED,
}
_POD_STATES = {"Pending": JobState.PENDING, "Running": JobState.RUNNING, "Succeeded": JobState.SUCCEEDED,
               "Failed": JobState.FAILED}
#: container waiting reasons that will not fix themselves, with what to do about them
_STUCK_REASONS = {
    "ErrImagePull": "check the image name and KubernetesRuntime.image_pull_secrets",
    "ImagePullBackOff": "check the image name and KubernetesRuntime.image_pull_secrets",
    "InvalidImageName": "fix the image name",
    "CreateContainerConfigError": "a referenced Secret or ConfigMap is missing",
}
_TEMPLATE_FIELDS = ("name", "namespace", "kind", "uid")
#: every kind a job can be, by plural (the plural is what a JobRef keeps)
_KINDS = {**m.KINDS_BY_PLURAL, **trainer.KINDS}
#: set on a job that `stop` suspended, so that its status says STOPPED after a kernel restart too
STOPPED_ANNOTATION = "submarine-kernel/stopped"
#: what a dry run writes for an image nobody configured
IMAGE_PLACEHOLDER = "<image: --image or SubmarineConfig.image>"
#: custom kinds created beside a job, by kind: plural (group and version come from apiVersion)
_OWNED_CUSTOM_PLURALS = {"TrainingRuntime": "trainingruntimes", "PodGroup": "podgroups"}


@dataclass
class _Clients:
    api: Any
    custom: Any
    core: Any
    batch: Any
    apps: Any
    credentials: str  # which credentials, in words, never their values
    namespace: str | None
    host: str


class KubernetesRuntime(Runtime):
    """Runs a JobSpec as a Kubeflow training operator job, or as a plain Indexed Job."""

    name = "kubernetes"

    # -- connection -----------------------------------------------------------------------------------------
    kubeconfig = Unicode("", help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).").tag(config=True)
    context = Unicode("", help="kubeconfig context to use (default: its current context).").tag(config=True)
    in_cluster = CaselessStrEnum(["auto", "yes", "no"], "auto",
                                 help="Use the pod's service account: auto = when running in a pod without a "
                                      "kubeconfig.").tag(config=True)
    namespace = Unicode("", help="Namespace of the jobs (default: the context's, else 'default').").tag(config=True)
    request_timeout = Float(30.0, help="Seconds to wait for one API request.").tag(config=True)
    watch_timeout = Int(300, help="Seconds one watch request stays open before it is renewed.").tag(config=True)
    # -- which API ------------------------------------------------------------------------------------------
    api = CaselessStrEnum(list(k8s_api.APIS), "auto",
                          help="trainer: Kubeflow Trainer v2 TrainJob (JobSet for TensorFlow); training-operator: "
                               "v1 TFJob/PyTorchJob/XGBoostJob; job: a plain Indexed Job; auto: what the cluster's "
                               "discovery serves, in that order (Trainer v2 in a dry run).").tag(config=True)
    training_operator = Bool(True, help="False with api 'auto': always run a plain Indexed Job (kept for old "
                                        "configurations; prefer KubernetesRuntime.api = 'job').").tag(config=True)
    trainer_runtimes = Dict(value_trait=Unicode(),
                            default_value={"pytorch": "torch-distributed", "xgboost": "xgboost-distributed"},
                            help="Trainer v2: the runtime a TrainJob refers to, per framework.").tag(config=True)
    trainer_runtime_kind = Enum(["ClusterTrainingRuntime", "TrainingRuntime"], "ClusterTrainingRuntime",
                                help="Trainer v2: kind of the runtimes in trainer_runtimes.").tag(config=True)
    queue = Unicode("", help="Kueue LocalQueue of the jobs (label kueue.x-k8s.io/queue-name; created suspended)."
                    ).tag(config=True)
    scheduler = Enum(["default", "volcano", "coscheduling"], "default",
                     help="Gang scheduling: all replicas start together or none (Trainer v2: the runtime's "
                          "podGroupPolicy; v1: runPolicy.schedulingPolicy; plain Job/JobSet: a PodGroup)."
                     ).tag(config=True)
    scheduler_name = Unicode("", help="schedulerName of the pods with a gang scheduler (default: volcano, or "
                                      "scheduler-plugins-scheduler for coscheduling).").tag(config=True)
    gang_timeout_seconds = Int(60, help="coscheduling: seconds to wait for the whole gang.").tag(config=True)
    stop_action = Enum(["delete", "suspend"], "delete",
                       help="What %submarine stop does: delete the job (and its pods and logs), or suspend it "
                            "(pods end; the job object stays).").tag(config=True)
    # -- what the jobs look like ----------------------------------------------------------------------------
    service_account = Unicode("", help="Service account of the job's pods.").tag(config=True)
    image_pull_policy = Enum(["Always", "IfNotPresent", "Never"], "IfNotPresent").tag(config=True)
    image_pull_secrets = List(Unicode(), help="Names of docker-registry Secrets for private images.").tag(config=True)
    node_selector = Dict(value_trait=Unicode(), help="Node labels the pods must run on.").tag(config=True)
    tolerations = List(Dict(), help="Pod tolerations, as Kubernetes writes them.").tag(config=True)
    priority_class = Unicode("", help="PriorityClass of the pods.").tag(config=True)
    pod_annotations = Dict(value_trait=Unicode(), help="Annotations of every pod (e.g. sidecar.istio.io/inject)."
                           ).tag(config=True)
    restart_policy = Enum(["Never", "OnFailure", "ExitCode", "Always"], "Never",
                          help="Restart policy of the replicas.").tag(config=True)
    clean_pod_policy = Enum(["All", "Running", "None"], "Running",
                            help="Which pods the operator deletes when the job ends (Running keeps logs of "
                                 "finished replicas).").tag(config=True)
    ttl_seconds_after_finished = Int(86400, allow_none=True,
                                     help="Delete a finished job after this many seconds (None: never)."
                                     ).tag(config=True)
    backoff_limit = Int(0, allow_none=True, help="Retries before the job is marked failed.").tag(config=True)
    active_deadline_seconds = Int(None, allow_none=True, help="Fail a job that runs longer.").tag(config=True)
    job_success_policy = Bool(True, help="Plain Job: end the job when replica 0 succeeds (successPolicy, "
                                         "Kubernetes 1.31+).").tag(config=True)
    working_dir = Unicode("/workspace", help="Working directory of the replicas.").tag(config=True)
    limit_cpu = Bool(True, help="Set CPU limits equal to requests (False: requests only).").tag(config=True)
    # -- algorithm delivery ---------------------------------------------------------------------------------
    bundle_delivery = Enum(["auto", "configmap", "storage"], "auto",
                           help="auto: a ConfigMap when the files fit, else fetched from storage.").tag(config=True)
    configmap_limit_bytes = Int(m.CONFIGMAP_LIMIT, help="Largest bundle sent in a ConfigMap.").tag(config=True)
    s3_fetch_image = Unicode("amazon/aws-cli:2.17.0", help="Image of the init container for s3://").tag(config=True)
    s3_endpoint_url = Unicode("", help="S3 endpoint as the pods reach it (MinIO...).").tag(config=True)
    s3_region = Unicode("", help="S3 region for the pods.").tag(config=True)
    s3_credentials_secret = Unicode("", help="Secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for the pods "
                                             "(none: the service account's role).").tag(config=True)
    hdfs_fetch_image = Unicode("curlimages/curl:8.8.0", help="Image of the init container for hdfs://"
                               ).tag(config=True)
    webhdfs_url = Unicode("", help="WebHDFS base URL as the pods reach it (default http://<namenode>:9870)."
                          ).tag(config=True)
    hdfs_user = Unicode("", help="user.name for WebHDFS reads from the pods.").tag(config=True)
    # -- links and TensorBoard ------------------------------------------------------------------------------
    dashboard_url = Unicode("", help="Job dashboard URL template, e.g. https://dash/{namespace}/{name} "
                                     "(fields: name, namespace, kind, uid).").tag(config=True)
    tensorboard_url = Unicode("", help="TensorBoard URL template, e.g. https://tb.example.com/{namespace}/{name}."
                              ).tag(config=True)
    tensorboard_image = Unicode("tensorflow/tensorflow:2.16.1", help="Image of TensorBoard Deployments."
                                ).tag(config=True)

    def __init__(self, **kwargs):
        # Set before the traits are: changing a connection trait closes what these hold.
        self._lock = threading.RLock()
        self._clients: _Clients | None = None
        self._watches: dict[tuple[str, str], _ResourceWatch] = {}
        self._stopped: set[str] = set()
        self._served: set[str] | None = None  # group/versions the cluster's discovery answered
        self._positions: dict[tuple[str, str], tuple[float, dict[str, int]]] = {}
        self._no_visibility: set[tuple[str, str]] = set()
        super().__init__(**kwargs)

    @observe("kubeconfig", "context", "in_cluster")
    def _connection_changed(self, change):
        self.close()

    # -- options --------------------------------------------------------------------------------------------
    def api_choice(self, discover: bool = False, spec: JobSpec | None = None) -> k8s_api.ApiChoice:
        """The API jobs are built for and why; `discover` asks the cluster (once per connection) for `auto`.

        Without an answer from the cluster, `auto` previews Trainer v2, unless Trainer v2 cannot run `spec`
        (a master unlike its workers): then the v1 operator, which can, so that a preview is not refused
        for what the cluster may not even serve. A submission asks, and refuses on a Trainer v2 cluster."""
        if self.api in (k8s_api.AUTO, k8s_api.TRAINING_OPERATOR) and not self.training_operator:
            return k8s_api.ApiChoice(k8s_api.PLAIN_JOB, "KubernetesRuntime.training_operator = False")
        if self.api == k8s_api.AUTO and discover and self._served is None:
            self._served = self._discover(self._connect())
        choice = k8s_api.choose(self.api, self._served)
        if spec is not None and self.api == k8s_api.AUTO and self._served is None and choice.api == k8s_api.TRAINER:
            blockers = trainer.trainer_problems(spec, self.cluster_options(choice))
            if blockers and spec.framework in m.OPERATOR_KINDS:
                return k8s_api.ApiChoice(k8s_api.TRAINING_OPERATOR, "api 'auto' without a cluster to ask: rendered "
                                         f"for the training operator v1, since on Trainer v2 {blockers[0]}")
        return choice

    def job_kind(self, spec: JobSpec, choice: k8s_api.ApiChoice | None = None) -> m.Kind:
        choice = choice or self.api_choice()
        if choice.api == k8s_api.TRAINER:
            return trainer.trainer_kind(spec)
        if choice.api == k8s_api.TRAINING_OPERATOR:
            return m.OPERATOR_KINDS.get(spec.framework, m.PLAIN_JOB)
        return m.PLAIN_JOB

    def cluster_options(self, choice: k8s_api.ApiChoice | None = None) -> m.ClusterOptions:
        """The traits as k8s_manifests' options, with the namespace resolved without contacting the cluster."""
        choice = choice or self.api_choice()
        return m.ClusterOptions(
            namespace=self.effective_namespace(), training_operator=choice.api == k8s_api.TRAINING_OPERATOR,
            trainer_runtimes=dict(self.trainer_runtimes), trainer_runtime_kind=self.trainer_runtime_kind,
            queue=self.queue, scheduler=self.scheduler, scheduler_name=self.scheduler_name,
            gang_timeout_seconds=self.gang_timeout_seconds,
            service_account=self.service_account, image_pull_policy=self.image_pull_policy,
            image_pull_secrets=tuple(self.image_pull_secrets), node_selector=dict(self.node_selector),
            tolerations=tuple(self.tolerations), priority_class=self.priority_class,
            pod_annotations=dict(self.pod_annotations), restart_policy=self.restart_policy,
            clean_pod_policy=self.clean_pod_policy, ttl_seconds_after_finished=self.ttl_seconds_after_finished,
            backoff_limit=self.backoff_limit, active_deadline_seconds=self.active_deadline_seconds,
            job_success_policy=self.job_success_policy, working_dir=self.working_dir, limit_cpu=self.limit_cpu,
            bundle_delivery=self.bundle_delivery, configmap_limit=self.configmap_limit_bytes,
            s3_fetch_image=self.s3_fetch_image, s3_endpoint_url=self.s3_endpoint_url, s3_region=self.s3_region,
            s3_credentials_secret=self.s3_credentials_secret, hdfs_fetch_image=self.hdfs_fetch_image,
            webhdfs_url=self.webhdfs_url, hdfs_user=self.hdfs_user)

    def effective_namespace(self) -> str:
        """The configured namespace, else the kubeconfig context's (or the pod's), else 'default'."""
        if self.namespace:
            return self.namespace
        if self._clients is not None:
            return self._clients.namespace or "default"
        if self._use_in_cluster():
            return _read_text(SERVICE_ACCOUNT_DIR / "namespace") or "default"
        return _kubeconfig_namespace(self._kubeconfig_path(), self.context) or "default"

    def _kubeconfig_path(self) -> str:
        return os.path.expanduser(self.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config")

    def _has_kubeconfig(self) -> bool:
        return any(os.path.exists(p) for p in self._kubeconfig_path().split(os.pathsep) if p)

    def _use_in_cluster(self) -> bool:
        if self.in_cluster != "auto":
            return self.in_cluster == "yes"
        has_kubeconfig = any(os.path.exists(p) for p in self._kubeconfig_path().split(os.pathsep) if p)
        return not has_kubeconfig and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))

    # -- the Runtime interface ------------------------------------------------------------------------------
    def check(self, spec: JobSpec, choice: k8s_api.ApiChoice | None = None) -> list[str]:
        """Name rules (DNS-1035, short enough for every replica's host name), API limits, and every setting a
        submission still needs (`missing_settings`); no cluster call."""
        choice = choice or self.api_choice(spec=spec)
        options = self.cluster_options(choice)
        kind = self.job_kind(spec, choice)
        if kind.operator:  # the operator names a Service per replica: <job>-<type>-<index>, a DNS label
            suffix = max((len(f"-{role}-{r.replicas - 1}") for role, r in spec.roles.items()), default=0)
        elif kind.custom:  # JobSet pods: <job>-<replicated job>-0-<index>
            suffix = trainer.host_suffix(spec)
        else:  # Indexed Job pods are hosts named <job>-<index>
            suffix = len(f"-{max(spec.replica_count - 1, 0)}")
        problems = dns1035_problems(spec.name, max_length=63 - suffix)
        if kind.custom and not kind.operator:
            problems += trainer.trainer_problems(spec, options)
        elif not kind.operator:
            problems += m.plain_job_problems(spec, options)
        if self.queue and m.label_value(self.queue) != self.queue:
            problems.append(f"KubernetesRuntime.queue {self.queue!r} is not a valid LocalQueue name: use letters, "
                            "digits, '-', '_' and '.', at most 63")
        return problems + [p for p in self.missing_settings(spec) if p not in problems]

    def missing_settings(self, spec: JobSpec) -> list[str]:
        """What a real submission needs that is not configured: a dry run shows placeholders instead."""
        missing = []
        if not self._use_in_cluster() and not self._has_kubeconfig():
            missing.append(f"no kubeconfig at {self._kubeconfig_path()}: set KubernetesRuntime.kubeconfig or "
                           "$KUBECONFIG, or run inside a cluster")
        for role in spec.roles:
            if not spec.role_image(role):
                missing.append(f"role {role!r} has no container image: pass --image or set SubmarineConfig.image")
        return missing

    def plan(self, spec: JobSpec, bundle: Bundle, bundle_uri: str,
             choice: k8s_api.ApiChoice | None = None) -> m.JobPlan:
        """The objects `spec` becomes, built locally (no cluster needed)."""
        choice = choice or self.api_choice(spec=spec)
        options = self.cluster_options(choice)
        if choice.api == k8s_api.TRAINER:
            return trainer.plan(spec, bundle, bundle_uri, options)
        return m.plan_job(spec, bundle, bundle_uri, options)

    def render(self, spec: JobSpec, bundle: Bundle, bundle_uri: str) -> str:
        """YAML of every object submit would create, in creation order (no cluster needed); a setting not
        configured yet shows as a visible placeholder."""
        if any(not spec.role_image(role) for role in spec.roles):
            spec = spec.replace(image=IMAGE_PLACEHOLDER)
        choice = self.api_choice(spec=spec)
        plan = self.plan(spec, bundle, bundle_uri, choice)
        how = ("in a ConfigMap owned by the job" if plan.delivery == "configmap"
               else "fetched from storage by an init container")
        lines = [f"{plan.kind.kind} {spec.name!r} in namespace {plan.job['metadata']['namespace']!r} "
                 "(dry run: nothing was created)",
                 f"api: {choice.describe()}",
                 f"algorithm files ({len(bundle.files)}, {bundle.size} bytes) {how}"]
        if plan.before:
            reasons = trainer.own_runtime_reasons(spec, self.cluster_options(choice), plan.delivery)
            lines.append(f"its own TrainingRuntime {spec.name!r} comes first, because {' and '.join(reasons)}")
        if self.queue:
            lines.append(f"created suspended in Kueue LocalQueue {self.queue!r}, which starts it on admission")
        lines.append("objects other than the job are owned by it (their owner's uid is set at submit)")
        return m.to_yaml(plan.objects(), "\n".join(lines))

    def submit(self, spec: JobSpec, bundle: Bundle, bundle_uri: str) -> JobRef:
        """Create the job, then the ConfigMap/Service it owns; nothing is created when validation fails.

        The job goes first so that its uid can own the rest: the garbage collector then deletes them with
        it, and nothing is orphaned if the job is refused. Pods that start before their ConfigMap exists
        wait in ContainerCreating (the kubelet retries the mount) for the few milliseconds in between.
        A job's own TrainingRuntime is the exception: the TrainJob refers to it, so it goes first and is
        made owned by the TrainJob once that exists.
        """
        # Checked before any request too: a bad name or "no kubeconfig" needs no cluster to say so
        problems = spec.problems() + [p for p in self.check(spec) if p not in spec.problems()]
        if problems:
            raise ValidationError(problems)
        choice = self.api_choice(discover=True)
        problems = spec.problems() + [p for p in self.check(spec, choice) if p not in spec.problems()]
        if problems:
            raise ValidationError(problems)
        plan = self.plan(spec, bundle, bundle_uri, choice)
        clients = self._connect()
        namespace = plan.job["metadata"]["namespace"]
        for obj in plan.before:
            try:
                self._create(clients, obj)
            except _AlreadyExists:
                self._check_ours(clients, obj)
        try:
            created = self._create(clients, plan.job, plan.kind)
        except _AlreadyExists:
            # A retried create: the earlier attempt may have made the job and lost its answer. Our token on
            # the job means it is ours ("already submitted"); anything else means the name is taken.
            created = self._adopt(clients, plan, spec)
        except SubmarineError as exc:
            if not isinstance(exc, TransientError):
                self._delete_before(clients, plan)
            raise
        try:
            for obj in plan.before:  # now owned by the job: the garbage collector deletes them with it
                self._patch_custom(clients, obj, {"metadata": {"ownerReferences": [m.owner_reference(created)]}})
            for obj in plan.owned_objects(created):
                try:
                    self._create(clients, obj)
                except _AlreadyExists:
                    self._check_owned(clients, obj, created)
        except TransientError:
            raise  # kept: the session's retry adopts the job (same token) and creates what is missing
        except SubmarineError:
            self._delete_job(clients, plan.kind, namespace, spec.name, missing_ok=True)
            self._delete_before(clients, plan)
            raise
        uid = created.get("metadata", {}).get("uid", "")
        deciding = f"{spec.deciding_role}-0"
        ref = JobRef(self.name, spec.name, uid, {
            "namespace": namespace, "plural": plan.kind.plural, "kind": plan.kind.kind,
            "container": plan.container or plan.kind.container, "replicas": plan.replicas, "deciding": deciding,
            "delivery": plan.delivery, "api": choice.api, "api_reason": choice.reason, "queue": self.queue})
        self._stopped.discard(ref.key)
        self._watch(namespace, plan.kind.plural).seed(created)  # poll sees the job before its first event
        return ref

    def find(self, spec: JobSpec, bundle_uri: str | None) -> JobRef | None:
        """The job this submission made (our token on it) with every ConfigMap/Secret it mounts, or None;
        a job of ours that lacks one of them is half-created and is deleted (its owned objects go with it)."""
        from ..contract import replica_names

        kind = m.job_kind(spec, self.cluster_options())
        namespace = self.effective_namespace()
        clients = self._connect()
        existing = self._read_job(clients, kind, namespace, spec.name)
        token = spec.labels.get(m.SUBMISSION_LABEL)
        if not token or existing is None or ((existing.get("metadata") or {}).get("labels") or {}).get(
                m.SUBMISSION_LABEL) != token:
            return None
        readers = {"configMap": clients.core.read_namespaced_config_map, "secret": clients.core.read_namespaced_secret}
        for source, name in _mounted_sources(existing):
            try:
                self._call(clients, "read", f"{source} {name!r}", readers[source], name, namespace)
            except _NotFound:
                self._delete_job(clients, kind, namespace, spec.name, missing_ok=True)
                return None
        mounts = dict(_mounted_sources(existing))
        return JobRef(self.name, spec.name, (existing.get("metadata") or {}).get("uid", ""), {
            "namespace": namespace, "plural": kind.plural, "kind": kind.kind, "container": kind.container,
            "replicas": [f"{role}-{index}" for role, index in replica_names(spec)],
            "deciding": f"{spec.deciding_role}-0",
            "delivery": "configmap" if m.configmap_name(spec.name) in mounts.values() else "storage"})

    def poll(self, refs: Sequence[JobRef]) -> dict[str, JobStatus]:
        """Answer from the watch caches: one list+watch per namespace and resource, shared by all jobs."""
        out: dict[str, JobStatus] = {}
        groups: dict[tuple[str, str], list[JobRef]] = {}
        for ref in refs:
            groups.setdefault((_ref_namespace(ref, self), _ref_kind(ref).plural), []).append(ref)
        for (namespace, plural), group in groups.items():
            jobs = self._watch(namespace, plural)
            pods = self._watch(namespace, "pods")
            jobs.synced.wait(FIRST_SYNC_WAIT)
            pods.synced.wait(FIRST_SYNC_WAIT if jobs.synced.is_set() else 0)
            for ref in group:
                status = self._status(ref, jobs, pods)
                status.details = k8s_api.details(ref.extra)
                out[ref.key] = status
        self._add_queue_positions(refs, out)
        return out

    def _add_queue_positions(self, refs: Sequence[JobRef], statuses: dict[str, JobStatus]) -> None:
        """'waiting in queue Q (N ahead)' where Kueue's visibility API answers: one request per LocalQueue
        at most every QUEUE_POSITION_TTL seconds; a cluster without it (404, 403) is not asked again."""
        for ref in refs:
            status = statuses[ref.key]
            queue = ref.extra.get("queue")
            if status.raw_state != "Queued" or not queue:
                continue
            key = (_ref_namespace(ref, self), queue)
            if key in self._no_visibility:
                continue
            cached = self._positions.get(key)
            if cached is None or time.monotonic() - cached[0] > QUEUE_POSITION_TTL:
                try:
                    clients = self._connect()
                    path = k8s_api.KUEUE_VISIBILITY.format(namespace=key[0], queue=queue)
                    summary = self._call(clients, "read the positions in", f"LocalQueue {queue!r}", k8s_api.get_json,
                                         clients.api, path)
                except TransientError:
                    continue  # a blip: the next poll asks again
                except SubmarineError:  # no visibility API (404), or not allowed to use it (403)
                    self._no_visibility.add(key)
                    continue
                cached = self._positions[key] = (time.monotonic(), k8s_api.queue_positions(summary))
            ahead = cached[1].get(ref.id, cached[1].get(f"{ref.extra.get('kind')}/{ref.name}"))
            if ahead is not None:
                status.message = f"waiting in queue {queue!r} ({ahead} ahead)"

    def logs(self, ref: JobRef, replica: str | None = None, tail: int | None = None,
             follow: bool = False) -> Iterator[str]:
        """Lines of one replica's pod log (the deciding replica when None); `follow` streams until it ends."""
        names = list(ref.extra.get("replicas") or [])
        replica = replica or ref.extra.get("deciding") or (names[0] if names else None)
        if names and replica not in names:
            raise SubmarineError(f"job {ref.name!r} has no replica {replica!r}: use one of {', '.join(names)}")
        clients = self._connect()
        namespace = _ref_namespace(ref, self)
        pod = retried(lambda: self._pod_of(clients, ref, replica), f"reading the log of {ref.name}")
        if pod is None:
            raise SubmarineError(f"replica {replica} of job {ref.name!r} has no pod in namespace {namespace!r} "
                                 "(not started yet, or cleaned up): wait for it, or keep pods with "
                                 "KubernetesRuntime.clean_pod_policy = 'None'")
        kwargs: dict[str, Any] = {"container": ref.extra.get("container") or None, "follow": follow,
                                  "_preload_content": False}
        if tail is not None:
            kwargs["tail_lines"] = tail
        # A followed log may stay silent for long: no read timeout then.
        kwargs["_request_timeout"] = None if follow else self.request_timeout
        response = retried(lambda: self._call(clients, "read the log of", f"pod {pod!r}",
                                               clients.core.read_namespaced_pod_log, pod, namespace, **kwargs),
                            f"reading the log of {ref.name}")
        return self._lines(response, f"pod {pod!r}", clients)

    @staticmethod
    def _lines(response, what: str, clients: _Clients) -> Iterator[str]:
        from urllib3.exceptions import HTTPError

        try:
            yield from _iter_lines(response)
        except (HTTPError, OSError) as exc:
            raise RuntimeFailure(f"the log of {what} broke off ({type(exc).__name__}) at {clients.host}: "
                                 "read it again") from None
        finally:
            response.release_conn()

    def stop(self, ref: JobRef) -> None:
        """Delete the job with background propagation (pods, ConfigMap and Service go with it); with
        `stop_action = 'suspend'`, suspend it instead: its pods end, the object and its record stay."""
        clients = self._connect()
        self._stopped.add(ref.key)
        kind, namespace = _ref_kind(ref), _ref_namespace(ref, self)
        if self.stop_action == "suspend":
            suspend = {"runPolicy": {"suspend": True}} if kind.operator else {"suspend": True}
            patch = {"metadata": {"annotations": {STOPPED_ANNOTATION: "true"}}, "spec": suspend}
            what = f"{kind.kind} {ref.name!r} in namespace {namespace!r}"
            try:
                if kind.custom:
                    self._call(clients, "suspend", what, clients.custom.patch_namespaced_custom_object, kind.group,
                               kind.version, namespace, kind.plural, ref.name, patch)
                else:
                    self._call(clients, "suspend", what, clients.batch.patch_namespaced_job, ref.name, namespace,
                               patch)
            except _NotFound:
                pass  # gone already: stopped either way
            return
        self._delete_job(clients, kind, namespace, ref.name, missing_ok=True)

    def remove(self, ref: JobRef) -> None:
        """Delete the job object (and with it its pods and logs)."""
        clients = self._connect()
        self._stopped.add(ref.key)
        # retried: a delete whose answer was lost finds the job gone (404) on the next try, which is success
        retried(lambda: self._delete_job(clients, _ref_kind(ref), _ref_namespace(ref, self), ref.name,
                                          missing_ok=True), f"stopping {ref.name}")

    def links(self, ref: JobRef) -> dict[str, str]:
        """The dashboard and TensorBoard URLs from the URL templates, when configured."""
        fields = {"name": ref.name, "namespace": _ref_namespace(ref, self), "kind": _ref_kind(ref).kind,
                  "uid": ref.id}
        links = {}
        for label, template, trait in (("dashboard", self.dashboard_url, "dashboard_url"),
                                       ("tensorboard", self.tensorboard_url, "tensorboard_url")):
            if template:
                links[label] = _fill(template, fields, trait)
        return links

    def start_tensorboard(self, name: str, logdir: str) -> str:
        """Create (or update) a TensorBoard Deployment + Service reading `logdir`; return its URL."""
        if not logdir:
            raise ValidationError("TensorBoard needs a log directory: pass --checkpoint PATH")
        if not logdir.startswith(("s3://", "s3a://", "gs://", "hdfs://")):
            raise ValidationError(f"TensorBoard runs in the cluster and cannot read {logdir!r}: use a checkpoint "
                                  "path on s3://, gs:// or hdfs://")
        clients = self._connect()
        options = self.cluster_options()
        deployment, service = m.tensorboard_objects(name, logdir, options, self.tensorboard_image)
        tb_name = deployment["metadata"]["name"]
        try:
            self._create(clients, deployment)
        except _AlreadyExists:
            self._call(clients, "update", f"Deployment {tb_name!r}", clients.apps.patch_namespaced_deployment,
                       tb_name, options.namespace, deployment)
        try:
            self._create(clients, service)
        except _AlreadyExists:
            pass  # the same selector and port: nothing to change
        if self.tensorboard_url:
            return _fill(self.tensorboard_url, {"name": name, "namespace": options.namespace,
                                                "kind": "TensorBoard", "uid": ""}, "tensorboard_url")
        return f"http://{tb_name}.{options.namespace}.svc:{m.TENSORBOARD_PORT}/"

    def stop_tensorboard(self, name: str) -> bool:
        """Delete the TensorBoard Deployment and Service of `name`; False when there was none."""
        clients = self._connect()
        namespace = self.effective_namespace()
        tb_name = m.tensorboard_name(name)
        found = False
        for what, delete in ((f"Deployment {tb_name!r}", clients.apps.delete_namespaced_deployment),
                             (f"Service {tb_name!r}", clients.core.delete_namespaced_service)):
            try:
                self._call(clients, "delete", what, delete, tb_name, namespace, propagation_policy="Background")
                found = True
            except _NotFound:
                pass
        return found

    def close(self) -> None:
        """Stop the watch threads and drop the API client."""
        with self._lock:
            watches, self._watches = list(self._watches.values()), {}
            clients, self._clients = self._clients, None
            self._served = None
            self._positions, self._no_visibility = {}, set()
        for watch in watches:
            watch.stop()
        if clients is not None:
            try:
                clients.api.close()
            except Exception:  # closing a pool that never opened
                pass

    # -- the client -----------------------------------------------------------------------------------------
    def _connect(self) -> _Clients:
        with self._lock:
            if self._clients is None:
                self._clients = self._load_clients()
            return self._clients

    def _load_clients(self) -> _Clients:
        try:
            from kubernetes import client, config
        except ModuleNotFoundError:
            raise SubmarineError("the kubernetes runtime needs the package 'kubernetes': "
                                 "pip install 'submarine-kernel[kubernetes]'") from None
        configuration = client.Configuration()
        if self._use_in_cluster():
            try:
                config.load_incluster_config(client_configuration=configuration)
            except config.ConfigException as exc:
                raise RuntimeFailure(f"cannot use the in-cluster service account ({exc}): run inside a pod, or set "
                                     "KubernetesRuntime.kubeconfig") from None
            namespace = _read_text(SERVICE_ACCOUNT_DIR / "namespace")
            credentials = f"the in-cluster service account {_service_account_name(namespace)}"
        else:
            path = self._kubeconfig_path()
            if not any(os.path.exists(p) for p in path.split(os.pathsep) if p):
                raise RuntimeFailure(f"no kubeconfig at {path}: set KubernetesRuntime.kubeconfig or $KUBECONFIG, "
                                     "or run inside a cluster")
            try:
                contexts, current = config.list_kube_config_contexts(path)
                names = [c["name"] for c in contexts]
                context_name = self.context or (current or {}).get("name")
                if context_name not in names:
                    raise RuntimeFailure(f"kubeconfig {path} has no context {context_name!r}: set "
                                         f"KubernetesRuntime.context to one of {', '.join(names) or '(none)'}")
                context = next(c for c in contexts if c["name"] == context_name).get("context") or {}
                config.load_kube_config(config_file=path, context=context_name,
                                        client_configuration=configuration, persist_config=False)
            except config.ConfigException as exc:
                raise RuntimeFailure(f"cannot use kubeconfig {path}: {exc}") from None
            namespace = context.get("namespace")
            credentials = f"kubeconfig {path}, context {context_name!r}, user {context.get('user', '?')!r}"
        api = client.ApiClient(configuration)
        return _Clients(api=api, custom=client.CustomObjectsApi(api), core=client.CoreV1Api(api),
                        batch=client.BatchV1Api(api), apps=client.AppsV1Api(api), credentials=credentials,
                        namespace=namespace, host=_redact_host(configuration.host))

    def _call(self, clients: _Clients, action: str, what: str, fn: Callable, *args, **kwargs):
        """One API request; every failure becomes a one-line SubmarineError."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        kwargs.setdefault("_request_timeout", self.request_timeout)
        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            raise self._api_error(clients, exc, action, what) from None
        except (HTTPError, OSError) as exc:  # transient: the session retries it with backoff
            raise TransientError(f"cannot reach the Kubernetes API at {clients.host} ({clients.credentials}) to "
                                 f"{action} {what}: {type(exc).__name__}; check that the cluster is up and "
                                 "KubernetesRuntime.kubeconfig/context point at it") from None

    def _api_error(self, clients: _Clients, exc, action: str, what: str) -> SubmarineError:
        status = getattr(exc, "status", 0) or 0
        body = _status_body(exc)
        message = (str(body.get("message") or exc.reason or "").splitlines() or [""])[0]
        if status in (401, 403):
            verb = "did not accept" if status == 401 else "refused"
            return RuntimeFailure(f"the Kubernetes API {verb} the credentials of {clients.credentials} to {action} "
                                  f"{what} ({status}: {message}): ask for access, or choose other credentials with "
                                  "KubernetesRuntime.kubeconfig/context")
        if status == 404:
            details = body.get("details") or {}
            if details.get("kind") == "namespaces":
                return _NamespaceNotFound(f"namespace {details.get('name')!r} does not exist: create it, or set "
                                 "KubernetesRuntime.namespace")
            return _NotFound(f"cannot {action} {what}: not found ({message})")
        if status == 409:
            return _AlreadyExists(f"cannot {action} {what}: it already exists; choose another job name "
                                  "(--name) or stop and remove the old job")
        if status == 422:
            return RuntimeFailure(f"the Kubernetes API rejected {what}: {message}")
        failure = TransientError if status >= 500 or status == 429 else RuntimeFailure  # may pass by itself
        return failure(f"the Kubernetes API failed to {action} {what} ({status} {exc.reason}): {message}")

    def _create(self, clients: _Clients, obj: dict[str, Any], kind: m.Kind | None = None) -> dict[str, Any]:
        namespace = obj["metadata"]["namespace"]
        what = f"{obj['kind']} {obj['metadata']['name']!r} in namespace {namespace!r}"
        kind = kind or _custom_kind(obj)
        if kind is not None and kind.custom:
            try:
                created = self._call(clients, "create", what, clients.custom.create_namespaced_custom_object,
                                     kind.group, kind.version, namespace, kind.plural, obj)
            except _NamespaceNotFound:
                raise
            except _NotFound:
                raise RuntimeFailure(f"{k8s_api.missing_api(kind)} is not installed in this cluster (the API has no "
                                     f"{kind.plural}.{kind.group}): {k8s_api.missing_api_fix(kind)}") from None
            return created or obj
        creators = {"Job": clients.batch.create_namespaced_job, "ConfigMap": clients.core.create_namespaced_config_map,
                    "Secret": clients.core.create_namespaced_secret,
                    "Service": clients.core.create_namespaced_service,
                    "Deployment": clients.apps.create_namespaced_deployment}
        created = self._call(clients, "create", what, creators[obj["kind"]], namespace, obj)
        return clients.api.sanitize_for_serialization(created) if created is not None else obj

    def _patch_custom(self, clients: _Clients, obj: Mapping[str, Any], patch: dict) -> None:
        kind = _custom_kind(obj)
        meta = obj["metadata"]
        self._call(clients, "update", f"{obj['kind']} {meta['name']!r} in namespace {meta['namespace']!r}",
                   clients.custom.patch_namespaced_custom_object, kind.group, kind.version, meta["namespace"],
                   kind.plural, meta["name"], patch)

    def _check_ours(self, clients: _Clients, obj: Mapping[str, Any]) -> None:
        """An object created before the job that exists already is fine when this submission made it."""
        kind = _custom_kind(obj)
        meta = obj["metadata"]
        found = self._read_job(clients, kind, meta["namespace"], meta["name"]) or {}
        token = (meta.get("labels") or {}).get(m.SUBMISSION_LABEL)
        if not token or ((found.get("metadata") or {}).get("labels") or {}).get(m.SUBMISSION_LABEL) != token:
            raise _AlreadyExists(f"cannot create {obj['kind']} {meta['name']!r} in namespace {meta['namespace']!r}: "
                                 "it already exists; choose another job name (--name) or remove it")

    def _delete_before(self, clients: _Clients, plan: m.JobPlan) -> None:
        for obj in plan.before:
            meta = obj["metadata"]
            try:
                self._delete_job(clients, _custom_kind(obj), meta["namespace"], meta["name"], missing_ok=True)
            except SubmarineError:
                pass  # best effort: the original error is the one to show

    def _discover(self, clients: _Clients) -> set[str]:
        """Which of the training APIs the API server serves (`GET /apis/<group>/<version>` of each, in the
        order api 'auto' prefers them, stopping at the first served)."""
        served: set[str] = set()
        for group_version in k8s_api.DISCOVERY_ORDER:
            group, version = group_version.split("/")
            try:
                retried(lambda: self._call(clients, "discover", f"the API {group_version}",
                                            clients.custom.get_api_resources, group, version,
                                            _preload_content=False), "asking the cluster's discovery")
            except _NotFound:
                continue
            served.add(group_version)
            break
        return served

    def _read_job(self, clients: _Clients, kind: m.Kind, namespace: str, name: str) -> dict[str, Any] | None:
        what = f"{kind.kind} {name!r} in namespace {namespace!r}"
        try:
            if kind.custom:
                return self._call(clients, "read", what, clients.custom.get_namespaced_custom_object, kind.group,
                                  kind.version, namespace, kind.plural, name)
            return clients.api.sanitize_for_serialization(
                self._call(clients, "read", what, clients.batch.read_namespaced_job, name, namespace))
        except _NotFound:
            return None

    def _adopt(self, clients: _Clients, plan: m.JobPlan, spec: JobSpec) -> dict[str, Any]:
        """The existing job of our name when it carries this submission's token, else the "taken" error."""
        namespace = plan.job["metadata"]["namespace"]
        token = (plan.job["metadata"].get("labels") or {}).get(m.SUBMISSION_LABEL)
        existing = self._read_job(clients, plan.kind, namespace, spec.name)
        labels = ((existing or {}).get("metadata") or {}).get("labels") or {}
        if token and labels.get(m.SUBMISSION_LABEL) == token:
            return existing
        raise _AlreadyExists(f"cannot create {plan.kind.kind} {spec.name!r} in namespace {namespace!r}: it already "
                             "exists; choose another job name (--name) or stop and remove the old job")

    def _check_owned(self, clients: _Clients, obj: dict[str, Any], owner: Mapping[str, Any]) -> None:
        """An owned object that exists already is fine when the same job owns it (a retried submit)."""
        meta = obj["metadata"]
        what = f"{obj['kind']} {meta['name']!r} in namespace {meta['namespace']!r}"
        readers = {"ConfigMap": clients.core.read_namespaced_config_map, "Secret": clients.core.read_namespaced_secret,
                   "Service": clients.core.read_namespaced_service}
        try:
            found = clients.api.sanitize_for_serialization(
                self._call(clients, "read", what, readers[obj["kind"]], meta["name"], meta["namespace"]))
        except _NotFound:
            found = None
        owners = {ref.get("uid") for ref in ((found or {}).get("metadata") or {}).get("ownerReferences") or []}
        if (owner.get("metadata") or {}).get("uid") not in owners:
            raise _AlreadyExists(f"cannot create {what}: it already exists and belongs to another job; remove it "
                                 "or choose another job name (--name)")

    def _delete_job(self, clients: _Clients, kind: m.Kind, namespace: str, name: str, missing_ok: bool) -> None:
        what = f"{kind.kind} {name!r} in namespace {namespace!r}"
        try:
            if kind.custom:
                self._call(clients, "delete", what, clients.custom.delete_namespaced_custom_object, kind.group,
                           kind.version, namespace, kind.plural, name, propagation_policy="Background")
            else:
                self._call(clients, "delete", what, clients.batch.delete_namespaced_job, name, namespace,
                           propagation_policy="Background")
        except _NotFound:
            if not missing_ok:
                raise

    def _pod_of(self, clients: _Clients, ref: JobRef, replica: str | None) -> str | None:
        namespace = _ref_namespace(ref, self)
        response = self._call(clients, "list the pods of", f"job {ref.name!r}", clients.core.list_namespaced_pod,
                              namespace, label_selector=f"{m.JOB_LABEL}={ref.name}", _preload_content=False)
        pods = [p for p in json.loads(response.data).get("items", []) if _pod_job(p) == ref.name]
        matching = [p for p in pods if replica is None or _pod_replica(p, ref) == replica]
        matching.sort(key=lambda p: p["metadata"].get("creationTimestamp") or "")
        return matching[-1]["metadata"]["name"] if matching else None

    # -- watching -------------------------------------------------------------------------------------------
    def _watch(self, namespace: str, plural: str) -> "_ResourceWatch":
        with self._lock:
            watch = self._watches.get((namespace, plural))
            if watch is None:
                clients = self._connect()
                if plural == "pods":
                    def list_fn(**kw):
                        return clients.core.list_namespaced_pod(namespace, **kw)
                elif plural == "jobs":
                    def list_fn(**kw):
                        return clients.batch.list_namespaced_job(namespace, **kw)
                else:
                    kind = _KINDS[plural]

                    def list_fn(**kw):
                        return clients.custom.list_namespaced_custom_object(kind.group, kind.version, namespace,
                                                                            plural, **kw)
                watch = _ResourceWatch(f"{plural} in namespace {namespace!r}", list_fn,
                                       lambda exc: self._api_error(clients, exc, "watch", f"{plural} in {namespace!r}"),
                                       self.request_timeout, self.watch_timeout)
                self._watches[(namespace, plural)] = watch
                watch.start()
            return watch

    def _status(self, ref: JobRef, jobs: "_ResourceWatch", pods: "_ResourceWatch") -> JobStatus:
        kind = _ref_kind(ref)
        obj, gone = jobs.lookup(ref.name)
        if obj is not None and ref.id and obj["metadata"].get("uid") not in (None, ref.id):
            obj, gone = None, None  # a newer job of the same name: ours is gone
        job_pods = [p for p in pods.items() if _pod_job(p) == ref.name]
        if obj is None:
            if gone is not None and (not ref.id or gone["metadata"].get("uid") in (None, ref.id)):
                status = self._job_status(gone, kind, ref, job_pods)
                if not status.terminal:
                    status.state, status.raw_state = JobState.STOPPED, "Deleted"
                    status.message = status.message or "the job was deleted"
                return status
            if ref.key in self._stopped:
                return JobStatus(JobState.STOPPED, "Deleted", message="stopped", links=self.links(ref))
            if not jobs.synced.is_set():
                return JobStatus(JobState.UNKNOWN, "", message=jobs.error or "waiting for the cluster",
                                 stale=True, links=self.links(ref))
            return JobStatus(JobState.UNKNOWN, "NotFound", stale=not jobs.connected, links=self.links(ref),
                             message=f"no {kind.kind} {ref.name!r} in namespace {_ref_namespace(ref, self)!r}: "
                                     "deleted, or removed ttlSecondsAfterFinished after it ended")
        status = self._job_status(obj, kind, ref, job_pods)
        status.stale = not jobs.connected
        if status.stale and jobs.error:
            status.message = f"status may be out of date ({jobs.error})"
        return status

    def _job_status(self, obj: Mapping[str, Any], kind: m.Kind, ref: JobRef, pods: list[dict]) -> JobStatus:
        raw_status = obj.get("status") or {}
        conditions = [c for c in raw_status.get("conditions") or [] if c.get("status") == "True"]
        replicas = _replica_statuses(ref, pods)
        if kind.custom and not kind.operator:  # pods cleaned up: the child Jobs' counts still say how it went
            replicas = [trainer.replica_from_jobs(r, raw_status, kind is trainer.TRAINJOB) for r in replicas]
        decided = None
        if kind.operator:
            # The operator appends conditions; a terminal one is the state, else the last one.
            terminal = [c for c in conditions if c.get("type") in ("Succeeded", "Failed")]
            decided = (terminal or conditions or [None])[-1]
            state = _OPERATOR_STATES.get(decided.get("type"), JobState.UNKNOWN) if decided else JobState.SUBMITTED
            raw = decided.get("type", "") if decided else ""
        elif kind.custom:  # TrainJob, JobSet
            state, decided = trainer.condition_state(conditions)
            active = trainer.active_jobs(raw_status)
            if state is None:
                running = any(r.state == JobState.RUNNING for r in replicas)
                state = JobState.RUNNING if running else JobState.PENDING if active else JobState.SUBMITTED
            raw = decided.get("type", "") if decided else ("Active" if active else "")
        else:
            by_type = {c.get("type"): c for c in conditions}
            if "Complete" in by_type or "SuccessCriteriaMet" in by_type:
                decided = by_type.get("Complete") or by_type["SuccessCriteriaMet"]
                state = JobState.SUCCEEDED
            elif "Failed" in by_type or "FailureTarget" in by_type:
                decided = by_type.get("Failed") or by_type["FailureTarget"]
                state = JobState.FAILED
            elif "Suspended" in by_type:
                decided, state = by_type["Suspended"], JobState.PENDING
            elif raw_status.get("active"):
                state = JobState.RUNNING if any(r.state == JobState.RUNNING for r in replicas) else JobState.PENDING
            else:
                state = JobState.SUBMITTED
            raw = decided.get("type", "") if decided else ("Active" if raw_status.get("active") else "")
        finished = raw_status.get("completionTime")
        if state.terminal and not finished and decided:
            finished = decided.get("lastTransitionTime")
        message = (decided or {}).get("message", "") or ""
        queue = ((obj.get("metadata") or {}).get("labels") or {}).get(m.QUEUE_LABEL)
        stopped = ((obj.get("metadata") or {}).get("annotations") or {}).get(STOPPED_ANNOTATION) == "true"
        if stopped and not state.terminal and _suspended(obj):
            state, raw, message = JobState.STOPPED, "Suspended", "suspended by stop"
        elif queue and not state.terminal and state != JobState.RUNNING and _suspended(obj):
            # Kueue holds it suspended until the LocalQueue admits it: waiting, not stuck
            state, raw, message = JobState.PENDING, "Queued", f"waiting in queue {queue!r}"
        stuck = [f"{r.name}: {r.raw_state} ({_STUCK_REASONS[r.raw_state]})" for r in replicas
                 if r.raw_state in _STUCK_REASONS]
        if stuck and not state.terminal:
            message = "; ".join(stuck)
        elif state == JobState.FAILED and not message:
            failed = [f"{r.name} exited {r.exit_code}" for r in replicas if r.state == JobState.FAILED]
            message = ", ".join(failed)
        return JobStatus(state=state, raw_state=raw, submitted=obj.get("metadata", {}).get("creationTimestamp"),
                         started=raw_status.get("startTime") or _first_start(replicas),
                         finished=finished if state.terminal else None,
                         replicas=replicas, message=message, links=self.links(ref))


# -- the watch --------------------------------------------------------------------------------------------
class _ResourceWatch:
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

    def stop(self) -> None:
        self._stopping.set()
        response = self._response
        if response is not None:
            _shutdown(response)
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
            # visible in every status answered from this cache, as the tracker words its own retries
            self.error = f"{error}; {DEFAULT_POLICY.note(self.failures, every=30)}"
            self._stopping.wait(delay)
            delay = min(delay * 2, 30)

    def _relist(self) -> None:
        response = self._list_fn(label_selector=_SELECTOR, _preload_content=False,
                                 _request_timeout=self._request_timeout)
        data = json.loads(response.data)
        objects = {o["metadata"]["name"]: o for o in data.get("items") or [] if _managed(o)}
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

        # "true" as the API documents it (k8s_api.wire_bool: each client release wants it given differently)
        kwargs: dict[str, Any] = {"label_selector": _SELECTOR, "watch": k8s_api.wire_bool(True),
                                  "allow_watch_bookmarks": k8s_api.wire_bool(True),
                                  "timeout_seconds": self._watch_timeout, "_preload_content": False,
                                  "_request_timeout": (self._request_timeout, self._watch_timeout + 30)}
        if self.resource_version:
            kwargs["resource_version"] = self.resource_version
        response = self._list_fn(**kwargs)
        self._response = response
        self.watches += 1
        self.connected, self.error, self.failures = True, "", 0
        try:
            for line in _iter_lines(response):
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
        if kind != "BOOKMARK" and _managed(obj):
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


_SELECTOR = f"{m.MANAGED_BY_LABEL}={m.MANAGED_BY}"


class _NotFound(RuntimeFailure):
    """404 from the API."""


class _NamespaceNotFound(_NotFound):
    """404 because the namespace does not exist."""


class _AlreadyExists(RuntimeFailure):
    """409 from the API."""


# -- helpers ----------------------------------------------------------------------------------------------
def _mounted_sources(obj: Any) -> list[tuple[str, str]]:
    """("configMap" | "secret", name) of every volume source anywhere in a job's pod templates."""
    found = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "configMap" and isinstance(value, dict) and value.get("name"):
                found.append(("configMap", value["name"]))
            elif key == "secret" and isinstance(value, dict) and (value.get("secretName") or value.get("name")):
                found.append(("secret", value.get("secretName") or value.get("name")))
            else:
                found += _mounted_sources(value)
    elif isinstance(obj, list):
        for value in obj:
            found += _mounted_sources(value)
    return list(dict.fromkeys(found))


def _managed(obj: Mapping[str, Any]) -> bool:
    # The selector is sent too; checking again keeps foreign objects out where a server ignores it.
    return ((obj.get("metadata") or {}).get("labels") or {}).get(m.MANAGED_BY_LABEL) == m.MANAGED_BY


def _ref_namespace(ref: JobRef, runtime: KubernetesRuntime) -> str:
    return ref.extra.get("namespace") or runtime.effective_namespace()


def _ref_kind(ref: JobRef) -> m.Kind:
    return _KINDS.get(ref.extra.get("plural", ""), m.PLAIN_JOB)


def _first_start(replicas: Sequence[ReplicaStatus]) -> str | None:
    """A TrainJob or JobSet keeps no startTime: its first replica's start is the job's."""
    return min((r.started for r in replicas if r.started), default=None)


def _suspended(obj: Mapping[str, Any]) -> bool:
    spec = obj.get("spec") or {}
    return bool(spec.get("suspend") or (spec.get("runPolicy") or {}).get("suspend"))


def _custom_kind(obj: Mapping[str, Any]) -> m.Kind | None:
    """The Kind of a custom object created beside a job (TrainingRuntime, PodGroup); None for core kinds."""
    group, _, version = obj.get("apiVersion", "").rpartition("/")
    plural = _OWNED_CUSTOM_PLURALS.get(obj.get("kind", ""))
    if not group or group in ("apps", "batch") or plural is None:
        return None
    return m.Kind(group, version, obj["kind"], plural, None, "", 0)


def _pod_job(pod: Mapping[str, Any]) -> str | None:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return labels.get(m.JOB_LABEL) or labels.get(m.OPERATOR_JOB_NAME_LABEL) or labels.get(trainer.JOBSET_NAME_LABEL)


def _pod_replica(pod: Mapping[str, Any], ref: JobRef) -> str | None:
    """`worker-1`: from the operator's labels, or from the Indexed Job's completion index."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    if m.OPERATOR_REPLICA_TYPE_LABEL in labels:
        return f"{labels[m.OPERATOR_REPLICA_TYPE_LABEL].lower()}-{labels.get(m.OPERATOR_REPLICA_INDEX_LABEL, '0')}"
    names = ref.extra.get("replicas") or []
    if trainer.REPLICATED_JOB_LABEL in labels:  # a JobSet's pod (a TrainJob runs as one)
        return trainer.pod_replica(labels, meta.get("annotations") or {}, names)
    index = labels.get(m.COMPLETION_INDEX_LABEL) or (meta.get("annotations") or {}).get(m.COMPLETION_INDEX_LABEL)
    if index is not None and str(index).isdigit() and int(index) < len(names):
        return names[int(index)]
    return None


def _replica_statuses(ref: JobRef, pods: list[dict]) -> list[ReplicaStatus]:
    latest: dict[str, dict] = {}
    for pod in sorted(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or ""):
        replica = _pod_replica(pod, ref)
        if replica:
            latest[replica] = pod  # a retried replica's newest pod wins
    out = []
    container = ref.extra.get("container")
    for name in ref.extra.get("replicas") or sorted(latest):
        role, _, index = name.rpartition("-")
        pod = latest.get(name)
        if pod is None:
            out.append(ReplicaStatus(name, role, int(index) if index.isdigit() else 0, JobState.PENDING, "NoPod"))
            continue
        status = pod.get("status") or {}
        phase = status.get("phase") or "Unknown"
        statuses = status.get("containerStatuses") or []
        current = next((c for c in statuses if c.get("name") == container), statuses[0] if statuses else {})
        state = current.get("state") or {}
        raw = (state.get("waiting") or {}).get("reason") or phase
        terminated = state.get("terminated") or (current.get("lastState") or {}).get("terminated") or {}
        out.append(ReplicaStatus(
            name=name, role=role, index=int(index) if index.isdigit() else 0,
            state=_POD_STATES.get(phase, JobState.UNKNOWN), raw_state=raw, exit_code=terminated.get("exitCode"),
            host=(pod.get("spec") or {}).get("nodeName") or status.get("podIP"), started=status.get("startTime"),
            finished=terminated.get("finishedAt")))
    return out


def _iter_lines(response) -> Iterator[str]:
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


def _status_body(exc) -> dict:
    try:
        body = json.loads(exc.body) if getattr(exc, "body", None) else {}
        return body if isinstance(body, dict) else {}
    except (TypeError, ValueError):
        return {}


def _fill(template: str, fields: Mapping[str, str], trait: str) -> str:
    try:
        return template.format_map(dict(fields))
    except (KeyError, IndexError, ValueError) as exc:
        raise SubmarineError(f"KubernetesRuntime.{trait} {template!r} cannot be filled ({exc}): use only "
                             f"{', '.join('{' + f + '}' for f in _TEMPLATE_FIELDS)}") from None


def _shutdown(response) -> None:
    """Unblock a thread reading `response` (as kubernetes.watch.Watch.stop does)."""
    import socket

    try:
        sock = getattr(getattr(response, "connection", None), "sock", None)
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _service_account_name(namespace: str | None) -> str:
    """`system:serviceaccount:ns:name` from the token's claims (the token itself is never shown)."""
    token = _read_text(SERVICE_ACCOUNT_DIR / "token") or ""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        if isinstance(claims.get("sub"), str):
            return repr(claims["sub"])
    except (IndexError, ValueError, AttributeError):
        pass
    return f"of namespace {namespace!r}" if namespace else "(unnamed)"


def _kubeconfig_namespace(path: str, context: str) -> str | None:
    """The namespace of a kubeconfig context, read without the kubernetes package (for dry runs)."""
    import yaml

    for one in path.split(os.pathsep):
        try:
            with open(one) as f:
                data = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError):
            continue
        name = context or data.get("current-context")
        for entry in data.get("contexts") or []:
            if isinstance(entry, dict) and entry.get("name") == name:
                return (entry.get("context") or {}).get("namespace")
    return None


def _redact_host(host: str) -> str:
    from ..secrets import redact_url

    return redact_url(host or "")
