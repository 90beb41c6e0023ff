"""Kerberos paths with the GSSAPI layer replaced at its boundary: a fake `requests_gssapi` module (whose
HTTPSPNEGOAuth reads the ticket cache the way GSSAPI would) and fake `kinit`/`klist` executables on PATH."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import requests

from submarine_kernel.algorithm import Bundle
from submarine_kernel.net.kerberos import INSTALL_HINT, KerberosError, KerberosLogin, spnego_auth
from submarine_kernel.job_types import JobRef
from submarine_kernel.runtimes.yarn import YarnRuntime
from submarine_kernel.spec import build_spec
from submarine_kernel.storage import open_filesystem

from webhdfs_server import WebHdfsTestServer
from yarn_server import YarnTestServer

FAKE_KINIT = """#!/bin/sh
# kinit -kt KEYTAB PRINCIPAL: "authenticate" when the keytab names the principal, write the cache
[ "$1" = "-kt" ] || { echo "kinit: fake supports -kt only" >&2; exit 2; }
grep -qx "$3" "$2" 2>/dev/null || { echo "kinit: Password incorrect while getting initial credentials" >&2; exit 1; }
echo "$3" > "${KRB5CCNAME#FILE:}"
echo "$3" >> "$(dirname "${KRB5CCNAME#FILE:}")/kinit.calls"
"""
FAKE_KLIST = """#!/bin/sh
# klist -s: succeed only with an unexpired cache
cache="${KRB5CCNAME#FILE:}"
[ -s "$cache" ] && ! grep -q EXPIRED "$cache"
"""


class SPNEGOExchangeError(Exception):
    """What requests_gssapi raises when GSSAPI has no credentials."""


SPNEGOExchangeError.__module__ = "requests_gssapi.exceptions"


class FakeSPNEGOAuth(requests.auth.AuthBase):
    """Stands where requests_gssapi.HTTPSPNEGOAuth would: a Negotiate token from the current ticket cache."""

    instances: list["FakeSPNEGOAuth"] = []

    def __init__(self, mutual_authentication=None, target_name="HTTP", opportunistic_auth=False, **_):
        self.mutual_authentication = mutual_authentication
        self.target_name = target_name
        FakeSPNEGOAuth.instances.append(self)

    def __call__(self, request):
        import os

        cache = Path(os.environ["KRB5CCNAME"].removeprefix("FILE:"))
        principal = cache.read_text().strip() if cache.exists() else ""
        if not principal or "EXPIRED" in principal:
            raise SPNEGOExchangeError("gss_init_sec_context: No Kerberos credentials available (ticket expired?)")
        request.headers["Authorization"] = f"Negotiate token-for-{principal}"
        return request


@pytest.fixture
def gssapi(monkeypatch, tmp_path):
    """Fake requests_gssapi importable, fake kinit/klist first on PATH, a private ticket cache."""
    module = types.ModuleType("requests_gssapi")
    module.HTTPSPNEGOAuth = FakeSPNEGOAuth
    module.OPTIONAL, module.REQUIRED, module.DISABLED = 2, 1, 3
    monkeypatch.setitem(sys.modules, "requests_gssapi", module)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("kinit", FAKE_KINIT), ("klist", FAKE_KLIST)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    cache = tmp_path / "krb5cc"
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{cache}")
    keytab = tmp_path / "alice.keytab"
    keytab.write_text("alice@EXAMPLE.COM\n")
    FakeSPNEGOAuth.instances.clear()
    return types.SimpleNamespace(cache=cache, keytab=keytab, calls=tmp_path / "kinit.calls")


@pytest.fixture
def secure_yarn():
    server = YarnTestServer(negotiate_users={"token-for-alice@EXAMPLE.COM": "alice"}).start()
    yield server
    server.stop()


def kerberized_runtime(server, **traits) -> YarnRuntime:
    return YarnRuntime(rm_urls=[server.url], user="alice", kerberos=True, registry_dns_domain="example.com", **traits)


SPEC = build_spec("secure-job", framework="pytorch", workers=1, command="python train.py", image="pt:2")
BUNDLE = Bundle({"train.py": b""})


def test_spnego_with_an_existing_ticket(gssapi, secure_yarn):
    gssapi.cache.write_text("alice@EXAMPLE.COM\n")
    rt = kerberized_runtime(secure_yarn, service_principal="alice/_HOST@EXAMPLE.COM",
                            service_keytab="file:///etc/security/keytabs/alice.keytab")
    ref = rt.submit(SPEC, BUNDLE, "hdfs://nn/b/1")
    assert ref.id and secure_yarn.services["secure-job"].user == "alice"
    posted = [r for r in secure_yarn.requests if r.method == "POST"][0]
    assert "user.name" not in posted.query  # Kerberos says who we are
    assert posted.body["kerberos_principal"]["principal_name"] == "alice/_HOST@EXAMPLE.COM"
    assert FakeSPNEGOAuth.instances[0].mutual_authentication == 2  # OPTIONAL, see kerberos.spnego_auth
    assert not gssapi.calls.exists()  # no keytab: kinit never runs


def test_missing_or_expired_ticket_is_a_clear_error(gssapi, secure_yarn):
    rt = kerberized_runtime(secure_yarn, principal="alice@EXAMPLE.COM")
    with pytest.raises(KerberosError, match="no valid Kerberos ticket .*run kinit alice@EXAMPLE.COM"):
        rt.submit(SPEC, BUNDLE, "hdfs://nn/b/1")
    assert secure_yarn.count() == 0
    gssapi.cache.write_text("EXPIRED alice@EXAMPLE.COM\n")
    with pytest.raises(KerberosError, match="missing or expired"):
        kerberized_runtime(secure_yarn).submit(SPEC, BUNDLE, "hdfs://nn/b/1")


def test_keytab_runs_kinit_and_renews_after_401(gssapi, secure_yarn):
    rt = kerberized_runtime(secure_yarn, principal="alice@EXAMPLE.COM", keytab=str(gssapi.keytab))
    ref = rt.submit(SPEC, BUNDLE, "hdfs://nn/b/1")
    assert gssapi.calls.read_text().split() == ["alice@EXAMPLE.COM"]
    # the ticket is swapped for one the RM does not accept: 401, kinit again, retried once
    gssapi.cache.write_text("stranger@EXAMPLE.COM\n")
    secure_yarn.reset_counts()
    rt.poll([ref])
    assert gssapi.calls.read_text().split() == ["alice@EXAMPLE.COM", "alice@EXAMPLE.COM"]
    assert secure_yarn.count() == 2


def test_kinit_failures_say_what_to_fix(gssapi, secure_yarn, tmp_path):
    wrong = tmp_path / "bob.keytab"
    wrong.write_text("bob@EXAMPLE.COM\n")
    with pytest.raises(KerberosError, match="kinit -kt .* alice@EXAMPLE.COM failed: kinit: Password incorrect"):
        kerberized_runtime(secure_yarn, principal="alice@EXAMPLE.COM", keytab=str(wrong)).submit(
            SPEC, BUNDLE, "hdfs://nn/b/1")
    with pytest.raises(KerberosError, match="does not exist"):
        KerberosLogin(principal="alice@EXAMPLE.COM", keytab=str(tmp_path / "nope.keytab")).ensure()
    with pytest.raises(KerberosError, match="not on PATH"):
        KerberosLogin(principal="a@B", keytab=str(gssapi.keytab), kinit="no-such-kinit").ensure()
    assert "keytab is set but YarnRuntime.principal is not" in " ".join(
        kerberized_runtime(secure_yarn, keytab=str(gssapi.keytab)).check(SPEC))


def test_gssapi_errors_become_kerberos_errors(gssapi, secure_yarn):
    gssapi.cache.write_text("alice@EXAMPLE.COM\n")
    rt = kerberized_runtime(secure_yarn)
    rt.client.login.ensure()  # klist -s passes; then the credentials vanish under GSSAPI
    gssapi.cache.unlink()
    with pytest.raises(KerberosError, match="Kerberos authentication to .* failed .*No Kerberos credentials"):
        rt.poll([JobRef("yarn", "x", "application_1_1")])


def test_webhdfs_with_spnego(gssapi):
    server = WebHdfsTestServer(negotiate_users={"token-for-alice@EXAMPLE.COM": "alice"}).start()
    try:
        fs, _ = open_filesystem("hdfs://nn/", {"namenodes": [server.url], "kerberos": True,
                                               "principal": "alice@EXAMPLE.COM", "keytab": str(gssapi.keytab)})
        fs.makedirs("/user/alice", exist_ok=True)
        fs.pipe_file("/user/alice/f.txt", b"secure")
        assert server.nodes["/user/alice/f.txt"].owner == "alice" and server.read("/user/alice/f.txt") == b"secure"
        assert all("user.name" not in r.query for r in server.requests)
        assert gssapi.calls.read_text().split() == ["alice@EXAMPLE.COM"]
    finally:
        server.stop()


def test_without_requests_gssapi_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "requests_gssapi", None)  # import fails as if not installed
    with pytest.raises(KerberosError) as error:
        spnego_auth()
    assert INSTALL_HINT in str(error.value)
    with pytest.raises(KerberosError, match=r"submarine-kernel\[kerberos\]"):
        YarnRuntime(rm_urls=["http://rm:8088"], kerberos=True).client  # noqa: B018


def test_requests_gssapi_is_not_imported_without_kerberos():
    import subprocess

    code = ("import sys, submarine_kernel.runtimes.yarn, submarine_kernel.storage.webhdfs;"
            "from submarine_kernel.runtimes.yarn import YarnRuntime;"
            "YarnRuntime(rm_urls=['http://rm:8088']).client;"
            "assert 'requests_gssapi' not in sys.modules and 'gssapi' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_an_error_answer_without_a_mutual_auth_token_is_no_error_line(caplog):
    """With OPTIONAL mutual authentication (see spnego_auth) the real requests-gssapi logs at ERROR "Mutual
    authentication unavailable on 404 response" for every error answer, such as the 404 of a service name that is
    still free: users saw it as an error. It is DEBUG now; a failed mutual authentication stays an ERROR."""
    import logging

    pytest.importorskip("requests_gssapi")
    answer = requests.Response()
    answer.status_code, answer.url = 404, "http://rm:8088/app/v1/services/free-name"
    auth = spnego_auth()
    with caplog.at_level(logging.WARNING):
        assert auth.handle_other(answer) is answer
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    with caplog.at_level(logging.DEBUG, logger="requests_gssapi"):
        auth.handle_other(answer)
    assert [r.levelname for r in caplog.records if "unavailable on 404" in r.getMessage()] == ["DEBUG"]
    with caplog.at_level(logging.WARNING):
        logging.getLogger("requests_gssapi.gssapi_").error("handle_other(): Mutual authentication failed")
    assert [r.levelname for r in caplog.records if "failed" in r.getMessage()] == ["ERROR"]
