"""JobSpec + Bundle → the objects of a v1 job, as plain dicts (no `kubernetes` import, no cluster).

tensorflow → TFJob, pytorch → PyTorchJob, xgboost → XGBoostJob (the Kubeflow training operator v1), and a
plain `batch/v1` Indexed Job plus a headless Service for clusters without the operator (framework `custom`,
or `KubernetesRuntime.api = 'job'`); the plain Job sets the environment contract itself. `JobPlan` (shared
with the Trainer v2 builder in `trainer.py`) holds a job's objects in creation order.

The algorithm files travel as `volumes.py` says; secret-looking env values and params go into the job's
Secret (`volumes.JobSecrets`), and a params.json holding a secret param moves from the ConfigMap into that Secret
and is projected into the same folder (the code reads the real value). The stored bundle's params.json shows
secret params as `***` (storage delivery: the pods read them from env only).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ...algorithm import PARAMS_NAME, Bundle, params_json
from ...contract import Addresses, replica_env, replica_names
from ...errors import Problem
from ...secrets import REDACTED, redact_url, redacted_spec_json
from ...spec import JobSpec
from .kinds import PLAIN_JOB, REPLICA_TYPES, Kind, job_kind
from .labels import (BUNDLE_URI_ANNOTATION, COMPONENT_LABEL, DIGEST_ANNOTATION, JOB_LABEL, MANAGED_BY,
                     MANAGED_BY_LABEL, NOTEBOOK_ANNOTATION, OPERATOR_REPLICA_INDEX_LABEL, QUEUE_LABEL,
                     SPEC_ANNOTATION, configmap_name, env_name_part,
                     job_labels)
from .options import ClusterOptions
from .pods import (add_pod_group_membership, add_scheduler, base_env, main_container, pod_group, pod_metadata,
                   pod_spec, template_env)
from .volumes import (JobSecrets, algorithm_configmap, algorithm_volumes, choose_delivery,
                      projected_algorithm_volume)

OWNER_UID_PLACEHOLDER = "<uid of the job, filled in at submit>"


def owner_reference(job: Mapping[str, Any]) -> dict[str, Any]:
    """An ownerReference to a created job object, so that the garbage collector deletes with it."""
    return {"apiVersion": job["apiVersion"], "kind": job["kind"], "name": job["metadata"]["name"],
            "uid": job["metadata"].get("uid") or OWNER_UID_PLACEHOLDER}


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
    #: why `before` holds the job's own TrainingRuntime, in words (for the dry run)
    before_reasons: list[str] = field(default_factory=list)
    #: a gang-scheduling PodGroup (volcano or coscheduling) for jobs whose controller makes none
    pod_group: dict[str, Any] | None = None

    @property
    def container(self) -> str:
        """The name of the job's main container, whose log is the replica's log."""
        return self.kind.container

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

    def dry_run_yaml(self, bundle: Bundle, api: str) -> str:
        """Every object as YAML (secrets hidden), under a comment that says what submit would do with them."""
        meta = self.job["metadata"]
        how = ("in a ConfigMap owned by the job" if self.delivery == "configmap"
               else "fetched from storage by an init container")
        lines = [f"{self.kind.kind} {meta['name']!r} in namespace {meta['namespace']!r} (dry run: nothing was created)",
                 f"api: {api}",
                 f"algorithm files ({len(bundle.files)}, {bundle.size} bytes) {how}"]
        if self.before_reasons:
            lines.append(f"its own TrainingRuntime {meta['name']!r} comes first, because "
                         f"{' and '.join(self.before_reasons)}")
        queue = meta["labels"].get(QUEUE_LABEL)
        if queue:
            lines.append(f"created suspended in Kueue LocalQueue {queue!r}, which starts it on admission")
        lines.append("objects other than the job are owned by it (their owner's uid is set at submit)")
        return to_yaml(self.objects(), "\n".join(lines))


@dataclass
class JobBasics:
    """What every job of every API starts from: labels, metadata (digest and bundle annotations), how the
    files travel (volumes, mounts, an init container), the job's Secret and the ConfigMap."""

    spec: JobSpec
    options: ClusterOptions
    labels: dict[str, str]
    metadata: dict[str, Any]
    delivery: str
    workdir: str
    volumes: list[dict[str, Any]]
    mounts: list[dict[str, Any]]
    init: list[dict[str, Any]]
    secrets: JobSecrets
    configmap: dict[str, Any] | None

    def join_queue(self) -> bool:
        """Label the job for its Kueue LocalQueue; True when it must then be created suspended (Kueue resumes
        it on admission)."""
        if not self.options.queue:
            return False
        self.metadata["labels"][QUEUE_LABEL] = self.options.queue
        return True

    def plan(self, kind: Kind, job: dict[str, Any], **parts: Any) -> JobPlan:
        """The JobPlan of `job`: these basics' ConfigMap, Secret and delivery, the replicas in order."""
        replicas = [f"{role}-{index}" for role, index in replica_names(self.spec)]
        return JobPlan(kind, job, self.configmap, delivery=self.delivery, replicas=replicas,
                       secret=self.secrets.manifest(self.options.namespace, self.labels), **parts)


def job_basics(spec: JobSpec, bundle: Bundle, bundle_uri: str, options: ClusterOptions) -> JobBasics:
    """The basics of one job, shared by the v1/plain-Job builders here and the Trainer v2 ones."""
    labels = job_labels(spec)
    delivery = choose_delivery(bundle, bundle_uri, options)
    workdir = options.working_dir.rstrip("/") or "/"
    cm_name = configmap_name(spec.name)
    volumes, mounts, init = algorithm_volumes(bundle, bundle_uri, options, delivery, cm_name, workdir)
    annotations = {DIGEST_ANNOTATION: bundle.digest, BUNDLE_URI_ANNOTATION: redact_url(bundle_uri),
                   SPEC_ANNOTATION: redacted_spec_json(spec)}
    if bundle.notebook:
        annotations[NOTEBOOK_ANNOTATION] = bundle.notebook
    metadata = {"name": spec.name, "namespace": options.namespace, "labels": dict(labels),
                "annotations": annotations}
    secrets = JobSecrets(spec)
    in_configmap = bundle
    if delivery == "configmap" and secrets.params and PARAMS_NAME in bundle.files:
        # params.json holds a secret: the real one comes from the Secret, projected into the same algorithm
        # folder (the bundle's own copy shows `***`: it is stored where others may read it)
        secrets.data[PARAMS_NAME] = params_json(spec.params_file()).decode("utf-8")
        in_configmap = Bundle({k: v for k, v in bundle.files.items() if k != PARAMS_NAME}, notebook=bundle.notebook)
        volumes = [projected_algorithm_volume(bundle, cm_name, secrets.name)]
    configmap = (algorithm_configmap(cm_name, options.namespace, in_configmap, labels)
                 if delivery == "configmap" else None)
    return JobBasics(spec, options, labels, metadata, delivery, workdir, volumes, mounts, init, secrets, configmap)


def run_limits(options: ClusterOptions) -> dict[str, int]:
    """The TTL, backoff and deadline settings that are set, under the names v1 and batch/v1 jobs share."""
    limits = {"ttlSecondsAfterFinished": options.ttl_seconds_after_finished,
              "backoffLimit": options.backoff_limit, "activeDeadlineSeconds": options.active_deadline_seconds}
    return {key: value for key, value in limits.items() if value is not None}


def plan_job(spec: JobSpec, bundle: Bundle, bundle_uri: str, options: ClusterOptions) -> JobPlan:
    """Build every object of one v1 operator job or plain Indexed Job (nothing is sent anywhere)."""
    kind = job_kind(spec, options.training_operator)
    basics = job_basics(spec, bundle, bundle_uri, options)
    if kind.operator:
        return basics.plan(kind, _operator_job(basics, kind))
    job, service = _plain_job(basics)
    return basics.plan(kind, job, service=service, pod_group=pod_group(spec, options, basics.labels))


def _operator_job(basics: JobBasics, kind: Kind) -> dict[str, Any]:
    spec, options = basics.spec, basics.options
    replica_specs = {}
    for role_name, role in spec.roles.items():
        # One template serves every replica of a role, so the index comes from the pod's operator label.
        # The operator writes the address variables (TF_CONFIG, MASTER_ADDR...): addresses=None.
        contract_env = template_env(replica_env(spec, role_name, None, None),
                                       f"metadata.labels['{OPERATOR_REPLICA_INDEX_LABEL}']")
        env: dict[str, Any] = {**base_env(spec, basics.workdir), **contract_env}
        env.update(basics.secrets.env(role_name, spec.role_env(role_name)))
        container = main_container(spec, role_name, kind, options, env, basics.secrets.command(spec, role_name),
                                   basics.mounts, basics.workdir, role.resources)
        pod = pod_spec(options, [container], basics.volumes, basics.init)
        add_scheduler(pod, options)  # the operator makes the PodGroup when it runs with gang scheduling
        replica_specs[REPLICA_TYPES[role_name]] = {
            "replicas": role.replicas,
            "restartPolicy": options.restart_policy,
            "template": {"metadata": pod_metadata(basics.labels, options), "spec": pod},
        }
    run_policy: dict[str, Any] = {"cleanPodPolicy": options.clean_pod_policy}
    if options.scheduler != "default":
        run_policy["schedulingPolicy"] = {"minAvailable": spec.replica_count}
        if options.scheduler == "coscheduling":
            run_policy["schedulingPolicy"]["scheduleTimeoutSeconds"] = options.gang_timeout_seconds
    if basics.join_queue():
        run_policy["suspend"] = True
    run_policy.update(run_limits(options))
    return {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": basics.metadata,
            "spec": {kind.replica_specs_key: replica_specs, "runPolicy": run_policy}}


def operator_addresses(spec: JobSpec, namespace: str, kind: Kind) -> dict[str, list[str]]:
    """role → `host:port` of each replica of a v1 operator job: the operator makes a Service per replica,
    `<job>-<replica type>-<index>` (it writes TF_CONFIG and MASTER_ADDR from these itself)."""
    return {role: [f"{spec.name}-{role}-{i}.{namespace}.svc:{kind.port}" for i in range(r.replicas)]
            for role, r in spec.roles.items()}


def plain_job_addresses(spec: JobSpec, namespace: str) -> dict[str, list[str]]:
    """role → `host:port` of each replica: the Indexed Job's stable pod hostnames under the headless Service."""
    cluster: dict[str, list[str]] = {}
    for index, (role, _) in enumerate(replica_names(spec)):
        cluster.setdefault(role, []).append(f"{spec.name}-{index}.{spec.name}.{namespace}.svc:{PLAIN_JOB.port}")
    return cluster


def plain_job_env(spec: JobSpec, namespace: str) -> list[dict[str, str]]:
    """Per completion index: the contract the operator would have injected, computed here."""
    addresses = Addresses(plain_job_addresses(spec, namespace), PLAIN_JOB.port)
    return [{**spec.role_env(role), **replica_env(spec, role, index, addresses)}
            for role, index in replica_names(spec)]


def indexed_launch(spec: JobSpec, per_index_env: Sequence[Mapping[str, Any]], secrets: JobSecrets,
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
                holder = f"SUBMARINE_SECRET_{env_name_part(role)}_{k}"
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


def _plain_job(basics: JobBasics) -> tuple[dict[str, Any], dict[str, Any]]:
    spec, options, labels = basics.spec, basics.options, basics.labels
    script, env = indexed_launch(spec, plain_job_env(spec, options.namespace), basics.secrets)
    first_role = replica_names(spec)[0][0]
    env = {**base_env(spec, basics.workdir), **env}
    container = main_container(spec, first_role, PLAIN_JOB, options, env, script, basics.mounts, basics.workdir,
                               spec.roles[first_role].resources)
    restart = "OnFailure" if options.restart_policy == "OnFailure" else "Never"
    count = spec.replica_count
    pod = pod_spec(options, [container], basics.volumes, basics.init, restart, subdomain=spec.name)
    add_scheduler(pod, options)
    pod_meta = pod_metadata(labels, options)
    add_pod_group_membership(pod_meta, spec.name, options)
    job_spec: dict[str, Any] = {
        "completionMode": "Indexed", "completions": count, "parallelism": count,
        "template": {"metadata": pod_meta, "spec": pod},
    }
    if basics.join_queue():
        job_spec["suspend"] = True
    if options.job_success_policy and count > 1:
        # Index 0 is the deciding replica (chief, master or worker 0): its success ends the job, as in TFJob.
        job_spec["successPolicy"] = {"rules": [{"succeededIndexes": "0"}]}
    job_spec.update(run_limits(options))
    job = {"apiVersion": PLAIN_JOB.api_version, "kind": "Job", "metadata": basics.metadata, "spec": job_spec}
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
        problems.append(Problem("without the training operator every replica runs from one pod template: give "
                                "every role the same image and resources, or set KubernetesRuntime."
                                "training_operator = True", "image"))
    if "ps" in spec.roles and not options.job_success_policy:
        problems.append(Problem("parameter servers never exit, so a plain Job with --ps only ends with "
                                "KubernetesRuntime.job_success_policy = True (Kubernetes 1.31+)", "ps"))
    if options.restart_policy not in ("Never", "OnFailure"):
        problems.append(f"a plain Job cannot use restart_policy {options.restart_policy!r}: use Never or OnFailure")
    return problems


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
