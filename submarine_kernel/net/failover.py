"""The one high-availability fail-over loop: try each configured URL, remember the active one.

Hadoop runs its masters in HA pairs (ResourceManagers, NameNodes) with no load balancer in front, so a
client knows every URL and finds the active one itself. A connection error, a timeout or an answer the
caller calls a standby answer moves on to the next URL; the URL that answered is tried first next time.
Kerberos: the ticket is ensured before the first try, and a 401 from the active one gets one fresh ticket
(`kinit` again, when a keytab can give one) and one more try.
"""

from __future__ import annotations

import threading
from typing import Callable, Sequence

from .http import one_line
from .kerberos import KerberosError, KerberosLogin, is_gssapi_error


class Failover:
    """The active one of several equivalent URLs; `request` sends to it, failing over to the others."""

    def __init__(self, urls: Sequence[str], *, login: KerberosLogin | None = None,
                 kinit_hint: str = "run kinit and try again"):
        if not urls:
            raise ValueError("Failover needs at least one URL")
        self.urls = [u.rstrip("/") for u in urls]
        self.login = login
        #: what a GSSAPI failure tells the user to do ("run kinit (or set YarnRuntime.keytab) and try again")
        self.kinit_hint = kinit_hint
        self._active = 0
        self._lock = threading.Lock()

    @property
    def active_url(self) -> str:
        return self.urls[self._active]

    def request(self, send: Callable[[str], object], standby: Callable[[object], str],
                unreachable: Callable[[str], Exception]):
        """The first real answer of `send(url)`, trying the active URL first and then the others.

        `standby(response)` says why an answer is a standby's ('' for a real answer); when no URL gave a real
        answer, `unreachable(tried)` is raised, `tried` naming each URL and why it was passed over."""
        import requests

        if self.login is not None:
            self.login.ensure()
        with self._lock:
            start = self._active
        tried: list[str] = []

        def attempt(url: str):
            try:
                response = send(url)
            except (requests.ConnectionError, requests.Timeout) as exc:
                tried.append(f"{url} ({type(exc).__name__})")
                return None
            except Exception as exc:
                if is_gssapi_error(exc):
                    raise KerberosError(f"Kerberos authentication to {url} failed ({one_line(str(exc), 200)}): "
                                        f"{self.kinit_hint}") from None
                raise
            reason = standby(response)
            if reason:
                tried.append(f"{url} ({reason})")
                return None
            return response

        for offset in range(len(self.urls)):
            index = (start + offset) % len(self.urls)
            url = self.urls[index]
            response = attempt(url)
            if response is None:
                continue
            if getattr(response, "status_code", None) == 401 and self.login is not None and self.login.renew():
                response = attempt(url) or response  # the ticket may have expired: once more with a fresh one
            with self._lock:
                self._active = index
            return response
        raise unreachable("; ".join(tried))
