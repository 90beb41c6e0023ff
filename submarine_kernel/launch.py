"""A run request as a form holds it (job fields + params), turned into a JobSpec and submitted.

The same path as `%submarine run`: `Session.build` checks everything, `Session.submit` uploads, submits,
records and tracks. `RunRequest.from_record` reads a past run back, so Re-run can fill a form with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from .errors import ValidationError
from .params import ParamDecl
from .spec import JobSpec

RESOURCE_ROLES = ("default", "worker", "ps", "master", "chief")
TRAINING_ROLES = ("chief", "master", "worker")
#: the label that says which run a job re-runs (History's Re-run); its value is that run's name
RERUN_LABEL = "submarine-kernel/rerun-of"


@dataclass
class RunRequest:
    """Every field of the parameter form; blank strings mean "the session's default"."""

    command: str = ""
    name: str = ""
    runtime: str = ""
    framework: str = ""
    workers: int = 1
    ps: int = 0
    chief: bool = False
    resources: dict[str, str] = field(default_factory=dict)  # role (or "default") → resource text
    image: str = ""
    input_path: str = ""
    checkpoint_path: str = ""
    clean_checkpoint: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    rerun_of: str = ""  # the run this request re-runs, shown in the runs table

    def build_options(self) -> dict[str, Any]:
        """Keyword arguments for `Session.build`."""
        resources = {role: text.strip() for role, text in self.resources.items() if text and text.strip()}
        return {"runtime": self.runtime or None, "name": self.name.strip() or None,
                "framework": self.framework or None, "workers": self.workers, "ps": self.ps, "chief": self.chief,
                "resources": resources or None, "image": self.image.strip() or None,
                "input_path": self.input_path.strip() or None,
                "checkpoint_path": self.checkpoint_path.strip() or None, "params": dict(self.params),
                "labels": {RERUN_LABEL: self.rerun_of[:63]} if self.rerun_of else None}

    def build(self, session) -> JobSpec:
        """The JobSpec, checked by the session (spec rules and the runtime's); ValidationError otherwise."""
        return session.build(self.command.strip() or None, **self.build_options())

    def with_changes(self, **changes: Any) -> "RunRequest":
        return replace(self, **changes)

    @classmethod
    def from_spec(cls, spec: JobSpec, runtime: str = "", params: Mapping[str, Any] | None = None) -> "RunRequest":
        """The request that would rebuild `spec` (its name left blank, so a re-run gets a fresh one)."""
        workers = sum(spec.roles[r].replicas for r in TRAINING_ROLES if r in spec.roles)
        resources: dict[str, str] = {}
        texts = {name: role.resources.to_cli() for name, role in spec.roles.items()}
        shared = set(texts.values())
        if len(shared) == 1:
            resources["default"] = shared.pop()
        else:
            resources.update(texts)
        return cls(command=spec.command or "", runtime=runtime, framework=spec.framework, workers=workers,
                   ps=spec.roles["ps"].replicas if "ps" in spec.roles else 0, chief="chief" in spec.roles,
                   resources={k: v for k, v in resources.items() if v}, image=spec.image or "",
                   input_path=spec.input_path or "", checkpoint_path=spec.checkpoint_path or "",
                   params=dict(spec.params if params is None else params))

    @classmethod
    def from_record(cls, record) -> "RunRequest":
        """A past run of the registry as a request for one run like it (Re-run): a sweep's run gives the
        sweep's checkpoint folder back, not the run's own subfolder (`<base>/<run name>`)."""
        request = cls.from_spec(record.spec, record.ref.runtime, record.params or record.spec.params)
        suffix = "/" + record.ref.name
        checkpoint = request.checkpoint_path.rstrip("/")
        if checkpoint.endswith(suffix) and len(checkpoint) > len(suffix):
            request.checkpoint_path = checkpoint[:-len(suffix)]
        request.rerun_of = record.ref.name
        return request


def param_problems(params: Mapping[str, Any], decls: Mapping[str, ParamDecl]) -> list[str]:
    return [p for name, decl in decls.items() if name in params for p in decl.problems(params[name])]


def problems(session, request: RunRequest, decls: Mapping[str, ParamDecl] | None = None) -> list[str]:
    """Every problem of the request: its params against their declarations, then `Session.build`'s."""
    found = param_problems(request.params, decls or {})
    try:
        request.build(session)
    except ValidationError as exc:
        found.extend(p for p in exc.problems if p not in found)
    return without_consequences(found)


# problems that only restate an earlier one: "--workers 0" also leaves "no roles" and "no master"
_CONSEQUENCES = (("is not a positive whole number", ("the job has no roles", "needs a master")),)


def without_consequences(found: list[str]) -> list[str]:
    """The problems without those that follow from another one in the list (one message per mistake)."""
    drop = [follow for cause, follows in _CONSEQUENCES if any(cause in p for p in found) for follow in follows]
    return [p for p in found if not any(follow in p for follow in drop)]


# which form field a problem message is about, for flagging it next to the field
_FIELD_PATTERNS = (
    ("params", re.compile(r"\bparam (\w+)=")),
    ("command", re.compile(r"launch command")),
    ("workers", re.compile(r"--workers|replicas|a job has exactly one")),
    ("ps", re.compile(r"--ps\b|parameter servers")),
    ("name", re.compile(r"job name|--name")),
    ("image", re.compile(r"\bimage\b")),
    ("framework", re.compile(r"framework|PyTorch job")),
    ("runtime", re.compile(r"runtime")),
    ("resources", re.compile(r"resource|memory|vcores|cpu|gpu", re.IGNORECASE)),
)


def problem_field(problem: str) -> str:
    """The form field a problem belongs to: a param's name, a job field, or "" when none fits."""
    for name, pattern in _FIELD_PATTERNS:
        match = pattern.search(problem)
        if match:
            return match.group(1) if name == "params" else name
    return ""


def launch(session, request: RunRequest, decls: Mapping[str, ParamDecl] | None = None, bundle=None):
    """Check, optionally clean the checkpoint folder, then submit through `Session.submit`; returns the Job.

    Nothing is deleted, uploaded or submitted when a check fails (one ValidationError lists every problem).
    """
    found = problems(session, request, decls)
    if found:
        raise ValidationError(found)
    spec = request.build(session)
    if request.clean_checkpoint and spec.checkpoint_path:
        from .storage import clean_checkpoint

        clean_checkpoint(spec.checkpoint_path, session.settings.storage_options)
    return session.submit(spec, bundle if bundle is not None else session.bundle(), request.runtime or None)
