"""What a job's pods receive beside the image: its algorithm files and its secrets.

The files go in a ConfigMap owned by the job when they fit (etcd's object limit), else are fetched from the
bundle's storage URI (s3:// or hdfs://) by an init container that checks every file's sha256. Either way they
are in `<workdir>/submarine_algorithm` (on PYTHONPATH) and in the working directory itself.

Env values and params whose names look secret (`secrets.is_secret_key`) go into a Secret `<job>-secrets` owned
by the job, referenced with `valueFrom.secretKeyRef`; a secret param on the command line is written as
`"${SUBMARINE_PARAM_<NAME>}"` for the pod's shell to expand. Dry runs show it with `***` values
(`JobPlan.objects`). ConfigMap and Secret keys follow one rule (`CONFIGMAP_KEY_BAD`)."""

from __future__ import annotations

import base64
import posixpath
import re
import shlex
from typing import Any, Mapping, Sequence
from urllib.parse import quote, urlsplit

from ...algorithm import PARAMS_NAME, Bundle
from ...contract import ALGORITHM_DIR
from ...errors import SubmarineError
from ...secrets import is_secret_key, redact_url
from ...spec import JobSpec
from ...storage.integrity import replica_check
from .labels import COMPONENT_LABEL, DIGEST_ANNOTATION, secret_name
from .options import ClusterOptions
from .pods import env_list

ALGORITHM_VOLUME = "submarine-algorithm"
WORKSPACE_VOLUME = "submarine-workspace"
FETCH_CONTAINER = "fetch-algorithm"
#: characters a ConfigMap or Secret key may not hold
CONFIGMAP_KEY_BAD = re.compile(r"[^-._a-zA-Z0-9]")


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def configmap_keys(names: Sequence[str]) -> dict[str, str]:
    """file path → ConfigMap key (keys allow only [-._a-zA-Z0-9], so `utils/data.py` → `utils__data.py`)."""
    keys: dict[str, str] = {}
    used: set[str] = set()
    for name in sorted(names):
        key = CONFIGMAP_KEY_BAD.sub("_", name.replace("/", "__"))
        if key.startswith(".."):
            key = "_" + key.lstrip(".")
        key = key[:240]
        candidate, n = key, 1
        while candidate in used:
            n += 1
            candidate = f"{key}.{n}"
        used.add(candidate)
        keys[name] = candidate
    return keys


def configmap_size(bundle: Bundle) -> int:
    """Bytes the bundle takes in a ConfigMap (binary files are base64-encoded)."""
    size = 0
    for name, data in bundle.files.items():
        size += len(name) + (len(data) if _is_text(data) else 4 * ((len(data) + 2) // 3))
    return size


def algorithm_configmap(name: str, namespace: str, bundle: Bundle, labels: Mapping[str, str]) -> dict[str, Any]:
    keys = configmap_keys(list(bundle.files))
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    for file, content in sorted(bundle.files.items()):
        if _is_text(content):
            data[keys[file]] = content.decode("utf-8")
        else:
            binary[keys[file]] = base64.b64encode(content).decode("ascii")
    cm: dict[str, Any] = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {**labels, COMPONENT_LABEL: "algorithm"},
                     "annotations": {DIGEST_ANNOTATION: bundle.digest}},
        "immutable": True,
        "data": data,
    }
    if binary:
        cm["binaryData"] = binary
    return cm


def choose_delivery(bundle: Bundle, bundle_uri: str, options: ClusterOptions) -> str:
    """'configmap' or 'storage'; raise when the bundle can reach the pods neither way."""
    if not bundle.files:
        return "configmap"  # a job without files: nothing stored, an empty algorithm folder
    fits = configmap_size(bundle) <= options.configmap_limit
    if options.bundle_delivery == "configmap":
        if not fits:
            raise SubmarineError(f"the algorithm files take {configmap_size(bundle)} bytes, over the ConfigMap limit "
                                 f"of {options.configmap_limit}: set KubernetesRuntime.bundle_delivery = 'auto' and "
                                 "store bundles on s3:// or hdfs://")
        return "configmap"
    if options.bundle_delivery == "auto" and fits:
        return "configmap"
    scheme = urlsplit(bundle_uri).scheme
    if scheme not in ("s3", "s3a", "hdfs", "webhdfs"):
        why = "bundle_delivery is 'storage'" if options.bundle_delivery == "storage" else \
            f"the algorithm files take {configmap_size(bundle)} bytes, over the ConfigMap limit"
        raise SubmarineError(f"{why}, but the bundle is stored at {redact_url(bundle_uri)!r}, which pods cannot "
                             "read: set SubmarineConfig.storage_root to an s3:// or hdfs:// URL")
    return "storage"


def fetch_init_container(bundle: Bundle, bundle_uri: str, options: ClusterOptions) -> dict[str, Any]:
    """An init container that downloads the bundle into the workspace, checks every file's sha256, and
    copies the files into the working directory too."""
    workspace = "/submarine-workspace"
    target = f"{workspace}/{ALGORITHM_DIR}"
    parts = urlsplit(bundle_uri)
    lines = ["set -eu", f"mkdir -p {shlex.quote(target)}"]
    env: dict[str, Any] = {}
    container: dict[str, Any] = {"name": FETCH_CONTAINER}
    if parts.scheme in ("s3", "s3a"):
        source = f"s3://{parts.netloc}{parts.path.rstrip('/')}/"
        # only the files submitted: anything else in the store's folder never reaches the algorithm folder
        flags = ["--recursive", "--only-show-errors", "--exclude", "*"]
        for name in sorted(bundle.files):
            flags += ["--include", name]
        if options.s3_endpoint_url:
            flags += ["--endpoint-url", options.s3_endpoint_url]
        if options.s3_region:
            env["AWS_DEFAULT_REGION"] = options.s3_region
        lines.append(" ".join(["aws", "s3", "cp", *map(shlex.quote, flags), shlex.quote(source),
                               shlex.quote(target + "/")]))
        container["image"] = options.s3_fetch_image
        if options.s3_credentials_secret:
            container["envFrom"] = [{"secretRef": {"name": options.s3_credentials_secret}}]
    else:  # hdfs:// or webhdfs:// through the WebHDFS REST API, which curl speaks
        if options.webhdfs_url:
            base = options.webhdfs_url.rstrip("/")
        elif parts.scheme == "webhdfs":
            base = f"http://{parts.netloc}"
        else:
            base = f"http://{parts.hostname}:9870"
        user = f"&user.name={quote(options.hdfs_user)}" if options.hdfs_user else ""
        for name in sorted(bundle.files):
            url = f"{base}/webhdfs/v1{quote(posixpath.join(parts.path, name))}?op=OPEN{user}"
            destination = f"{target}/{name}"
            if "/" in name:
                lines.append(f"mkdir -p {shlex.quote(posixpath.dirname(destination))}")
            lines.append(f"curl -fsSL -o {shlex.quote(destination)} {shlex.quote(url)}")
        container["image"] = options.hdfs_fetch_image
    lines.append(f"cd {shlex.quote(target)}")
    lines.append(replica_check(bundle.file_sha256))
    lines.append(f"cp -R {shlex.quote(target)}/. {shlex.quote(workspace)}/")
    container.update({
        "imagePullPolicy": options.image_pull_policy,
        "command": ["/bin/sh", "-c", "\n".join(lines)],
        "volumeMounts": [{"name": WORKSPACE_VOLUME, "mountPath": workspace}],
    })
    if env:
        container["env"] = env_list(env)
    return container


def projected_algorithm_volume(bundle: Bundle, cm_name: str, secret: str) -> dict[str, Any]:
    """The algorithm folder from the ConfigMap, with params.json from the Secret."""
    keys = configmap_keys([n for n in bundle.files if n != PARAMS_NAME])
    return {"name": ALGORITHM_VOLUME, "projected": {"defaultMode": 0o755, "sources": [
        {"configMap": {"name": cm_name, "items": [{"key": keys[n], "path": n} for n in sorted(keys)]}},
        {"secret": {"name": secret, "items": [{"key": PARAMS_NAME, "path": PARAMS_NAME}]}}]}}


def algorithm_volumes(bundle: Bundle, bundle_uri: str, options: ClusterOptions, delivery: str, cm_name: str,
                       workdir: str) -> tuple[list[dict], list[dict], list[dict]]:
    algorithm_dir = posixpath.join(workdir, ALGORITHM_DIR)
    if delivery == "configmap":
        keys = configmap_keys(list(bundle.files))
        volumes = [{"name": ALGORITHM_VOLUME, "configMap": {
            "name": cm_name, "defaultMode": 0o755,
            "items": [{"key": keys[name], "path": name} for name in sorted(bundle.files)]}}]
        # The folder, plus each file again by subPath so that `python train.py` works in the working directory.
        mounts = [{"name": ALGORITHM_VOLUME, "mountPath": algorithm_dir, "readOnly": True}]
        mounts += [{"name": ALGORITHM_VOLUME, "mountPath": posixpath.join(workdir, name), "subPath": name,
                    "readOnly": True} for name in sorted(bundle.files)]
        return volumes, mounts, []
    volumes = [{"name": WORKSPACE_VOLUME, "emptyDir": {}}]
    mounts = [{"name": WORKSPACE_VOLUME, "mountPath": workdir}]
    return volumes, mounts, [fetch_init_container(bundle, bundle_uri, options)]


def one_volume_per_mount(volumes: list[dict], mounts: list[dict]) -> tuple[list[dict], list[dict]]:
    """The same files with no two mounts of one volume name: a Trainer v2 runtime patch keys a container's
    volumeMounts by name (`x-kubernetes-list-map-keys: [name]`, so the API server refuses a second mount of
    one volume as a duplicate), where a pod keys them by mountPath. Each further mount of a volume gets a
    copy of that volume under a name of its own (`submarine-algorithm-1`, ...)."""
    by_name = {volume["name"]: volume for volume in volumes}
    volumes, mounts, uses = list(volumes), [dict(m) for m in mounts], dict.fromkeys(by_name, 0)
    for mount in mounts:
        name = mount["name"]
        if name in uses:
            if uses[name]:
                mount["name"] = f"{name}-{uses[name]}"
                volumes.append({**by_name[name], "name": mount["name"]})
            uses[name] += 1
    return volumes, mounts


class JobSecrets:
    """Secret-looking env values and params of one job, kept out of the job, its command and its ConfigMap.

    Env entries whose name looks secret (AWS_SECRET_ACCESS_KEY, HF_TOKEN, SUBMARINE_PARAM_API_KEY...) become
    `valueFrom.secretKeyRef`s into one Secret owned by the job; a secret param on the command line becomes a
    reference to its SUBMARINE_PARAM_* variable, which the shell expands in the pod.
    """

    def __init__(self, spec: JobSpec):
        self.name = secret_name(spec.name)
        self.params = {k for k in spec.params if is_secret_key(k)}
        self.data: dict[str, str] = {}
        values: dict[str, dict[str, str]] = {}  # var → role → value
        for role in spec.roles:
            for key, value in spec.role_env(role).items():
                if is_secret_key(key):
                    values.setdefault(key, {})[role] = str(value)
        self._keys: dict[tuple[str, str], str] = {}  # (role, var) → key in the Secret
        for var, by_role in values.items():
            shared = len(set(by_role.values())) == 1
            for role, value in by_role.items():
                key = CONFIGMAP_KEY_BAD.sub("_", var if shared else f"{role}.{var}")
                self._keys[(role, var)] = key
                self.data[key] = value
        masked = {k: (f"__SUBMARINE_SECRET_PARAM_{k.upper()}__" if k in self.params else v)
                  for k, v in spec.params.items()}
        self._masked = spec.replace(params=masked)

    def ref(self, role: str, var: str) -> dict[str, Any] | None:
        key = self._keys.get((role, var))
        return {"secretKeyRef": {"name": self.name, "key": key}} if key else None

    def env(self, role: str, env: Mapping[str, Any]) -> dict[str, Any]:
        """`env` with secret values replaced by references to the Secret."""
        return {k: (self.ref(role, k) or v) if isinstance(v, str) else v for k, v in env.items()}

    def command(self, spec: JobSpec, role: str) -> str:
        """The role's launch command with each secret param read from its variable in the pod."""
        command = self._masked.launch_command(role)
        for name in self.params:
            command = command.replace(f"__SUBMARINE_SECRET_PARAM_{name.upper()}__",
                                      f'"${{SUBMARINE_PARAM_{name.upper()}}}"')
        return command

    def manifest(self, namespace: str, labels: Mapping[str, str]) -> dict[str, Any] | None:
        if not self.data:
            return None
        return {"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": self.name, "namespace": namespace,
                             "labels": {**labels, COMPONENT_LABEL: "secrets"}},
                "type": "Opaque", "immutable": True, "stringData": dict(sorted(self.data.items()))}
