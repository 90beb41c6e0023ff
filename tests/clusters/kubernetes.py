"""A real Kubernetes control plane for the tests: kube-apiserver and etcd built from Go modules (the wrapper
module in `kubernetes-go/` beside this file), a CA, serving certificate, service-account key and admin token
made here, and the CRDs the runtime targets installed from `tests/protocols/`.

    python tests/clusters/kubernetes.py up      # builds on first use, starts, prints the kubeconfig path
    python tests/clusters/kubernetes.py up --controllers   # also the Job and JobSet controllers, scheduler, kwok
    python tests/clusters/kubernetes.py up --operators     # also Kubeflow Trainer v2 and Kueue (implies --controllers)
    python tests/clusters/kubernetes.py down    # stops what `up` started

The binaries are cached in the user's cache folder (`common.cache_dir`) under a key made of the Kubernetes
version and a digest of the wrapper module, so only the first run builds. The tests use the same
`ControlPlane` through the session fixture `real_kubernetes` (below).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import the sibling module the way the tests do, and keep
    # this file's folder off the path, where this module would shadow the `kubernetes` client package
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
    from clusters.common import cache_dir, free_port, skip_or_fail
else:
    from .common import cache_dir, free_port, skip_or_fail

import pytest

HERE = Path(__file__).resolve().parent
#: the Kubernetes release's binaries, with its own dependency versions
KUBERNETES_MODULE = HERE / "kubernetes-go"
#: the controllers beside it (JobSet, kwok), whose dependency versions differ from the release's
CONTROLLERS_MODULE = HERE / "kubernetes-controllers-go"
PROTOCOLS = Path(__file__).resolve().parent.parent / "protocols"
#: the CRDs installed in every control plane: the Kubeflow v1 operator's, Trainer v2's, JobSet's and Kueue's queues
CRD_FILES = (*sorted((PROTOCOLS / "kubeflow").glob("kubeflow.org_*.yaml")),
             *sorted((PROTOCOLS / "kubeflow-trainer").glob("*_*.yaml")),
             *sorted((PROTOCOLS / "kueue").glob("kueue.x-k8s.io_*.yaml")))
#: the upstream ClusterTrainingRuntimes a Trainer v2 cluster ships (`torch-distributed`, ...)
CLUSTER_RUNTIME_FILES = tuple(p for p in sorted((PROTOCOLS / "kubeflow-trainer" / "runtimes").glob("*.yaml"))
                              if p.name != "kustomization.yaml")
#: binary name -> (wrapper module, Go package)
PACKAGES = {"kube-apiserver": (KUBERNETES_MODULE, "k8s.io/kubernetes/cmd/kube-apiserver"),
            "etcd": (KUBERNETES_MODULE, "./etcd"),
            "kube-controller-manager": (KUBERNETES_MODULE, "k8s.io/kubernetes/cmd/kube-controller-manager"),
            "kube-scheduler": (KUBERNETES_MODULE, "k8s.io/kubernetes/cmd/kube-scheduler"),
            "kwok": (CONTROLLERS_MODULE, "sigs.k8s.io/kwok/cmd/kwok"),
            "jobset": (CONTROLLERS_MODULE, "sigs.k8s.io/jobset"),
            "trainer": (CONTROLLERS_MODULE, "github.com/kubeflow/trainer/v2/cmd/trainer-controller-manager"),
            "kueue": (CONTROLLERS_MODULE, "sigs.k8s.io/kueue/cmd/kueue")}
API_SERVER = ("kube-apiserver", "etcd")
#: what makes jobs run without kubelets: the Job controller, the scheduler, kwok's fake nodes and pods, and
#: the JobSet controller
CONTROLLERS = ("kube-controller-manager", "kube-scheduler", "kwok", "jobset")
#: the operators a user installs on top: Kubeflow Trainer v2 (TrainJob -> JobSet) and Kueue (queues, admission);
#: started only by the tests that need them (`start_operators`), since they add a build and seconds of start
OPERATORS = ("trainer", "kueue")
#: what the operators need beyond the CRDs every control plane has: their webhook configurations (rewritten
#: to reach the controller by URL) and Kueue's remaining CRDs (the 1.4 MB Workload one among them)
TRAINER_WEBHOOKS = PROTOCOLS / "kubeflow-trainer" / "controller" / "webhooks.yaml"
KUEUE_WEBHOOKS = PROTOCOLS / "kueue" / "controller" / "webhooks.yaml"
KUEUE_CONTROLLER_CRDS = tuple(sorted((PROTOCOLS / "kueue" / "controller").glob("kueue.x-k8s.io_*.yaml")))
#: the Kueue integrations the runtime uses (Kueue serves webhooks only for the integrations it enables)
KUEUE_FRAMEWORKS = ("batch/job", "jobset.x-k8s.io/jobset", "trainer.kubeflow.org/trainjob")
#: the webhook paths of those integrations and of Kueue's own objects
KUEUE_WEBHOOK_PATHS = re.compile(r"-(batch-v1-job|jobset-x-k8s-io-v1alpha2-jobset"
                                 r"|trainer-kubeflow-org-v1alpha1-trainjob|kueue-x-k8s-io-v1beta2-\w+)$")
#: the CRDs whose versions Kueue's webhook converts (config/components/crd/patches/webhook_in_*.yaml)
KUEUE_CONVERTED_CRDS = tuple(f"{kind}.kueue.x-k8s.io"
                             for kind in ("localqueues", "clusterqueues", "workloads", "cohorts", "multikueueclusters"))
#: the versions of Kueue's visibility API (its config/components/visibility has an APIService for each)
KUEUE_VISIBILITY_VERSIONS = ("v1beta1", "v1beta2")
#: where Kueue's visibility server keeps its certificate: a fixed folder (pkg/visibility/server.go's certDir,
#: an emptyDir upstream), which it must be able to write
KUEUE_VISIBILITY_CERTS = Path("/visibility")
START_TIMEOUT = 120.0
BUILD_TIMEOUT = 3600  # a cold build takes tens of minutes on 2 cores; the test timeouts do not cover it
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
#: how kwok moves nodes and pods along: its own default stages (the file names their source)
KWOK_STAGES = HERE / "kwok-stages.yaml"
GPUS_PER_NODE = 8
#: the node kwok fakes: what a GPU node reports, so that requests for nvidia.com/gpu are scheduled
FAKE_NODE = {"apiVersion": "v1", "kind": "Node",
             "metadata": {"name": "gpu-node-0", "annotations": {KWOK_ANNOTATION: "fake"},
                          "labels": {"kubernetes.io/hostname": "gpu-node-0", "type": "kwok"}},
             "status": {"capacity": {"cpu": "64", "memory": "512Gi", "pods": "110",
                                     "nvidia.com/gpu": str(GPUS_PER_NODE)},
                        "allocatable": {"cpu": "64", "memory": "512Gi", "pods": "110",
                                        "nvidia.com/gpu": str(GPUS_PER_NODE)}}}
_JOBSETS = {"apiGroups": ["jobset.x-k8s.io"], "apiVersions": ["v1alpha2"], "resources": ["jobsets"]}
_PODS = {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}
#: JobSet's admission webhooks (config/components/webhook/manifests.yaml of sigs.k8s.io/jobset v0.12.0)
JOBSET_WEBHOOKS = {
    "MutatingWebhookConfiguration": [
        ("mjobset.kb.io", "/mutate-jobset-x-k8s-io-v1alpha2-jobset", {**_JOBSETS, "operations": ["CREATE"]}),
        ("mpod.kb.io", "/mutate--v1-pod", {**_PODS, "operations": ["CREATE"]})],
    "ValidatingWebhookConfiguration": [
        ("vjobset.kb.io", "/validate-jobset-x-k8s-io-v1alpha2-jobset",
         {**_JOBSETS, "operations": ["CREATE", "UPDATE"]}),
        ("vpod.kb.io", "/validate--v1-pod", {**_PODS, "operations": ["CREATE"]})]}
#: the name the aggregation layer's client certificate carries (the one name aggregated servers accept)
FRONT_PROXY_CLIENT = "front-proxy-client"
UP_DIR = Path(tempfile.gettempdir()) / f"submarine-kubernetes-{os.getuid()}"


class ClusterError(RuntimeError):
    """The control plane could not be built or started; the message ends with the log's last lines."""


# -- building ---------------------------------------------------------------------------------------------
def kubernetes_version() -> str:
    """The k8s.io/kubernetes version the wrapper module requires (one home: its go.mod)."""
    found = re.search(r"^\s*k8s\.io/kubernetes (v\S+)", (KUBERNETES_MODULE / "go.mod").read_text(), re.M)
    assert found, "tests/clusters/kubernetes-go/go.mod requires no k8s.io/kubernetes"
    return found.group(1)


def go_command() -> str | None:
    """`go` on PATH, else the usual install location."""
    found = shutil.which("go")
    if found:
        return found
    usual = Path("/usr/local/go/bin/go")
    return str(usual) if usual.exists() else None


def ldflags(version: str) -> str:
    """Strip symbols (smaller, faster to link) and stamp the version, without which `/version` reports a
    placeholder and the API server's compatibility version cannot be derived."""
    major, minor = version.lstrip("v").split(".")[:2]
    stamp = {"gitVersion": version, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean"}
    return "-s -w " + " ".join(f"-X k8s.io/component-base/version.{k}={v}" for k, v in stamp.items())


def binaries_dir(module: Path) -> Path:
    """Where the binaries of a wrapper module are cached: the Kubernetes version and a digest of the module,
    so that a change to it builds afresh."""
    digest = hashlib.sha256()
    for path in sorted(module.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(module).as_posix().encode() + b"\0" + path.read_bytes())
    return cache_dir("kubernetes", f"{kubernetes_version()}-{module.name}-{digest.hexdigest()[:12]}")


def build(names: tuple[str, ...] = API_SERVER, log=None) -> dict[str, Path]:
    """The paths of the named binaries, building those not cached yet, one `go build` per wrapper module
    (binaries of one module share most of their packages). A lock keeps parallel sessions from building
    the same thing twice."""
    wanted = {name: binaries_dir(PACKAGES[name][0]) / name for name in names}
    missing = [name for name, path in wanted.items() if not path.exists()]
    if not missing:
        return wanted
    go = go_command()
    if go is None:
        raise FileNotFoundError(f"Go is not installed (the Kubernetes tests build {', '.join(missing)} from Go "
                                "modules): install Go 1.26 or newer")
    for module in dict.fromkeys(PACKAGES[name][0] for name in missing):
        target = binaries_dir(module)
        with open(target / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            todo = [name for name in missing if PACKAGES[name][0] == module and not wanted[name].exists()]
            if todo:
                _go_build(go, module, todo, target, log)
    return wanted


def _go_build(go: str, module: Path, names: list[str], target: Path, log) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=target))
    build_log = target / "build.log"
    # CGO off: static binaries as Kubernetes' own release builds them, and no C compiler needed
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}
    stamp = ldflags(kubernetes_version()) if module == KUBERNETES_MODULE else "-s -w"
    command = [go, "build", "-trimpath", "-ldflags", stamp, "-o", f"{staging}/", *(PACKAGES[n][1] for n in names)]
    began = time.monotonic()
    if log:
        log(f"building {', '.join(names)} from Go modules into {target} (the first time takes tens of minutes; "
            f"log: {build_log})")
    try:
        with open(build_log, "ab") as out:
            out.write(f"\n$ {' '.join(command)}\n".encode())
            out.flush()
            try:
                done = subprocess.run(command, cwd=module, env=env, stdout=out, stderr=subprocess.STDOUT,
                                      timeout=BUILD_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise ClusterError(f"go build of {', '.join(names)} took over {BUILD_TIMEOUT} s; "
                                   f"{tail(build_log)}") from None
            out.write(f"exit {done.returncode} after {time.monotonic() - began:.0f} s\n".encode())
        if done.returncode != 0:
            raise ClusterError(f"go build of {', '.join(names)} failed (exit {done.returncode}); {tail(build_log)}")
        for name in names:
            os.replace(staging / name, target / name)
    finally:  # also when interrupted: no half-built folder stays in the cache
        shutil.rmtree(staging, ignore_errors=True)


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"no log at {path}"
    return f"last lines of {path}:\n" + "\n".join(text)


# -- certificates -----------------------------------------------------------------------------------------
def make_certificates(folder: Path) -> None:
    """A CA, a serving certificate for 127.0.0.1/localhost signed by it, and the service-account signing key:
    the client verifies the server as against any real cluster (no insecure-skip-tls-verify). Also the
    aggregation layer's pair: a front-proxy CA and the client certificate the API server presents when it
    proxies a request to an aggregated API server (Kueue's visibility API), which trusts that CA for the
    user named in the request's headers."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    import ipaddress

    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)

    def write(name: str, certificate, key) -> None:
        (folder / f"{name}.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        (folder / f"{name}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    def authority(common_name: str):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                       .serial_number(x509.random_serial_number()).not_valid_before(now)
                       .not_valid_after(now + dt.timedelta(days=7))
                       .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                       .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                      critical=True)
                       .sign(key, hashes.SHA256()))
        return certificate, key

    def issued(ca, ca_key, common_name: str, usage, names=()):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                   .issuer_name(ca.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + dt.timedelta(days=7))
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    ca, ca_key = authority("submarine-kernel test CA")
    write("ca", ca, ca_key)
    write("server", *issued(ca, ca_key, "kube-apiserver", ExtendedKeyUsageOID.SERVER_AUTH, [
        x509.DNSName("localhost"), x509.DNSName("kubernetes.default.svc"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]))
    front_proxy_ca, front_proxy_key = authority("submarine-kernel front-proxy CA")
    write("front-proxy-ca", front_proxy_ca, front_proxy_key)
    write("front-proxy-client", *issued(front_proxy_ca, front_proxy_key, FRONT_PROXY_CLIENT,
                                        ExtendedKeyUsageOID.CLIENT_AUTH))
    service_account_key = ec.generate_private_key(ec.SECP256R1())
    (folder / "sa.key").write_bytes(service_account_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (folder / "sa.pub").write_bytes(service_account_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def rotator_secret_data(ca_name: str, dns_name: str) -> dict[str, str]:
    """The Secret an operator's certificate rotator (open-policy-agent/cert-controller, which Kueue runs)
    accepts as valid and keeps instead of making its own: a CA named `ca_name` with an RSA key in PKCS#1
    (the only form it parses), and a serving certificate for its Service name `dns_name` and for 127.0.0.1,
    where the webhooks are reached here. Both valid for a year: it replaces certificates that expire within
    90 days. Values base64-encoded, as a Secret's data."""
    import base64
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    def pem(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                 serialization.NoEncryption())

    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    ca_key, key = rsa.generate_private_key(65537, 2048), rsa.generate_private_key(65537, 2048)
    ca_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])
    ca = (x509.CertificateBuilder().subject_name(ca_subject).issuer_name(ca_subject).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now)
          .not_valid_after(now + dt.timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.SubjectAlternativeName([x509.DNSName(ca_name)]), critical=False)
          .sign(ca_key, hashes.SHA256()))
    serving = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)]))
               .issuer_name(ca_subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now)
               .not_valid_after(now + dt.timedelta(days=365))
               .add_extension(x509.SubjectAlternativeName([
                   x509.DNSName(dns_name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
               .sign(ca_key, hashes.SHA256()))
    data = {"ca.crt": ca.public_bytes(serialization.Encoding.PEM), "ca.key": pem(ca_key),
            "tls.crt": serving.public_bytes(serialization.Encoding.PEM), "tls.key": pem(key)}
    return {name: base64.b64encode(value).decode() for name, value in data.items()}


# -- the control plane ------------------------------------------------------------------------------------
@dataclass
class ControlPlane:
    """etcd and kube-apiserver on free 127.0.0.1 ports, run from `folder` (certificates, data, logs)."""

    folder: Path
    binaries: dict[str, Path]
    port: int = 0
    etcd_port: int = 0
    admin_token: str = ""
    viewer_token: str = ""
    #: the port of Kueue's visibility server, 0 where it is not served
    visibility_port: int = 0
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        return self.folder / "kubeconfig"

    @property
    def pod_log(self) -> Path:
        """The file kwok serves as every container's log (with `start_controllers`)."""
        return self.folder / "pod.log"

    def write_pod_log(self, lines: list[str]) -> None:
        """Make `lines` every container's log, in the CRI log format (`<time> stdout F <line>`) kwok reads."""
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.pod_log.write_text("".join(f"{stamp} stdout F {line}\n" for line in lines))

    def compact_etcd(self) -> int:
        """Compact etcd up to its current revision, as the API server does every 5 minutes: a watch from an
        older resourceVersion then gets 410 Gone. Returns that revision."""
        base = f"http://127.0.0.1:{self.etcd_port}/v3"
        status = json.loads(urllib.request.urlopen(urllib.request.Request(
            f"{base}/maintenance/status", data=b"{}", method="POST"), timeout=10).read())
        revision = int(status["header"]["revision"])
        urllib.request.urlopen(urllib.request.Request(
            f"{base}/kv/compaction", data=json.dumps({"revision": revision, "physical": True}).encode(),
            method="POST"), timeout=30).read()
        return revision

    def start(self) -> "ControlPlane":
        self.folder.mkdir(parents=True, exist_ok=True)
        make_certificates(self.folder)
        self.admin_token, self.viewer_token = os.urandom(16).hex(), os.urandom(16).hex()
        # the viewer has no RBAC grant at all: what a user without access sees (403)
        (self.folder / "tokens.csv").write_text(f"{self.admin_token},admin,admin-uid,system:masters\n"
                                                f"{self.viewer_token},viewer,viewer-uid\n")
        try:
            self.etcd_port = self._start_etcd()
            self._start_api_server(self.etcd_port)
            self._write_kubeconfig()
            self.install_crds()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "ab")
        process = subprocess.Popen([str(self.binaries[name]), *args], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=self.folder, start_new_session=True,
                                   env={**os.environ, **env} if env else None)
        log.close()
        self.processes[name] = process
        return process

    def _start_etcd(self) -> int:
        client, peer = free_port(), free_port()
        self._spawn("etcd", [
            "--name", "default", "--data-dir", str(self.folder / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls",
            f"http://127.0.0.1:{client}", "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"default=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync",  # a throwaway store: durability only costs time here
            "--log-level", "warn"])
        self._wait("etcd", lambda: json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{client}/health", timeout=2).read()).get("health") == "true")
        return client

    def _start_api_server(self, etcd_port: int) -> None:
        self.port = free_port()
        f = self.folder
        self._spawn("kube-apiserver", [
            f"--etcd-servers=http://127.0.0.1:{etcd_port}", "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1", f"--secure-port={self.port}",
            f"--tls-cert-file={f / 'server.crt'}", f"--tls-private-key-file={f / 'server.key'}",
            f"--token-auth-file={f / 'tokens.csv'}", "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={f / 'sa.pub'}", f"--service-account-signing-key-file={f / 'sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24", "--allow-privileged=true", "--profiling=false",
            f"--cert-dir={f / 'certs'}",
            # the aggregation layer (kube-aggregator), through which Kueue serves its visibility API: the API
            # server authenticates the user, then proxies with this client certificate and the user in headers
            f"--requestheader-client-ca-file={f / 'front-proxy-ca.crt'}",
            f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}", "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group", "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={f / 'front-proxy-client.crt'}",
            f"--proxy-client-key-file={f / 'front-proxy-client.key'}",
            # kwok's node reports a Hostname address no resolver knows, and its InternalIP 127.0.0.1
            "--kubelet-preferred-address-types=InternalIP"])
        self._wait("kube-apiserver", lambda: self.get("/readyz") == b"ok")

    def _wait(self, name: str, ready) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                raise ClusterError(f"{name} exited with {process.returncode} while starting; "
                                   f"{tail(self.folder / f'{name}.log')}")
            with contextlib.suppress(OSError, ValueError, urllib.error.URLError):
                if ready():
                    return
            time.sleep(0.2)
        raise ClusterError(f"{name} was not ready after {START_TIMEOUT:.0f} s; {tail(self.folder / f'{name}.log')}")

    # -- requests as the admin (setup only: the tests talk through the runtime's own client) -----------------
    def _ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.folder / "ca.crt"))

    def request(self, method: str, path: str, body: dict | None = None, token: str | None = None) -> bytes:
        data = json.dumps(body).encode() if body is not None else None
        content_type = "application/merge-patch+json" if method == "PATCH" else "application/json"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {token or self.admin_token}", "Content-Type": content_type,
            "Accept": "application/json"})
        with urllib.request.urlopen(request, context=self._ssl(), timeout=30) as response:
            return response.read()

    def get(self, path: str):
        return self.request("GET", path)

    def get_json(self, path: str) -> dict:
        return json.loads(self.get(path))

    def create(self, path: str, body: dict) -> None:
        """POST `body`; one that exists already is fine (a restarted `up`)."""
        try:
            self.request("POST", path, body)
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise ClusterError(f"POST {path} ({body.get('kind')} {body['metadata']['name']}) failed: "
                                   f"{exc.code} {exc.read().decode(errors='replace')[:500]}") from None

    def install_crds(self) -> None:
        """The CRDs (tests/protocols/), once Established, then the upstream ClusterTrainingRuntimes."""
        names = []
        for path in CRD_FILES:
            crd = load_yaml(path)
            self.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
            names.append(crd["metadata"]["name"])
        self.wait_established(names)
        for path in CLUSTER_RUNTIME_FILES:
            self.create("/apis/trainer.kubeflow.org/v1alpha1/clustertrainingruntimes", load_yaml(path))

    def wait_established(self, names) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        for name in names:
            while not any(c["type"] == "Established" and c["status"] == "True" for c in self.get_json(
                    f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
                    .get("status", {}).get("conditions") or []):  # null until the API server looks at it
                if time.monotonic() > deadline:
                    raise ClusterError(f"the CRD {name} was not Established after {START_TIMEOUT:.0f} s")
                time.sleep(0.1)

    def start_controllers(self, binaries: dict[str, Path]) -> None:
        """Make jobs run without kubelets: kube-controller-manager (Job controller, garbage collector, service
        accounts), kube-scheduler, kwok, which runs one fake node with GPUs and moves its pods through kwok's
        default stages (Pending, Running, and Succeeded for pods a Job owns), and the JobSet controller."""
        self.binaries.update({k: v for k, v in binaries.items() if k != "jobset"})
        kubeconfig, f = str(self.kubeconfig), self.folder
        self._spawn("kube-controller-manager", [
            f"--kubeconfig={kubeconfig}", "--leader-elect=false", "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}", f"--cert-dir={f / 'certs-kcm'}",
            f"--service-account-private-key-file={f / 'sa.key'}", f"--root-ca-file={f / 'ca.crt'}",
            "--use-service-account-credentials=false", "--concurrent-job-syncs=5"])
        self._spawn("kube-scheduler", [
            f"--kubeconfig={kubeconfig}", "--leader-elect=false", "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}", f"--cert-dir={f / 'certs-scheduler'}"])
        # kwok's kubelet-like server on the node's address and port (its stages write both into the node's
        # status), so that the API server's pods/log reaches it as it reaches a kubelet; every container's log
        # is the file POD_LOG (kwok's ClusterLogs, in the CRI log format kwok reads)
        kubelet_port = free_port()
        self.pod_log.touch()
        (f / "kwok-logs.yaml").write_text(json.dumps({
            "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterLogs", "metadata": {"name": "every-pod"},
            "spec": {"selector": {}, "logs": [{"logsFile": str(self.pod_log)}]}}))
        self._spawn("kwok", [
            f"--kubeconfig={kubeconfig}", "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake", "--node-ip=127.0.0.1",
            f"--config={KWOK_STAGES}", f"--config={f / 'kwok-logs.yaml'}",
            f"--node-port={kubelet_port}", f"--server-address=127.0.0.1:{kubelet_port}",
            f"--tls-cert-file={f / 'server.crt'}", f"--tls-private-key-file={f / 'server.key'}"])
        self.create("/api/v1/nodes", FAKE_NODE)
        self._wait("kwok", lambda: any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in self.get_json(f"/api/v1/nodes/{FAKE_NODE['metadata']['name']}")["status"].get("conditions", [])))
        self.start_jobset(binaries["jobset"])

    def start_jobset(self, binary: Path) -> None:
        """The JobSet controller with its admission webhooks, reached by URL on 127.0.0.1 with our CA (as
        envtest does), so JobSets get JobSet's own defaulting and validation."""
        import base64

        self.binaries["jobset"] = binary
        f = self.folder
        certs = f / "jobset-certs"
        certs.mkdir(exist_ok=True)
        shutil.copy(f / "server.crt", certs / "tls.crt")
        shutil.copy(f / "server.key", certs / "tls.key")
        webhook_port, health_port = free_port(), free_port()
        (f / "jobset.yaml").write_text(json.dumps({
            "apiVersion": "config.jobset.x-k8s.io/v1alpha1", "kind": "Configuration",
            "internalCertManagement": {"enable": False}, "leaderElection": {"leaderElect": False},
            "webhook": {"port": webhook_port, "host": "127.0.0.1", "certDir": str(certs)},
            "metrics": {"bindAddress": "0"}, "health": {"healthProbeBindAddress": f"127.0.0.1:{health_port}"}}))
        self._spawn("jobset", [f"--config={f / 'jobset.yaml'}", f"--kubeconfig={self.kubeconfig}"])
        self._wait("jobset", lambda: urllib.request.urlopen(f"http://127.0.0.1:{health_port}/readyz",
                                                           timeout=2).status == 200)
        ca = base64.b64encode((f / "ca.crt").read_bytes()).decode()
        for kind, hooks in JOBSET_WEBHOOKS.items():
            self.create(f"/apis/admissionregistration.k8s.io/v1/{kind.lower()}s", {
                "apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
                "metadata": {"name": f"jobset-{kind.lower()}"},
                "webhooks": [{"name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None",
                              "failurePolicy": "Fail", "rules": [rule],
                              "clientConfig": {"url": f"https://127.0.0.1:{webhook_port}{path}", "caBundle": ca}}
                             for name, path, rule in hooks]})

    def install_webhooks(self, manifests: Path, prefix: str, port: int, keep=lambda path: True,
                         ca: str = "") -> None:
        """An operator's upstream webhook configurations, each webhook reached by URL on 127.0.0.1:`port`
        with a CA bundle (base64; ours unless given) instead of through its in-cluster Service (names
        prefixed as upstream's kustomization does, so operators do not clash)."""
        import base64

        ca = ca or base64.b64encode((self.folder / "ca.crt").read_bytes()).decode()
        for config in load_yaml_all(manifests):
            hooks = [hook for hook in config["webhooks"] if keep(hook["clientConfig"]["service"]["path"])]
            for hook in hooks:
                path = hook["clientConfig"]["service"]["path"]
                hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}", "caBundle": ca}
            config["metadata"] = {"name": f"{prefix}-{config['metadata']['name']}"}
            config["webhooks"] = hooks
            self.create(f"/apis/admissionregistration.k8s.io/v1/{config['kind'].lower()}s", config)

    def _serving_certs(self, folder: Path) -> Path:
        """`folder` holding tls.crt and tls.key: the API server's own serving pair (for 127.0.0.1, signed by
        our CA), which is what a webhook's caBundle must verify."""
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.folder / "server.crt", folder / "tls.crt")
        shutil.copy(self.folder / "server.key", folder / "tls.key")
        return folder

    def start_operators(self, binaries: dict[str, Path]) -> None:
        """Kubeflow Trainer v2's controller manager and Kueue's, each with its webhooks; needs
        `start_controllers` first (a TrainJob runs as a JobSet, which runs as Jobs and pods)."""
        self.start_trainer(binaries["trainer"])
        self.start_kueue(binaries["kueue"])

    def start_trainer(self, binary: Path) -> None:
        """The Trainer controller manager: TrainJobs become JobSets. Its webhook server reads its certificate
        from controller-runtime's default folder under the temporary directory (no setting moves it), so it
        gets a TMPDIR of its own here rather than the shared /tmp/k8s-webhook-server."""
        self.binaries["trainer"] = binary
        f = self.folder
        temp = f / "trainer-tmp"
        self._serving_certs(temp / "k8s-webhook-server" / "serving-certs")
        webhook_port, health_port = free_port(), free_port()
        (f / "trainer.yaml").write_text(json.dumps({
            "apiVersion": "config.trainer.kubeflow.org/v1alpha1", "kind": "Configuration",
            "certManagement": {"enable": False}, "leaderElection": {"leaderElect": False},
            "webhook": {"port": webhook_port, "host": "127.0.0.1"},
            "metrics": {"bindAddress": "0"},
            "health": {"healthProbeBindAddress": f"127.0.0.1:{health_port}"}}))
        self._spawn("trainer", [f"--config={f / 'trainer.yaml'}", f"--kubeconfig={self.kubeconfig}"],
                    env={"TMPDIR": str(temp)})
        self._wait("trainer", lambda: urllib.request.urlopen(f"http://127.0.0.1:{health_port}/readyz",
                                                            timeout=2).status == 200)
        self.install_webhooks(TRAINER_WEBHOOKS, "trainer", webhook_port)

    def start_kueue(self, binary: Path) -> None:
        """Kueue's controller manager for the integrations the runtime uses, with its webhooks.

        Its internal certificate management stays on, as installed upstream: with it off, Kueue 0.19 reads a
        metrics certificate from the fixed folder /etc/kueue/metrics/certs and exits without one. Its rotator
        keeps the certificates of a valid Secret it finds (`rotator_secret_data`), which here also name
        127.0.0.1. Its on-demand visibility API (`start_kueue_visibility`) is on where Kueue can write its
        fixed certificate folder."""
        self.binaries["kueue"] = binary
        f = self.folder
        crds = [load_yaml(path) for path in KUEUE_CONTROLLER_CRDS]
        for crd in crds:
            self.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        self.wait_established(crd["metadata"]["name"] for crd in crds)
        self.create_namespace("kueue-system")
        secret = rotator_secret_data("kueue-ca", "kueue-webhook-service.kueue-system.svc")
        self.create("/api/v1/namespaces/kueue-system/secrets", {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kueue-webhook-server-cert"},
            "data": secret})
        webhook_port, health_port = free_port(), free_port()
        # Kueue's queue CRDs convert between v1beta1 and v1beta2 through its webhook, as upstream's
        # kustomization patches them (its rotator waits until it has put its CA into each)
        for name in KUEUE_CONVERTED_CRDS:
            self.request("PATCH", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}", {
                "spec": {"conversion": {"strategy": "Webhook", "webhook": {
                    "conversionReviewVersions": ["v1"],
                    "clientConfig": {"url": f"https://127.0.0.1:{webhook_port}/convert",
                                     "caBundle": secret["ca.crt"]}}}}})
        # the Secret's files where Kueue reads them, as the kubelet mounts it upstream (the rotator waits for them)
        import base64

        certs = f / "kueue-certs"
        certs.mkdir(exist_ok=True)
        for name, value in secret.items():
            (certs / name).write_bytes(base64.b64decode(value))
        # before Kueue starts: its rotator puts its CA into these configurations by name
        self.install_webhooks(KUEUE_WEBHOOKS, "kueue", webhook_port, keep=KUEUE_WEBHOOK_PATHS.search,
                              ca=secret["ca.crt"])
        self.visibility_port = free_port() if kueue_visibility_writable() else 0
        (f / "kueue.yaml").write_text(json.dumps({
            "apiVersion": "config.kueue.x-k8s.io/v1beta2", "kind": "Configuration", "namespace": "kueue-system",
            "leaderElection": {"leaderElect": False},
            "webhook": {"port": webhook_port, "host": "127.0.0.1", "certDir": str(certs)},
            "metrics": {"bindAddress": "0"},
            "health": {"healthProbeBindAddress": f"127.0.0.1:{health_port}"},
            "visibilityServer": {"bindAddress": "127.0.0.1", "bindPort": self.visibility_port or free_port()},
            "integrations": {"frameworks": list(KUEUE_FRAMEWORKS)}}))
        self._spawn("kueue", [f"--config={f / 'kueue.yaml'}", f"--kubeconfig={self.kubeconfig}",
                              f"--feature-gates=VisibilityOnDemand={str(bool(self.visibility_port)).lower()}"])
        self._wait("kueue", lambda: urllib.request.urlopen(f"http://127.0.0.1:{health_port}/readyz",
                                                          timeout=2).status == 200)
        if self.visibility_port:
            self.start_kueue_visibility()

    def start_kueue_visibility(self) -> None:
        """Serve Kueue's visibility API through the aggregation layer, as upstream's manifests install it
        (config/components/visibility: an APIService per version, insecureSkipTLSVerify, as Kueue's
        certificate is self-signed). The API server proxies to the Service the APIService names; an
        ExternalName Service is resolved to its name and the APIService's port without endpoints or a
        cluster IP (neither exists without kube-proxy), so it reaches Kueue on 127.0.0.1."""
        self.create("/api/v1/namespaces/kueue-system/services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "visibility-server"},
            "spec": {"type": "ExternalName", "externalName": "localhost"}})
        names = []
        for version in KUEUE_VISIBILITY_VERSIONS:
            names.append(f"{version}.visibility.kueue.x-k8s.io")
            self.create("/apis/apiregistration.k8s.io/v1/apiservices", {
                "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": names[-1]},
                "spec": {"group": "visibility.kueue.x-k8s.io", "version": version, "groupPriorityMinimum": 100,
                         "versionPriority": 100, "insecureSkipTLSVerify": True,
                         "service": {"name": "visibility-server", "namespace": "kueue-system",
                                     "port": self.visibility_port}}})
        self._wait("kueue", lambda: all(any(
            c["type"] == "Available" and c["status"] == "True" for c in self.get_json(
                f"/apis/apiregistration.k8s.io/v1/apiservices/{name}").get("status", {}).get("conditions") or [])
            for name in names))

    def namespace_for(self, test_name: str) -> str:
        """A new namespace for one test, named after it (no namespace controller may run to empty a deleted
        one, so tests do not share one)."""
        slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:40].strip("-")
        return self.create_namespace(f"{slug}-{os.urandom(3).hex()}")

    @contextlib.contextmanager
    def runtimes(self, namespace: str, **defaults):
        """make(**traits): KubernetesRuntimes on this control plane in `namespace` (`defaults` under the
        traits given); all closed on leaving."""
        from submarine_kernel.runtimes.kubernetes import KubernetesRuntime

        made = []

        def make(**traits):
            made.append(KubernetesRuntime(kubeconfig=str(self.kubeconfig), namespace=namespace, request_timeout=10,
                                          **{**defaults, **traits}))
            return made[-1]
        try:
            yield make
        finally:
            for runtime in made:
                runtime.close()

    def create_namespace(self, name: str) -> str:
        self.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return name

    def _write_kubeconfig(self) -> None:
        import base64

        ca = base64.b64encode((self.folder / "ca.crt").read_bytes()).decode()
        users = {"admin": self.admin_token, "viewer": self.viewer_token}
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "admin",
                  "clusters": [{"name": "submarine-test", "cluster": {"server": self.url,
                                                                      "certificate-authority-data": ca}}],
                  "users": [{"name": user, "user": {"token": token}} for user, token in users.items()],
                  "contexts": [{"name": user, "context": {"cluster": "submarine-test", "user": user}}
                               for user in users]}
        self.kubeconfig.write_text(json.dumps(config, indent=1))
        self.kubeconfig.chmod(0o600)

    def stop(self) -> None:
        """Stop the API server, then etcd (its store is thrown away with the folder)."""
        for name in (*reversed(OPERATORS), "jobset", *reversed(CONTROLLERS), "kube-apiserver", "etcd"):
            process = self.processes.pop(name, None)
            if process is not None:
                stop_process(process.pid, process)


def kueue_visibility_writable() -> bool:
    """Whether Kueue can write its visibility server's certificate folder (made here where we may)."""
    with contextlib.suppress(OSError):
        KUEUE_VISIBILITY_CERTS.mkdir(exist_ok=True)
    return os.access(KUEUE_VISIBILITY_CERTS, os.W_OK)


def load_yaml(path: Path):
    """libyaml's loader where PyYAML has it: the pure-Python one takes seconds per CRD of pod templates."""
    import yaml

    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_yaml_all(path: Path) -> list:
    import yaml

    return [d for d in yaml.load_all(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if d]


def stop_process(pid: int, process: subprocess.Popen | None = None, grace: float = 10) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return
        if process is None and not pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if process is not None:
        process.wait()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def start(folder: Path, controllers: bool = False, operators: bool = False, log=None) -> ControlPlane:
    """Build (on first use) and start a control plane in `folder`; with `controllers`, jobs run too; with
    `operators`, also Trainer and Kueue."""
    plane = ControlPlane(folder, build(API_SERVER, log)).start()
    if controllers or operators:
        try:
            plane.start_controllers(build(CONTROLLERS, log))
            if operators:
                plane.start_operators(build(OPERATORS, log))
        except BaseException:
            plane.stop()
            raise
    return plane


@contextlib.contextmanager
def started_for_tests(folder: Path, controllers: bool = False, operators: bool = False):
    """`start` for a test session, the one place its failures become test outcomes: without Go (and nothing
    cached) the tests skip with one line, and fail under CI; a failed build or start fails them with one line
    and the log's last lines. The plane is stopped when the block ends."""
    try:
        plane = start(folder, controllers, operators, log=lambda line: print(line, file=sys.stderr))
    except FileNotFoundError as exc:
        skip_or_fail(str(exc))
    except ClusterError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def real_kubernetes(tmp_path_factory) -> ControlPlane:
    """One control plane for the session (the API server alone: jobs stay as created)."""
    with started_for_tests(tmp_path_factory.mktemp("kubernetes")) as plane:
        yield plane


# -- the command ------------------------------------------------------------------------------------------
def up(controllers: bool = False, operators: bool = False) -> Path:
    """Start a control plane that outlives this command; its state is in UP_DIR. Returns the kubeconfig."""
    if (UP_DIR / "state.json").exists():
        state = json.loads((UP_DIR / "state.json").read_text())
        if all(pid_alive(pid) for pid in state["pids"].values()):
            return Path(state["kubeconfig"])
        down()
    shutil.rmtree(UP_DIR, ignore_errors=True)
    plane = start(UP_DIR, controllers, operators, log=lambda line: print(line, file=sys.stderr))
    (UP_DIR / "state.json").write_text(json.dumps({"kubeconfig": str(plane.kubeconfig), "url": plane.url,
                                                   "pids": {k: p.pid for k, p in plane.processes.items()}}))
    return plane.kubeconfig


def down() -> None:
    state_file = UP_DIR / "state.json"
    if not state_file.exists():
        return
    pids = json.loads(state_file.read_text())["pids"]
    for pid in reversed(list(pids.values())):  # controllers first, etcd last
        stop_process(pid)
    shutil.rmtree(UP_DIR, ignore_errors=True)


def main(argv: list[str]) -> int:
    if argv not in (["up"], ["up", "--controllers"], ["up", "--operators"], ["down"]):
        print("usage: python tests/clusters/kubernetes.py up [--controllers | --operators] | down", file=sys.stderr)
        return 2
    try:
        if argv[0] == "up":
            print(up(controllers="--controllers" in argv, operators="--operators" in argv))
        else:
            down()
    except (ClusterError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
