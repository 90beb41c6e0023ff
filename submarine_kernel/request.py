"""The one run request: what `%submarine run`, `sk.submit`, the parameter form, sweeps and Re-run ask for.

Every path fills a `RunRequest` and hands it to `Session.build`, the one builder, so one rule (a declared
param's bounds, the replica counting, a runtime's name rules) is checked the same way everywhere.
Blank strings and None mean "the session's default". `from_spec` / `from_record` read a past run back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping

from .errors import ValidationError
from .spec import DECIDING_ROLES, JobSpec

#: the label that says which run a job re-runs (History's Re-run); its value is that run's name
RERUN_LABEL = "submarine-kernel/rerun-of"


@dataclass
class RunRequest:
    """A job as the user asked for it, before session defaults and checks (`Session.build` applies both)."""

    command: str | None = ""
    name: str | None = ""
    runtime: str | None = ""
    framework: str | None = ""
    workers: int | None = 1  # every training replica, as Hadoop Submarine's --num_workers
    ps: int = 0
    chief: bool = False
    evaluator: int = 0
    #: role (or "default" for every role without its own) → resource text; or one text for every role
    resources: Mapping[str, str] | str | None = field(default_factory=dict)
    image: str | None = ""
    env: Mapping[str, str] | None = field(default_factory=dict)
    input_path: str | None = ""
    checkpoint_path: str | None = ""
    clean_checkpoint: bool = False
    params: Mapping[str, Any] | None = field(default_factory=dict)
    labels: Mapping[str, str] | None = field(default_factory=dict)
    rerun_of: str = ""  # the run this request re-runs, shown in the runs table

    @classmethod
    def of(cls, command: str | None = None, **values: Any) -> "RunRequest":
        """A request from keyword arguments (the Python API's spelling); an unknown one is one line."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValidationError(f"unknown run option {unknown[0]!r}: use one of {', '.join(sorted(known))}")
        return cls(command=command, **values)

    def shape_problems(self) -> list[str]:
        """Fields of the wrong kind (`resources=5`, `params=[...]`), one line each, before they are read."""
        problems = []
        for name in ("env", "params", "labels"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Mapping):
                problems.append(f"{name} is a {type(value).__name__}: give a dict of name → value")
        if self.resources is not None and not isinstance(self.resources, (str, Mapping)):
            problems.append(f"resources is a {type(self.resources).__name__}: give text like 'cpu=2,memory=4G' "
                            "or a dict of role → text")
        elif isinstance(self.resources, Mapping):
            problems += [f"resources[{role!r}] is a {type(text).__name__}: give text like 'cpu=2,memory=4G'"
                         for role, text in self.resources.items() if text is not None and not isinstance(text, str)]
        for name in ("command", "name", "runtime", "framework", "image", "input_path", "checkpoint_path"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                problems.append(f"{name} is a {type(value).__name__}: give text")
        for name in ("workers", "ps", "evaluator"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                problems.append(f"{name} is a {type(value).__name__}: give a whole number")
        return problems

    def spec_options(self) -> dict[str, Any]:
        """The request as `draft_spec` keywords: blanks become None (the session fills its defaults)."""
        problems = self.shape_problems()
        if problems:
            raise ValidationError(problems)
        if isinstance(self.resources, str):
            resources: Any = self.resources.strip() or None
        else:
            resources = {role: text.strip() for role, text in (self.resources or {}).items()
                         if text and text.strip()} or None
        labels = dict(self.labels or {})
        if self.rerun_of:
            labels[RERUN_LABEL] = self.rerun_of[:63]
        return {"name": _blank(self.name), "framework": _blank(self.framework), "workers": self.workers,
                "ps": self.ps, "chief": self.chief, "evaluator": self.evaluator, "resources": resources,
                "image": _blank(self.image), "env": dict(self.env or {}), "input_path": _blank(self.input_path),
                "checkpoint_path": _blank(self.checkpoint_path), "params": dict(self.params or {}),
                "labels": labels}

    @property
    def runtime_name(self) -> str | None:
        return _blank(self.runtime)

    @property
    def launch_command(self) -> str | None:
        return _blank(self.command)

    def build(self, session, dry_run: bool = False) -> JobSpec:
        """The JobSpec, checked by the session (spec rules, declared params, the runtime's rules)."""
        return session.build(self, dry_run=dry_run)

    def with_changes(self, **changes: Any) -> "RunRequest":
        return replace(self, **changes)

    @classmethod
    def from_spec(cls, spec: JobSpec, runtime: str = "", params: Mapping[str, Any] | None = None) -> "RunRequest":
        """The request that would rebuild `spec` (its name left blank, so a re-run gets a fresh one)."""
        workers = sum(spec.roles[r].replicas for r in DECIDING_ROLES if r in spec.roles)
        resources: dict[str, str] = {}
        texts = {name: role.resources.to_cli() for name, role in spec.roles.items()}
        shared = set(texts.values())
        if len(shared) == 1:
            resources["default"] = shared.pop()
        else:
            resources.update(texts)
        return cls(command=spec.command or "", runtime=runtime, framework=spec.framework, workers=workers,
                   ps=spec.roles["ps"].replicas if "ps" in spec.roles else 0, chief="chief" in spec.roles,
                   evaluator=spec.roles["evaluator"].replicas if "evaluator" in spec.roles else 0,
                   resources={k: v for k, v in resources.items() if v}, image=spec.image or "",
                   input_path=spec.input_path or "", checkpoint_path=spec.checkpoint_path or "",
                   params=dict(spec.params if params is None else params))

    @classmethod
    def from_record(cls, record) -> "RunRequest":
        """A past run of the registry as a request for one run like it (Re-run): a sweep's run gives the
        sweep's checkpoint folder back, not the run's own subfolder (`<base>/<run name>`)."""
        request = cls.from_spec(record.spec, record.ref.runtime, record.params or record.spec.params)
        suffix = "/" + record.ref.name
        checkpoint = (request.checkpoint_path or "").rstrip("/")
        if checkpoint.endswith(suffix) and len(checkpoint) > len(suffix):
            request.checkpoint_path = checkpoint[:-len(suffix)]
        request.rerun_of = record.ref.name
        return request


def _blank(value: str | None) -> str | None:
    """None for a blank text (the session's default applies), else the text without outer spaces."""
    if value is None:
        return None
    return str(value).strip() or None
