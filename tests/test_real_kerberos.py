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

from submarine_kernel.algorithm import Bundle
from submarine_kernel.errors import SubmarineError
from submarine_kernel.runtimes.yarn import YarnRuntime
from submarine_kernel.spec import build_spec
from submarine_kernel.storage import Storage

pytestmark = [pytest.mark.real_cluster, pytest.mark.slow]


@pytest.fixture(scope="module")
def secure_cluster(tmp_path_factory):
    from clusters import hadoop
    from clusters.common import missing_tools, skip_or_fail

    problem = hadoop.toolchain_problem()
    missing = missing_tools("kinit", "klist")
    if problem or missing:
        skip_or_fail(problem or f"the Kerberos cluster test needs {' and '.join(missing)} (Debian's krb5-user)")
    try:
        import requests_gssapi  # noqa: F401
    except ImportError:
        skip_or_fail("the Kerberos cluster test needs requests-gssapi: pip install 'submarine-kernel[kerberos]'")
    saved = {key: os.environ.get(key) for key in ("KRB5_CONFIG", "KRB5CCNAME")}
    began = time.monotonic()
    try:
        cluster = hadoop.HadoopCluster(tmp_path_factory.mktemp("hadoop-kerberos"), kerberos=True).start()
    except hadoop.HadoopUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    print(f"Kerberos cluster up in {time.monotonic() - began:.1f}s")
    yield cluster
    cluster.stop()
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

    # the keytab path: kinit -kt by the runtime and by the storage, SPNEGO everywhere after
    kerberos = {"kerberos": True, "principal": cluster.principal, "keytab": str(cluster.keytab)}
    storage = Storage(cluster.storage_root, {"namenodes": [cluster.namenode_url], **kerberos})
    runtime = YarnRuntime(rm_urls=[cluster.rm_url], default_memory_mib=256, **kerberos)
    bundle = Bundle({"job.py": b"import os\nprint('hello from', os.environ.get('USER', '?'), flush=True)\n"})
    spec = build_spec("kerberos-job", framework="custom", workers=1, command="python job.py")
    ref = runtime.submit(spec, bundle, storage.put(bundle).uri)
    try:
        deadline = time.monotonic() + 180
        status = runtime.poll([ref])[ref.key]
        while not status.terminal:
            assert time.monotonic() < deadline, status
            time.sleep(1)
            status = runtime.poll([ref])[ref.key]
        assert status.state == "SUCCEEDED", status.message
        assert any("hello from" in line for line in runtime.logs(ref))
        assert [job.ref.name for job in runtime.list_jobs()] == ["kerberos-job"]
        # the RM took the request as the principal's short name
        app = runtime.client.get_app(runtime.app_id(ref))
        assert app["user"] == cluster.user
    finally:
        runtime.client.destroy_service(spec.name)
        runtime.close()
    assert subprocess.run(["klist", "-s"]).returncode == 0  # the runtime's kinit left a ticket
