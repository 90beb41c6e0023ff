"""The YARN runtime: one YARN Service per job through the ResourceManager's REST APIs.

`/app/v1/services` creates, stops and destroys services; `/ws/v1/cluster/apps` reports on them: one list
call per poll covers every job whose application id is known (Zeppelin made two calls per job every 3 s).
ResourceManager HA: `rm_urls` lists every RM; a connection error or a standby answer (a redirect, or the
"This is standby RM" page Hadoop 2 serves with 200) moves on to the next one, and the one that answered
is tried first next time. Kerberos: SPNEGO on every call, `kinit -kt` when a keytab is configured.
The service JSON itself is built in `submarine_kernel.yarn_service`.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import os
import re
import threading
import time
from typing import Any, Iterator, Mapping, Sequence
from urllib.parse import quote, urlsplit

from traitlets import Bool, Dict, Float, Int, List, Unicode, Union, default

from .. import yarn_service as ys
from ..algorithm import Bundle
from ..errors import JobNotFound, RuntimeFailure, SubmarineError, TransientError
from ..net.http import build_session, one_line
from ..net.kerberos import KerberosError, KerberosLogin, is_gssapi_error, spnego_auth
from ..retry import retried
from ..spec import JobSpec
from ..job_types import JobRef, JobState, JobStatus, ReplicaStatus
from .base import Runtime

_APP_ID = re.compile(r"application_\d+_\d+")
_REDIRECTS = (301, 302, 303, 307, 308)
#: what a dry run writes where a setting a real submission needs is not configured yet
DOMAIN_PLACEHOLDER = "<YarnRuntime.registry_dns_domain>"
RM_PLACEHOLDER = "<YarnRuntime.rm_urls>"
#: RM application state (+ final status) → standard state
_APP_STATES = {"NEW": JobState.SUBMITTED, "NEW_SAVING": JobState.SUBMITTED, "SUBMITTED": JobState.SUBMITTED,
               "ACCEPTED": JobState.PENDING, "RUNNING": JobState.RUNNING, "KILLED": JobState.STOPPED,
               "FAILED": JobState.FAILED}
_FINAL_STATES = {"SUCCEEDED": JobState.SUCCEEDED, "FAILED": JobState.FAILED, "KILLED": JobState.STOPPED,
                 "ENDED": JobState.STOPPED, "UNDEFINED": JobState.STOPPED}
#: service state (GET /app/v1/services/{name}) → standard state, used until the RM app is known
_SERVICE_STATES = {"ACCEPTED": JobState.PENDING, "STARTED": JobState.RUNNING, "STABLE": JobState.RUNNING,
                   "FLEX": JobState.RUNNING, "UPGRADING": JobState.RUNNING, "SUCCEEDED": JobState.SUCCEEDED,
                   "FAILED": JobState.FAILED, "STOPPED": JobState.STOPPED}
_CONTAINER_STATES = {"RUNNING_BUT_UNREADY": JobState.RUNNING, "READY": JobState.RUNNING,
                     "SUCCEEDED": JobState.SUCCEEDED, "FAILED": JobState.FAILED, "STOPPED": JobState.STOPPED,
                     "UPGRADING": JobState.RUNNING, "NEEDS_UPGRADE": JobState.RUNNING}


class ResourceManagerUnreachable(TransientError):
    """No configured ResourceManager answered as the active one (retried: it may come back)."""


class YarnAuthError(RuntimeFailure):
    """The ResourceManager refused the credentials (401) or the action (403)."""


class ServiceNameTaken(RuntimeFailure):
    """A YARN service of that name exists already."""


class ServiceRejected(RuntimeFailure):
    """YARN refused the service definition (400)."""


def _iso(ms: Any) -> str | None:
    try:
        ms = int(ms or 0)
    except (TypeError, ValueError):
        return None
    if ms <= 0:
        return None
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).isoformat(timespec="seconds")


def _default_user() -> str:
    try:
        return os.environ.get("HADOOP_USER_NAME") or getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "user"


def _diagnostics(response) -> str:
    """The server's explanation in one line: ServiceStatus.diagnostics, a RemoteException, or the text."""
    try:
        body = response.json()
    except ValueError:
        return one_line(response.text)
    if isinstance(body, dict):
        if body.get("diagnostics"):
            return one_line(body["diagnostics"])
        remote = body.get("RemoteException")
        if isinstance(remote, dict) and remote.get("message"):
            return one_line(remote["message"])
    return one_line(response.text)


class ResourceManagerClient:
    """ResourceManager REST calls with HA failover, SPNEGO and one-line errors."""

    def __init__(self, urls: Sequence[str], session, *, user: str = "", login: KerberosLogin | None = None):
        if not urls:
            raise SubmarineError("no ResourceManager is configured: set YarnRuntime.rm_urls = ['http://rm:8088']")
        self.urls = [u.rstrip("/") for u in urls]
        self.session = session
        self.user = user
        self.login = login
        self._active = 0
        self._lock = threading.Lock()

    @property
    def active_url(self) -> str:
        return self.urls[self._active]

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json_body: Any = None):
        """Send to the active RM, failing over to the others; return the first non-standby response."""
        params = dict(params or {})
        if self.login is None and self.user:
            params.setdefault("user.name", self.user)  # simple auth, as WebHDFS and the RM UI take it
        elif self.login is not None:
            self.login.ensure()
        with self._lock:
            start = self._active
        tried = []
        for offset in range(len(self.urls)):
            index = (start + offset) % len(self.urls)
            url = self.urls[index]
            response = self._send(method, url + path, params, json_body, tried, url)
            if response is None:
                continue
            if response.status_code == 401 and self.login is not None and self.login.renew():
                response = self._send(method, url + path, params, json_body, tried, url) or response
            with self._lock:
                self._active = index
            return response
        raise ResourceManagerUnreachable(f"no active ResourceManager answered {method} {path}: tried "
                                         f"{'; '.join(tried)}. Check YarnRuntime.rm_urls and that the RM is up")

    def _send(self, method, target, params, json_body, tried, url):
        import requests

        try:
            response = self.session.request(method, target, params=params, json=json_body, allow_redirects=False)
        except (requests.ConnectionError, requests.Timeout) as exc:
            tried.append(f"{url} ({type(exc).__name__})")
            return None
        except Exception as exc:
            if is_gssapi_error(exc):
                raise KerberosError(f"Kerberos authentication to {url} failed ({one_line(str(exc), 200)}): "
                                    "run kinit (or set YarnRuntime.keytab) and try again") from None
            raise
        standby = self._standby_reason(response)
        if standby:
            tried.append(f"{url} ({standby})")
            return None
        return response

    def _standby_reason(self, response) -> str:
        """Why this answer comes from a standby RM, or '' when it is a real answer.

        Hadoop 3's RMWebAppFilter answers a standby's API calls with 307 + Location of the active RM and
        the text "This is standby RM"; Hadoop 2 answers 200 with that text and a Refresh header; with no
        active RM known it sends a Refresh loop ("Can not find any active RM").
        """
        text = ""
        if "json" not in response.headers.get("Content-Type", ""):
            text = response.text[:2000]
        if response.status_code in _REDIRECTS or "This is standby RM" in text or \
                "any active RM" in text or "no active RM" in text:
            location = response.headers.get("Location") or response.headers.get("Refresh", "").partition("url=")[2]
            target = f"{urlsplit(location).scheme}://{urlsplit(location).netloc}" if location else ""
            if target and target not in self.urls:
                return f"standby, pointing to {target}: add it to YarnRuntime.rm_urls"
            return "standby"
        return ""

    # -- answers ---------------------------------------------------------------------------------------
    def fail(self, response, action: str, name: str = "") -> None:
        """Raise the SubmarineError that says what this error answer means and what to do."""
        code = response.status_code
        why = _diagnostics(response)
        if code == 401:
            hint = ("run kinit (or set YarnRuntime.keytab and YarnRuntime.principal)" if self.login is not None
                    else "the cluster wants Kerberos: set YarnRuntime.kerberos = True and run kinit")
            raise YarnAuthError(f"the ResourceManager {self.active_url} refused the credentials for {action} "
                                f"(401 Unauthorized): {hint}")
        if code == 403:
            raise YarnAuthError(f"the ResourceManager {self.active_url} does not allow user {self.user or '?'} "
                                f"to {action} (403 Forbidden): {why or 'check the queue and YARN ACLs'}")
        if "already taken" in why or "already exists" in why:
            raise ServiceNameTaken(f"YARN service name {name!r} is already taken: choose another --name, or "
                                   f"remove the old job first ({why})")
        if code == 400:
            raise ServiceRejected(f"YARN rejected {action} (400 Bad Request): {why}")
        if code >= 500 or code == 429:  # an overloaded or restarting RM: may pass by itself, retried
            raise TransientError(f"the ResourceManager {self.active_url} failed to {action} ({code}): "
                                 f"{why or 'no details'}")
        raise RuntimeFailure(f"the ResourceManager {self.active_url} failed to {action} ({code}): "
                             f"{why or 'no details'}")

    def create_service(self, service: Mapping) -> str:
        """POST the service; return the application id when the RM reports it ('' when not yet)."""
        response = self.request("POST", "/app/v1/services", json_body=service)
        if response.status_code not in (200, 201, 202):
            self.fail(response, f"create service {service['name']!r}", service["name"])
        match = _APP_ID.search(_diagnostics(response))
        return match.group(0) if match else ""

    def get_service(self, name: str) -> dict | None:
        response = self.request("GET", f"/app/v1/services/{quote(name)}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            self.fail(response, f"read service {name!r}", name)
        return response.json()

    def stop_service(self, name: str) -> bool:
        """PUT state STOPPED; False when there is no such service."""
        response = self.request("PUT", f"/app/v1/services/{quote(name)}", json_body={"state": "STOPPED"})
        if response.status_code == 404:
            return False
        if response.status_code not in (200, 202, 204):
            self.fail(response, f"stop service {name!r}", name)
        return True

    def destroy_service(self, name: str) -> bool:
        """DELETE the service (its definition and HDFS dir); False when there is no such service."""
        response = self.request("DELETE", f"/app/v1/services/{quote(name)}")
        if response.status_code == 404:
            return False
        if response.status_code not in (200, 202, 204):
            self.fail(response, f"destroy service {name!r}", name)
        return True

    def list_apps(self, **filters: Any) -> list[dict]:
        response = self.request("GET", "/ws/v1/cluster/apps", params={k: v for k, v in filters.items() if v})
        if response.status_code != 200:
            self.fail(response, "list applications")
        return ((response.json() or {}).get("apps") or {}).get("app") or []

    def get_app(self, app_id: str) -> dict | None:
        response = self.request("GET", f"/ws/v1/cluster/apps/{quote(app_id)}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            self.fail(response, f"read application {app_id}")
        return response.json().get("app")

    def node_http_address(self, host: str) -> str | None:
        response = self.request("GET", "/ws/v1/cluster/nodes")
        if response.status_code != 200:
            self.fail(response, "list nodes")
        for node in ((response.json() or {}).get("nodes") or {}).get("node") or []:
            if host in (node.get("nodeHostName"), node.get("id", "").partition(":")[0]):
                return node.get("nodeHTTPAddress")
        return None


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
    follow_interval = Float(2.0, help="Seconds between reads while following a log.").tag(config=True)

    @default("rm_urls")
    def _default_rm_urls(self):
        env = os.environ.get("SUBMARINE_YARN_RM_URLS", "")
        return [u.strip() for u in env.split(",") if u.strip()] or ["http://localhost:8088"]

    @default("user")
    def _default_user(self):
        return _default_user()

    @default("link_templates")
    def _default_link_templates(self):
        return {"rm_app": "{rm}/cluster/app/{app_id}",
                "yarn_ui": "{rm}/ui2/#/yarn-app/{app_id}/components?service={service}",
                "logs": "{rm}/ui2/#/yarn-app/{app_id}/logs?service={service}"}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._client: ResourceManagerClient | None = None
        self._app_ids: dict[str, str] = {}
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

    def settings(self, placeholders: bool = False) -> ys.ServiceSettings:
        """The traits the service JSON needs, as plain data; with `placeholders` (dry runs) an unset registry
        DNS domain is written as a visible `<YarnRuntime.registry_dns_domain>`."""
        service_keytab = self.service_keytab
        domain = self.registry_dns_domain or (DOMAIN_PLACEHOLDER if placeholders else "")
        return ys.ServiceSettings(
            user=self.user, domain=domain, queue=self.queue, lifetime=self.lifetime,
            docker_java_home=self.docker_java_home, docker_hadoop_hdfs_home=self.docker_hadoop_hdfs_home,
            kerberos_principal=self.service_principal, kerberos_keytab=service_keytab, tf_port=self.tf_port,
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
        problems = ys.service_problems(spec, self.settings())
        if self.keytab and not self.principal:
            problems.append("YarnRuntime.keytab is set but YarnRuntime.principal is not: set both for kinit")
        return problems + self.missing_settings(spec)

    def bundle_problems(self, bundle_uri: str) -> list[str]:
        """YARN localizes each file from the bundle URI on the node that runs the container: a file:// root on
        this machine reaches no node (unless every node mounts it, `shared_file_storage`)."""
        if urlsplit(bundle_uri).scheme in ("", "file") and not self.shared_file_storage:
            return [f"the bundle would be stored at {bundle_uri}, on this machine, where YARN's NodeManagers "
                    "cannot fetch it: set SubmarineConfig.storage_root to an hdfs:// URL of the cluster (or set "
                    "YarnRuntime.shared_file_storage = True when every node mounts that folder)"]
        return []

    def missing_settings(self, spec: JobSpec) -> list[str]:
        missing = []
        if not self.rm_urls:
            missing.append("no ResourceManager is configured: set YarnRuntime.rm_urls = ['http://rm:8088']")
        if not self.registry_dns_domain:
            if spec.replica_count > 1:
                missing.append("a distributed job on YARN needs the registry DNS domain to find its replicas: set "
                               "YarnRuntime.registry_dns_domain (hadoop.registry.dns.domain-name of the cluster)")
            elif self.tensorboard and spec.checkpoint_path:
                missing.append("the TensorBoard quicklink needs the registry DNS domain: set "
                               "YarnRuntime.registry_dns_domain")
        return missing

    def service(self, spec: JobSpec, bundle: Bundle, bundle_uri: str, *, redact: bool = False) -> dict:
        """The Service JSON `submit` would POST (`redact`, for printing, hides secret-looking env values and
        writes placeholders for settings not configured yet)."""
        from ..secrets import redact_mapping

        return ys.build_service(spec, bundle.files, bundle_uri, self.settings(placeholders=redact),
                                env_view=redact_mapping if redact else None)

    def render(self, spec: JobSpec, bundle: Bundle, bundle_uri: str) -> str:
        """The service JSON and the equivalent classic Hadoop Submarine command line (secrets hidden)."""
        from ..secrets import redact_mapping

        spec = spec.replace(params=redact_mapping(spec.params))  # secret params are on the command lines too
        service = self.service(spec, bundle, bundle_uri, redact=True)
        classic = ys.classic_command(spec, bundle.files, bundle_uri, self.settings(placeholders=True),
                                     self.submarine_jar,
                                     env_view=redact_mapping)
        rm = self.rm_urls[0].rstrip("/") if self.rm_urls else RM_PLACEHOLDER
        return "\n".join([
            f"# YARN service {spec.name}: POST {rm}/app/v1/services",
            ys.service_json(service),
            "",
            "# the same job with Hadoop Submarine's command line:",
            classic,
        ])

    # -- submit ----------------------------------------------------------------------------------------
    def submit(self, spec: JobSpec, bundle: Bundle, bundle_uri: str) -> JobRef:
        """POST the service; the application id is kept when the RM reports it at once."""
        problems = self.check(spec)
        if problems:
            from ..errors import ValidationError

            raise ValidationError(problems)
        service = self.service(spec, bundle, bundle_uri)
        submitted_ms = int(time.time() * 1000)
        try:
            app_id = self.client.create_service(service)
        except ServiceNameTaken:
            # A retried POST whose first attempt created the service but lost the answer: our token in the
            # service's properties means "already submitted"; any other service keeps the name taken.
            token = ys.submission_token(service)
            existing = self.client.get_service(spec.name) if token else None
            if not token or ys.submission_token(existing) != token:
                raise
            app_id = str(existing.get("id") or "")
            app_id = app_id if _APP_ID.fullmatch(app_id) else ""
        return self._ref(spec, app_id, service, submitted_ms)

    def _ref(self, spec: JobSpec, app_id: str, service: Mapping, submitted_ms: int) -> JobRef:
        if app_id:
            self._app_ids[spec.name] = app_id
        extra = {
            "rm": self.client.active_url,
            "user": self.user,
            "submitted_ms": submitted_ms,
            "components": {p.name: [p.role, p.first_index, p.count] for p in ys.component_plan(spec)},
            "decider": f"{spec.deciding_role}-0",
        }
        if ys.TENSORBOARD_QUICKLINK in (service.get("quicklinks") or {}):
            extra["tensorboard"] = service["quicklinks"][ys.TENSORBOARD_QUICKLINK]
        return JobRef(self.name, spec.name, id=app_id, extra=extra)

    def find(self, spec: JobSpec, bundle_uri: str | None) -> JobRef | None:
        """The service this submission made (our token in its properties), or None: a service is one object,
        so there is nothing half-created to delete."""
        token = spec.labels.get(ys.SUBMISSION_LABEL)
        existing = retried(lambda: self.client.get_service(spec.name), f"looking for {spec.name}")
        if not token or existing is None or ys.submission_token(existing) != token:
            return None
        app_id = str(existing.get("id") or "")
        # an application older than the poll's listing window is then asked for alone
        return self._ref(spec, app_id if _APP_ID.fullmatch(app_id) else "", existing, int(time.time() * 1000))

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
                if service and _APP_ID.fullmatch(str(service.get("id", ""))):
                    self._app_ids[ref.name] = service["id"]
        known = [ref for ref in refs if self.app_id(ref)]
        apps: dict[str, dict] = {}
        if known:
            begin = [int(r.extra.get("submitted_ms", 0)) for r in known]
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
                status = self._status_from_app(ref, app)
                if self.poll_replicas and not status.terminal and ref.key not in services:
                    services[ref.key] = self.client.get_service(ref.name)
            else:
                status = self._status_from_service(ref, services.get(ref.key))
            if services.get(ref.key):
                status.replicas = self._replicas(ref, services[ref.key])
            statuses[ref.key] = status
        return statuses

    def _status_from_app(self, ref: JobRef, app: Mapping) -> JobStatus:
        state, final = str(app.get("state", "")), str(app.get("finalStatus", "UNDEFINED"))
        if state == "FINISHED":
            standard = _FINAL_STATES.get(final, JobState.UNKNOWN)
        else:
            standard = _APP_STATES.get(state, JobState.UNKNOWN)
            if state == "FAILED" or final == "FAILED":
                standard = JobState.FAILED
        raw = state if final in ("", "UNDEFINED") else f"{state}/{final}"
        links = self.links(ref)
        if app.get("trackingUrl"):
            links["tracking"] = app["trackingUrl"]
        if app.get("amContainerLogs"):
            links["am_logs"] = app["amContainerLogs"]
        return JobStatus(standard, raw, submitted=_iso(app.get("startedTime")), started=_iso(app.get("launchTime")),
                         finished=_iso(app.get("finishedTime")), message=one_line(app.get("diagnostics", ""), 1000),
                         links=links)

    def _status_from_service(self, ref: JobRef, service: Mapping | None) -> JobStatus:
        if service is None:
            return JobStatus(JobState.UNKNOWN, "not found", message=f"YARN knows no service {ref.name!r} "
                             "(destroyed, or never created)", links=self.links(ref))
        raw = str(service.get("state") or "ACCEPTED")
        return JobStatus(_SERVICE_STATES.get(raw, JobState.SUBMITTED), raw,
                         submitted=_iso(ref.extra.get("submitted_ms")), links=self.links(ref))

    def _plans(self, ref: JobRef) -> list[ys.ComponentPlan]:
        return [ys.ComponentPlan(name, role, first, count)
                for name, (role, first, count) in (ref.extra.get("components") or {}).items()]

    def _replicas(self, ref: JobRef, service: Mapping) -> list[ReplicaStatus]:
        plans = self._plans(ref)
        replicas = []
        for component in service.get("components") or []:
            for container in component.get("containers") or []:
                instance = container.get("component_instance_name", "")
                role_index = ys.role_of_instance(plans, instance)
                if role_index is None:
                    continue  # TensorBoard is not a training replica
                raw = str(container.get("state") or "")
                replicas.append(ReplicaStatus(f"{role_index[0]}-{role_index[1]}", role_index[0], role_index[1],
                                              _CONTAINER_STATES.get(raw, JobState.UNKNOWN), raw,
                                              host=container.get("bare_host") or container.get("hostname"),
                                              started=container.get("launch_time")))
        return sorted(replicas, key=lambda r: (r.role, r.index))

    def links(self, ref: JobRef) -> dict[str, str]:
        """RM application page, YARN UI2 component page, logs page and the TensorBoard quicklink."""
        links: dict[str, str] = {}
        app_id = self.app_id(ref)
        rm = str(ref.extra.get("rm") or (self.rm_urls[0] if self.rm_urls else "")).rstrip("/")
        if app_id and rm:
            fields = {"rm": rm, "app_id": app_id, "service": quote(ref.name), "user": quote(self.user)}
            for name, template in self.link_templates.items():
                try:
                    links[name] = template.format(**fields)
                except (KeyError, IndexError, ValueError):
                    raise SubmarineError(f"YarnRuntime.link_templates[{name!r}] = {template!r} uses an unknown "
                                         "field: use {rm}, {app_id}, {service} and {user}") from None
        if ref.extra.get("tensorboard"):
            links["tensorboard"] = ref.extra["tensorboard"]
        return links

    # -- logs ------------------------------------------------------------------------------------------
    def logs(self, ref: JobRef, replica: str | None = None, tail: int | None = None,
             follow: bool = False) -> Iterator[str]:
        """A container's log files through its NodeManager (`replica` is `worker-1` or `master-0`)."""
        service = retried(lambda: self.client.get_service(ref.name), f"reading the logs of {ref.name}")
        if service is None:
            raise JobNotFound(f"YARN knows no service {ref.name!r}: it was destroyed, its logs are in the RM UI")
        container_id, host = self._find_container(ref, service, replica)
        node = retried(lambda: self.client.node_http_address(host), f"reading the logs of {ref.name}")
        if not node:
            raise RuntimeFailure(f"the ResourceManager lists no NodeManager on {host}: open the logs link instead")
        scheme = urlsplit(self.client.active_url).scheme
        base = f"{scheme}://{node}/ws/v1/node/containerlogs/{container_id}"
        return self._read_logs(ref, base, tail, follow)

    def _find_container(self, ref: JobRef, service: Mapping, replica: str | None) -> tuple[str, str]:
        """(container id, host) of `replica`: a JobSpec replica name (`worker-1`) first, else a YARN
        component instance name (`master-0`, `tensorboard-0`)."""
        plans = self._plans(ref)
        wanted = replica or ref.extra.get("decider") or "master-0"
        by_replica, by_instance = {}, {}
        for component in service.get("components") or []:
            for container in component.get("containers") or []:
                name = container.get("component_instance_name", "")
                by_instance[name] = container
                role_index = ys.role_of_instance(plans, name)
                if role_index:
                    by_replica[f"{role_index[0]}-{role_index[1]}"] = container
        container = by_replica.get(wanted) or by_instance.get(wanted)
        if container is None:
            names = sorted(by_replica) or sorted(by_instance)
            raise SubmarineError(f"job {ref.name!r} has no running container {wanted!r} yet: use one of "
                                 f"{', '.join(names) or '(none started)'}")
        return container["id"], container.get("bare_host") or container.get("hostname", "")

    def _read_logs(self, ref: JobRef, base: str, tail: int | None, follow: bool) -> Iterator[str]:
        seen = {name: 0 for name in self.log_files}
        first = True
        while True:
            lines = []
            for name in self.log_files:
                text = retried(lambda n=name: self._read_log_file(f"{base}/{n}", n), f"reading log {name}")
                if text is None:
                    continue
                new = text[seen[name]:]
                seen[name] = len(text)
                lines.extend(new.splitlines())
            if first and tail:
                lines = lines[-tail:]
            first = False
            yield from lines
            if not follow or self.poll([ref])[ref.key].terminal:
                return
            time.sleep(self.follow_interval)

    def _read_log_file(self, url: str, name: str) -> str | None:
        """One container log file from its NodeManager (None when it has none)."""
        import requests

        try:
            response = self.client.session.get(url, params=self._user_params())
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"cannot reach the NodeManager for log {name} ({type(exc).__name__})") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            self.client.fail(response, f"read log {name}")
        return response.text

    def _user_params(self) -> dict:
        return {} if self.uses_kerberos or not self.user else {"user.name": self.user}

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
        problems = ys.name_problems(service_name, "TensorBoard name")
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
