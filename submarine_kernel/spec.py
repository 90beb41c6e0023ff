"""JobSpec, Role and Resources: what a job is, independent of where it runs.

Resources read both Hadoop Submarine syntaxes (`memory=8G,vcores=2,gpu=2` on the command line,
`cpu=2,memory=1024M,nvidia.com/gpu=1` on the Submarine server) into one normalized form.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping

from .errors import ResourceError, ValidationError

FRAMEWORKS = ("tensorflow", "pytorch", "xgboost", "custom")
ROLE_NAMES = ("chief", "master", "worker", "ps", "evaluator")
#: The role whose replica 0 decides success, in order of preference (the training operator's rule).
DECIDING_ROLES = ("chief", "master", "worker")
#: the roles `--workers`, `--ps` and `--chief` can give a job of each framework (evaluators join any)
FRAMEWORK_ROLES = {"tensorflow": ("worker", "ps", "chief"), "pytorch": ("master", "worker"),
                   "xgboost": ("master", "worker"), "custom": ("worker",)}
#: training replicas that lead the others; `--workers` counts them, so worker resources apply to them too
TRAINING_LEADERS = ("chief", "master")

_MEMORY_UNITS_MIB = {
    "": 1, "m": 1, "mb": 1, "mi": 1, "mib": 1,
    "k": 1 / 1024, "kb": 1 / 1024, "ki": 1 / 1024, "kib": 1 / 1024,
    "g": 1024, "gb": 1024, "gi": 1024, "gib": 1024,
    "t": 1024 ** 2, "tb": 1024 ** 2, "ti": 1024 ** 2, "tib": 1024 ** 2,
}
_MEMORY_KEYS = ("memory", "mem", "memory-mb")
_CPU_KEYS = ("cpu", "cpus", "vcores", "vcore")
_GPU_KEYS = ("gpu", "gpus", "nvidia.com/gpu", "yarn.io/gpu")
# A vendor resource is a qualified name, as Kubernetes extended resources and YARN resource types are.
_VENDOR_KEY = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Resources:
    """Normalized resources of one replica: memory in MiB, cpus (may be fractional), gpus, named others."""

    memory_mib: int | None = None
    cpus: float | None = None
    gpus: int = 0
    other: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> "Resources":
        """Parse either Submarine syntax; raise ResourceError listing every bad item."""
        if text is None or not str(text).strip():
            return cls()
        memory = cpus = None
        gpus = 0
        other: dict[str, int] = {}
        problems: list[str] = []
        seen: dict[str, str] = {}  # normalized kind → the item that gave it
        for item in str(text).split(","):
            item = item.strip()
            if not item:
                continue
            key, sep, value = item.partition("=")
            key, value = key.strip().lower(), value.strip()
            if not sep or not value:
                problems.append(f"resource {item!r} has no value: write it as key=value, e.g. memory=4G")
                continue
            kind = next((k for k, names in (("memory", _MEMORY_KEYS), ("cpu", _CPU_KEYS), ("gpu", _GPU_KEYS))
                         if key in names), key)
            if kind in seen:
                problems.append(f"{kind} is given twice in {text!r} ({seen[kind]} and {key}={value}): keep one")
                continue
            seen[kind] = f"{key}={value}"
            if key in _MEMORY_KEYS:
                memory = _parse_memory(value, problems)
            elif key in _CPU_KEYS:
                cpus = _parse_cpus(key, value, problems)
            elif key in _GPU_KEYS:
                gpus = _parse_count(key, value, problems, allow_zero=True) or 0
            elif _VENDOR_KEY.match(key):
                count = _parse_count(key, value, problems, allow_zero=True)
                if count is not None:
                    other[key] = count
            else:
                problems.append(f"unknown resource key {key!r} in {text!r}: use memory, vcores (or cpu), gpu "
                                "(or nvidia.com/gpu), or a qualified name like example.com/fpga")
        if problems:
            raise ResourceError(problems)
        return cls(memory_mib=memory, cpus=cpus, gpus=gpus, other=dict(sorted(other.items())))

    def to_cli(self) -> str:
        """Submarine command-line syntax: `memory=8G,vcores=2,gpu=2`."""
        items = []
        if self.memory_mib is not None:
            items.append(f"memory={_format_memory(self.memory_mib)}")
        if self.cpus is not None:
            items.append(f"vcores={_format_cpus(self.cpus)}")
        if self.gpus:
            items.append(f"gpu={self.gpus}")
        items += [f"{k}={v}" for k, v in self.other.items()]
        return ",".join(items)

    def to_server(self) -> str:
        """Submarine server syntax: `cpu=2,memory=1024M,nvidia.com/gpu=1`."""
        items = []
        if self.cpus is not None:
            items.append(f"cpu={_format_cpus(self.cpus)}")
        if self.memory_mib is not None:
            items.append(f"memory={self.memory_mib}M")
        if self.gpus:
            items.append(f"nvidia.com/gpu={self.gpus}")
        items += [f"{k}={v}" for k, v in self.other.items()]
        return ",".join(items)

    def __str__(self) -> str:
        return self.to_cli() or "(defaults)"


def _parse_memory(value: str, problems: list[str]) -> int | None:
    if value.startswith("-"):
        problems.append(f"memory={value} is negative: ask for at least memory=1M")
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)", value)
    unit = match.group(2).lower() if match else None
    if not match or unit not in _MEMORY_UNITS_MIB:
        problems.append(f"memory={value!r} has a bad unit: use a number with K, M, G or T (e.g. memory=4G)")
        return None
    mib = float(match.group(1)) * _MEMORY_UNITS_MIB[unit]
    if mib < 1:
        problems.append(f"memory={value} is under 1 MiB: ask for at least memory=1M")
        return None
    return int(round(mib))


def _parse_cpus(key: str, value: str, problems: list[str]) -> float | None:
    millis = re.fullmatch(r"(\d+)m", value)
    try:
        if not millis and not re.fullmatch(r"-?\d+(\.\d+)?", value):
            raise ValueError(value)  # float() would also take nan, inf and 1e3
        cpus = int(millis.group(1)) / 1000 if millis else float(value)
    except ValueError:
        problems.append(f"{key}={value!r} is not a number: write e.g. vcores=2 or cpu=500m")
        return None
    if cpus <= 0:
        problems.append(f"{key}={value} must be positive")
        return None
    return cpus


def _parse_count(key: str, value: str, problems: list[str], allow_zero: bool) -> int | None:
    if not re.fullmatch(r"-?\d+", value):
        problems.append(f"{key}={value!r} is not a whole number")
        return None
    count = int(value)
    if count < 0 or (count == 0 and not allow_zero):
        problems.append(f"{key}={value} must not be negative")
        return None
    return count


def _format_memory(mib: int) -> str:
    for unit, size in (("T", 1024 ** 2), ("G", 1024)):
        if mib % size == 0:
            return f"{mib // size}{unit}"
    return f"{mib}M"


def _format_cpus(cpus: float) -> str:
    return str(int(cpus)) if float(cpus).is_integer() else f"{int(round(cpus * 1000))}m"


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
        problems: list[str] = []
        if not self.name:
            problems.append("the job has no name: pass --name")
        if self.framework not in FRAMEWORKS:
            problems.append(f"unknown framework {self.framework!r}: use one of {', '.join(FRAMEWORKS)}")
        if not self.roles:
            problems.append("the job has no roles: ask for at least --workers 1")
        for name, role in self.roles.items():
            if name not in ROLE_NAMES:
                problems.append(f"unknown role {name!r}: use one of {', '.join(ROLE_NAMES)}")
            if role.replicas < 1:
                problems.append(f"role {name!r} has {role.replicas} replicas: ask for at least 1")
            if not (role.command or self.command):
                problems.append(f"role {name!r} has no launch command: add one after -- "
                                "(e.g. %submarine run -- python train.py)")
            for key in role.env:
                if not _ENV_NAME.match(key):
                    problems.append(f"environment variable name {key!r} is invalid: use letters, digits and _")
        for name in ("master", "chief"):
            if name in self.roles and self.roles[name].replicas > 1:
                problems.append(f"a job has exactly one {name}, not {self.roles[name].replicas}: "
                                f"use --workers for more replicas")
        if self.framework == "pytorch" and set(self.roles) - {"master", "worker"}:
            extra = sorted(set(self.roles) - {"master", "worker"})
            problems.append(f"a PyTorch job has only master and worker roles, not {', '.join(extra)}: drop --ps/--chief")
        if self.framework == "pytorch" and "master" not in self.roles:
            problems.append("a PyTorch job needs a master: ask for --workers 1 or more")
        for key in self.env:
            if not _ENV_NAME.match(key):
                problems.append(f"environment variable name {key!r} is invalid: use letters, digits and _")
        env_names: dict[str, str] = {}
        for key in self.params:
            if not _PARAM_NAME.match(str(key)):
                problems.append(f"param name {key!r} is invalid: use a Python identifier, e.g. learning_rate")
                continue
            other = env_names.setdefault(str(key).upper(), str(key))
            if other != key:
                problems.append(f"params {other} and {key} both become SUBMARINE_PARAM_{str(key).upper()}: "
                                "rename one of them")
        for key in self.labels:
            if not _LABEL_KEY.match(key):
                problems.append(f"label key {key!r} is invalid: use letters, digits, '-', '_' and '.'")
        commands = [self.role_command(r) for r in self.roles] or [self.command]  # the job's own, even without roles
        for command in dict.fromkeys(c for c in commands if c):
            missing = sorted(set(placeholders(command)) - set(self.params))
            if missing:
                problems.append(f"the launch command uses {', '.join('{' + m + '}' for m in missing)} but no "
                                f"such param is set: pass -p {missing[0]} VALUE")
        return problems

    def validate(self) -> "JobSpec":
        problems = self.problems()
        if problems:
            raise ValidationError(problems)
        return self


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
        problems.append(f"--workers {workers} is not a positive whole number: ask for at least 1")
    elif framework in ("pytorch", "xgboost"):
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
        problems.append(f"--ps {ps} must be 0 or more")
    elif ps:
        if framework != "tensorflow":
            problems.append(f"parameter servers are a TensorFlow role, not {framework}: drop --ps")
        counts["ps"] = ps
    if chief and framework != "tensorflow":
        problems.append(f"--chief is a TensorFlow role, not {framework}: drop --chief")
    if evaluator:
        counts["evaluator"] = evaluator

    per_role = resources if isinstance(resources, Mapping) else {"default": resources}
    parsed: dict[str, Resources] = {}
    for role, text in per_role.items():
        if role != "default" and role not in ROLE_NAMES:
            problems.append(f"resources for unknown role {role!r}: use one of {', '.join(ROLE_NAMES)}")
            continue
        try:
            parsed[role] = Resources.parse(text)
        except ResourceError as exc:
            problems.extend(f"{role} resources: {p}" if role != "default" else p for p in exc.problems)
    for role in parsed:
        covered = role == "worker" and any(leader in counts for leader in TRAINING_LEADERS)
        if counts and role != "default" and role not in counts and not covered:
            problems.append(f"--{role}-resources are given, but this {framework} job has no {role} "
                            f"(it has {', '.join(counts)}): drop them or use --resources")
    role_commands = dict(role_commands or {})
    role_images = dict(role_images or {})
    for role in (*role_commands, *role_images):
        if role not in ROLE_NAMES:
            problems.append(f"command or image for unknown role {role!r}: use one of {', '.join(ROLE_NAMES)}")
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


def render_command(command: str, params: Mapping[str, Any]) -> str:
    """Substitute `{name}` placeholders with shell-quoted values, or append `--name value` pairs.

    A command with a placeholder is a template, as Python's str.format reads one: `{{` and `}}` are literal
    braces (`--json '{{"a": {x}}}'` gives `{"a": <x>}`). `${VAR}` is the shell's, never a placeholder.
    A command without placeholders is left exactly as written.
    """
    tokens = _template(command)
    if not any(kind == "param" for kind, _, _ in tokens):
        return command + "".join(f" --{name} {shlex.quote(format_param(value))}" for name, value in params.items())
    out = []
    for kind, text, quote in tokens:
        if kind == "text":
            out.append(text)
        elif text in params:
            value = shlex.quote(format_param(params[text]))
            out.append(f"{quote}{value}{quote}" if quote else value)
        else:  # an unset placeholder: spec problems name it; leave it visible
            out.append("{" + text + "}")
    return "".join(out)


def placeholders(command: str) -> list[str]:
    """The `{name}` placeholders of a launch command, in order."""
    return [text for kind, text, _ in _template(command) if kind == "param"]


def _template(command: str) -> list[tuple[str, str, str | None]]:
    """`(kind, text, quote)` tokens: "text" with `{{`/`}}` already resolved, or "param" with its name and the
    shell quote it sits in, so a value in `"{msg}"` or `'{msg}'` can close and reopen that quote (a quoted
    value inside "..." would still expand)."""
    tokens: list[tuple[str, str, str | None]] = []
    text: list[str] = []
    quote = None  # the shell quote we are inside: None, "'" or '"'
    i = 0
    while i < len(command):
        char = command[i]
        if char == "\\" and quote != "'":
            text.append(command[i:i + 2])
            i += 2
        elif char in "'\"" and quote in (None, char):
            quote = None if quote else char
            text.append(char)
            i += 1
        elif command.startswith("${", i):  # the shell's own expansion, copied whole
            end = command.find("}", i)
            end = len(command) if end < 0 else end + 1
            text.append(command[i:end])
            i = end
        elif command.startswith(("{{", "}}"), i):
            text.append(char)
            i += 2
        elif (match := _PLACEHOLDER.match(command, i)):
            tokens.append(("text", "".join(text), None))
            text = []
            tokens.append(("param", match.group(1), quote))
            i = match.end()
        else:
            text.append(char)
            i += 1
    tokens.append(("text", "".join(text), None))
    return tokens


def format_param(value: Any) -> str:
    """How a param value appears on a command line and in the environment."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def param_env(params: Mapping[str, Any]) -> dict[str, str]:
    return {f"SUBMARINE_PARAM_{name.upper()}": format_param(value) for name, value in params.items()}


# problems that only restate an earlier one: "--workers 0" also leaves "no roles" and "no master"
_CONSEQUENCES = (("is not a positive whole number", ("the job has no roles", "needs a master")),)


def without_consequences(found: list[str]) -> list[str]:
    """The problems without those that follow from another one in the list (one message per mistake)."""
    drop = [follow for cause, follows in _CONSEQUENCES if any(cause in p for p in found) for follow in follows]
    return [p for p in found if not any(follow in p for follow in drop)]
