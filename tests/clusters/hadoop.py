"""A pseudo-distributed Hadoop on loopback, from Maven jars: the real-cluster tests' YARN and HDFS.

NameNode + DataNode (WebHDFS), ResourceManager (Services API at /app/v1/services), one NodeManager (default
container executor: containers are plain host processes), and the ZooKeeper the service AM needs, each a
`java -cp <conf>:<jars>/*` process in its own process group on free 127.0.0.1 ports, with a small heap.
The jars come from `tests/clusters/hadoop/pom.xml` (Maven resolves them into ~/.m2 once and copies them into
`~/.cache/submarine-kernel/hadoop/<version>/jars`).

Containers find `python` on the NodeManager's PATH, as on a real cluster whose nodes have Python installed:
the NodeManager starts with the directory of the Python that runs the harness (the test venv's) first on
PATH, and YARN's default `yarn.nodemanager.env-whitelist` passes PATH into every container.

    python tests/clusters/hadoop.py up      # prints `export SUBMARINE_...=...` lines; state in a folder
    python tests/clusters/hadoop.py up --ha # the same with two ResourceManagers (below)
    python tests/clusters/hadoop.py up --kerberos  # with a KDC and SPNEGO (below)
    python tests/clusters/hadoop.py down    # stops the daemons that `up` started

`HadoopCluster(base, ha=True)` runs two ResourceManagers (rm1, rm2) with ZooKeeper leader election and
their state in ZooKeeper (ZKRMStateStore, work-preserving recovery), as Hadoop's TestRMFailover sets them up:
`kill_active_rm()` ends the active one and the standby takes over with the running applications.

`HadoopCluster(base, kerberos=True)` starts Hadoop's MiniKdc (realm EXAMPLE.COM, jars from
`hadoop/minikdc/pom.xml`) first and puts SPNEGO on every daemon's HTTP endpoints (the RM's REST APIs and the
Services API, WebHDFS, the NodeManager's log API): `hadoop.http.authentication.type=kerberos` through
AuthenticationFilterInitializer. RPC between the daemons stays simple auth (a fully secure cluster needs a
secure DataNode and keytabs for every service AM). `keytab` holds the user's principal (`principal`) and
the HTTP/ principals; `krb5_conf` is the KDC's client configuration (KRB5_CONFIG).
"""

from __future__ import annotations

import atexit
import contextlib
import getpass
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

if __package__:
    from .common import cache_dir, free_port, missing_tools, skip_or_fail
else:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import cache_dir, free_port, missing_tools, skip_or_fail  # noqa: E402

HADOOP_VERSION = os.environ.get("SUBMARINE_HADOOP_VERSION", "3.4.2")
POM = Path(__file__).resolve().parent / "hadoop" / "pom.xml"
MINIKDC_POM = Path(__file__).resolve().parent / "hadoop" / "minikdc" / "pom.xml"
#: what the NodeManager offers: memory and vcores are counters for the scheduler (the box has 2 cores), the
#: GPUs are a countable resource with no GPU plugin behind it
NM_MEMORY_MB = 12288
NM_VCORES = 16
NM_GPUS = 4
#: the scheduler's biggest container, which the runtime's max_* traits mirror
MAX_ALLOCATION_MB = 8192
MAX_ALLOCATION_VCORES = 8
#: Hadoop's own scripts pass these on Java 17 (HADOOP-19310)
JAVA17_OPENS = [f"--add-opens=java.base/{package}=ALL-UNNAMED" for package in (
    "java.io", "java.lang", "java.lang.reflect", "java.math", "java.net", "java.text", "java.util",
    "java.util.concurrent", "java.util.zip", "sun.security.util", "sun.security.x509")]
#: small heaps and a JVM that starts fast (C1 only, serial GC): these daemons serve one test session
JVM_FLAGS = ["-XX:+IgnoreUnrecognizedVMOptions", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
             "-Djava.net.preferIPv4Stack=true", *JAVA17_OPENS]
HEAP_MB = {"zookeeper": 96, "namenode": 256, "datanode": 192, "resourcemanager": 384, "nodemanager": 256}
MAIN_CLASS = {
    "zookeeper": "org.apache.zookeeper.server.ZooKeeperServerMain",
    "namenode": "org.apache.hadoop.hdfs.server.namenode.NameNode",
    "datanode": "org.apache.hadoop.hdfs.server.datanode.DataNode",
    "resourcemanager": "org.apache.hadoop.yarn.server.resourcemanager.ResourceManager",
    "nodemanager": "org.apache.hadoop.yarn.server.nodemanager.NodeManager",
}
START_TIMEOUT = 180.0


class HadoopUnavailable(RuntimeError):
    """The cluster could not be built or started; the message says why in one line."""


def toolchain_problem() -> str:
    """'' when Java and Maven are installed, else one line naming what is missing."""
    missing = missing_tools("java", "mvn")
    return f"the real Hadoop cluster needs {' and '.join(missing)} (Java 17 and Maven) on PATH" if missing else ""


@contextlib.contextmanager
def started_for_tests(folder: Path, **options):
    """A `HadoopCluster(folder, **options)` for tests, the one place its failures become test outcomes:
    without Java or Maven the tests skip with one line (fail under CI); a cluster that cannot start fails
    them with its log's tail. The cluster is stopped when the block ends."""
    import pytest

    problem = toolchain_problem()
    if problem:
        skip_or_fail(problem)
    try:
        cluster = HadoopCluster(folder, **options).start()
    except HadoopUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


def jars(version: str = HADOOP_VERSION, log: Callable[[str], None] = lambda _: None) -> Path:
    """The folder holding every Hadoop jar the daemons need, resolved by Maven on first use."""
    return _resolve(POM, cache_dir("hadoop", version) / "jars", version, "Hadoop", log)


def _resolve(pom: Path, folder: Path, version: str, what: str, log: Callable[[str], None] = lambda _: None) -> Path:
    """`pom`'s dependencies copied into `folder` by Maven once (a `.complete` file marks a finished copy)."""
    if (folder / ".complete").exists():
        return folder
    log(f"resolving {what} {version} jars with Maven (first run only)...")
    staging = Path(tempfile.mkdtemp(prefix="jars-", dir=folder.parent))
    command = ["mvn", "-B", "-q", "-f", str(pom), f"-Dhadoop.version={version}", "dependency:copy-dependencies",
               f"-DoutputDirectory={staging}"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        errors = [line for line in done.stdout.splitlines() if "[ERROR]" in line] or done.stderr.splitlines()
        raise HadoopUnavailable(f"Maven could not resolve the {what} {version} jars: "
                                f"{(errors or ['no output'])[0].strip()}")
    (staging / ".complete").write_text(version)
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return folder


def _xml(properties: dict[str, object]) -> str:
    from xml.sax.saxutils import escape

    rows = "".join(f"  <property><name>{escape(k)}</name><value>{escape(str(v))}</value></property>\n"
                   for k, v in properties.items())
    return f'<?xml version="1.0"?>\n<configuration>\n{rows}</configuration>\n'


@dataclass
class HadoopCluster:
    """One pseudo-distributed cluster under `base` (conf, data, logs); `start()` and `stop()` it."""

    base: Path
    version: str = HADOOP_VERSION
    user: str = field(default_factory=getpass.getuser)
    python_bin: str = field(default_factory=lambda: os.path.dirname(sys.executable))
    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    #: two ResourceManagers with ZooKeeper fail-over (rm1 and rm2) instead of one
    ha: bool = False
    #: a MiniKdc and SPNEGO on the daemons' HTTP endpoints
    kerberos: bool = False

    # -- addresses --------------------------------------------------------------------------------------
    @property
    def rm_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['rm_web']}"

    @property
    def rm_urls(self) -> list[str]:
        """Every ResourceManager's web address (rm1 first)."""
        return [self.rm_url] + ([f"http://127.0.0.1:{self.ports['rm2_web']}"] if self.ha else [])

    @property
    def resourcemanagers(self) -> list[str]:
        """The daemon names of the ResourceManagers (keys of `pids`)."""
        return ["resourcemanager", "resourcemanager2"] if self.ha else ["resourcemanager"]

    @property
    def namenode_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['nn_http']}"

    @property
    def default_fs(self) -> str:
        return f"hdfs://127.0.0.1:{self.ports['nn_rpc']}"

    @property
    def storage_root(self) -> str:
        return f"{self.default_fs}/user/{self.user}/submarine"

    @property
    def realm(self) -> str:
        return "EXAMPLE.COM"

    @property
    def principal(self) -> str:
        return f"{self.user}@{self.realm}"

    @property
    def keytab(self) -> Path:
        return self.base / "kdc" / "all.keytab"

    @property
    def krb5_conf(self) -> Path:
        return self.base / "kdc" / "krb5.conf"

    @property
    def conf_dir(self) -> Path:
        return self.base / "conf"

    @property
    def log_dir(self) -> Path:
        return self.base / "logs"

    def settings(self) -> dict[str, str]:
        """What a user or a test needs to point submarine-kernel at this cluster, as environment variables."""
        return {
            "SUBMARINE_YARN_RM_URLS": ",".join(self.rm_urls),
            "SUBMARINE_HADOOP_NAMENODE_URL": self.namenode_url,
            "SUBMARINE_HADOOP_STORAGE_ROOT": self.storage_root,
            "SUBMARINE_HADOOP_USER": self.user,
            "SUBMARINE_HADOOP_CONF_DIR": str(self.conf_dir),
            "SUBMARINE_HADOOP_JARS": str(jars(self.version)),
            "SUBMARINE_HADOOP_MAX_MEMORY_MB": str(MAX_ALLOCATION_MB),
            "SUBMARINE_HADOOP_MAX_VCORES": str(MAX_ALLOCATION_VCORES),
            "SUBMARINE_HADOOP_GPUS": str(NM_GPUS),
            "SUBMARINE_HADOOP_STATE": str(self.base / "cluster.json"),
            **({"KRB5_CONFIG": str(self.krb5_conf), "SUBMARINE_HADOOP_PRINCIPAL": self.principal,
                "SUBMARINE_HADOOP_KEYTAB": str(self.keytab)} if self.kerberos else {}),
        }

    def classpath(self, conf_dir: Path | None = None) -> str:
        return f"{conf_dir or self.conf_dir}:{jars(self.version)}/*"

    # -- configuration ----------------------------------------------------------------------------------
    def write_conf(self) -> None:
        for name in ("zk_client", "nn_rpc", "nn_http", "dn_data", "dn_http", "dn_ipc", "rm_rpc", "rm_scheduler",
                     "rm_tracker", "rm_admin", "rm_web", "nm_rpc", "nm_localizer", "nm_web",
                     *(("rm2_rpc", "rm2_scheduler", "rm2_tracker", "rm2_admin", "rm2_web") if self.ha else ())):
            while name not in self.ports:  # free_port can hand out a port twice once its probe socket closed
                port = free_port()
                if port not in self.ports.values():
                    self.ports[name] = port
        p, data = self.ports, self.base / "data"
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        jar_dir = jars(self.version)
        files = {
            "core-site.xml": {
                "fs.defaultFS": self.default_fs,
                "hadoop.tmp.dir": data / "tmp",
                "hadoop.registry.zk.quorum": f"127.0.0.1:{p['zk_client']}",
                "hadoop.zk.address": f"127.0.0.1:{p['zk_client']}",
                "hadoop.http.staticuser.user": self.user,
            },
            "hdfs-site.xml": {
                "dfs.namenode.rpc-address": f"127.0.0.1:{p['nn_rpc']}",
                "dfs.namenode.http-address": f"127.0.0.1:{p['nn_http']}",
                "dfs.namenode.name.dir": data / "name",
                "dfs.datanode.data.dir": data / "data",
                "dfs.datanode.address": f"127.0.0.1:{p['dn_data']}",
                "dfs.datanode.http.address": f"127.0.0.1:{p['dn_http']}",
                "dfs.datanode.ipc.address": f"127.0.0.1:{p['dn_ipc']}",
                "dfs.datanode.hostname": "127.0.0.1",
                "dfs.replication": 1,
                "dfs.webhdfs.enabled": "true",
                "dfs.namenode.safemode.extension": 0,
                "dfs.namenode.safemode.min.datanodes": 0,
                "dfs.datanode.du.reserved": 0,
                "dfs.namenode.resource.du.reserved": 0,
                "dfs.namenode.resource.check.interval": 3600000,
                "dfs.heartbeat.interval": 1,
                "dfs.blockreport.initialDelay": 0,
            },
            "yarn-site.xml": {
                "yarn.resourcemanager.hostname": "127.0.0.1",
                "yarn.resourcemanager.address": f"127.0.0.1:{p['rm_rpc']}",
                "yarn.resourcemanager.scheduler.address": f"127.0.0.1:{p['rm_scheduler']}",
                "yarn.resourcemanager.resource-tracker.address": f"127.0.0.1:{p['rm_tracker']}",
                "yarn.resourcemanager.admin.address": f"127.0.0.1:{p['rm_admin']}",
                "yarn.resourcemanager.webapp.address": f"127.0.0.1:{p['rm_web']}",
                "yarn.webapp.api-service.enable": "true",
                "yarn.webapp.ui2.enable": "false",
                "yarn.timeline-service.enabled": "false",
                "yarn.resourcemanager.system-metrics-publisher.enabled": "false",
                "yarn.resourcemanager.recovery.enabled": "false",
                "yarn.scheduler.minimum-allocation-mb": 128,
                "yarn.scheduler.maximum-allocation-mb": MAX_ALLOCATION_MB,
                "yarn.scheduler.maximum-allocation-vcores": MAX_ALLOCATION_VCORES,
                "yarn.nodemanager.hostname": "127.0.0.1",
                "yarn.nodemanager.address": f"127.0.0.1:{p['nm_rpc']}",
                "yarn.nodemanager.localizer.address": f"127.0.0.1:{p['nm_localizer']}",
                "yarn.nodemanager.webapp.address": f"127.0.0.1:{p['nm_web']}",
                "yarn.nodemanager.resource.memory-mb": NM_MEMORY_MB,
                "yarn.nodemanager.resource.cpu-vcores": NM_VCORES,
                "yarn.nodemanager.resource-type.yarn.io/gpu": NM_GPUS,
                "yarn.nodemanager.local-dirs": data / "nm-local",
                "yarn.nodemanager.log-dirs": self.log_dir / "containers",
                "yarn.nodemanager.pmem-check-enabled": "false",
                "yarn.nodemanager.vmem-check-enabled": "false",
                # each container's CPU and memory in the NodeManager's /jmx while it runs, not only once it
                # ended (the default period, -1): what the YARN runtime's usage shows (container_metrics.py)
                "yarn.nodemanager.container-metrics.enable": "true",
                "yarn.nodemanager.container-metrics.period-ms": 2000,
                "yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage": 100,
                "yarn.nodemanager.delete.debug-delay-sec": 600,
                "yarn.nodemanager.container-executor.class":
                    "org.apache.hadoop.yarn.server.nodemanager.DefaultContainerExecutor",
                "yarn.log-aggregation-enable": "false",
                # containers find `python` (the harness's, with torch) as on a node with Python installed
                "yarn.nodemanager.admin-env": f"MALLOC_ARENA_MAX=$MALLOC_ARENA_MAX,PATH={self.python_bin}:"
                                              "/usr/local/bin:/usr/bin:/bin",
                # the service AM: its classpath on this one machine, a small heap, and the registry's ZooKeeper
                "yarn.service.classpath": f"{jar_dir}/*,{self.conf_dir}",
                "yarn.service.am-resource.memory": 384,
                "yarn.service.am.java.opts": "-Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC "
                                             + " ".join(JAVA17_OPENS),
                "yarn.service.framework.path": "",
                # how often the AM reads container states: quick answers for tests
                "yarn.service.readiness-check-interval.seconds": 2,
                "yarn.service.container-state-report-interval": 2,
            },
            "capacity-scheduler.xml": {
                "yarn.scheduler.capacity.root.queues": "default",
                "yarn.scheduler.capacity.root.default.capacity": 100,
                "yarn.scheduler.capacity.root.default.maximum-capacity": 100,
                # one service AM per job: the default 0.1 lets only one run at a time on one node
                "yarn.scheduler.capacity.maximum-am-resource-percent": 0.5,
                "yarn.scheduler.capacity.resource-calculator":
                    "org.apache.hadoop.yarn.util.resource.DominantResourceCalculator",
                "yarn.scheduler.capacity.node-locality-delay": -1,
            },
            "resource-types.xml": {"yarn.resource-types": "yarn.io/gpu"},
        }
        if self.ha:
            files["yarn-site.xml"].update(self._ha_properties())
        if self.kerberos:
            files["core-site.xml"].update({
                "hadoop.http.filter.initializers": "org.apache.hadoop.security.AuthenticationFilterInitializer",
                "hadoop.http.authentication.type": "kerberos",
                "hadoop.http.authentication.kerberos.principal": "*",  # every HTTP/ principal in the keytab
                "hadoop.http.authentication.kerberos.keytab": self.keytab,
                "hadoop.http.authentication.simple.anonymous.allowed": "false",
                "hadoop.http.authentication.signature.secret.file": self.base / "kdc" / "http-secret",
            })
        for name, properties in files.items():
            (self.conf_dir / name).write_text(_xml(properties))
        if self.ha:  # both RMs listen on 127.0.0.1, so each is told which one it is in a conf folder of its own
            for rm_id in ("rm1", "rm2"):
                own = self.base / f"conf-{rm_id}"
                shutil.rmtree(own, ignore_errors=True)
                shutil.copytree(self.conf_dir, own)
                (own / "yarn-site.xml").write_text(_xml({**files["yarn-site.xml"],
                                                         "yarn.resourcemanager.ha.id": rm_id}))
        (self.conf_dir / "log4j.properties").write_text(
            "log4j.rootLogger=INFO,console\n"
            "log4j.appender.console=org.apache.log4j.ConsoleAppender\n"
            "log4j.appender.console.target=System.err\n"
            "log4j.appender.console.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n\n"
            # the AM's container logs: YARN's ContainerLogAppender is configured by yarn.app.container.log.*
            "log4j.logger.org.apache.hadoop.util.NativeCodeLoader=ERROR\n"
            "log4j.logger.org.apache.hadoop.metrics2=WARN\n")

    def _ha_properties(self) -> dict[str, object]:
        """Two RMs with embedded ZooKeeper leader election and their state in ZooKeeper (TestRMFailover)."""
        p = self.ports
        properties: dict[str, object] = {
            "yarn.resourcemanager.ha.enabled": "true",
            "yarn.resourcemanager.ha.rm-ids": "rm1,rm2",
            "yarn.resourcemanager.cluster-id": "submarine-test",
            "yarn.resourcemanager.ha.automatic-failover.enabled": "true",
            "yarn.resourcemanager.ha.automatic-failover.embedded": "true",
            "yarn.resourcemanager.recovery.enabled": "true",
            "yarn.resourcemanager.work-preserving-recovery.enabled": "true",
            "yarn.resourcemanager.store.class":
                "org.apache.hadoop.yarn.server.resourcemanager.recovery.ZKRMStateStore",
            # a killed active RM's leader lock lives as long as its ZooKeeper session: keep that short
            "hadoop.zk.timeout-ms": 4000,
            "yarn.resourcemanager.zk-timeout-ms": 4000,
            # clients and the service AM move to the other RM quickly
            "yarn.client.failover-sleep-base-ms": 100,
            "yarn.client.failover-sleep-max-ms": 1000,
        }
        for rm_id, prefix in (("rm1", "rm"), ("rm2", "rm2")):
            properties.update({
                f"yarn.resourcemanager.hostname.{rm_id}": "127.0.0.1",
                f"yarn.resourcemanager.address.{rm_id}": f"127.0.0.1:{p[prefix + '_rpc']}",
                f"yarn.resourcemanager.scheduler.address.{rm_id}": f"127.0.0.1:{p[prefix + '_scheduler']}",
                f"yarn.resourcemanager.resource-tracker.address.{rm_id}": f"127.0.0.1:{p[prefix + '_tracker']}",
                f"yarn.resourcemanager.admin.address.{rm_id}": f"127.0.0.1:{p[prefix + '_admin']}",
                f"yarn.resourcemanager.webapp.address.{rm_id}": f"127.0.0.1:{p[prefix + '_web']}",
            })
        return properties

    def active_rm(self) -> str | None:
        """The daemon name of the ResourceManager that says it is active (None when none does)."""
        for daemon, url in zip(self.resourcemanagers, self.rm_urls):
            try:
                if self._get_json(f"{url}/ws/v1/cluster/info")["clusterInfo"].get("haState") == "ACTIVE":
                    return daemon
            except (OSError, ValueError, KeyError):
                continue
        return None

    def kill_active_rm(self) -> str:
        """SIGKILL the active ResourceManager (as a crashed machine would end it); returns its daemon name."""
        daemon = self.active_rm()
        if daemon is None:
            raise HadoopUnavailable("no ResourceManager is active")
        _signal_group(self.pids[daemon], signal.SIGKILL)
        while _alive(self.pids[daemon]):
            time.sleep(0.1)
        del self.pids[daemon]
        return daemon

    # -- processes --------------------------------------------------------------------------------------
    def _java(self, daemon: str, *args: str, wait: bool = False, instance: str = "", conf_dir: Path | None = None
              ) -> int:
        instance = instance or daemon
        krb5 = [f"-Djava.security.krb5.conf={self.krb5_conf}"] if self.kerberos else []
        command = ["java", f"-Xmx{HEAP_MB[daemon]}m", *JVM_FLAGS, *krb5, f"-Dhadoop.log.dir={self.log_dir}",
                   f"-Dyarn.log.dir={self.log_dir}", f"-Dhadoop.home.dir={self.base}",
                   "-Dzookeeper.admin.enableServer=false", "-Dzookeeper.4lw.commands.whitelist=*",
                   "-cp", self.classpath(conf_dir), MAIN_CLASS[daemon], *args]
        env = {**os.environ, "HADOOP_CONF_DIR": str(self.conf_dir),
               "JAVA_HOME": os.environ.get("JAVA_HOME") or _java_home(),
               "HADOOP_USER_NAME": self.user,
               "PATH": os.pathsep.join([self.python_bin, os.environ.get("PATH", "")])}
        log = open(self.log_dir / f"{instance}.log", "ab")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, cwd=self.base, start_new_session=True)
        log.close()
        if wait:
            if process.wait(timeout=120) != 0:
                raise HadoopUnavailable(f"{daemon} {' '.join(args)} failed: {self.log_tail(daemon)}")
            return 0
        self.pids[instance] = process.pid
        return process.pid

    def log_tail(self, daemon: str, lines: int = 3) -> str:
        """The last meaningful lines of a daemon's log, joined on one line (for one-line errors)."""
        path = self.log_dir / f"{daemon}.log"
        if not path.exists():
            return "no log"
        text = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
        interesting = [line for line in text if " ERROR " in line or "Exception" in line] or text
        return " | ".join(interesting[-lines:]) + f" (log: {path})"

    def start(self, log: Callable[[str], None] = lambda _: None, stop_at_exit: bool = True) -> "HadoopCluster":
        """Write the configuration, format HDFS (once) and start every daemon; return when all answer.
        `stop_at_exit`: stop them when this Python process ends (`up` leaves them running for `down`).
        A port taken between `free_port` and the daemon's bind (other processes start servers too) means a
        new set of ports and another start, twice at most (not when the caller gave the ports)."""
        chosen_here = not self.ports  # ports a caller fixed are not changed
        for attempt in range(3):
            try:
                return self._start_once(log, stop_at_exit)
            except HadoopUnavailable as error:
                if not chosen_here or "Address already in use" not in str(error) or attempt == 2:
                    raise
                log(f"a port was taken while Hadoop started ({error}): starting again on other ports")
                self.ports.clear()
        raise AssertionError("unreachable")

    def _start_once(self, log: Callable[[str], None], stop_at_exit: bool) -> "HadoopCluster":
        began = time.monotonic()
        self.base.mkdir(parents=True, exist_ok=True)
        self.write_conf()
        if not (self.base / "data" / "name" / "current").exists():
            self._java("namenode", "-format", "-force", "-nonInteractive", wait=True)
        if self.kerberos:
            self._start_kdc()
        (self.base / "data" / "zookeeper").mkdir(parents=True, exist_ok=True)
        self._java("zookeeper", str(self.ports["zk_client"]), str(self.base / "data" / "zookeeper"))
        for daemon in ("namenode", "datanode"):
            self._java(daemon)
        if self.ha:
            self._java("resourcemanager", conf_dir=self.base / "conf-rm1")
            self._java("resourcemanager", instance="resourcemanager2", conf_dir=self.base / "conf-rm2")
        else:
            self._java("resourcemanager")
        self._java("nodemanager")
        self.save()
        atexit.register(self.stop)  # a test session that ends abruptly still stops its daemons
        try:
            self._wait(self._hdfs_ready, "the NameNode with a live DataNode out of safe mode", ("namenode", "datanode"))
            self._webhdfs("PUT", f"/user/{self.user}", "MKDIRS")
            self._wait(self._yarn_ready, "the ResourceManager with a running NodeManager",
                       (*self.resourcemanagers, "nodemanager"))
        except BaseException:
            self.stop()
            raise
        if not stop_at_exit:
            atexit.unregister(self.stop)
        log(f"Hadoop {self.version} up in {time.monotonic() - began:.1f}s under {self.base}")
        return self

    def _start_kdc(self) -> None:
        """MiniKdc's own main: a KDC on a free port, a keytab with the user's and the HTTP/ principals, and a
        krb5.conf naming the port; the harness's own requests then use a ticket of the user's."""
        folder = self.base / "kdc"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "kdc.properties").write_text("kdc.port=0\nmax.ticket.lifetime=86400000\n")
        (folder / "http-secret").write_text(os.urandom(16).hex())
        work = folder / "work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        command = ["java", "-Xmx64m", *JVM_FLAGS, "-cp", f"{minikdc_jars(self.version)}/*",
                   "org.apache.hadoop.minikdc.MiniKdc", str(work), str(folder / "kdc.properties"), str(self.keytab),
                   self.user, "HTTP/localhost", "HTTP/127.0.0.1"]
        log = open(self.log_dir / "kdc.log", "ab")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   cwd=folder, start_new_session=True)
        log.close()
        self.pids["kdc"] = process.pid
        self._wait(lambda: "MiniKdc Running" in (self.log_dir / "kdc.log").read_text(errors="replace"),
                   "the MiniKdc", ("kdc",))
        shutil.copy(work / "krb5.conf", self.krb5_conf)
        os.environ["KRB5_CONFIG"] = str(self.krb5_conf)
        os.environ["KRB5CCNAME"] = f"FILE:{folder / 'ccache'}"
        done = subprocess.run(["kinit", "-kt", str(self.keytab), self.principal], capture_output=True, text=True)
        if done.returncode != 0:
            raise HadoopUnavailable(f"kinit as {self.principal} failed: {done.stderr.strip()}")

    def _wait(self, ready: Callable[[], bool], what: str, daemons: tuple[str, ...]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for daemon in self.pids:
                if not _alive(self.pids[daemon]):
                    raise HadoopUnavailable(f"Hadoop's {daemon} exited while waiting for {what}: "
                                            f"{self.log_tail(daemon)}")
            try:
                if ready():
                    return
            except (OSError, ValueError, KeyError, IndexError):
                pass
            time.sleep(0.5)
        raise HadoopUnavailable(f"timed out after {START_TIMEOUT:.0f}s waiting for {what}: "
                                + "; ".join(f"{d}: {self.log_tail(d, 1)}" for d in daemons))

    def _http(self, method: str, url: str):
        """One request as the cluster's user: SPNEGO with the harness's ticket on a Kerberos cluster."""
        import requests

        auth = None
        if self.kerberos:
            from requests_gssapi import OPTIONAL, HTTPSPNEGOAuth

            auth = HTTPSPNEGOAuth(mutual_authentication=OPTIONAL)
        answer = requests.request(method, url, auth=auth, timeout=10, allow_redirects=False)
        if answer.status_code >= 400:
            raise urllib.error.HTTPError(url, answer.status_code, answer.text[:200], None, None)
        return answer

    def _get_json(self, url: str) -> dict:
        return self._http("GET", url).json()

    def _hdfs_ready(self) -> bool:
        state = self._get_json(f"{self.namenode_url}/jmx?qry=Hadoop:service=NameNode,name=FSNamesystemState")
        bean = state["beans"][0]
        info = self._get_json(f"{self.namenode_url}/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo")["beans"][0]
        return bean.get("NumLiveDataNodes", 0) >= 1 and not info.get("Safemode")  # "" once out of safe mode

    def _yarn_ready(self) -> bool:
        active = self.active_rm()
        if active is None:
            return False
        rm_url = self.rm_urls[self.resourcemanagers.index(active)]
        if self.ha and not all(self._get_json(f"{url}/ws/v1/cluster/info")["clusterInfo"].get("haState")
                               in ("ACTIVE", "STANDBY") for url in self.rm_urls):
            return False
        nodes = self._get_json(f"{rm_url}/ws/v1/cluster/nodes")
        running = [n for n in ((nodes.get("nodes") or {}).get("node") or []) if n.get("state") == "RUNNING"]
        if not running:
            return False
        # the Services API answers too (it is a separate webapp on the RM)
        try:
            self._http("GET", f"{rm_url}/app/v1/services/version?user.name={self.user}")
        except urllib.error.HTTPError as error:
            return error.code < 500
        return True

    def _webhdfs(self, method: str, path: str, op: str) -> None:
        self._http(method, f"{self.namenode_url}/webhdfs/v1{path}?op={op}&user.name={self.user}")

    def stop(self) -> None:
        """Stop every daemon's process group (TERM, then KILL after a grace period); containers and the
        service AMs are children of the NodeManager's group."""
        atexit.unregister(self.stop)
        if not self.pids:
            return
        for daemon, pid in reversed(list(self.pids.items())):
            _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5  # nothing here needs a clean shutdown: the cluster is thrown away
        for pid in self.pids.values():
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            _signal_group(pid, signal.SIGKILL)
        self._kill_containers()
        self.pids.clear()
        if self.base.exists():
            self.save()

    def _kill_containers(self) -> None:
        """Containers run in process groups of their own (setsid): end those launched from this cluster's
        NodeManager folders."""
        marker = str(self.base / "data" / "nm-local")
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cwd = os.readlink(proc / "cwd")
            except OSError:
                continue
            if cwd.startswith(marker):
                try:
                    os.kill(int(proc.name), signal.SIGKILL)
                except OSError:
                    pass

    # -- state for `up` / `down` ------------------------------------------------------------------------
    def save(self) -> None:
        (self.base / "cluster.json").write_text(json.dumps(
            {"version": self.version, "user": self.user, "ports": self.ports, "pids": self.pids, "ha": self.ha,
             "kerberos": self.kerberos}))

    @classmethod
    def load(cls, base: Path) -> "HadoopCluster":
        state = json.loads((base / "cluster.json").read_text())
        return cls(base, version=state["version"], user=state["user"], ports=state["ports"], pids=state["pids"],
                   ha=state.get("ha", False), kerberos=state.get("kerberos", False))


def minikdc_jars(version: str = HADOOP_VERSION) -> Path:
    """The folder holding Hadoop's MiniKdc and Apache Kerby, resolved by Maven on first use."""
    return _resolve(MINIKDC_POM, cache_dir("hadoop", version) / "minikdc-jars", version, "MiniKdc")


def _java_home() -> str:
    java = os.path.realpath(shutil.which("java") or "/usr/bin/java")
    return str(Path(java).parent.parent)


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except OSError:
        pass


def default_base() -> Path:
    return Path(os.environ.get("SUBMARINE_HADOOP_DIR") or Path(tempfile.gettempdir()) / "submarine-hadoop")


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else ""
    base = default_base()
    if command == "up":
        problem = toolchain_problem()
        if problem:
            print(problem, file=sys.stderr)
            return 2
        if (base / "cluster.json").exists() and HadoopCluster.load(base).pids:
            print(f"a cluster is already up under {base}: run `{argv[0]} down` first", file=sys.stderr)
            return 1
        shutil.rmtree(base, ignore_errors=True)
        try:
            cluster = HadoopCluster(base, ha="--ha" in argv[2:], kerberos="--kerberos" in argv[2:]).start(log=lambda line: print(line, file=sys.stderr),
                                                                       stop_at_exit=False)
        except HadoopUnavailable as error:
            print(error, file=sys.stderr)
            return 1
        for key, value in cluster.settings().items():
            print(f"export {key}={value}")
        return 0
    if command == "down":
        if not (base / "cluster.json").exists():
            print(f"no cluster under {base}", file=sys.stderr)
            return 1
        HadoopCluster.load(base).stop()
        print(f"stopped the cluster under {base}", file=sys.stderr)
        return 0
    print(f"usage: {argv[0]} up [--ha] [--kerberos]|down  (state in $SUBMARINE_HADOOP_DIR, default {base})", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
