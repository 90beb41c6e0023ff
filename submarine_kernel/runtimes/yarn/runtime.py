"""The YARN runtime: one YARN Service per job through the ResourceManager's REST APIs.

`/app/v1/services` creates, stops and destroys services; `/ws/v1/cluster/apps` reports on them: one list
call per poll covers every job whose application id is known (Zeppelin made two calls per job every 3 s).
The RM client (HA, Kerberos, errors) is `client.py`; the service JSON `service.py`; statuses `status.py`;
what a job's `JobRef.extra` holds `data.py`.
"""

from __future__ import annotations

import os
import re
import threading
import time
from typing import Iterator, Mapping, Sequence
from urllib.parse import quote, urlsplit

from traitlets import Bool, Dict, Float, Int, List, Unicode, Union, default

from ...algorithm import Bundle
from ...errors import JobNotFound, Problem, RuntimeFailure, SubmarineError
from ...job_types import JobRef, JobStatus, same_submission, submission_token
from ...net.http import build_session
from ...net.kerberos import KerberosLogin, spnego_auth
from ...retry import retried
from ...names import dns1035_problems, hadoop_user
from ...spec import JobSpec
from ..base import ListedJob, Runtime, Submission
from . import service as ys
from . import status as st
from .checks import service_problems
from .classic import classic_command
from .client import APP_ID, ResourceManagerClient, ServiceNameTaken
from .data import YarnJobData
from .listing import definition_path, list_services

#: the service AM's log files (Hadoop's default log4j writes to stderr; a yarnservice-log4j.properties to
#: serviceam.log) and its line for each container it starts (ServiceScheduler/Component, Hadoop 3.1-3.4)
AM_LOG_FILES = ("serviceam.log", "serviceam-err.txt")
#: a service GET's states once it is over (a finished service reads STOPPED on Hadoop 3.4, even one that succeeded)
ENDED_SERVICE_STATES = ("STOPPED", "SUCCEEDED", "FAILED")
AM_ASSIGNED = re.compile(r"Assigned (container_\w+) to component instance (\S+) and launch on host (\S+)")

#: what a dry run writes where a setting a real submission needs is not configured yet
RM_PLACEHOLDER = "<YarnRuntime.rm_urls>"
#: resource use: how often a job's service is asked which container runs which replica while that is not
#: all known, and how often the NodeManagers' addresses are listed again
USAGE_SERVICE_SECONDS = 30.0
USAGE_NODES_SECONDS = 300.0
#: most service GETs one round of resource use makes (the rest wait for the next rounds: 100 jobs started at
#: once all show their use after about 8 minutes, and following them stays about one request per poll)
USAGE_SERVICES_PER_ROUND = 2



class YarnRuntime(Runtime):
    """Runs each job as a YARN Service (Hadoop 3.1+ with the Services API and registry DNS)."""

    name = "yarn"

    rm_urls = List(Unicode(), help="ResourceManager web URLs, every RM of an HA pair "
                                   "(e.g. ['https://rm1:8090', 'https://rm2:8090']).").tag(config=True)
    user = Unicode(help="Hadoop user: user.name for simple auth and the <user> of registry DNS names "
                        "(HADOOP_USER_NAME or the login name by default).").tag(config=True)
    queue = Unicode("", help="YARN queue of the job's service ('' = the user's default queue).").tag(config=True)
    lifetime = Int(0, help="Seconds after which YARN destroys the service (0 = unlimited).").tag(config=True)
    docker_java_home = Unicode("", help="JAVA_HOME inside the image (DOCKER_JAVA_HOME), for HDFS access."
                               ).tag(config=True)
    docker_hadoop_hdfs_home = Unicode("", help="Hadoop home inside the image (DOCKER_HADOOP_HDFS_HOME)."
                                      ).tag(config=True)
    shared_file_storage = Bool(False, help="A file:// storage root is a file system every NodeManager mounts at "
                               "the same path (NFS), so YARN can localize bundles from it.").tag(config=True)
    registry_dns_domain = Unicode("", help="The cluster's hadoop.registry.dns.domain-name; replicas find each "
                                           "other as <component>-<i>.<service>.<user>.<domain>.").tag(config=True)
    kerberos = Bool(False, help="Authenticate to the ResourceManager with SPNEGO (Kerberos).").tag(config=True)
    principal = Unicode("", help="Kerberos principal for kinit (e.g. alice@EXAMPLE.COM).").tag(config=True)
    keytab = Unicode("", help="Keytab file; when set, `kinit -kt keytab principal` runs before the first call "
                              "and again when a ticket expires.").tag(config=True)
    service_principal = Unicode("", help="The service's kerberos_principal.principal_name (user/_HOST@REALM) "
                                         "for the service AM on a secure cluster.").tag(config=True)
    service_keytab = Unicode("", help="The service's keytab URI (file:///... on every node, or hdfs://...)."
                             ).tag(config=True)
    kinit_path = Unicode("kinit", help="kinit executable.").tag(config=True)
    klist_path = Unicode("klist", help="klist executable.").tag(config=True)
    verify_tls = Union([Bool(), Unicode()], default_value=True,
                       help="Verify the RM's TLS certificate: True, a CA bundle path, or False (not advised)."
                       ).tag(config=True)
    client_cert = Unicode("", help="Client certificate (PEM) for mutual TLS.").tag(config=True)
    request_timeout = Float(30.0, help="Seconds before an RM call gives up.").tag(config=True)
    tf_port = Int(8000, help="Port TensorFlow servers listen on (TF_CONFIG addresses).").tag(config=True)
    master_port = Int(23456, help="MASTER_PORT of PyTorch/XGBoost jobs.").tag(config=True)
    default_memory_mib = Int(4096, help="Memory of a replica whose resources name none (YARN needs one)."
                             ).tag(config=True)
    default_vcores = Int(1, help="Vcores of a replica whose resources name none (YARN needs one).").tag(config=True)
    max_memory_mib = Int(0, help="yarn.scheduler.maximum-allocation-mb, to refuse bigger asks early (0 = unknown)."
                         ).tag(config=True)
    max_vcores = Int(0, help="yarn.scheduler.maximum-allocation-vcores (0 = unknown).").tag(config=True)
    tensorboard = Bool(False, help="Add a TensorBoard component reading the checkpoint path to every job."
                       ).tag(config=True)
    tensorboard_image = Unicode("", help="Image of the TensorBoard component (the job's image by default)."
                                ).tag(config=True)
    tensorboard_resources = Unicode("memory=4G,vcores=1", help="Resources of the TensorBoard component."
                                    ).tag(config=True)
    submarine_jar = Unicode("hadoop-submarine-all-0.2.0-hadoop-3.1.jar",
                            help="Jar named in the classic command line of dry runs.").tag(config=True)
    link_templates = Dict(help="Links shown for a job: name → template with {rm}, {app_id}, {service}, {user}."
                          ).tag(config=True)
    log_files = List(Unicode(), ["stdout.txt", "stderr.txt"],
                     help="Container log files read by `logs` (YARN services write stdout.txt/stderr.txt)."
                     ).tag(config=True)
    poll_replicas = Bool(False, help="Also read every running service's containers on each poll (one more "
                                     "call per job) to report replica states.").tag(config=True)
    start_time_slack = Float(3600.0, help="Seconds subtracted from the oldest submission time in the list "
                                          "call's startedTimeBegin (clock skew).").tag(config=True)
    default_fs = Unicode("", help="The cluster's fs.defaultFS (hdfs://namenode:8020 or webhdfs://...), where YARN "
                         "keeps each service's definition: `recover` reads finished services' definitions there "
                         "(SUBMARINE_YARN_DEFAULT_FS; '' = the storage root's NameNode when it is hdfs://).").tag(config=True)
    default_fs_options = Dict(help="Storage options for default_fs (namenodes, kerberos, ...; the storage "
                              "options when default_fs comes from storage_root).").tag(config=True)
    follow_interval = Float(2.0, help="Seconds between reads while following a log.").tag(config=True)

    @default("rm_urls")
    def _default_rm_urls(self):
        env = os.environ.get("SUBMARINE_YARN_RM_URLS", "")
        return [u.strip() for u in env.split(",") if u.strip()] or ["http://localhost:8088"]

    @default("default_fs")
    def _default_default_fs(self):
        return os.environ.get("SUBMARINE_YARN_DEFAULT_FS", "")

    @default("user")
    def _default_user(self):
        return hadoop_user()

    @default("link_templates")
    def _default_link_templates(self):
        return {"rm_app": "{rm}/cluster/app/{app_id}",
                "yarn_ui": "{rm}/ui2/#/yarn-app/{app_id}/components?service={service}",
                "logs": "{rm}/ui2/#/yarn-app/{app_id}/logs?service={service}"}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._client: ResourceManagerClient | None = None
        self._app_ids: dict[str, str] = {}
        #: the last service answer that listed containers, per job: a finished service lists none (the RM
        #: reads its stored definition), and its containers' logs stay on their NodeManagers
        self._containers_seen: dict[str, dict] = {}
        #: job key → ({replica: (container id, host)}, when its service was last asked)
        self._replica_containers: dict[str, tuple[dict, float]] = {}
        self._usage_lost: set[str] = set()  # jobs a mapped container of which has no metrics any more
        self._nodes: tuple[dict[str, str], float] = ({}, -1e9)  # NodeManager web addresses by host, when asked
        self._lock = threading.Lock()
        self.observe(self._drop_client, names=["rm_urls", "user", "kerberos", "principal", "keytab", "verify_tls",
                                               "client_cert", "request_timeout", "kinit_path", "klist_path"])

    def _drop_client(self, change=None) -> None:
        with self._lock:
            if self._client is not None:
                self._client.session.close()
            self._client = None

    # -- settings --------------------------------------------------------------------------------------
    @property
    def uses_kerberos(self) -> bool:
        return bool(self.kerberos or self.keytab)

    def settings(self) -> ys.ServiceSettings:
        """The traits the service JSON needs, as plain data."""
        return ys.ServiceSettings(
            user=self.user, domain=self.registry_dns_domain, rm_urls=tuple(self.rm_urls), queue=self.queue, lifetime=self.lifetime,
            docker_java_home=self.docker_java_home, docker_hadoop_hdfs_home=self.docker_hadoop_hdfs_home,
            kerberos_principal=self.service_principal, kerberos_keytab=self.service_keytab, tf_port=self.tf_port,
            master_port=self.master_port, default_memory_mib=self.default_memory_mib,
            default_vcores=self.default_vcores, max_memory_mib=self.max_memory_mib, max_vcores=self.max_vcores,
            tensorboard=self.tensorboard, tensorboard_image=self.tensorboard_image,
            tensorboard_resources=self.tensorboard_resources)

    @property
    def client(self) -> ResourceManagerClient:
        """The RM client, built on first use (Kerberos and TLS settings apply from then on)."""
        with self._lock:
            if self._client is None:
                login = None
                auth = None
                if self.uses_kerberos:
                    login = KerberosLogin(principal=self.principal, keytab=self.keytab, kinit=self.kinit_path,
                                          klist=self.klist_path)
                    auth = spnego_auth()
                session = build_session(verify=self.verify_tls, client_cert=self.client_cert or None, auth=auth,
                                        timeout=self.request_timeout)
                self._client = ResourceManagerClient(self.rm_urls, session, user=self.user, login=login)
            return self._client

    # -- checks and dry runs ---------------------------------------------------------------------------
    def check(self, spec: JobSpec) -> list[str]:
        """YARN's name rules and the resources YARN cannot give; no cluster call."""
        problems = service_problems(spec, self.settings())
        if self.keytab and not self.principal:
            problems.append("YarnRuntime.keytab is set but YarnRuntime.principal is not: set both for kinit")
        return problems + self.missing_settings(spec)

    def bundle_problems(self, bundle_uri: str) -> list[str]:
        """YARN localizes each file from the bundle URI on the node that runs the container: a file:// root on
        this machine reaches no node (unless every node mounts it, `shared_file_storage`)."""
        if urlsplit(bundle_uri).scheme in ("", "file") and not self.shared_file_storage:
            return [Problem(f"the bundle would be stored at {bundle_uri}, on this machine, where YARN's "
                            "NodeManagers cannot fetch it: set SubmarineConfig.storage_root to an hdfs:// URL of "
                            "the cluster (or set YarnRuntime.shared_file_storage = True when every node mounts that "
                            "folder)", dry_run_ok=True)]
        return []

    def missing_settings(self, spec: JobSpec) -> list[str]:
        missing = []
        if not self.rm_urls:
            missing.append(Problem("no ResourceManager is configured: set YarnRuntime.rm_urls = "
                                   "['http://rm:8088']", dry_run_ok=True))
        if not self.registry_dns_domain:
            if spec.replica_count > 1 and self.uses_kerberos:  # rendezvous.py reads the RM with simple auth
                missing.append(Problem("without registry DNS the replicas find each other through the Services "
                                       "API, which a Kerberos cluster does not open to containers: set "
                                       "YarnRuntime.registry_dns_domain (hadoop.registry.dns.domain-name of the "
                                       "cluster)", dry_run_ok=True))
            elif self.tensorboard and spec.checkpoint_path:
                missing.append(Problem("the TensorBoard quicklink needs the registry DNS domain: set "
                                       "YarnRuntime.registry_dns_domain", dry_run_ok=True))
        return missing

    def service(self, spec: JobSpec, bundle: Bundle, bundle_uri: str, *, redact: bool = False) -> dict:
        """The Service JSON `submit` would POST (`redact`, for printing, hides secret-looking env values and
        writes placeholders for settings not configured yet)."""
        from ...secrets import redact_mapping

        return ys.build_service(spec, bundle.files, bundle_uri, self.settings(),
                                notebook=bundle.notebook, digests=bundle.file_sha256,
                                env_view=redact_mapping if redact else None)

    def prepare(self, spec: JobSpec, bundle: Bundle, bundle_uri: str) -> Submission:
        """The service JSON to POST; the dry run prints it (secrets hidden, placeholders for settings not
        configured yet) with the equivalent classic Hadoop Submarine command line."""
        def describe() -> str:
            from ...secrets import redact_mapping

            shown = spec.replace(params=redact_mapping(spec.params))  # secret params are on the command lines too
            service = self.service(shown, bundle, bundle_uri, redact=True)
            classic = classic_command(shown, bundle.files, bundle_uri, self.settings(),
                                      self.submarine_jar, env_view=redact_mapping)
            rm = self.rm_urls[0].rstrip("/") if self.rm_urls else RM_PLACEHOLDER
            return "\n".join([f"# YARN service {spec.name}: POST {rm}/app/v1/services", ys.service_json(service), "",
                              "# the same job with Hadoop Submarine's command line:", classic])

        return self.submission(spec, bundle, bundle_uri, self.service(spec, bundle, bundle_uri), describe)

    # -- submit ----------------------------------------------------------------------------------------
    def start(self, submission: Submission) -> JobRef:
        """POST the service; the application id is kept when the RM reports it at once.

        The spec is valid: `Session.build` checked it (`check` included) before the bundle was uploaded, so it
        is not checked again here."""
        spec, service = submission.spec, submission.request
        submitted_ms = int(time.time() * 1000)
        try:
            app_id = self.client.create_service(service)
        except ServiceNameTaken:
            # A retried POST whose first attempt created the service but lost the answer: our token in the
            # service's properties means "already submitted"; any other service keeps the name taken.
            existing = self.client.get_service(spec.name) if submission_token(spec.labels) else None
            if existing is None or not same_submission(spec.labels, ys.submission_labels(existing)):
                raise
            app_id = str(existing.get("id") or "")
            app_id = app_id if APP_ID.fullmatch(app_id) else ""
        return self._ref(spec, app_id, service, submitted_ms)

    def _ref(self, spec: JobSpec, app_id: str, service: Mapping, submitted_ms: int) -> JobRef:
        if app_id:
            self._app_ids[spec.name] = app_id
        return YarnJobData.ref(spec, app_id, rm=self.client.active_url, user=self.user, submitted_ms=submitted_ms,
                               tensorboard=(service.get("quicklinks") or {}).get(ys.TENSORBOARD_QUICKLINK, ""))

    def find(self, spec: JobSpec, bundle_uri: str | None) -> JobRef | None:
        """The service this submission made (our token in its properties), or None: a service is one object,
        so there is nothing half-created to delete."""
        existing = retried(lambda: self.client.get_service(spec.name), f"looking for {spec.name}")
        if existing is None or not same_submission(spec.labels, ys.submission_labels(existing)):
            return None
        app_id = str(existing.get("id") or "")
        # an application older than the poll's listing window is then asked for alone
        return self._ref(spec, app_id if APP_ID.fullmatch(app_id) else "", existing, int(time.time() * 1000))

    def list_jobs(self) -> list[ListedJob]:
        """The services of ours among the RM's yarn-service applications (`listing.py`)."""
        # with Kerberos the applications belong to the principal's short name, which `user` may not be
        owner = self.principal.split("@")[0].split("/")[0] if self.uses_kerberos else self.user
        return list_services(self.client, owner, self._stored_definition)

    def use_storage(self, root: str, options: Mapping) -> None:
        self._storage = (root, dict(options or {}))

    def _definitions_fs(self) -> tuple[str, dict] | None:
        """(URL, options) of the file system holding YARN's stored service definitions, or None (unknown)."""
        if self.default_fs:
            return self.default_fs, dict(self.default_fs_options)
        root, options = getattr(self, "_storage", ("", {}))
        parts = urlsplit(root)
        if parts.scheme in ("hdfs", "webhdfs", "swebhdfs") and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}/", {**options, **self.default_fs_options}
        return None

    def _stored_definition(self, name: str, owner: str) -> dict | None:
        """The definition YARN stored for service `name` of `owner` (None when there is no such file or no
        HDFS is configured); a file system that cannot be read is one SubmarineError."""
        import json

        from ...storage.filesystems import open_filesystem

        where = self._definitions_fs()
        if where is None:
            return None
        url, options = where
        path = definition_path(name, owner)
        try:
            fs, root = open_filesystem(url, options)
            path = root.rstrip("/") + path  # a file:// default FS may be a folder
            return json.loads(fs.cat_file(path))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise RuntimeFailure(f"cannot read the stored definition of YARN service {name!r} at {url.rstrip('/')}"
                                 f"{definition_path(name, owner)}: {exc} (set YarnRuntime.default_fs to the cluster's fs.defaultFS)") from None

    # -- follow ----------------------------------------------------------------------------------------
    def app_id(self, ref: JobRef) -> str:
        return self._app_ids.get(ref.name) or ref.id

    def poll(self, refs: Sequence[JobRef]) -> dict[str, JobStatus]:
        """One `/ws/v1/cluster/apps` call for every job with a known application id; a service GET only for
        jobs whose id is not known yet (and, with `poll_replicas`, for running ones)."""
        statuses: dict[str, JobStatus] = {}
        services: dict[str, dict | None] = {}
        for ref in refs:
            if not self.app_id(ref):
                services[ref.key] = service = self.client.get_service(ref.name)
                if service and APP_ID.fullmatch(str(service.get("id", ""))):
                    self._app_ids[ref.name] = service["id"]
        known = [ref for ref in refs if self.app_id(ref)]
        apps: dict[str, dict] = {}
        if known:
            begin = [YarnJobData.of(r).submitted_ms for r in known]
            filters = {"applicationTypes": "yarn-service", "deSelects": "resourceRequests"}
            if all(begin):
                filters["startedTimeBegin"] = str(max(0, min(begin) - int(self.start_time_slack * 1000)))
            if not self.uses_kerberos and self.user:
                filters["user"] = self.user
            apps = {app.get("id"): app for app in self.client.list_apps(**filters)}
            for ref in known:
                if self.app_id(ref) not in apps:  # aged out of the list window: ask for it alone
                    app = self.client.get_app(self.app_id(ref))
                    if app:
                        apps[app["id"]] = app
        for ref in refs:
            app = apps.get(self.app_id(ref))
            if app is not None:
                status = st.status_from_app(app, self.links(ref))
                if st.unschedulable(app):  # the service would hold its AM forever: end it
                    self.client.stop_service(ref.name)
                if self.poll_replicas and not status.terminal and ref.key not in services:
                    services[ref.key] = self.client.get_service(ref.name)
            else:
                status = st.status_from_service(ref.name, services.get(ref.key), YarnJobData.of(ref).submitted_ms,
                                                self.links(ref))
            if services.get(ref.key):
                self._remember_containers(ref.name, services[ref.key])
                status.replicas = st.replicas(YarnJobData.of(ref).components, services[ref.key])
            statuses[ref.key] = status
        return statuses

    #: the NodeManager refreshes its JMX values about every 10 s: asking more often shows nothing new
    usage_interval = 10.0

    def usage(self, refs: Sequence[JobRef]) -> dict[str, dict]:
        """Each replica's CPU % and memory as its NodeManager reports them (container_metrics.py): one `/jmx`
        call per NodeManager that runs the jobs' containers, whatever the number of jobs. Which container runs
        which replica comes from the job's service, asked only until every replica is known (or one of them
        lost its metrics: a restarted container), at most every USAGE_SERVICE_SECONDS and for at most
        USAGE_SERVICES_PER_ROUND jobs a round; the NodeManagers' addresses from one nodes call every
        USAGE_NODES_SECONDS."""
        from ... import usage
        from . import container_metrics as cm

        moment = time.monotonic()
        unmapped = []
        for ref in refs:
            known, asked = self._replica_containers.get(ref.key, ({}, -1e9))
            expected = sum(p.count for p in YarnJobData.of(ref).components)
            if (not known or len(known) < expected or ref.key in self._usage_lost) and \
                    moment - asked >= USAGE_SERVICE_SECONDS:
                unmapped.append((asked, ref))
        # a sweep that starts 100 jobs at once asks their services over several rounds, never all in one
        for _, ref in sorted(unmapped, key=lambda item: item[0])[:USAGE_SERVICES_PER_ROUND]:
            service = self._remember_containers(ref.name, self.client.get_service(ref.name) or {})
            known = st.replica_containers(YarnJobData.of(ref).components, service) or \
                self._replica_containers.get(ref.key, ({}, 0))[0]
            self._replica_containers[ref.key] = (known, moment)
            self._usage_lost.discard(ref.key)
        hosts = {host for known, _ in (self._replica_containers.get(r.key, ({}, 0)) for r in refs)
                 for _, host in known.values()}
        if hosts - set(self._nodes[0]) or moment - self._nodes[1] >= USAGE_NODES_SECONDS:
            self._nodes = (self.client.node_http_addresses(), moment)
        beans: dict[str, dict] = {}
        for node in sorted({self._nodes[0][h] for h in hosts if h in self._nodes[0]}):
            beans.update(cm.beans_by_container(self.client.node_jmx(node, cm.BEANS)))
        out = {}
        for ref in refs:
            mapped = self._replica_containers.get(ref.key, ({}, 0))[0]
            known = {name: container for name, (container, _) in mapped.items()}
            if any(container not in beans for container in known.values()):
                self._usage_lost.add(ref.key)
            samples = self.kept_usage(ref.key, cm.SOURCE)
            cm.add_samples(samples, known, beans, usage.points_budget(len(known)))
            out[ref.key] = samples
        return out

    def links(self, ref: JobRef) -> dict[str, str]:
        """RM application page, YARN UI2 component page, logs page and the TensorBoard quicklink."""
        links: dict[str, str] = {}
        data = YarnJobData.of(ref)
        app_id = self.app_id(ref)
        rm = (data.rm or (self.rm_urls[0] if self.rm_urls else "")).rstrip("/")
        if app_id and rm:
            fields = {"rm": rm, "app_id": app_id, "service": quote(ref.name), "user": quote(self.user)}
            links = self.fill_links(self.link_templates, fields, "link_templates")
        if data.tensorboard:
            links["tensorboard"] = data.tensorboard
        return links

    # -- logs ------------------------------------------------------------------------------------------
    def logs(self, ref: JobRef, replica: str | None = None, tail: int | None = None,
             follow: bool = False) -> Iterator[str]:
        """A container's log files through its NodeManager (`replica` is `worker-1` or `master-0`)."""
        service = retried(lambda: self.client.get_service(ref.name), f"reading the logs of {ref.name}")
        if service is None:
            raise JobNotFound(f"YARN knows no service {ref.name!r}: it was destroyed, its logs are in the RM UI")
        ended = service.get("state") in ENDED_SERVICE_STATES
        service = self._remember_containers(ref.name, service)
        data = YarnJobData.of(ref)
        wanted = replica or data.deciding or "master-0"
        # a finished service lists no containers, and the last listing this process saw may predate the
        # replica's start: the AM's log names every container it launched
        from_am_log = None
        if st.listed_container(data.components, service, wanted) is None and self.app_id(ref):
            from_am_log = retried(lambda: self._containers_from_am_log(ref), f"reading the logs of {ref.name}")
        container_id, host = st.find_container(data.components, from_am_log or service, ref.name, wanted,
                                               ended=ended and from_am_log is not None)
        node = retried(lambda: self.client.node_http_address(host), f"reading the logs of {ref.name}")
        if not node:
            raise RuntimeFailure(f"the ResourceManager lists no NodeManager on {host}: open the logs link instead")
        scheme = urlsplit(self.client.active_url).scheme
        base = f"{scheme}://{node}/ws/v1/node/containerlogs/{container_id}"
        return self._read_logs(ref, base, tail, follow)

    def _containers_from_am_log(self, ref: JobRef) -> dict | None:
        """A finished service's containers, which its GET no longer lists and this process never saw: the
        service AM logs "Assigned <container> to component instance <name> and launch on host <node>" for
        each, and its own log stays on its NodeManager (or in aggregated logs the NodeManager serves)."""
        scheme = urlsplit(self.client.active_url).scheme
        containers: dict[str, dict] = {}  # instance → its newest container (a restarted one replaces it)
        for attempt in self.client.app_attempts(self.app_id(ref)):
            node, am_container = attempt.get("nodeHttpAddress"), attempt.get("containerId")
            if not node or not am_container:
                continue
            for name in AM_LOG_FILES:
                text = self.client.read_log(f"{scheme}://{node}/ws/v1/node/containerlogs/{am_container}/{name}", name)
                for container_id, instance, host in AM_ASSIGNED.findall(text or ""):
                    containers[instance] = {"id": container_id, "component_instance_name": instance,
                                            "bare_host": host.partition(":")[0]}
        if not containers:
            return None
        return {"components": [{"containers": list(containers.values())}]}

    def _remember_containers(self, name: str, service: dict) -> dict:
        """`service`, or the last answer for it that listed containers when this one lists none."""
        if any(c.get("containers") for c in service.get("components") or []):
            self._containers_seen[name] = service
            return service
        return self._containers_seen.get(name, service)

    def _read_logs(self, ref: JobRef, base: str, tail: int | None, follow: bool) -> Iterator[str]:
        seen = {name: 0 for name in self.log_files}

        def read_new() -> list[str]:
            """The lines added to each log file since the last read (YARN serves whole files)."""
            lines = []
            for name in self.log_files:
                text = retried(lambda n=name: self.client.read_log(f"{base}/{n}", n), f"reading log {name}")
                if text is None:
                    continue
                lines.extend(text[seen[name]:].splitlines())
                seen[name] = len(text)
            return lines

        first = read_new()
        yield from first[-tail:] if tail else first
        if follow:
            yield from self.follow_log(ref, read_new, self.follow_interval)

    # -- stop and clean up ------------------------------------------------------------------------------
    def stop(self, ref: JobRef) -> None:
        """PUT state STOPPED, retried through 5xx and lost answers (stopping a stopped service is a no-op,
        as it is when the service is already gone)."""
        retried(lambda: self.client.stop_service(ref.name), f"stopping {ref.name}")

    def remove(self, ref: JobRef) -> None:
        """DELETE the service (Zeppelin's CLEAN_RUNTIME_CACHE); the RM keeps the finished application."""
        self.client.destroy_service(ref.name)

    def start_tensorboard(self, name: str, logdir: str) -> str:
        """Start TensorBoard as a YARN service of its own; return its quicklink."""
        if not self.registry_dns_domain:
            raise SubmarineError("TensorBoard on YARN is reached through registry DNS: set "
                                 "YarnRuntime.registry_dns_domain")
        service_name = name
        problems = dns1035_problems(service_name, "TensorBoard name")
        if problems:
            raise SubmarineError(problems[0])
        image = self.tensorboard_image or None
        service = ys.tensorboard_service(service_name, logdir, self.settings(), image)
        self.client.destroy_service(service_name)
        self.client.create_service(service)
        return service["quicklinks"][ys.TENSORBOARD_QUICKLINK]

    def stop_tensorboard(self, name: str) -> bool:
        return self.client.destroy_service(name)

    def close(self) -> None:
        self._drop_client()
