"""One way to build the requests Session that talks to a Hadoop cluster (YARN ResourceManager, WebHDFS).

TLS verification is on unless switched off explicitly; Kerberos (SPNEGO) is added through
`submarine_kernel.net.kerberos` only when asked for. Secrets that travel in URLs (`delegation=`, `token=`) are
removed from every exception message and from `Response.url`, because the callers format those into the
one-line errors users see.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

import requests

from ..errors import SubmarineError
from ..secrets import redact_text

DEFAULT_TIMEOUT = 30.0


class ClusterSession(requests.Session):
    """A requests Session with a default timeout whose errors never carry secrets.

    `requests` puts the full URL (query included) into connection errors and HTTPError messages; a
    WebHDFS delegation token lives in that query, so both are redacted here, once, for every caller.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT):
        super().__init__()
        self.timeout = timeout
        self.secrets: set[str] = set()

    def request(self, method, url, *args, **kwargs):  # noqa: D401 - same contract as requests.Session
        kwargs.setdefault("timeout", self.timeout)
        # Per request, so that REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE cannot silently replace an explicit opt-out
        # or CA bundle: requests lets those variables override Session.verify (psf/requests#3829).
        kwargs.setdefault("verify", self.verify)
        try:
            response = super().request(method, url, *args, **kwargs)
        except requests.RequestException as exc:
            message = redact_text(str(exc), self.secrets)
            raise type(exc)(message, response=getattr(exc, "response", None)) from None
        response.url = redact_text(response.url, self.secrets)
        return response


def build_session(*, verify: bool | str = True, client_cert: str | tuple[str, str] | None = None,
                  auth: Any = None, timeout: float = DEFAULT_TIMEOUT, secrets: Iterable[str] = ()) -> ClusterSession:
    """A ClusterSession with TLS options and an optional requests auth handler.

    `verify` is True (system CA bundle), a path to a CA bundle, or False to switch verification off, which
    must be asked for explicitly (never the default). `client_cert` is a PEM file or a (cert, key) pair.
    """
    if verify is None or verify == "":
        verify = True
    if isinstance(verify, str) and verify.lower() in ("true", "false"):
        verify = verify.lower() == "true"
    if not isinstance(verify, (bool, str)):
        raise SubmarineError(f"TLS verify must be True, False or a CA bundle path, not {verify!r}")
    session = ClusterSession(timeout=timeout)
    session.verify = verify
    if verify is False:
        import urllib3

        # The user switched verification off on purpose; one warning per request would drown the notebook.
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    if client_cert:
        session.cert = tuple(client_cert) if isinstance(client_cert, (list, tuple)) else client_cert
    if auth is not None:
        session.auth = auth
    session.secrets.update(s for s in secrets if s)
    session.headers["User-Agent"] = "submarine-kernel"
    return session


def one_line(text: str, limit: int = 400) -> str:
    """Server text (JSON message, HTML page, Java stack) as one short line for an error message."""
    text = re.sub(r"<[^>]+>", " ", str(text or ""))
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."
