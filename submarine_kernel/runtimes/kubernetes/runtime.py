"""`KubernetesRuntime`: the traits (`%config KubernetesRuntime.x`) and the Runtime interface, delegating.

Jobs run as Kubeflow Trainer v2 (TrainJob, or a JobSet for TensorFlow), the training operator v1 (TFJob,
PyTorchJob, XGBoostJob) or a plain Indexed Job, through the official `kubernetes` client (imported on first
use, never at `%load_ext`). Which one: `KubernetesRuntime.api`, chosen as `api_choice.py` says. The objects
come from `trainer.py` and `manifests.py`, are created by `create.py` through `client.py`, followed by the
watch caches of `watch.py` and read by `status.py`, `logs.py` and `queue.py`; `JobRef.extra` is a
`KubernetesJobData` (`data.py`).
"""

from __future__ import annotations

import threading
from dataclasses import fields
from typing import Iterator, Mapping, Sequence

from traitlets import Bool, CaselessStrEnum, Dict, Enum, Float, Int, List, Unicode, observe

from ...algorithm import Bundle
from ...errors import Problem, ValidationError
from ...job_types import JobRef, JobStatus
from ...names import host_name_problems
from ...retry import retried
from ...spec import JobSpec
from ..base import ListedJob, Runtime, Submission
from . import tensorboard, trainer
from .api_choice import APIS, AUTO, PLAIN_JOB as PLAIN_JOB_API, TRAINER, TRAINING_OPERATOR, ApiChoice, choose, details
from .api_choice import kind_for
from .api_choice import discover as discover_apis
from .client import Client, NotFound
from .create import create_job, find_job, list_jobs
from .credentials import Credentials, LocalFacts, no_kubeconfig
from .data import KubernetesJobData
from .kinds import OPERATOR_KINDS, TRAINJOB, Kind, kind_of_plural
from .labels import STOPPED_ANNOTATION, label_value
from .logs import read_log
from .manifests import JobPlan, operator_addresses, plain_job_addresses, plain_job_problems, plan_job
from .options import CONFIGMAP_LIMIT, DEFAULT_TRAINER_RUNTIMES, ClusterOptions
from .queue import QueuePositions
from .status import job_status
from .watch import ResourceWatch, open_watch

#: how long the first poll of a namespace waits for its initial list
FIRST_SYNC_WAIT = 5.0
#: what a dry run writes for an image nobody configured
IMAGE_PLACEHOLDER = "<image: --image or SubmarineConfig.image>"
#: ClusterOptions fields that are traits of the same name (namespace and training_operator are resolved)
_OPTION_FIELDS = {f.name for f in fields(ClusterOptions)} - {"namespace", "training_operator", "configmap_limit"}


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
    api = CaselessStrEnum(list(APIS), "auto",
                          help="trainer: Kubeflow Trainer v2 TrainJob (JobSet for TensorFlow); training-operator: "
                               "v1 TFJob/PyTorchJob/XGBoostJob; job: a plain Indexed Job; auto: what the cluster's "
                               "discovery serves, in that order (Trainer v2 in a dry run).").tag(config=True)
    training_operator = Bool(True, help="False with api 'auto': always run a plain Indexed Job (kept for old "
                                        "configurations; prefer KubernetesRuntime.api = 'job').").tag(config=True)
    trainer_runtimes = Dict(value_trait=Unicode(),
                            default_value=dict(DEFAULT_TRAINER_RUNTIMES),
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
    configmap_limit_bytes = Int(CONFIGMAP_LIMIT, help="Largest bundle sent in a ConfigMap.").tag(config=True)
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
        self._client: Client | None = None
        self._watches: dict[tuple[str, str], ResourceWatch] = {}
        self._stopped: set[str] = set()
        self._served: set[str] | None = None  # group/versions the cluster's discovery answered
        self._facts: tuple[Credentials, LocalFacts] | None = None
        #: where queued jobs wait in their Kueue LocalQueue
        self.queues = QueuePositions()
        super().__init__(**kwargs)

    @observe("kubeconfig", "context", "in_cluster")
    def _connection_changed(self, change):
        self.close()

    @observe("request_timeout")
    def _request_timeout_changed(self, change):
        if self._client is not None:
            self._client.request_timeout = change.new

    # -- options --------------------------------------------------------------------------------------------
    def api_choice(self, discover: bool = False, spec: JobSpec | None = None) -> ApiChoice:
        """The API jobs are built for and why; `discover` asks the cluster (once per connection) for `auto`.

        Without an answer from the cluster, `auto` previews Trainer v2, unless Trainer v2 cannot run `spec`
        (a master unlike its workers): then the v1 operator, which can, so that a preview is not refused
        for what the cluster may not even serve. A submission asks, and refuses on a Trainer v2 cluster."""
        if (self.api == AUTO and self.training_operator and discover and self._served is None):
            self._served = discover_apis(self.connect())
        return self._choice(self._served, spec)

    def _choice(self, served: set[str] | None, spec: JobSpec | None) -> ApiChoice:
        if self.api in (AUTO, TRAINING_OPERATOR) and not self.training_operator:
            return ApiChoice(PLAIN_JOB_API, "KubernetesRuntime.training_operator = False")
        choice = choose(self.api, served)
        if spec is not None and self.api == AUTO and served is None and choice.api == TRAINER:
            blockers = trainer.trainer_problems(spec, self.cluster_options(choice))
            if blockers and spec.framework in OPERATOR_KINDS:
                return ApiChoice(TRAINING_OPERATOR, "api 'auto' without a cluster to ask: rendered for the training "
                                 f"operator v1, since on Trainer v2 {blockers[0]}")
        return choice

    def cluster_options(self, choice: ApiChoice | None = None) -> ClusterOptions:
        """The traits as the manifest builders' options (each of its fields is the trait of that name), with
        the namespace resolved without the cluster."""
        choice = choice or self.api_choice()
        traits = {name: getattr(self, name) for name in self.trait_names() if name in _OPTION_FIELDS}
        traits = {k: tuple(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v
                  for k, v in traits.items()}
        return ClusterOptions(**traits, namespace=self.effective_namespace(),
                              configmap_limit=self.configmap_limit_bytes,
                              training_operator=choice.api == TRAINING_OPERATOR)

    def effective_namespace(self) -> str:
        """The configured namespace, else the kubeconfig context's (or the pod's), else 'default'."""
        if self.namespace:
            return self.namespace
        if self._client is not None:
            return self._client.namespace or "default"
        return self._local_facts().namespace or "default"

    def _local_facts(self) -> LocalFacts:
        """What the credentials say without the cluster, read once per configuration: checks run on every
        keystroke of the form, and the kubeconfig is not read again until a setting or $KUBECONFIG changes."""
        credentials = Credentials.of(self.kubeconfig, self.context, self.in_cluster)
        with self._lock:
            if self._facts is None or self._facts[0] != credentials:
                self._facts = (credentials, credentials.local_facts())
            return self._facts[1]

    def _namespace_of(self, data: KubernetesJobData) -> str:
        return data.namespace or self.effective_namespace()

    # -- the Runtime interface ------------------------------------------------------------------------------
    def check(self, spec: JobSpec, choice: ApiChoice | None = None) -> list[str]:
        """Name rules (DNS-1035, short enough for every replica's host name), API limits, and every setting a
        submission still needs (`missing_settings`); no cluster call, and the kubeconfig read at most once."""
        problems = self.api_problems(spec, choice or self.api_choice(spec=spec))
        if self.queue and label_value(self.queue) != self.queue:
            problems.append(f"KubernetesRuntime.queue {self.queue!r} is not a valid LocalQueue name: use letters, "
                            "digits, '-', '_' and '.', at most 63")
        return problems + [p for p in self.missing_settings(spec) if p not in problems]

    def api_problems(self, spec: JobSpec, choice: ApiChoice) -> list[str]:
        """What the API of `choice` cannot run: a job name too long for the host names its pods get (from the
        address builders every API's objects use), and the API's own limits (a plain Job's, Trainer v2's)."""
        options = self.cluster_options(choice)
        kind = kind_for(choice, spec)
        if kind.operator:
            addresses = operator_addresses(spec, options.namespace, kind)
        elif kind is TRAINJOB:
            addresses = trainer.node_addresses(spec, options.namespace)
        elif kind.custom:
            addresses = trainer.jobset_addresses(spec, options.namespace)
        else:
            addresses = plain_job_addresses(spec, options.namespace)
        problems = host_name_problems(spec.name, (a for hosts in addresses.values() for a in hosts))
        if kind.custom and not kind.operator:
            problems += trainer.trainer_problems(spec, options)
        elif not kind.operator:
            problems += plain_job_problems(spec, options)
        return problems

    def missing_settings(self, spec: JobSpec) -> list[str]:
        """What a real submission needs that is not configured: a dry run shows placeholders instead."""
        missing = []
        if not self._local_facts().available:
            missing.append(Problem(no_kubeconfig(Credentials.of(self.kubeconfig, self.context, self.in_cluster).path),
                                   dry_run_ok=True))
        for role in spec.roles:
            if not spec.role_image(role):
                missing.append(Problem(f"role {role!r} has no container image: pass --image or set "
                                       "SubmarineConfig.image", "image", dry_run_ok=True))
        return missing

    def plan(self, spec: JobSpec, bundle: Bundle, bundle_uri: str, choice: ApiChoice | None = None) -> JobPlan:
        """The objects `spec` becomes, built locally (no cluster needed)."""
        choice = choice or self.api_choice(spec=spec)
        options = self.cluster_options(choice)
        if choice.api == TRAINER:
            return trainer.plan(spec, bundle, bundle_uri, options)
        return plan_job(spec, bundle, bundle_uri, options)

    def prepare(self, spec: JobSpec, bundle: Bundle, bundle_uri: str) -> Submission:
        """The job's objects for the API the cluster is assumed to serve (no cluster needed); the dry run
        prints their YAML in creation order, a setting not configured yet as a visible placeholder."""
        choice = self.api_choice(spec=spec)

        def describe() -> str:
            shown = spec
            if any(not spec.role_image(role) for role in spec.roles):
                shown = spec.replace(image=IMAGE_PLACEHOLDER)
            return self.plan(shown, bundle, bundle_uri, choice).dry_run_yaml(bundle, choice.describe())

        return self.submission(spec, bundle, bundle_uri, (choice, self.plan(spec, bundle, bundle_uri, choice)),
                               describe)

    def start(self, submission: Submission) -> JobRef:
        """Create the job, then the ConfigMap/Secret/Service it owns (`create.create_job`).

        The spec is valid: `Session.build` checked it (`check`) and it is not checked again. Only what the
        cluster alone can tell may still refuse it, before anything is created: with api 'auto' the
        discovery can choose another API than the one prepared for, whose own limits are checked then (a
        master unlike its workers on a Trainer v2 cluster), and the objects are built for it."""
        spec, bundle, bundle_uri = submission.spec, submission.bundle, submission.bundle_uri
        assumed, plan = submission.request
        choice = self.api_choice(discover=True)
        if choice.api != assumed.api:
            problems = self.api_problems(spec, choice)
            if problems:
                raise ValidationError(problems)
            plan = self.plan(spec, bundle, bundle_uri, choice)
        created = create_job(self.connect(), plan, spec)
        namespace = plan.job["metadata"]["namespace"]
        ref = self._ref(spec, created, plan.kind, namespace, plan.delivery, choice)
        self._stopped.discard(ref.key)
        self.watch(namespace, plan.kind.plural).seed(created)  # poll sees the job before its first event
        return ref

    def find(self, spec: JobSpec, bundle_uri: str | None) -> JobRef | None:
        """The job this submission made (our token on it) with every ConfigMap/Secret it mounts, or None;
        a job of ours that lacks one of them is half-created and is deleted (its owned objects go with it).
        It is looked for under the kind the cluster's API makes of `spec`, as `submit` chose it."""
        choice = self.api_choice(discover=True)
        kind = kind_for(choice, spec)
        namespace = self.effective_namespace()
        found = find_job(self.connect(), spec, kind, namespace)
        if found is None:
            return None
        existing, delivery = found
        return self._ref(spec, existing, kind, namespace, delivery, choice)

    def _ref(self, spec: JobSpec, job: Mapping, kind: Kind, namespace: str, delivery: str,
             choice: ApiChoice) -> JobRef:
        return KubernetesJobData.ref(spec, job, namespace=namespace, plural=kind.plural, kind=kind.kind,
                                     container=kind.container, delivery=delivery, api=choice.api,
                                     api_reason=choice.reason, queue=self.queue)

    def list_jobs(self) -> list[ListedJob]:
        """Every job object of ours in the namespace, of every kind the cluster serves (`create.list_jobs`)."""
        return list_jobs(self.connect(), self.effective_namespace())

    def poll(self, refs: Sequence[JobRef]) -> dict[str, JobStatus]:
        """Answer from the watch caches: one list+watch per namespace and resource, shared by all jobs."""
        out: dict[str, JobStatus] = {}
        groups: dict[tuple[str, str], list[JobRef]] = {}
        for ref in refs:
            data = KubernetesJobData.of(ref)
            groups.setdefault((self._namespace_of(data), kind_of_plural(data.plural).plural), []).append(ref)
        for (namespace, plural), group in groups.items():
            jobs = self.watch(namespace, plural)
            pods = self.watch(namespace, "pods")
            jobs.synced.wait(FIRST_SYNC_WAIT)
            pods.synced.wait(FIRST_SYNC_WAIT if jobs.synced.is_set() else 0)
            for ref in group:
                status = job_status(ref, jobs, pods, namespace, ref.key in self._stopped, self.links(ref))
                status.details = details(KubernetesJobData.of(ref))
                out[ref.key] = status
        self.queues.add(refs, out, self.connect, self.effective_namespace)
        return out

    #: metrics-server measures about every 15 s: asking more often shows nothing new
    usage_interval = 10.0

    def usage(self, refs: Sequence[JobRef]) -> dict[str, dict]:
        """Each replica's CPU % and memory from the metrics API (pod_metrics.py): one PodMetrics list per
        namespace; the pods' replicas from the pods watch cache."""
        from ... import usage
        from . import pod_metrics as pm
        from ...errors import SubmarineError, TransientError
        from .client import NotFound
        from .status import pod_job, pod_replica

        client = self.connect()
        listed: dict[str, dict | None] = {}
        out = {}
        for ref in refs:
            data = KubernetesJobData.of(ref)
            namespace = self._namespace_of(data)
            if namespace not in listed:
                try:
                    answer = client.call("list the pod metrics of", f"namespace {namespace!r}",
                                         client.custom.list_namespaced_custom_object, "metrics.k8s.io", "v1beta1",
                                         namespace, "pods")
                    listed[namespace] = {i["metadata"]["name"]: i for i in answer.get("items") or []}
                except NotFound:  # the API server serves no metrics.k8s.io (no metrics-server)
                    listed[namespace] = None
                except TransientError:
                    raise  # the tracker says so once and asks again next round
                except SubmarineError as exc:  # refused credentials (RBAC on metrics.k8s.io): said in the view
                    listed[namespace] = str(exc)
            replica_pods = {}
            for pod in sorted(self.watch(namespace, "pods").items(),
                              key=lambda p: p["metadata"].get("creationTimestamp") or ""):
                replica = pod_replica(pod, data) if pod_job(pod) == ref.name else None
                if replica:
                    replica_pods[replica] = pod["metadata"]["name"]  # the newest pod of a replica last
            samples = self.kept_usage(ref.key, pm.SOURCE)
            pm.add_samples(samples, replica_pods, listed[namespace], usage.points_budget(len(data.replicas)))
            out[ref.key] = samples
        return out

    def logs(self, ref: JobRef, replica: str | None = None, tail: int | None = None,
             follow: bool = False) -> Iterator[str]:
        """Lines of one replica's pod log (the deciding replica when None); `follow` streams until it ends."""
        return read_log(self.connect, ref, self._namespace_of(KubernetesJobData.of(ref)), replica, tail, follow)

    def stop(self, ref: JobRef) -> None:
        """Delete the job with background propagation (pods, ConfigMap and Service go with it); with
        `stop_action = 'suspend'`, suspend it instead: its pods end, the object and its record stay."""
        client = self.connect()
        self._stopped.add(ref.key)
        data = KubernetesJobData.of(ref)
        kind, namespace = kind_of_plural(data.plural), self._namespace_of(data)
        if self.stop_action == "suspend":
            suspend = {"runPolicy": {"suspend": True}} if kind.operator else {"suspend": True}
            patch = {"metadata": {"annotations": {STOPPED_ANNOTATION: "true"}}, "spec": suspend}
            try:
                client.patch_job("suspend", kind, namespace, ref.name, patch)
            except NotFound:
                pass  # gone already: stopped either way
            return
        client.delete_job(kind, namespace, ref.name, missing_ok=True)

    def remove(self, ref: JobRef) -> None:
        """Delete the job object (and with it its pods and logs)."""
        client = self.connect()
        self._stopped.add(ref.key)
        data = KubernetesJobData.of(ref)
        # retried: a delete whose answer was lost finds the job gone (404) on the next try, which is success
        retried(lambda: client.delete_job(kind_of_plural(data.plural), self._namespace_of(data), ref.name,
                                          missing_ok=True), f"stopping {ref.name}")

    def links(self, ref: JobRef) -> dict[str, str]:
        """The dashboard and TensorBoard URLs from the URL templates, when configured."""
        data = KubernetesJobData.of(ref)
        fields = {"name": ref.name, "namespace": self._namespace_of(data), "kind": kind_of_plural(data.plural).kind,
                  "uid": ref.id}
        return {**self.fill_links({"dashboard": self.dashboard_url}, fields, "dashboard_url"),
                **self.fill_links({"tensorboard": self.tensorboard_url}, fields, "tensorboard_url")}

    def start_tensorboard(self, name: str, logdir: str) -> str:
        """Create (or update) a TensorBoard Deployment + Service reading `logdir`; return its URL."""
        options = self.cluster_options()
        url = tensorboard.start(self.connect(), name, logdir, options, self.tensorboard_image)
        fields = {"name": name, "namespace": options.namespace, "kind": "TensorBoard", "uid": ""}
        return self.fill_links({"tensorboard": self.tensorboard_url}, fields, "tensorboard_url").get("tensorboard", url)

    def stop_tensorboard(self, name: str) -> bool:
        """Delete the TensorBoard Deployment and Service of `name`; False when there was none."""
        return tensorboard.stop(self.connect(), name, self.effective_namespace())

    def close(self) -> None:
        """Stop the watch threads and drop the API client."""
        with self._lock:
            watches, self._watches = list(self._watches.values()), {}
            client, self._client = self._client, None
            self._served, self._facts = None, None
            self.queues.reset()
        for watch in watches:
            watch.stop()
        if client is not None:
            client.close()

    # -- the connection and its watches ---------------------------------------------------------------------
    def connect(self) -> Client:
        """The API client of the current settings, made on first use (no request is sent)."""
        with self._lock:
            if self._client is None:
                credentials = Credentials.of(self.kubeconfig, self.context, self.in_cluster)
                self._client = Client.connect(credentials, self.request_timeout)
            return self._client

    def watch(self, namespace: str, plural: str) -> ResourceWatch:
        """The watch cache of `plural` ("pods" or a job kind's plural) in `namespace`, started on first use."""
        with self._lock:
            watch = self._watches.get((namespace, plural))
            if watch is None:
                watch = self._watches[(namespace, plural)] = open_watch(self.connect(), namespace, plural,
                                                                        self.watch_timeout)
            return watch

    def watches(self) -> list[ResourceWatch]:
        """The watch caches started so far."""
        with self._lock:
            return list(self._watches.values())
