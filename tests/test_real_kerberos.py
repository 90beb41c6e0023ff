"""Kerberos on a real Hadoop: Hadoop's MiniKdc and SPNEGO on every daemon's HTTP endpoints
(tests/clusters/hadoop.py `kerberos=True`). The project's keytab path end to end: `kinit -kt` by
submarine_kernel/net/kerberos.py, SPNEGO through requests-gssapi to the RM's REST and Services APIs, to
WebHDFS for the bundle and to the NodeManager for logs; without a ticket the cluster answers 401 and the
runtime says what to do in one line.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
import requests

from traitlets.config import Config

from submarine_kernel.algorithm import Bundle
from submarine_kernel.errors import SubmarineError
from submarine_kernel.recovery import rebuild
from submarine_kernel.registry import Registry
from submarine_kernel.runtimes.yarn import YarnRuntime
from submarine_kernel.session import Session

pytestmark = [pytest.mark.real_cluster, pytest.mark.slow]


@pytest.fixture(scope="module")
def secure_cluster(tmp_path_factory):
    from clusters import hadoop
    from clusters.common import missing_tools, skip_or_fail

    missing = missing_tools("kinit", "klist")
    if missing:
        skip_or_fail(f"the Kerberos cluster test needs {' and '.join(missing)} (Debian's krb5-user)")
    try:
        import requests_gssapi  # noqa: F401
    except ImportError:
        skip_or_fail("the Kerberos cluster test needs requests-gssapi: pip install 'submarine-kernel[kerberos]'")
    saved = {key: os.environ.get(key) for key in ("KRB5_CONFIG", "KRB5CCNAME")}
    began = time.monotonic()
    with hadoop.started_for_tests(tmp_path_factory.mktemp("hadoop-kerberos"), kerberos=True) as cluster:
        print(f"Kerberos cluster up in {time.monotonic() - began:.1f}s")
        yield cluster
    for key, value in saved.items():
        os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def test_spnego_is_required_and_a_keytab_job_runs_end_to_end(secure_cluster, tmp_path):
    cluster = secure_cluster
    # the cluster really asks for SPNEGO: no user.name is taken
    answer = requests.get(f"{cluster.rm_url}/ws/v1/cluster/apps?user.name={cluster.user}", timeout=10)
    assert answer.status_code == 401 and answer.headers.get("WWW-Authenticate", "").startswith("Negotiate")
    answer = requests.get(f"{cluster.namenode_url}/webhdfs/v1/?op=LISTSTATUS&user.name={cluster.user}", timeout=10)
    assert answer.status_code == 401

    # no ticket at all (an empty cache) and no keytab: one line that says to kinit
    os.environ["KRB5CCNAME"] = f"FILE:{tmp_path / 'empty-ccache'}"
    bare = YarnRuntime(rm_urls=[cluster.rm_url], kerberos=True, principal=cluster.principal)
    with pytest.raises(SubmarineError) as refused:
        bare.list_jobs()
    assert "kinit" in str(refused.value) and "\n" not in str(refused.value)

    # the keytab path, through a session as a notebook uses it: kinit -kt by the runtime and by the storage,
    # SPNEGO to the RM, WebHDFS and the NodeManager after that
    kerberos = {"kerberos": True, "principal": cluster.principal, "keytab": str(cluster.keytab)}
    config = Config()
    config.SubmarineConfig.runtime = "yarn"
    config.SubmarineConfig.storage_root = cluster.storage_root
    config.SubmarineConfig.storage_options = {"namenodes": [cluster.namenode_url], **kerberos}
    config.SubmarineConfig.poll_interval = 1.0
    for key, value in {"rm_urls": [cluster.rm_url], "default_memory_mib": 256, **kerberos}.items():
        setattr(config.YarnRuntime, key, value)
    session = Session(config=config, registry=Registry(tmp_path / "registry.sqlite"))
    runtime = session.runtime("yarn")
    try:
        session.submit(session.build("python job.py", name="kerberos-job", framework="custom", workers=1),
                       Bundle({"job.py": b"print('hello from the secure cluster', flush=True)\n"}))
        deadline = time.monotonic() + 180
        while session.registry.get("kerberos-job").state not in ("SUCCEEDED", "FAILED", "STOPPED"):
            assert time.monotonic() < deadline, session.registry.get("kerberos-job").state
            time.sleep(1)
        record = session.registry.get("kerberos-job")
        assert record.state == "SUCCEEDED", record.status.message
        assert "hello from the secure cluster" in list(runtime.logs(record.ref))
        # the RM took the requests as the principal's short name
        assert runtime.client.get_app(record.ref.id)["user"] == cluster.user
        # recover: the finished service's definition is read from the default FS over SPNEGO WebHDFS
        rebuilt = Registry(tmp_path / "rebuilt.sqlite")
        assert rebuild(rebuilt, runtime) == ["kerberos-job"]
        assert rebuilt.get("kerberos-job").state == "SUCCEEDED"
    finally:
        runtime.client.destroy_service("kerberos-job")
        session.close()
    assert subprocess.run(["klist", "-s"]).returncode == 0  # the runtime's kinit left a ticket
