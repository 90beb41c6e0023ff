"""What YARN would refuse about a job, found before anything is uploaded: its service and component name
rules, resources beyond the scheduler's maximum allocation, and settings that cannot work together.
"""

from __future__ import annotations

import re

from ...errors import Problem
from ...names import DNS1035_MAX
from ...resources import Resources
from ...spec import JobSpec
from .service import TENSORBOARD_COMPONENT, ServiceSettings, component_plan, registry_user

#: YARN's own rules (ServiceApiUtil): service names `[a-z][a-z0-9-]*`, a DNS label of at most 63 characters
#: (the one job name rule, `names.job_name_problems`, is that); user names in the registry DNS as below.
USER_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-.]*$")
MAX_LABEL = DNS1035_MAX


def resource_problems(role: str, resources: Resources, settings: ServiceSettings) -> list[Problem]:
    """Resources YARN cannot give: fractional vcores, more than the scheduler's maximum allocation."""
    problems: list[str] = []
    cpus = resources.cpus if resources.cpus is not None else settings.default_vcores
    memory = resources.memory_mib if resources.memory_mib is not None else settings.default_memory_mib
    if not float(cpus).is_integer():
        problems.append(f"{role} asks for vcores={cpus:g}: YARN gives whole vcores, ask for "
                        f"vcores={max(1, round(cpus))}")
    if settings.max_vcores and cpus > settings.max_vcores:
        problems.append(f"{role} asks for {cpus:g} vcores but YARN gives at most {settings.max_vcores} per "
                        "container (yarn.scheduler.maximum-allocation-vcores): lower vcores=")
    if settings.max_memory_mib and memory > settings.max_memory_mib:
        problems.append(f"{role} asks for {memory} MiB but YARN gives at most {settings.max_memory_mib} MiB "
                        "per container (yarn.scheduler.maximum-allocation-mb): lower memory=")
    return [Problem(p, f"resources.{role}") for p in problems]


def service_problems(spec: JobSpec, settings: ServiceSettings) -> list[str]:
    """Everything YARN would refuse about `spec` with `settings`, found before anything is uploaded."""
    problems: list[str] = []  # the name itself: the one job name rule (names.job_name_problems, Session.build)
    if spec.name in {p.name for p in component_plan(spec)} | {TENSORBOARD_COMPONENT}:
        problems.append(Problem(f"job name {spec.name!r} equals one of its component names, which YARN "
                                "refuses: choose another --name", "name"))
    if "chief" in spec.roles and "master" in spec.roles:
        problems.append(Problem("a job with both a chief and a master cannot run on YARN (both become the "
                                "'master' component): keep one of them", "chief"))
    if settings.domain and (len(registry_user(settings.user)) > MAX_LABEL
                            or not USER_NAME_PATTERN.match(registry_user(settings.user))):
        problems.append(f"user {settings.user!r} is not a valid registry DNS label: set YarnRuntime.user to "
                        "your lower-case short name")
    if settings.kerberos_principal and "/" not in settings.kerberos_principal:
        problems.append(f"the service principal {settings.kerberos_principal!r} has no host part: YARN wants "
                        "user/_HOST@REALM in YarnRuntime.service_principal")
    for name, role in spec.roles.items():
        problems.extend(resource_problems(name, role.resources, settings))
    if settings.tensorboard and not spec.checkpoint_path:
        problems.append(Problem("YarnRuntime.tensorboard is on but the job has no checkpoint path for TensorBoard "
                                "to read: pass --checkpoint PATH or switch it off", "checkpoint_path"))
    return problems
