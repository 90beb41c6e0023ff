"""A ResourceManager stand-in for tests: the YARN Services API (`/app/v1/services`) and the RM REST API
(`/ws/v1/cluster/...`) on a real threaded HTTP server on 127.0.0.1, plus the NodeManager's container-log
endpoint.

It follows YARN where it matters to a client:
- every request body is validated against `yarn-services-api.yaml` (stricter than YARN: unknown fields are
  errors, so typos are caught) and against ServiceApiUtil's rules; a bad spec gets 400 with diagnostics;
- POST answers 202 `{"diagnostics": "Application ID: application_...", "state": "ACCEPTED", "uri": ...}`, a
  taken name 500 "Service name X is already taken.";
- a service moves ACCEPTED → STARTED → STABLE → SUCCEEDED or FAILED, driven by the test (`advance`) or by
  time (`timeline`), and its `id` appears in GET only after `app_id_delay` seconds;
- the RM application follows the service (ACCEPTED, RUNNING, FINISHED with SUCCEEDED/FAILED/ENDED);
- a standby RM answers like Hadoop 3 (307 + Location + "This is standby RM") or Hadoop 2 (200 + Refresh);
- auth: `user.name` (simple) and `Authorization: Negotiate <token>` (SPNEGO), 401 without, 403 for users
  not allowed to submit;
- faults for the retry tests (`fail_next`): answer a request with a 5xx before handling it, or handle it
  and then drop the connection without an answer (a lost response).
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from yarn_rules import schema_errors, yarn_rule_errors

CLUSTER_TS = 1700000000000
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    body: object = None
    headers: dict = field(default_factory=dict)


@dataclass
class ServiceRecord:
    spec: dict
    app_id: str
    user: str
    created: float
    seq: int
    state: str = "ACCEPTED"
    manual: bool = False
    destroyed: bool = False
    killed: bool = False
    finished: float = 0.0
    diagnostics: str = ""


class YarnTestServer:
    """Start with `start()`; `url` is the RM address; `requests` records every call."""

    def __init__(self, *, app_id_delay: float = 0.0, post_reports_app_id: bool = True,
                 timeline: dict[str, float] | None = None, standby: str | None = None, active_url: str = "",
                 require_user: bool = False, negotiate_users: dict[str, str] | None = None,
                 forbidden_users: tuple[str, ...] = (), secure: bool = False, definitions_dir: str = ""):
        self.app_id_delay = app_id_delay
        self.post_reports_app_id = post_reports_app_id
        self.timeline = timeline  # e.g. {"STARTED": 0.1, "STABLE": 0.2, "SUCCEEDED": 0.5} seconds after create
        self.standby = standby  # None, "hadoop3" or "hadoop2"
        self.active_url = active_url
        self.require_user = require_user
        self.negotiate_users = negotiate_users or {}
        self.forbidden_users = forbidden_users
        self.secure = secure
        # a folder standing for the default file system: YARN's ServiceClient keeps each service's definition
        # at /user/<user>/.yarn/services/<name>/<name>.json there until the service is destroyed
        self.definitions_dir = definitions_dir
        self.requests: list[Recorded] = []
        self.services: dict[str, ServiceRecord] = {}
        self.apps: dict[str, ServiceRecord] = {}
        self.container_logs: dict[tuple[str, str], str] = {}
        self.lock = threading.RLock()
        self.faults: list[list] = []  # [method, path prefix, 503 or "drop", times left]
        self._seq = 0
        self._httpd: ThreadingHTTPServer | None = None

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> "YarnTestServer":
        server = self

        class Handler(_Handler):
            yarn = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def node_address(self) -> str:
        return f"127.0.0.1:{self._httpd.server_address[1]}"

    # -- test controls -------------------------------------------------------------------------------
    def advance(self, name: str, state: str, diagnostics: str = "") -> None:
        """Move a service to `state` now (ACCEPTED, STARTED, STABLE, SUCCEEDED, FAILED, STOPPED)."""
        with self.lock:
            record = self.services[name]
            record.manual = True
            record.state = state
            record.diagnostics = diagnostics
            if state in TERMINAL and not record.finished:
                record.finished = time.time()

    def count(self, method: str | None = None, path_prefix: str = "") -> int:
        with self.lock:
            return sum(1 for r in self.requests if (method is None or r.method == method)
                       and r.path.startswith(path_prefix))

    def fail_next(self, method: str, path_prefix: str, fault: int | str = 503, times: int = 1) -> None:
        """The next `times` requests matching `method` and `path_prefix` get `fault`: an HTTP status sent
        before anything is done, or "drop": the request is handled and the connection closed unanswered."""
        with self.lock:
            self.faults.append([method, path_prefix, fault, times])

    def _take_fault(self, method: str, path: str) -> int | str | None:
        with self.lock:
            for fault in self.faults:
                if fault[0] == method and path.startswith(fault[1]) and fault[3] > 0:
                    fault[3] -= 1
                    return fault[2]
        return None

    def reset_counts(self) -> None:
        with self.lock:
            self.requests.clear()

    # -- model ---------------------------------------------------------------------------------------
    def _current_state(self, record: ServiceRecord) -> str:
        if record.manual or not self.timeline or record.state in TERMINAL and record.finished:
            return record.state
        elapsed = time.time() - record.created
        state = "ACCEPTED"
        for name, at in sorted(self.timeline.items(), key=lambda kv: kv[1]):
            if elapsed >= at:
                state = name
        if state in TERMINAL and not record.finished:
            record.finished = record.created + self.timeline[state]
        record.state = state
        return state

    def create(self, spec: dict, user: str) -> ServiceRecord:
        with self.lock:
            self._seq += 1
            record = ServiceRecord(spec=spec, app_id=f"application_{CLUSTER_TS}_{self._seq:04d}", user=user,
                                   created=time.time(), seq=self._seq)
            self.services[spec["name"]] = record
            self.apps[record.app_id] = record
            if self.definitions_dir:
                path = self.definition_file(spec["name"], user)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps({**spec, "id": record.app_id}, indent=2))
            return record

    def definition_file(self, name: str, user: str):
        from pathlib import Path

        return Path(self.definitions_dir) / "user" / user / ".yarn" / "services" / name / f"{name}.json"

    def service_view(self, record: ServiceRecord) -> dict:
        state = self._current_state(record)
        if state in TERMINAL:  # a real RM answers a finished service from its application report alone
            return {"name": record.spec["name"], "id": record.app_id, "lifetime": -1, "components": [],
                    "configuration": {"properties": {}, "env": {}, "files": []}, "state": state,
                    "quicklinks": {}, "kerberos_principal": {}, "dependencies": []}
        view = copy.deepcopy(record.spec)
        view["state"] = state
        if time.time() - record.created >= self.app_id_delay:
            view["id"] = record.app_id
        for comp in view.get("components", []):
            containers = []
            if state not in ("ACCEPTED",):
                for i in range(comp.get("number_of_containers", 0)):
                    instance = f"{comp['name']}-{i}"
                    cstate = {"STARTED": "RUNNING_BUT_UNREADY", "STABLE": "READY"}.get(state)
                    if cstate is None:
                        cstate = state if comp["name"] == "master" else "STOPPED"
                    containers.append({
                        "id": self.container_id(record, comp["name"], i),
                        "component_instance_name": instance,
                        "state": cstate,
                        "hostname": f"{instance}.{record.spec['name']}.{record.user}.test.example",
                        "bare_host": "127.0.0.1",
                        "ip": "127.0.0.1",
                        "launch_time": int(record.created * 1000),  # milliseconds, as a real RM writes it
                    })
            comp["containers"] = containers
            comp["state"] = {"SUCCEEDED": "SUCCEEDED", "FAILED": "FAILED"}.get(state, "STABLE")
        return view

    def container_id(self, record: ServiceRecord, component: str, index: int) -> str:
        names = [c["name"] for c in record.spec.get("components", [])]
        number = 2 + sum(c.get("number_of_containers", 0) for c in record.spec["components"][:names.index(component)]) + index
        return f"container_e01_{CLUSTER_TS}_{record.seq:04d}_01_{number:06d}"

    def app_view(self, record: ServiceRecord) -> dict:
        state = self._current_state(record)
        if record.killed:
            rm_state, final = "KILLED", "KILLED"
        else:
            rm_state, final = {"ACCEPTED": ("ACCEPTED", "UNDEFINED"), "STARTED": ("RUNNING", "UNDEFINED"),
                               "STABLE": ("RUNNING", "UNDEFINED"), "SUCCEEDED": ("FINISHED", "SUCCEEDED"),
                               "FAILED": ("FINISHED", "FAILED"), "STOPPED": ("FINISHED", "ENDED")}[state]
        started = int(record.created * 1000)
        finished = int(record.finished * 1000) if record.finished and rm_state in ("FINISHED", "KILLED") else 0
        tags = [f"name: {record.spec['name']}"]  # a real 3.4 RM's only tag for a service
        app = {
            "id": record.app_id, "user": record.user, "name": record.spec["name"],
            "queue": record.spec.get("queue", "default"), "state": rm_state, "finalStatus": final,
            "progress": 100.0 if finished else 0.0,
            "trackingUI": "History" if finished else "ApplicationMaster",
            "trackingUrl": f"{self.url}/proxy/{record.app_id}/", "diagnostics": record.diagnostics,
            "clusterId": CLUSTER_TS, "applicationType": "yarn-service", "applicationTags": ",".join(tags).lower(),
            "priority": 0, "startedTime": started, "launchTime": started + 500 if rm_state != "ACCEPTED" else 0,
            "finishedTime": finished, "elapsedTime": (finished or int(time.time() * 1000)) - started,
            "amContainerLogs": f"http://{self.node_address}/node/containerlogs/"
                               f"{self.container_id_am(record)}/{record.user}",
            "amHostHttpAddress": self.node_address, "allocatedMB": -1, "allocatedVCores": -1,
            "runningContainers": 0 if finished else 1,
        }
        if rm_state == "ACCEPTED":  # a real RM lists only outstanding requests, none once all are given
            app["resourceRequests"] = [{"priority": 0}]
        return app

    @staticmethod
    def container_id_am(record: ServiceRecord) -> str:
        return f"container_e01_{CLUSTER_TS}_{record.seq:04d}_01_000001"


class _Handler(BaseHTTPRequestHandler):
    yarn: YarnTestServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep pytest output clean
        pass

    # -- plumbing ------------------------------------------------------------------------------------
    def _send(self, code: int, body=None, *, content_type: str = "application/json", headers: dict | None = None):
        if getattr(self, "_drop", False):  # handled, but the answer is lost: close without a word
            import socket

            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if body is None:
            data = b""
        elif isinstance(body, (bytes, str)):
            data = body.encode() if isinstance(body, str) else body
        else:
            data = json.dumps(body).encode()
        self.send_response(code)
        if data or content_type:
            self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code: int, diagnostics: str, state: str | None = None):
        body = {"diagnostics": diagnostics}
        if state:
            body["state"] = state
        self._send(code, body)

    def _jackson(self, problem: str):
        """How a real RM (3.4.2) answers a body Jackson cannot map onto its records: 404, not 400."""
        kind = "UnrecognizedPropertyException" if "Additional properties" in problem else "InvalidFormatException"
        self._send(404, {"exception": kind, "message": problem,
                         "javaClassName": f"com.fasterxml.jackson.databind.exc.{kind}"})

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return raw

    def _handle(self, method: str):
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        raw = self._read_body()
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        server = self.yarn
        with server.lock:
            server.requests.append(Recorded(method, path, query, body, dict(self.headers)))
        fault = server._take_fault(method, path)
        self._drop = fault == "drop"
        if isinstance(fault, int):
            return self._send(fault, "<html><body>Error %d Service Unavailable</body></html>" % fault,
                              content_type="text/html")
        if server.standby and path not in ("/ws/v1/cluster/info", "/cluster"):
            return self._standby(path, parts.query)
        user = self._authenticate(path, query)
        if user is None:
            return
        if path.startswith("/app/v1/services"):
            return self._services(method, path, body, raw, user)
        if path.startswith("/ws/v1/cluster"):
            return self._cluster(method, path, query)
        if path.startswith("/ws/v1/node/containerlogs/"):
            return self._container_log(path)
        if path == "/jmx":
            return self._node_jmx()
        if path == "/cluster" or path.startswith("/cluster/app/"):
            return self._send(200, "<html><body>ResourceManager</body></html>", content_type="text/html")
        self._send(404, {"RemoteException": {"exception": "NotFoundException", "message": f"no resource {path}",
                                             "javaClassName": "org.apache.hadoop.yarn.webapp.NotFoundException"}})

    do_GET = lambda self: self._handle("GET")  # noqa: E731
    do_POST = lambda self: self._handle("POST")  # noqa: E731
    do_PUT = lambda self: self._handle("PUT")  # noqa: E731
    do_DELETE = lambda self: self._handle("DELETE")  # noqa: E731

    def _standby(self, path: str, query: str):
        target = self.yarn.active_url + path + (f"?{query}" if query else "")
        if self.yarn.standby == "hadoop2":
            return self._send(200, f"This is standby RM. Redirecting to the current active RM: {target}\n",
                              content_type="text/plain;charset=utf-8", headers={"Refresh": f"3; url={target}"})
        self._send(307, f"This is standby RM. The redirect url is: {target}\n",
                   content_type="text/plain;charset=utf-8", headers={"Location": target})

    def _authenticate(self, path: str, query: dict) -> str | None:
        server = self.yarn
        header = self.headers.get("Authorization", "")
        if server.negotiate_users:
            token = header.partition("Negotiate ")[2].strip()
            if token in server.negotiate_users:
                return server.negotiate_users[token]
            self._send(401, "<html><body>Error 401 Authentication required</body></html>", content_type="text/html",
                       headers={"WWW-Authenticate": "Negotiate"})
            return None
        user = query.get("user.name")
        if not user and server.require_user and (path.startswith("/app/") or path.startswith("/ws/")):
            self._send(401, "<html><body>Error 401 Authentication required</body></html>", content_type="text/html")
            return None
        return user or "dr.who"

    # -- services API --------------------------------------------------------------------------------
    def _services(self, method: str, path: str, body, raw: bytes, user: str):
        server = self.yarn
        rest = path[len("/app/v1/services"):].strip("/")
        if method == "POST" and not rest:
            if not isinstance(body, dict):
                return self._status(400, "Unrecognized or malformed JSON body")
            problems = schema_errors(body)
            if problems:
                return self._jackson(problems[0])
            problems = yarn_rule_errors(body, server.secure)
            if problems:
                return self._status(400, problems[0])
            if user in server.forbidden_users:
                return self._status(403, f"User {user} cannot submit applications to queue "
                                         f"root.{body.get('queue', 'default')}")
            with server.lock:
                existing = server.services.get(body["name"])
                if existing is not None and not existing.destroyed:
                    return self._status(500, f"Service name {body['name']} is already taken.")
                record = server.create(body, user)
            diagnostics = f"Application ID: {record.app_id}" if server.post_reports_app_id else ""
            return self._send(202, {"diagnostics": diagnostics, "state": "ACCEPTED",
                                    "uri": f"/app/v1/services/{body['name']}"})
        if method == "GET" and rest == "version":
            return self._send(200, {"hadoop_version": "3.4.2 from 84e8b89ee2ebe6923691205b9e171badde7a495c by "
                                                      "ahmarsu source checksum fa94c67d4b4be021b9e9515c9b0f7b6"})
        if method == "GET" and not rest:
            with server.lock:
                return self._send(200, [server.service_view(r) for r in server.services.values() if not r.destroyed])
        name = rest.split("/")[0]
        with server.lock:
            record = server.services.get(name)
            if record is None or record.destroyed:  # each method answers a missing service its own way
                if method == "DELETE":
                    return self._status(400, f"Service {name} doesn't exist")
                if method == "PUT":
                    return self._status(404, f"File does not exist: /user/{user}/.yarn/services/{name}/{name}.json")
                return self._send(404, {"diagnostics": f"Service {name} not found", "code": 404004})
            if method == "GET":
                return self._send(200, server.service_view(record))
            if method == "PUT":
                if not isinstance(body, dict):
                    return self._status(400, "Unrecognized or malformed JSON body")
                problems = schema_errors(body, partial=True)
                if problems:
                    return self._jackson(problems[0])
                if body.get("state") == "STOPPED":
                    if server._current_state(record) in TERMINAL:
                        return self._status(200, f"Service {name} is already stopped.", "STOPPED")
                    server.advance(name, "STOPPED", f"Service {name} stopped by user {user}")
                    return self._status(200, f"Service {name} is successfully stopped.", "STOPPED")
                return self._status(400, "Only the desired state STOPPED is supported by this test server")
            if method == "DELETE":
                if server._current_state(record) not in TERMINAL:
                    record.killed = True
                    server.advance(name, "STOPPED", "destroyed")
                record.destroyed = True
                if server.definitions_dir:
                    import shutil

                    shutil.rmtree(server.definition_file(name, record.user).parent, ignore_errors=True)
                return self._status(200, f"Successfully destroyed service {name}")
        self._status(405, f"{method} is not supported on {path}")

    # -- RM REST API ---------------------------------------------------------------------------------
    def _cluster(self, method: str, path: str, query: dict):
        server = self.yarn
        if method != "GET":
            return self._status(405, f"{method} is not supported on {path}")
        if path == "/ws/v1/cluster/info":
            return self._send(200, {"clusterInfo": {
                "id": CLUSTER_TS, "startedOn": CLUSTER_TS, "state": "STARTED",
                "haState": "STANDBY" if server.standby else "ACTIVE", "resourceManagerVersion": "3.3.6",
                "hadoopVersion": "3.3.6", "haZooKeeperConnectionState": "CONNECTED"}})
        if path == "/ws/v1/cluster/nodes":
            return self._send(200, {"nodes": {"node": [{
                "id": "127.0.0.1:45454", "nodeHostName": "127.0.0.1", "nodeHTTPAddress": server.node_address,
                "state": "RUNNING", "rack": "/default-rack"}]}})
        if path == "/ws/v1/cluster/apps":
            with server.lock:
                apps = [server.app_view(r) for r in server.apps.values()]
            return self._send(200, {"apps": {"app": _filter_apps(apps, query)} if _filter_apps(apps, query) else None})
        match = re.fullmatch(r"/ws/v1/cluster/apps/([^/]+)", path)
        if match:
            with server.lock:
                record = server.apps.get(match.group(1))
                if record is not None:
                    return self._send(200, {"app": server.app_view(record)})
            return self._send(404, {"RemoteException": {
                "exception": "NotFoundException", "message": f"java.lang.Exception: app with id: {match.group(1)} "
                                                             "not found",
                "javaClassName": "org.apache.hadoop.yarn.webapp.NotFoundException"}})
        self._send(404, {"RemoteException": {"exception": "NotFoundException", "message": f"no resource {path}",
                                             "javaClassName": "org.apache.hadoop.yarn.webapp.NotFoundException"}})

    def _node_jmx(self):
        """The NodeManager's `/jmx` (any `qry`): a ContainerResource bean per container of a running service,
        with the keys and units Hadoop 3.4.2's answered in the real-cluster test (values made up)."""
        server = self.yarn
        beans = []
        with server.lock:
            views = [server.service_view(r) for r in server.apps.values()]
        for view in views:
            for component in view.get("components", []):
                for container in component.get("containers", []):
                    beans.append({"name": f"Hadoop:service=NodeManager,name=ContainerResource_{container['id']}",
                                  "modelerType": f"ContainerResource_{container['id']}",
                                  "tag.ContainerResource": container["id"], "PMemUsageMBsIMaxMBs": 120.0,
                                  "PMemUsageMBsMaxMBs": 128.0, "PCpuUsagePercentIMaxPercents": 80.0,
                                  "PCpuUsagePercentMaxPercents": 95.0, "pMemLimitMBs": 2048})
        self._send(200, {"beans": beans})

    def _container_log(self, path: str):
        _, _, rest = path.partition("/ws/v1/node/containerlogs/")
        container, _, name = rest.partition("/")
        text = self.yarn.container_logs.get((container, name))
        if text is None:
            return self._send(404, {"RemoteException": {"exception": "NotFoundException",
                                                        "message": f"Cannot find this log on the local disk: {name}",
                                                        "javaClassName": "org.apache.hadoop.yarn.webapp.NotFoundException"}})
        # a real NodeManager (3.4) wraps the file in these lines
        wrapped = (f"Container: {container} on 127.0.0.1:45454\nLogAggregationType: LOCAL\n{'=' * 68}\n"
                   f"LogType:{name}\nLogLastModifiedTime:Mon Dec 07 03:00:14 +0000 2026\n"
                   f"LogLength:{len(text.encode())}\nLogContents:\n{text}End of LogType:{name}.\n{'*' * 75}\n\n")
        self._send(200, wrapped, content_type="text/plain")


def _filter_apps(apps: list[dict], query: dict) -> list[dict]:
    """The RM's /ws/v1/cluster/apps filters (RMWebServices.getApps)."""
    out = []
    states = {s.strip().upper() for s in query.get("states", "").split(",") if s.strip()}
    types = {t.strip().lower() for t in query.get("applicationTypes", "").split(",") if t.strip()}
    tags = {t.strip().lower() for t in query.get("applicationTags", "").split(",") if t.strip()}
    for app in apps:
        if states and app["state"] not in states:
            continue
        if query.get("finalStatus") and app["finalStatus"] != query["finalStatus"].upper():
            continue
        if query.get("user") and app["user"] != query["user"]:
            continue
        if query.get("queue") and app["queue"] != query["queue"]:
            continue
        if types and app["applicationType"].lower() not in types:
            continue
        if tags and not tags & set(app["applicationTags"].split(",")):
            continue
        if query.get("startedTimeBegin") and app["startedTime"] < int(query["startedTimeBegin"]):
            continue
        if query.get("startedTimeEnd") and app["startedTime"] > int(query["startedTimeEnd"]):
            continue
        if query.get("name") and app["name"] != query["name"]:
            continue
        app = dict(app)
        if "resourceRequests" in query.get("deSelects", ""):
            app.pop("resourceRequests", None)
        out.append(app)
    if query.get("limit"):
        out = out[: int(query["limit"])]
    return out
