"""JobSpec and Role: what a job is, independent of where it runs; `draft_spec`/`build_spec` count its replicas
and validation lists every problem of it.

A role's `Resources` are parsed in `resources.py` (re-exported here: they are part of JobSpec); the launch
command's `{param}` templating is `command_template.py`.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping

from .command_template import format_param, param_env, placeholders, render_command
from .errors import Problem, ResourceError, ValidationError
from .resources import Resources  # re-exported: a Role's resources are part of JobSpec

ROLE_NAMES = ("chief", "master", "worker", "ps", "evaluator")
#: The role whose replica 0 decides success, in order of preference (the training operator's rule).
DECIDING_ROLES = ("chief", "master", "worker")
#: the frameworks, and the roles `--workers`, `--ps` and `--chief` can give a job of each (evaluators join any)
FRAMEWORK_ROLES = {"tensorflow": ("worker", "ps", "chief"), "pytorch": ("master", "worker"),
                   "xgboost": ("master", "worker"), "custom": ("worker",)}
FRAMEWORKS = tuple(FRAMEWORK_ROLES)
#: training replicas that lead the others; `--workers` counts them, so worker resources apply to them too
TRAINING_LEADERS = ("chief", "master")

#: Linux refuses to start a process with one argument or environment entry this long or longer
#: (MAX_ARG_STRLEN, "Argument list too long"); every runtime starts replicas with `sh -c COMMAND`
MAX_ARGUMENT_BYTES = 128 * 1024
#: and with all of them together past ARG_MAX (2 MiB with the default 8 MiB stack), less what the
#: runtime and the inherited environment add
MAX_JOB_ARGUMENT_BYTES = 1024 * 1024
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Role:
    """One replica type: `worker`, `ps`, `chief`, `master` or `evaluator`."""

    name: str
    replicas: int
    resources: Resources = field(default_factory=Resources)
    image: str | None = None
    command: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JobSpec:
    """Everything a runtime needs to start a job, minus the algorithm files themselves."""

    name: str
    framework: str
    roles: Mapping[str, Role]
    image: str | None = None
    command: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    input_path: str | None = None
    checkpoint_path: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)  # as typed: what argv and env receive
    labels: Mapping[str, str] = field(default_factory=dict)
    #: declared params converted to their declared type (`-p lr 1e-3` → 0.001): what params.json holds
    param_values: Mapping[str, Any] = field(default_factory=dict)

    # -- derived views -------------------------------------------------------------------------------
    @property
    def replica_count(self) -> int:
        return sum(role.replicas for role in self.roles.values())

    @property
    def deciding_role(self) -> str:
        """The role whose replica 0 decides the job's success (chief, else master, else worker 0)."""
        for name in DECIDING_ROLES:
            if name in self.roles:
                return name
        return next(iter(self.roles))

    def role_command(self, role: str) -> str | None:
        return self.roles[role].command or self.command

    def role_image(self, role: str) -> str | None:
        return self.roles[role].image or self.image

    def launch_command(self, role: str) -> str:
        """The role's shell command with params substituted (or appended), every value shell-quoted."""
        command = self.role_command(role)
        if not command:
            raise ValidationError(f"role {role!r} has no launch command: add one after -- "
                                  "(e.g. %submarine run -- python train.py)")
        return render_command(command, self.params)

    def role_env(self, role: str) -> dict[str, str]:
        """Job env, then role env, then SUBMARINE_PARAM_<NAME> for each param."""
        env = {**self.env, **self.roles[role].env}
        env.update(param_env(self.params))
        return env

    def params_file(self) -> dict[str, Any]:
        """The contents of params.json: each param as typed, declared ones as their declared type."""
        return {name: self.param_values.get(name, value) for name, value in self.params.items()}

    def to_dict(self) -> dict:
        data = asdict(self)
        data["roles"] = {name: asdict(role) for name, role in self.roles.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "JobSpec":
        roles = {name: Role(**{**r, "resources": Resources(**r.get("resources", {}))})
                 for name, r in data["roles"].items()}
        return cls(**{**data, "roles": roles})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def replace(self, **changes) -> "JobSpec":
        return replace(self, **changes)

    # -- validation ----------------------------------------------------------------------------------
    def problems(self) -> list[str]:
        """Every problem of the spec itself (runtimes add their own through Runtime.check)."""
        problems: list[Problem] = []
        if not self.name:
            problems.append(Problem("the job has no name: pass --name", "name", form="give the job a name"))
        if self.framework not in FRAMEWORKS:
            problems.append(Problem(f"unknown framework {self.framework!r}: use one of {', '.join(FRAMEWORKS)}",
                                    "framework"))
        if not self.roles:
            problems.append(Problem("the job has no roles: ask for at least --workers 1", "workers",
                                    form="must be at least 1"))
        for name, role in self.roles.items():
            if name not in ROLE_NAMES:
                problems.append(Problem(f"unknown role {name!r}: use one of {', '.join(ROLE_NAMES)}", "workers"))
            if role.replicas < 1:
                problems.append(Problem(f"role {name!r} has {role.replicas} replicas: ask for at least 1", "workers"))
            if not (role.command or self.command):
                problems.append(Problem(f"role {name!r} has no launch command: add one after -- "
                                        "(e.g. %submarine run -- python train.py)", "command",
                                        form="give one, e.g. python train.py"))
            for key in role.env:
                if not _ENV_NAME.match(key):
                    problems.append(Problem(f"environment variable name {key!r} is invalid: use letters, digits "
                                            "and _", "env"))
        for name in ("master", "chief"):
            if name in self.roles and self.roles[name].replicas > 1:
                problems.append(Problem(f"a job has exactly one {name}, not {self.roles[name].replicas}: "
                                        f"use --workers for more replicas", "workers"))
        if self.framework == "pytorch" and set(self.roles) - {"master", "worker"}:
            extra = sorted(set(self.roles) - {"master", "worker"})
            problems.append(Problem(f"a PyTorch job has only master and worker roles, not {', '.join(extra)}: "
                                    "drop --ps/--chief", "ps"))
        if self.framework == "pytorch" and "master" not in self.roles:
            problems.append(Problem("a PyTorch job needs a master: ask for --workers 1 or more", "workers",
                                    form="must be at least 1 (a PyTorch job needs a master)"))
        for key in self.env:
            if not _ENV_NAME.match(key):
                problems.append(Problem(f"environment variable name {key!r} is invalid: use letters, digits and _",
                                        "env"))
        env_names: dict[str, str] = {}
        for key in self.params:
            if not _PARAM_NAME.match(str(key)):
                problems.append(Problem(f"param name {key!r} is invalid: use a Python identifier, e.g. "
                                        "learning_rate", f"params.{key}"))
                continue
            other = env_names.setdefault(str(key).upper(), str(key))
            if other != key:
                problems.append(Problem(f"params {other} and {key} both become SUBMARINE_PARAM_"
                                        f"{str(key).upper()}: rename one of them", f"params.{key}"))
        for key in self.labels:
            if not _LABEL_KEY.match(key):
                problems.append(Problem(f"label key {key!r} is invalid: use letters, digits, '-', '_' and '.'",
                                        "labels"))
        problems.extend(self._value_problems())
        commands = [self.role_command(r) for r in self.roles] or [self.command]  # the job's own, even without roles
        for command in dict.fromkeys(c for c in commands if c):
            missing = sorted(set(placeholders(command)) - set(self.params))
            if missing:
                used = ', '.join('{' + m + '}' for m in missing)
                problems.append(Problem(f"the launch command uses {used} but no such param is set: pass "
                                        f"-p {missing[0]} VALUE", "command",
                                        form=f"uses {used}, which is no parameter here: declare it "
                                             f"(%submarine param {missing[0]}=VALUE) or remove it"))
        return problems

    def _value_problems(self) -> list[Problem]:
        """Values a process cannot receive: not text, a NUL byte, or longer than Linux passes to a process."""
        problems: list[Problem] = []
        envs = [("", self.env)] + [(f"role {name!r} ", role.env) for name, role in self.roles.items()]
        for where, env in envs:
            for key, value in env.items():
                if not isinstance(value, str):
                    problems.append(Problem(f"{where}environment variable {key} is {type(value).__name__} "
                                            f"{value!r:.40}: give it as text, e.g. {key}={str(value)[:20]!r}", "env"))
                elif "\0" in value:
                    problems.append(Problem(f"{where}environment variable {key} holds a NUL byte: remove it", "env"))
        for key, value in self.params.items():
            if not isinstance(value, (str, int, float, bool, list, dict)) and value is not None:
                problems.append(Problem(f"param {key} is {type(value).__name__}: give text, a number, a list or a dict",
                                        f"params.{key}"))
            elif "\0" in format_param(value):
                problems.append(Problem(f"param {key} holds a NUL byte: remove it", f"params.{key}"))
        for name in ("command", "image", "input_path", "checkpoint_path"):
            if "\0" in (getattr(self, name) or ""):
                problems.append(Problem(f"the {name.replace('_', ' ')} holds a NUL byte: remove it", name))
        if problems:
            return problems
        for role in self.roles or {}:
            if not self.role_command(role):
                continue  # "has no launch command" is its problem
            sizes = [len(self.launch_command(role).encode())]
            if sizes[0] >= MAX_ARGUMENT_BYTES:
                problems.append(Problem(f"the launch command of {role} is {_kib(sizes[0])} with its params: a process "
                                        f"takes at most {_kib(MAX_ARGUMENT_BYTES)} per argument; pass big values in a "
                                        "file", "command"))
            for key, value in self.role_env(role).items():
                size = len(f"{key}={value}".encode())
                sizes.append(size)
                if size >= MAX_ARGUMENT_BYTES:
                    problems.append(Problem(f"{key} is {_kib(size)}: a process takes at most {_kib(MAX_ARGUMENT_BYTES)} "
                                            "per environment variable; pass big values in a file (files=... or a "
                                            "cell)", "env"))
            if not problems and sum(sizes) >= MAX_JOB_ARGUMENT_BYTES:
                problems.append(Problem(f"the launch command and environment of {role} are {_kib(sum(sizes))} "
                                        f"together: keep them under {_kib(MAX_JOB_ARGUMENT_BYTES)}; pass big values "
                                        "in a file", "command"))
            if problems:
                break  # every role shares the job's values: one report is enough
        return problems

    def validate(self) -> "JobSpec":
        problems = self.problems()
        if problems:
            raise ValidationError(problems)
        return self


def _kib(size: int) -> str:
    return f"{size / 1024:,.0f} KiB"


def build_spec(name: str, **options: Any) -> JobSpec:
    """Build a JobSpec (see `draft_spec`) and raise one ValidationError listing every problem."""
    spec, problems = draft_spec(name, **options)
    if problems:
        raise ValidationError(problems)
    return spec


def draft_spec(name: str, *, framework: str = "pytorch", workers: int = 1, ps: int = 0, chief: bool = False,
               evaluator: int = 0, resources: str | Mapping[str, str] | None = None, image: str | None = None,
               command: str | None = None, role_commands: Mapping[str, str] | None = None,
               env: Mapping[str, str] | None = None, input_path: str | None = None,
               checkpoint_path: str | None = None, params: Mapping[str, Any] | None = None,
               labels: Mapping[str, str] | None = None, role_images: Mapping[str, str] | None = None
               ) -> tuple[JobSpec, list[str]]:
    """Build a JobSpec the way Hadoop Submarine counted replicas: `workers` is every training replica.

    PyTorch and XGBoost: one master and workers-1 workers. TensorFlow: `workers` workers (worker 0 acts as
    chief) plus `ps` parameter servers, or one chief and workers-1 workers when `chief` is set.
    `resources` is one string for every role, or a mapping role → string ("default" for the rest).
    Returns the spec and every problem found (resource strings that do not parse included), so callers
    can add their runtime's problems and report them all at once.
    """
    problems: list[str] = []
    framework = (framework or "").lower()
    counts: dict[str, int] = {}
    if not isinstance(workers, int) or workers < 1:
        problems.append(Problem(f"--workers {workers} is not a positive whole number: ask for at least 1", "workers",
                                form="must be at least 1"))
    elif "master" in FRAMEWORK_ROLES.get(framework, ()):  # pytorch, xgboost: one master, then workers
        counts["master"] = 1
        if workers > 1:
            counts["worker"] = workers - 1
    elif framework == "tensorflow" and chief:
        counts["chief"] = 1
        if workers > 1:
            counts["worker"] = workers - 1
    else:
        counts["worker"] = workers
    if not isinstance(ps, int) or ps < 0:
        problems.append(Problem(f"--ps {ps} must be 0 or more", "ps", form="must be 0 or more"))
    elif ps:
        if framework != "tensorflow":
            problems.append(Problem(f"parameter servers are a TensorFlow role, not {framework}: drop --ps", "ps",
                                    form=f"a TensorFlow role, not {framework}: set 0"))
        counts["ps"] = ps
    if chief and framework != "tensorflow":
        problems.append(Problem(f"--chief is a TensorFlow role, not {framework}: drop --chief", "chief",
                                form=f"a TensorFlow role, not {framework}: untick it"))
    if evaluator:
        counts["evaluator"] = evaluator

    per_role = resources if isinstance(resources, Mapping) else {"default": resources}
    parsed: dict[str, Resources] = {}
    for role, text in per_role.items():
        if role != "default" and role not in ROLE_NAMES:
            problems.append(Problem(f"resources for unknown role {role!r}: use one of {', '.join(ROLE_NAMES)}",
                                    "resources.default"))
            continue
        try:
            parsed[role] = Resources.parse(text)
        except ResourceError as exc:
            problems.extend(Problem(f"{role} resources: {p}" if role != "default" else p, f"resources.{role}")
                            for p in exc.problems)
    for role in parsed:
        covered = role == "worker" and any(leader in counts for leader in TRAINING_LEADERS)
        if counts and role != "default" and role not in counts and not covered:
            problems.append(Problem(f"--{role}-resources are given, but this {framework} job has no {role} "
                                    f"(it has {', '.join(counts)}): drop them or use --resources", f"resources.{role}",
                                    form=f"this {framework} job has no {role} (it has {', '.join(counts)}): clear "
                                         "it or use resources"))
    role_commands = dict(role_commands or {})
    role_images = dict(role_images or {})
    for role in (*role_commands, *role_images):
        if role not in ROLE_NAMES:
            problems.append(Problem(f"command or image for unknown role {role!r}: use one of "
                                    f"{', '.join(ROLE_NAMES)}", "command"))
    roles = {
        role: Role(name=role, replicas=count, resources=_role_resources(role, parsed),
                   image=role_images.get(role), command=role_commands.get(role))
        for role, count in counts.items()
    }
    spec = JobSpec(name=name, framework=framework, roles=roles, image=image, command=command,
                   env=dict(env or {}), input_path=input_path, checkpoint_path=checkpoint_path,
                   params=dict(params or {}), labels=dict(labels or {}))
    problems.extend(p for p in spec.problems() if p not in problems)
    return spec, problems


def _role_resources(role: str, parsed: Mapping[str, Resources]) -> Resources:
    """A role's own resources, else (for the PyTorch master and the TensorFlow chief, which `--workers` counts
    as training replicas) the workers', else the job-wide default."""
    if role in parsed:
        return parsed[role]
    if role in TRAINING_LEADERS and "worker" in parsed:
        return parsed["worker"]
    return parsed.get("default", Resources())


# problems that only restate an earlier one: "--workers 0" also leaves "no roles" and "no master"
_CONSEQUENCES = (("is not a positive whole number", ("the job has no roles", "needs a master")),)


def without_consequences(found: list[str]) -> list[str]:
    """The problems without those that follow from another one in the list (one message per mistake)."""
    drop = [follow for cause, follows in _CONSEQUENCES if any(cause in p for p in found) for follow in follows]
    return [p for p in found if not any(follow in p for follow in drop)]
