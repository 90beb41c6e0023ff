"""A JobSpec as a YARN Service (the `/app/v1/services` JSON), shaped as Hadoop Submarine's YARN runtime
built it (the equivalent classic `yarn jar` command line is `classic.py`'s; what YARN refuses, `checks.py`'s).

Role → component mapping (Hadoop Submarine's, with the project's environment contract on top):

| JobSpec                         | YARN components                                                         |
|---------------------------------|-------------------------------------------------------------------------|
| TensorFlow, `worker` N (+ `ps`) | `master` (1) = worker 0, `worker` (N-1) = workers 1..N-1, `ps` (M)      |
| TensorFlow, `chief` + `worker`  | `master` (1) = the chief, `worker` (N-1), `ps` (M)                      |
| PyTorch / XGBoost               | `master` (1) = the master, `worker` (N-1)                               |
| any, `evaluator`                | `evaluator`                                                             |
| TensorBoard (optional)          | `tensorboard` (1), quicklink `Tensorboard` → port 6006                  |

The `master` component always holds the replica that decides the job's outcome and carries
`yarn.service.container-state-report-as-service-state=true`, so the service ends when it ends, with its
state. Unlike Hadoop Submarine (which put a `master` key into TF_CONFIG), TF_CONFIG here uses the JobSpec's
role names (`worker` 0 is the `master-0` container), exactly as the Kubeflow operator and the local runtime
write it, so training code does not change between runtimes. Addresses are the YARN registry DNS names
`<component>-<i>.<service>.<user>.<domain>:<port>`.

YARN writes the launch command into `launch_container.sh` as `exec /bin/bash -c "<command>"` and every env
value as `export KEY="<value>"`, i.e. inside one pair of double quotes. The launch command is therefore a
shell-quoted script escaped once more for double quotes, with YARN's `${COMPONENT_ID}` token (substituted
by the service AM per container) left unescaped; user env values that double quotes would change move from
`configuration.env` into the launch command.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from ... import contract
from ...job_types import SUBMISSION_LABEL
from ...secrets import redacted_spec_json
from ...resources import Resources
from ...spec import JobSpec
from ...storage.integrity import replica_check
from . import rendezvous

REPORT_AS_SERVICE_STATE = "yarn.service.container-state-report-as-service-state"
#: the service property that carries a submission's token (the JobSpec's SUBMISSION_LABEL): YARN keeps no
#: labels, and property names are dotted
SUBMISSION_PROPERTY = "submarine-kernel.submission"
#: the spec the service was submitted with (JSON, secrets `***`) and its notebook, for rebuilding a lost registry
SPEC_PROPERTY = "submarine-kernel.spec"
NOTEBOOK_PROPERTY = "submarine-kernel.notebook"
MASTER_COMPONENT = "master"
TENSORBOARD_COMPONENT = "tensorboard"
TENSORBOARD_PORT = 6006
TENSORBOARD_QUICKLINK = "Tensorboard"
GPU_RESOURCE = "yarn.io/gpu"
#: YARN substitutes this token in launch commands with the component instance id (0, 1, ...).
COMPONENT_ID_TOKEN = "${COMPONENT_ID}"
_COMPONENT_ID_PLACEHOLDER = "__SUBMARINE_YARN_COMPONENT_ID__"
_DOUBLE_QUOTE_SPECIAL = re.compile(r'["\\$`]')


@dataclass(frozen=True)
class ComponentPlan:
    """One YARN component: the JobSpec role it runs and the role index of its instance 0."""

    name: str
    role: str
    first_index: int
    count: int

    def role_index(self, instance: int) -> int:
        return self.first_index + instance


@dataclass(frozen=True)
class ServiceSettings:
    """Cluster-side settings the service JSON needs (YarnRuntime's traits, as plain data)."""

    user: str
    domain: str = ""
    queue: str = ""
    lifetime: int = 0
    docker_java_home: str = ""
    docker_hadoop_hdfs_home: str = ""
    kerberos_principal: str = ""
    kerberos_keytab: str = ""
    tf_port: int = 8000
    master_port: int = 23456
    default_memory_mib: int = 4096
    default_vcores: int = 1
    max_memory_mib: int = 0
    max_vcores: int = 0
    tensorboard: bool = False
    tensorboard_image: str = ""
    tensorboard_resources: str = "memory=4G,vcores=1"
    extra_env: Mapping[str, str] = field(default_factory=dict)
    #: the RMs containers ask for their peers' hosts when there is no registry DNS domain (rendezvous.py)
    rm_urls: tuple[str, ...] = ()

    def peer_lookup(self, spec: JobSpec) -> bool:
        """Whether the replicas of `spec` find each other through the Services API (no registry DNS)."""
        return not self.domain and spec.replica_count > 1


def registry_user(user: str) -> str:
    """The user as YARN's registry DNS writes it (RegistryUtils.currentUser: lower case, '_' → '-')."""
    return user.lower().replace("_", "-")


def instance_host(component: str, instance: int, service: str, settings: ServiceSettings,
                  peer_lookup: bool = False) -> str:
    """`<component>-<i>.<service>.<user>.<domain>`; without a domain, the placeholder the container replaces
    with the host the Services API names (`peer_lookup`), or localhost for a single replica."""
    if not settings.domain:
        return rendezvous.placeholder(f"{component}-{instance}") if peer_lookup else "localhost"
    return f"{component}-{instance}.{service}.{registry_user(settings.user)}.{settings.domain}"


def component_plan(spec: JobSpec) -> list[ComponentPlan]:
    """The YARN components of `spec`, `master` (the deciding replica) first."""
    decider = spec.deciding_role
    plans = [ComponentPlan(MASTER_COMPONENT, decider, 0, 1)]
    if spec.roles[decider].replicas > 1:
        plans.append(ComponentPlan("worker", decider, 1, spec.roles[decider].replicas - 1))
    for role in contract.replica_names(spec):
        name = role[0]
        if name == decider or any(p.role == name for p in plans):
            continue
        plans.append(ComponentPlan(name, name, 0, spec.roles[name].replicas))
    return plans


def locate(plans: Iterable[ComponentPlan], role: str, index: int) -> tuple[str, int]:
    """(component, instance) that runs replica `index` of `role`."""
    for plan in plans:
        if plan.role == role and plan.first_index <= index < plan.first_index + plan.count:
            return plan.name, index - plan.first_index
    raise KeyError(f"{role}-{index}")


def role_of_instance(plans: Iterable[ComponentPlan], instance_name: str) -> tuple[str, int] | None:
    """(role, index) of a component instance name like `worker-2`; None for TensorBoard or unknown names."""
    component, _, number = instance_name.rpartition("-")
    if not number.isdigit():
        return None
    for plan in plans:
        if plan.name == component and int(number) < plan.count:
            return plan.role, plan.role_index(int(number))
    return None


def double_quote_escape(text: str) -> str:
    """Escape `text` so that `"<escaped>"` in a shell gives back `text` exactly."""
    return _DOUBLE_QUOTE_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def _env_safe_for_yarn(value: str) -> bool:
    return not _DOUBLE_QUOTE_SPECIAL.search(value) and "\n" not in value


def _exports(env: Mapping[str, str]) -> list[str]:
    return [f"export {key}={shlex.quote(str(value))}" for key, value in env.items()]


# -- the service JSON -----------------------------------------------------------------------------------
def yarn_resource(resources: Resources, settings: ServiceSettings) -> dict:
    """`{"cpus", "memory", "additional"}` with GPUs as yarn.io/gpu and other resource types as given."""
    cpus = resources.cpus if resources.cpus is not None else settings.default_vcores
    memory = resources.memory_mib if resources.memory_mib is not None else settings.default_memory_mib
    out: dict = {"cpus": int(cpus), "memory": str(int(memory))}
    additional = {}
    if resources.gpus:
        additional[GPU_RESOURCE] = {"value": int(resources.gpus), "unit": ""}
    for key, value in resources.other.items():
        additional[key] = {"value": int(value), "unit": ""}
    if additional:
        out["additional"] = additional
    return out


def cluster_addresses(spec: JobSpec, plans: list[ComponentPlan], settings: ServiceSettings) -> dict[str, list[str]]:
    """role → ["<registry DNS name>:<tf_port>", ...] in replica order. Found through the Services API
    instead, replicas may share a host, so each listens on a port of its own (tf_port + its position)."""
    cluster: dict[str, list[str]] = {}
    lookup = settings.peer_lookup(spec)
    for position, (role, index) in enumerate(contract.replica_names(spec)):
        component, instance = locate(plans, role, index)
        port = settings.tf_port + position if lookup else settings.tf_port
        cluster.setdefault(role, []).append(
            f"{instance_host(component, instance, spec.name, settings, lookup)}:{port}")
    return cluster


def launch_script(spec: JobSpec, plan: ComponentPlan, settings: ServiceSettings,
                  moved_env: Mapping[str, str], digests: Mapping[str, str] | None = None,
                  files: Iterable[str] = ()) -> str:
    """The shell command every container of `plan` runs, before YARN's double-quote wrapping.

    It exports the environment contract (SUBMARINE_*, TF_CONFIG or MASTER_ADDR/WORLD_SIZE/RANK), puts
    ./submarine_algorithm on PYTHONPATH, sets up Hadoop inside the image when its homes are known (as
    Hadoop Submarine's launch scripts did), checks the algorithm files YARN localized against their sha256
    as submitted (`digests`: YARN copies whatever the store holds), then runs the role's launch command in a subshell
    so YARN's stdout/stderr redirection captures all of its output.
    """
    role = plan.role
    plans = component_plan(spec)
    addresses = contract.Addresses(cluster_addresses(spec, plans, settings), settings.master_port)
    if plan.count == 1:
        lines = _exports(contract.replica_env(spec, role, plan.first_index, addresses))
    else:  # every instance of the component runs this script: the index comes from YARN's ${COMPONENT_ID}
        lines = []
        for key, value in contract.replica_env(spec, role, None, addresses).items():
            if key == "SUBMARINE_REPLICA_INDEX":
                index = (f"$(({_COMPONENT_ID_PLACEHOLDER}+{plan.first_index}))" if plan.first_index
                         else _COMPONENT_ID_PLACEHOLDER)
                lines.append(f"export {key}={index}")
            elif isinstance(value, contract.Indexed):  # exported after SUBMARINE_REPLICA_INDEX, which it reads
                index = (f"$((SUBMARINE_REPLICA_INDEX+{value.offset}))" if value.offset
                         else "$SUBMARINE_REPLICA_INDEX")
                quoted = (shlex.quote(value.before) if value.before else "") + f'"{index}"'
                lines.append(f"export {key}={quoted}{shlex.quote(value.after) if value.after else ''}")
            else:
                lines += _exports({key: value})
    lines += _exports(moved_env)
    lines.append(f'export PYTHONPATH="$PWD/{contract.ALGORITHM_DIR}${{PYTHONPATH:+:$PYTHONPATH}}"')
    lines += hadoop_setup(settings)
    files = sorted(set(files) | set(digests or {}))
    if files:
        lines.append(layout_step(files))
    if settings.peer_lookup(spec):
        lines.append(rendezvous.shell_step(settings.rm_urls, settings.user, spec.name))
    command = spec.launch_command(role)
    if digests:  # inside the subshell, so that what it finds goes to the container's stderr.txt
        command = f"{replica_check(digests, (contract.ALGORITHM_DIR, ''))}\n{command}"
    return " && ".join(lines) + f" && (\n{command}\n)"


def hadoop_setup(settings: ServiceSettings) -> list[str]:
    """Point HDFS clients inside the image at its Hadoop and Java (Hadoop Submarine's addHdfsClassPath)."""
    if not (settings.docker_hadoop_hdfs_home and settings.docker_java_home):
        return []
    return [
        'export HADOOP_HOME= HADOOP_YARN_HOME= HADOOP_HDFS_HOME="$DOCKER_HADOOP_HDFS_HOME" '
        'HADOOP_COMMON_HOME="$DOCKER_HADOOP_HDFS_HOME" JAVA_HOME="$DOCKER_JAVA_HOME"',
        'export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}'
        '$JAVA_HOME/lib/server:$JAVA_HOME/lib/amd64/server"',
        'export CLASSPATH="$("$HADOOP_HDFS_HOME/bin/hadoop" classpath --glob)"',
    ]


def yarn_launch_command(script: str) -> str:
    """`script` escaped for YARN's `bash -c "..."` wrapping, with the ${COMPONENT_ID} token left for YARN."""
    return double_quote_escape(script).replace(_COMPONENT_ID_PLACEHOLDER, COMPONENT_ID_TOKEN)


def localized_name(name: str) -> str:
    """The name YARN localizes a bundle file under: a real RM refuses a relative `dest_file` of more than one
    path element ("Non-absolute dest_file has more than one path element"), so nested names are flattened."""
    return name.replace("/", "__")


def localized_files(bundle_files: Iterable[str], bundle_uri: str) -> list[dict]:
    """Each algorithm file into the working directory (STATIC, from HDFS); `layout_step` then links it into
    ./submarine_algorithm/ and, for nested names, into its folder."""
    base = bundle_uri.rstrip("/")
    return [{"type": "STATIC", "src_file": f"{base}/{name}", "dest_file": localized_name(name)}
            for name in sorted(bundle_files)]


def layout_step(bundle_files: Iterable[str]) -> str:
    """Shell that puts every localized file at ./submarine_algorithm/<name> and ./<name>."""
    names = sorted(bundle_files)
    folders = sorted({posixpath.dirname(n) for n in names if "/" in n})
    dirs = [contract.ALGORITHM_DIR] + [f"{contract.ALGORITHM_DIR}/{d}" for d in folders] + folders
    steps = ["mkdir -p " + " ".join(shlex.quote(d) for d in dirs)]
    for name in names:
        source = shlex.quote(localized_name(name))
        steps.append(f'ln -sf "$PWD"/{source} {shlex.quote(contract.ALGORITHM_DIR + "/" + name)}')
        if "/" in name:
            steps.append(f'ln -sf "$PWD"/{source} {shlex.quote(name)}')
    return " && ".join(steps)


def docker_artifact(image: str | None) -> dict | None:
    return {"id": image, "type": "DOCKER"} if image else None


def build_service(spec: JobSpec, bundle_files: Iterable[str], bundle_uri: str, settings: ServiceSettings, *,
                  version: str | None = None, notebook: str | None = None, digests: Mapping[str, str] | None = None,
                  env_view: Callable[[Mapping[str, str]], Mapping[str, str]] | None = None) -> dict:
    """The Service JSON for `spec` (POST /app/v1/services), with the algorithm files `bundle_files` localized
    from `bundle_uri` and, given their `digests` (name → sha256), checked by every container before it runs.

    `env_view` rewrites env values before they are placed (dry runs pass a redactor so secrets in the
    user's env are never printed; submissions pass None). The service's properties carry the submission
    token, the spec (secrets `***`) and the `notebook`, so a lost registry can be rebuilt from the cluster.
    """
    view = env_view or (lambda env: env)
    bundle_files = list(bundle_files)
    service: dict = {
        "name": spec.name,
        "version": version or str(int(time.time() * 1000)),
        "description": f"submarine-kernel {spec.framework} job {spec.name}",
    }
    if spec.image:
        service["artifact"] = docker_artifact(spec.image)
    components = []
    for plan in component_plan(spec):
        role = spec.roles[plan.role]
        role_env = dict(view(spec.role_env(plan.role)))
        env = {k: v for k, v in role_env.items() if _env_safe_for_yarn(str(v))}
        moved = {k: v for k, v in role_env.items() if k not in env}
        component: dict = {
            "name": plan.name,
            "number_of_containers": plan.count,
            "restart_policy": "NEVER",
            "resource": yarn_resource(role.resources, settings),
            "launch_command": yarn_launch_command(launch_script(spec, plan, settings, moved, digests,
                                                                         bundle_files)),
            "configuration": {"env": env, "properties": {}},
        }
        image = spec.role_image(plan.role)
        if image and image != spec.image:
            component["artifact"] = docker_artifact(image)
        if plan.name == MASTER_COMPONENT:
            component["configuration"]["properties"][REPORT_AS_SERVICE_STATE] = "true"
        components.append(component)
    if settings.tensorboard and spec.checkpoint_path:
        components.append(tensorboard_component(spec.checkpoint_path, settings, spec.image))
        service["quicklinks"] = {TENSORBOARD_QUICKLINK: tensorboard_url(spec.name, settings)}
    service["components"] = components
    env = {}
    if settings.docker_java_home:
        env["DOCKER_JAVA_HOME"] = settings.docker_java_home
    if settings.docker_hadoop_hdfs_home:
        env["DOCKER_HADOOP_HDFS_HOME"] = settings.docker_hadoop_hdfs_home
    env.update(view(settings.extra_env))
    properties = {SPEC_PROPERTY: redacted_spec_json(spec)}
    if notebook:
        properties[NOTEBOOK_PROPERTY] = notebook
    token = spec.labels.get(SUBMISSION_LABEL)
    if token:  # lets a retried POST recognise the service an earlier, unanswered POST created
        properties[SUBMISSION_PROPERTY] = str(token)
    service["configuration"] = {"env": env, "files": localized_files(bundle_files, bundle_uri),
                                "properties": properties}
    _add_cluster_fields(service, settings)
    return service


def submission_labels(service: Mapping | None) -> dict[str, str]:
    """The submission token a service was created with, as the JobSpec label it came from ({} when none),
    for `job_types.same_submission`."""
    properties = ((service or {}).get("configuration") or {}).get("properties") or {}
    token = str(properties.get(SUBMISSION_PROPERTY) or "")
    return {SUBMISSION_LABEL: token} if token else {}


def _add_cluster_fields(service: dict, settings: ServiceSettings) -> None:
    if settings.queue:
        service["queue"] = settings.queue
    if settings.lifetime > 0:
        service["lifetime"] = int(settings.lifetime)
    if settings.kerberos_principal:
        principal = {"principal_name": settings.kerberos_principal}
        if settings.kerberos_keytab:
            principal["keytab"] = settings.kerberos_keytab
        service["kerberos_principal"] = principal


def tensorboard_url(service: str, settings: ServiceSettings) -> str:
    return f"http://{instance_host(TENSORBOARD_COMPONENT, 0, service, settings)}:{TENSORBOARD_PORT}"


def tensorboard_component(logdir: str, settings: ServiceSettings, image: str | None) -> dict:
    """TensorBoard on port 6006 reading `logdir`, as Hadoop Submarine's TensorBoardComponent ran it."""
    script = " && ".join(["export LC_ALL=C", *hadoop_setup(settings),
                          f"tensorboard --logdir={shlex.quote(logdir)} --host=0.0.0.0 --port={TENSORBOARD_PORT}"])
    component = {
        "name": TENSORBOARD_COMPONENT,
        "number_of_containers": 1,
        "restart_policy": "NEVER",
        "resource": yarn_resource(Resources.parse(settings.tensorboard_resources), settings),
        "launch_command": yarn_launch_command(script),
    }
    artifact = docker_artifact(settings.tensorboard_image or image)
    if artifact:
        component["artifact"] = artifact
    return component


def tensorboard_service(name: str, logdir: str, settings: ServiceSettings, image: str | None,
                        version: str | None = None) -> dict:
    """A service of its own that only runs TensorBoard (for Runtime.start_tensorboard)."""
    service = {
        "name": name,
        "version": version or str(int(time.time() * 1000)),
        "description": f"submarine-kernel TensorBoard for {logdir}",
        "components": [tensorboard_component(logdir, settings, image)],
        "quicklinks": {TENSORBOARD_QUICKLINK: tensorboard_url(name, settings)},
    }
    env = {k: v for k, v in (("DOCKER_JAVA_HOME", settings.docker_java_home),
                              ("DOCKER_HADOOP_HDFS_HOME", settings.docker_hadoop_hdfs_home)) if v}
    if env:
        service["configuration"] = {"env": env}
    _add_cluster_fields(service, settings)
    return service


def service_json(service: Mapping) -> str:
    """The service as indented JSON (what `render` prints)."""
    return json.dumps(service, indent=2, sort_keys=False)
