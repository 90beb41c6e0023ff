"""The ResourceManager REST client: the services API (`/app/v1/services`) and the cluster API
(`/ws/v1/cluster`), over every RM of an HA pair (`net.failover`), with SPNEGO, and each error answer
translated into one line that says what it means and what to do.

A standby RM answers API calls with a redirect (Hadoop 3) or a 200 "This is standby RM" page (Hadoop 2):
both move on to the next RM.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence
from urllib.parse import quote, urlsplit

from ...errors import RuntimeFailure, SubmarineError, TransientError
from ...net.failover import Failover
from ...net.http import one_line
from ...net.kerberos import KerberosLogin

APP_ID = re.compile(r"application_\d+_\d+")
_REDIRECTS = (301, 302, 303, 307, 308)


class ResourceManagerUnreachable(TransientError):
    """No configured ResourceManager answered as the active one (retried: it may come back)."""


class YarnAuthError(RuntimeFailure):
    """The ResourceManager refused the credentials (401) or the action (403)."""


class ServiceNameTaken(RuntimeFailure):
    """A YARN service of that name exists already."""


class ServiceRejected(RuntimeFailure):
    """YARN refused the service definition (400)."""


#: what the Services API answers with 500 although retrying cannot help (ApiServer maps ServiceClient's
#: refusals to 500): asks over the scheduler's maximum allocation
_PERMANENT_500 = ("larger than configured max", "Invalid resource request")


def _diagnostics(response) -> str:
    """The server's explanation in one line: ServiceStatus.diagnostics, a RemoteException, Jackson's
    `{"exception", "message"}` (a body the Services API could not read, answered 404), or the text."""
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
        if body.get("exception") and body.get("message"):
            return one_line(f"{body['exception']}: {str(body['message']).splitlines()[0]}")
    return one_line(response.text)


class ResourceManagerClient:
    """ResourceManager REST calls with HA failover, SPNEGO and one-line errors."""

    def __init__(self, urls: Sequence[str], session, *, user: str = "", login: KerberosLogin | None = None):
        if not urls:
            raise SubmarineError("no ResourceManager is configured: set YarnRuntime.rm_urls = ['http://rm:8088']")
        self.failover = Failover(urls, login=login, kinit_hint="run kinit (or set YarnRuntime.keytab) and try again")
        self.urls = self.failover.urls
        self.session = session
        self.user = user
        self.login = login

    @property
    def active_url(self) -> str:
        return self.failover.active_url

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json_body: Any = None):
        """Send to the active RM, failing over to the others; return the first non-standby response."""
        params = dict(params or {})
        if self.login is None and self.user:
            params.setdefault("user.name", self.user)  # simple auth, as WebHDFS and the RM UI take it
        return self.failover.request(
            lambda url: self.session.request(method, url + path, params=params, json=json_body,
                                             allow_redirects=False),
            self._standby_reason,
            lambda tried: ResourceManagerUnreachable(f"no active ResourceManager answered {method} {path}: tried "
                                                     f"{tried}. Check YarnRuntime.rm_urls and that the RM is up"))

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
        if code == 400 or (code == 500 and any(text in why for text in _PERMANENT_500)):
            raise ServiceRejected(f"YARN rejected {action} ({code}): {why}")
        if code >= 500 or code == 429:  # an overloaded or restarting RM: may pass by itself, retried
            raise TransientError(f"the ResourceManager {self.active_url} failed to {action} ({code}): "
                                 f"{why or 'no details'}")
        raise RuntimeFailure(f"the ResourceManager {self.active_url} failed to {action} ({code}): "
                             f"{why or 'no details'}")

    def create_service(self, service: Mapping) -> str:
        """POST the service; return the application id when the RM reports it ('' when not yet)."""
        response = self.request("POST", "/app/v1/services", json_body=service)
        if response.status_code == 404 and "exception" in response.text[:200]:  # Jackson could not read it
            raise ServiceRejected(f"YARN could not read service {service['name']!r}: {_diagnostics(response)}")
        if response.status_code not in (200, 201, 202):
            self.fail(response, f"create service {service['name']!r}", service["name"])
        match = APP_ID.search(_diagnostics(response))
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
        # Hadoop 3.4 answers a missing service with 400 "Service X doesn't exist"
        if response.status_code == 404 or (response.status_code == 400 and "doesn't exist" in response.text):
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

    def app_attempts(self, app_id: str) -> list[dict]:
        """The application's attempts (each names its AM container and that container's NodeManager)."""
        response = self.request("GET", f"/ws/v1/cluster/apps/{quote(app_id)}/appattempts")
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            self.fail(response, f"read the attempts of application {app_id}")
        return ((response.json() or {}).get("appAttempts") or {}).get("appAttempt") or []

    def node_http_address(self, host: str) -> str | None:
        return self.node_http_addresses().get(host)

    def node_http_addresses(self) -> dict[str, str]:
        """Each NodeManager's web address (host:port) by its host name, from one nodes call."""
        response = self.request("GET", "/ws/v1/cluster/nodes")
        if response.status_code != 200:
            self.fail(response, "list nodes")
        found = {}
        for node in ((response.json() or {}).get("nodes") or {}).get("node") or []:
            address = node.get("nodeHTTPAddress")
            for host in (node.get("id", "").partition(":")[0], node.get("nodeHostName")):
                if host and address:
                    found[host] = address
        return found

    def node_jmx(self, node: str, query: str) -> dict:
        """A NodeManager's `/jmx?qry=...` answer (its own metrics), through the same session (SPNEGO too)."""
        import requests

        scheme = urlsplit(self.active_url).scheme
        try:
            response = self.session.get(f"{scheme}://{node}/jmx", params={"qry": query})
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"cannot reach the NodeManager {node} for its metrics ({type(exc).__name__})") \
                from None
        if response.status_code != 200:
            raise RuntimeFailure(f"the NodeManager {node} answered {response.status_code} for its metrics "
                                 f"(/jmx): {_diagnostics(response) or 'no details'}")
        return response.json()

    def read_log(self, url: str, name: str) -> str | None:
        """One container log file from its NodeManager (None when it has none)."""
        import requests

        params = {"user.name": self.user} if self.login is None and self.user else {}
        try:
            response = self.session.get(url, params=params)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"cannot reach the NodeManager for log {name} ({type(exc).__name__})") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            self.fail(response, f"read log {name}")
        return log_contents(response.text)


def log_contents(text: str) -> str:
    """The file itself from a NodeManager's log answer: Hadoop 3 wraps it in `Container: ...`, `LogType:`,
    `LogLength:`, `LogContents:` lines before and `End of LogType:<file>.` plus a row of stars after."""
    if not text.startswith("Container: ") or "\nLogContents:\n" not in text:
        return text
    body = text.split("\nLogContents:\n", 1)[1]
    return body.rpartition("End of LogType:")[0] if "End of LogType:" in body else body
