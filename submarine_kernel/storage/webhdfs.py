"""hdfs:// (and webhdfs:// / swebhdfs://) storage through WebHDFS, on fsspec's WebHDFS file system.

Registered with `submarine_kernel.storage.filesystems` the first time such a URL is used. Storage options (the
`SubmarineConfig.storage_options` dict, never printed):

| option             | meaning                                                                          |
|--------------------|----------------------------------------------------------------------------------|
| `namenodes`        | WebHDFS base URLs of every NameNode, e.g. `["https://nn1:9871", "https://nn2:9871"]`; |
|                    | default: the URL's host on 9870 (http) — an hdfs:// URL names the RPC port, not HTTP |
| `user`             | `user.name` for simple auth (default: HADOOP_USER_NAME or the login name)        |
| `proxy_user`       | `doas=` (act as another user; needs proxy-user rights)                           |
| `kerberos`         | SPNEGO with the current ticket (needs `submarine-kernel[kerberos]`)              |
| `principal`/`keytab` | run `kinit -kt keytab principal` first                                         |
| `delegation_token` | a Hadoop delegation token (`delegation=`; no user or Kerberos then)              |
| `verify`           | True (default), a CA bundle path, or False to switch TLS verification off        |
| `client_cert`      | PEM file (or [cert, key]) for mutual TLS                                         |
| `data_proxy`       | map DataNode addresses as fsspec's WebHDFS does (NAT, Docker)                    |
| `timeout`          | seconds per request                                                              |

NameNode HA (`net.failover`): requests go to the last NameNode that answered; a connection error or a
StandbyException moves to the next. Writes are atomic: data goes to a hidden temporary file that is then renamed, so a
half-written file (above all the bundle manifest, which marks a bundle complete) is never visible.
"""

from __future__ import annotations

import posixpath
import secrets
from typing import Any, Mapping
from urllib.parse import quote, urlsplit

from fsspec.implementations.webhdfs import WebHDFS

from ..errors import StorageError
from ..net.failover import Failover
from ..net.http import build_session, one_line
from ..secrets import redact_text
from ..net.kerberos import KerberosLogin, spnego_auth
from ..names import hadoop_user
from .filesystems import LAYOUT_OPTIONS, register_filesystem

DEFAULT_HTTP_PORT = 9870
DEFAULT_HTTPS_PORT = 9871
#: ports that are NameNode RPC ports in an hdfs:// URL, never WebHDFS
RPC_PORTS = (8020, 9000, 9820)
OPTIONS = ("namenodes", "user", "proxy_user", "kerberos", "principal", "keytab", "kinit", "klist",
           "delegation_token", "verify", "client_cert", "data_proxy", "timeout", "use_https")
_STANDBY = ("StandbyException", "RetriableException", "ObserverRetryOnActiveException")


class SubmarineWebHDFS(WebHDFS):
    """fsspec's WebHDFS with NameNode failover, SPNEGO through requests-gssapi, TLS options, redacted
    errors and atomic writes."""

    protocol = ("submarine-webhdfs",)  # keep fsspec's own "webhdfs" registration untouched

    def __init__(self, namenodes: list[str], *, user: str | None = None, proxy_user: str | None = None,
                 kerberos: bool = False, principal: str = "", keytab: str = "", kinit: str = "kinit",
                 klist: str = "klist", delegation_token: str | None = None, verify: bool | str = True,
                 client_cert: Any = None, data_proxy: Any = None, timeout: float = 60.0, **kwargs):
        if self._cached:
            return
        if not namenodes:
            raise StorageError("no WebHDFS NameNode to talk to: set storage option namenodes = ['http://nn:9870']")
        self.namenodes = [n.rstrip("/") for n in namenodes]
        self._verify = verify
        self._client_cert = client_cert
        self._timeout = timeout
        self._kerberos = bool(kerberos or keytab)
        self._login = KerberosLogin(principal=principal, keytab=keytab, kinit=kinit, klist=klist) \
            if self._kerberos else None
        self._failover = Failover(self.namenodes, login=self._login,
                                  kinit_hint="run kinit or set the keytab storage option")
        self._token = delegation_token
        first = urlsplit(self.namenodes[0])
        super().__init__(first.hostname, first.port or DEFAULT_HTTP_PORT, kerberos=False, token=delegation_token,
                         user=None if (delegation_token or self._kerberos) else user, proxy_to=proxy_user,
                         data_proxy=data_proxy, use_https=first.scheme == "https", **kwargs)
        self.url = f"{self.namenodes[0]}/webhdfs/v1"

    def _connect(self):
        """One ClusterSession for NameNodes and DataNodes (TLS options, SPNEGO, redacted errors)."""
        auth = spnego_auth() if self._kerberos else None
        self.session = build_session(verify=self._verify, client_cert=self._client_cert, auth=auth,
                                     timeout=self._timeout, secrets=[self._token or ""])

    def _call(self, op, method="get", path=None, data=None, redirect=True, **kwargs):
        """One WebHDFS operation on the active NameNode, failing over; RemoteExceptions become Python errors."""
        path = self._strip_protocol(path) if path is not None else ""
        params = {**kwargs, **self.pars, "op": op.upper()}

        def send(base: str):
            return self.session.request(method=method.upper(), params=params, data=data, allow_redirects=redirect,
                                        url=self._apply_proxy(f"{base}/webhdfs/v1" + quote(path, safe="/=")))

        out = self._failover.request(
            send, _standby_reason,
            lambda tried: ConnectionError(f"no active WebHDFS NameNode answered {op.upper()} {path}: tried "
                                          f"{tried}; check the namenodes storage option"))
        self.url = f"{self._failover.active_url}/webhdfs/v1"
        _raise_for(out, _remote_exception(out), op, path)
        return out

    # -- atomic writes ---------------------------------------------------------------------------------
    def pipe_file(self, path, value, mode="overwrite", **kwargs):
        """Write `value` to a hidden temporary file beside `path`, then RENAME it into place."""
        path = self._strip_protocol(path)
        parent, name = posixpath.split(path.rstrip("/"))
        temporary = posixpath.join(parent, f".{name}.{secrets.token_hex(8)}.tmp")
        self._create(temporary, bytes(value))
        try:
            if self.exists(path):
                if mode != "overwrite":
                    raise FileExistsError(path)
                self.rm(path)
            self.mv(temporary, path)
        except BaseException:
            try:
                self.rm(temporary)
            except (OSError, ValueError, RuntimeError):
                pass  # the original error matters more than a stray temporary file
            raise

    def _create(self, path: str, data: bytes) -> None:
        """CREATE in its two steps: the NameNode redirects (307), the data goes to the DataNode (201)."""
        out = self._call("CREATE", "put", path, redirect=False, overwrite="true")
        location = out.headers.get("Location")
        if not location:  # noredirect-style answer
            location = (out.json() or {}).get("Location")
        if not location:
            raise OSError(f"the NameNode gave no DataNode location for {path}")
        answer = self.session.put(self._apply_proxy(location), data=data,
                                  headers={"content-type": "application/octet-stream"})
        _raise_for(answer, _remote_exception(answer), "CREATE", path)

    def mv(self, path1, path2, **kwargs):
        """RENAME, failing loudly when HDFS answers {"boolean": false} (fsspec ignores it)."""
        out = self._call("RENAME", method="put", path=path1, destination=self._strip_protocol(path2))
        if out.json().get("boolean") is False:
            raise OSError(f"HDFS refused to rename {path1} to {path2} (missing source, or target exists)")

    def makedirs(self, path, exist_ok=False):
        if not exist_ok and self.exists(path):
            raise FileExistsError(path)
        out = self._call("MKDIRS", method="put", path=path)
        if out.json().get("boolean") is False:
            raise OSError(f"HDFS could not create the folder {path}")


def _standby_reason(response) -> str:
    """'standby' when a NameNode answered as a standby (or an observer sending writes on), else ''."""
    remote = _remote_exception(response)
    return "standby" if remote and remote[0] in _STANDBY else ""


def _remote_exception(response) -> tuple[str, str] | None:
    if response.status_code < 400:
        return None
    try:
        remote = response.json()["RemoteException"]
        return str(remote.get("exception", "")), str(remote.get("message", ""))
    except (ValueError, KeyError, TypeError):
        return None


def _raise_for(response, remote, op: str, path: str) -> None:
    """The Python exception fsspec and Storage expect for a WebHDFS error answer."""
    code = response.status_code
    if code < 400:
        return
    exception, message = remote or ("", one_line(response.text, 300))
    message = redact_text(message)
    if code == 401:
        raise PermissionError(f"WebHDFS refused the credentials for {op} {path} (401): use Kerberos (kinit), a "
                              "delegation token, or the right user.name")
    if exception in ("FileNotFoundException",) or code == 404:
        raise FileNotFoundError(message or path)
    if exception in ("AccessControlException", "SecurityException") or code == 403:
        raise PermissionError(message or f"{op} {path} is not allowed")
    if exception in ("FileAlreadyExistsException",):
        raise FileExistsError(message)
    if exception in ("IllegalArgumentException", "UnsupportedOperationException"):
        raise ValueError(message)
    raise OSError(f"WebHDFS {op} {path} failed ({code} {exception}): {message}")


def namenode_urls(url: str, options: Mapping[str, Any]) -> list[str]:
    """WebHDFS base URLs for `url`: the `namenodes` option, else the URL's host on the WebHDFS port."""
    given = options.get("namenodes")
    if isinstance(given, str):
        given = [n.strip() for n in given.split(",") if n.strip()]
    https = bool(options.get("use_https"))
    parts = urlsplit(url)
    if given:
        return [n if "://" in n else f"{'https' if https else 'http'}://{n}" for n in given]
    if not parts.hostname:
        raise StorageError(f"the storage URL {url!r} names no NameNode: write hdfs://namenode/path or set the "
                           "namenodes storage option")
    secure = parts.scheme == "swebhdfs" or https
    port = parts.port
    if parts.scheme == "hdfs" and (port is None or port in RPC_PORTS):
        port = DEFAULT_HTTPS_PORT if secure else DEFAULT_HTTP_PORT
    port = port or (DEFAULT_HTTPS_PORT if secure else DEFAULT_HTTP_PORT)
    return [f"{'https' if secure else 'http'}://{parts.hostname}:{port}"]


def open_hdfs(url: str, options: Mapping[str, Any]) -> tuple[SubmarineWebHDFS, str]:
    """The storage factory for hdfs://, webhdfs:// and swebhdfs:// URLs: (file system, path)."""
    options = {k: v for k, v in dict(options or {}).items() if k not in LAYOUT_OPTIONS}
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise StorageError(f"unknown hdfs storage option {unknown[0]!r}: use one of {', '.join(OPTIONS)}")
    if options.get("delegation_token") and (options.get("user") or options.get("kerberos") or options.get("keytab")):
        raise StorageError("a delegation token already says who you are: drop the user/kerberos storage options")
    user = options.get("user") or hadoop_user()
    fs = SubmarineWebHDFS(namenode_urls(url, options), user=user, proxy_user=options.get("proxy_user"),
                          kerberos=bool(options.get("kerberos")), principal=options.get("principal", ""),
                          keytab=options.get("keytab", ""), kinit=options.get("kinit", "kinit"),
                          klist=options.get("klist", "klist"), delegation_token=options.get("delegation_token"),
                          verify=options.get("verify", True), client_cert=options.get("client_cert"),
                          data_proxy=options.get("data_proxy"), timeout=float(options.get("timeout", 60.0)))
    return fs, urlsplit(url).path or "/"


for _protocol in ("hdfs", "webhdfs", "swebhdfs"):
    register_filesystem(_protocol, open_hdfs)
