"""Kerberos for the cluster's HTTP endpoints: a ticket (kinit with a keytab, or one the user already has)
and SPNEGO auth for requests.

`requests_gssapi` is an optional extra (`pip install 'submarine-kernel[kerberos]'`) and is imported only
here, only when Kerberos is switched on. `kinit` and `klist` are the MIT/Heimdal command-line tools, found
on PATH (or given as full paths).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass

from ..errors import SubmarineError

INSTALL_HINT = "pip install 'submarine-kernel[kerberos]'"


class KerberosError(SubmarineError):
    """No usable Kerberos ticket, or Kerberos support is not installed."""


def spnego_auth(service: str = "HTTP"):
    """A requests auth handler that does SPNEGO (HTTP Negotiate) with the current ticket cache."""
    try:
        from requests_gssapi import OPTIONAL, HTTPSPNEGOAuth
    except ImportError:
        raise KerberosError(f"Kerberos is switched on but requests-gssapi is not installed: {INSTALL_HINT} "
                            "(it needs the system's krb5/GSSAPI development files)") from None
    # Hadoop answers the first Negotiate with a mutual-auth token but later requests ride on the
    # hadoop.auth cookie without one; REQUIRED would reject those answers. TLS authenticates the server.
    _quiet_optional_mutual_auth()
    return HTTPSPNEGOAuth(mutual_authentication=OPTIONAL, target_name=service, opportunistic_auth=False)


class _ExpectedWithOptionalMutualAuth(logging.Filter):
    """requests-gssapi logs at ERROR "Mutual authentication unavailable on 404 response" for every error answer
    that carries no Negotiate token, which with OPTIONAL is what it should do: a missing service's 404 is an
    answer the runtime reads, and the user saw it as an error line. Demoted to DEBUG; a failed mutual
    authentication still logs at ERROR."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and "Mutual authentication unavailable" in record.getMessage():
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def _quiet_optional_mutual_auth() -> None:
    logger = logging.getLogger("requests_gssapi.gssapi_")
    if not any(isinstance(f, _ExpectedWithOptionalMutualAuth) for f in logger.filters):
        logger.addFilter(_ExpectedWithOptionalMutualAuth())


@dataclass
class KerberosLogin:
    """How to get a ticket: `kinit -kt keytab principal` when a keytab is given, else an existing one.

    `ensure()` is cheap after the first success; `renew()` runs kinit again (after a 401 that may mean the
    ticket expired). Nothing here ever reads or prints the keytab's content.
    """

    principal: str = ""
    keytab: str = ""
    kinit: str = "kinit"
    klist: str = "klist"
    ccache: str = ""

    def __post_init__(self):
        self._lock = threading.Lock()
        self._ready = False

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.ccache:
            env["KRB5CCNAME"] = self.ccache
        return env

    def ensure(self) -> None:
        """Make sure a ticket is there: kinit with the keytab once, or check the cache with `klist -s`."""
        with self._lock:
            if self._ready:
                return
            if self.keytab:
                self._kinit()
            else:
                self._check_cache()
            self._ready = True

    def renew(self) -> bool:
        """Get a fresh ticket from the keytab; False when there is no keytab to get one from."""
        with self._lock:
            if not self.keytab:
                self._ready = False
                return False
            self._kinit()
            self._ready = True
            return True

    def _tool(self, name: str) -> str:
        path = shutil.which(name)
        if path is None:
            raise KerberosError(f"the Kerberos tool {name!r} is not on PATH: install the krb5 client tools "
                                "(krb5-user / krb5-workstation) or give its full path")
        return path

    def _kinit(self) -> None:
        if not self.principal:
            raise KerberosError("a keytab is set but no principal: set the principal too (e.g. alice@EXAMPLE.COM)")
        if not os.path.isfile(self.keytab):
            raise KerberosError(f"the keytab {self.keytab!r} does not exist: fix the keytab path")
        try:
            done = subprocess.run([self._tool(self.kinit), "-kt", self.keytab, self.principal], env=self._env(),
                                  capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise KerberosError(f"kinit for {self.principal} did not finish in 60 s: "
                                "check the KDC in krb5.conf") from None
        if done.returncode != 0:
            reason = " ".join((done.stderr or done.stdout or "no output").split())
            raise KerberosError(f"kinit -kt {self.keytab} {self.principal} failed: {reason}")

    def _check_cache(self) -> None:
        try:
            done = subprocess.run([self._tool(self.klist), "-s"], env=self._env(), capture_output=True,
                                  timeout=30, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise KerberosError("klist -s did not finish in 30 s: check the ticket cache") from None
        if done.returncode != 0:
            who = self.principal or "YOUR_PRINCIPAL"
            raise KerberosError(f"no valid Kerberos ticket (missing or expired): run kinit {who}, "
                                "or configure a keytab so submarine-kernel can run kinit itself")


def is_gssapi_error(exc: BaseException) -> bool:
    """Whether an exception came from the GSSAPI layer (no credentials, expired ticket, unknown server)."""
    module = type(exc).__module__ or ""
    return module.split(".")[0] in ("gssapi", "requests_gssapi", "spnego", "krb5")
