"""The job as Hadoop Submarine's classic command line, `yarn jar hadoop-submarine-*.jar job run ...`, which dry
runs print beside the service JSON for users who know that tool.
"""

from __future__ import annotations

import shlex
from typing import Callable, Iterable, Mapping

from ... import contract
from ...resources import Resources
from ...spec import JobSpec
from .service import TENSORBOARD_COMPONENT, TENSORBOARD_PORT, TENSORBOARD_QUICKLINK, ServiceSettings


def classic_command(spec: JobSpec, bundle_files: Iterable[str], bundle_uri: str, settings: ServiceSettings,
                    jar: str, env_view: Callable[[Mapping[str, str]], Mapping[str, str]] | None = None) -> str:
    """The same job as Hadoop Submarine's `yarn jar hadoop-submarine-*.jar job run ...`, shell-quoted.

    Hadoop Submarine wrote its own TF_CONFIG (with a `master` key) into its launch scripts, so the
    commands here are the roles' plain launch commands.
    """
    view = env_view or (lambda env: env)
    args = ["yarn", "jar", jar, "job", "run", "--name", spec.name, "--framework", spec.framework]
    if spec.image:
        args += ["--docker_image", spec.image]
    if spec.input_path:
        args += ["--input_path", spec.input_path]
    if spec.checkpoint_path:
        args += ["--checkpoint_path", spec.checkpoint_path]
    decider = spec.deciding_role
    workers = spec.roles[decider].replicas + (spec.roles["worker"].replicas if decider != "worker"
                                              and "worker" in spec.roles else 0)
    worker_role = spec.roles[decider]
    args += ["--num_workers", str(workers), "--worker_resources", _classic_resources(worker_role.resources, settings),
             "--worker_launch_cmd", spec.launch_command(decider)]
    if spec.role_image(decider) and spec.role_image(decider) != spec.image:
        args += ["--worker_docker_image", spec.role_image(decider)]
    if "ps" in spec.roles:
        ps = spec.roles["ps"]
        args += ["--num_ps", str(ps.replicas), "--ps_resources", _classic_resources(ps.resources, settings),
                 "--ps_launch_cmd", spec.launch_command("ps")]
        if spec.role_image("ps") and spec.role_image("ps") != spec.image:
            args += ["--ps_docker_image", spec.role_image("ps")]
    if settings.tensorboard and spec.checkpoint_path:
        args += ["--tensorboard", "--tensorboard_resources", settings.tensorboard_resources]
        if settings.tensorboard_image:
            args += ["--tensorboard_docker_image", settings.tensorboard_image]
    env = {}
    if settings.docker_java_home:
        env["DOCKER_JAVA_HOME"] = settings.docker_java_home
    if settings.docker_hadoop_hdfs_home:
        env["DOCKER_HADOOP_HDFS_HOME"] = settings.docker_hadoop_hdfs_home
    env.update(view(spec.role_env(decider)))
    for key, value in env.items():
        args += ["--env", f"{key}={value}"]
    base = bundle_uri.rstrip("/")
    args += ["--localization", f"{base}:./{contract.ALGORITHM_DIR}"]
    for name in sorted(bundle_files):
        if "/" not in name:
            args += ["--localization", f"{base}/{name}:./{name}"]
    if settings.queue:
        args += ["--queue", settings.queue]
    if settings.kerberos_principal:
        args += ["--principal", settings.kerberos_principal]
        if settings.kerberos_keytab:
            args += ["--keytab", settings.kerberos_keytab.removeprefix("file://")]
    if settings.tensorboard and spec.checkpoint_path:
        args += ["--quicklink", f"{TENSORBOARD_QUICKLINK}=http://{TENSORBOARD_COMPONENT}-0:{TENSORBOARD_PORT}"]
    return " ".join(shlex.quote(a) for a in args)


def _classic_resources(resources: Resources, settings: ServiceSettings) -> str:
    if resources.memory_mib is None or resources.cpus is None:
        resources = Resources(memory_mib=resources.memory_mib or settings.default_memory_mib,
                              cpus=resources.cpus or settings.default_vcores, gpus=resources.gpus,
                              other=resources.other)
    return resources.to_cli()
