"""A form's run request checked and submitted: `problems` on every change, `launch` on Run.

The same path as `%submarine run`: `Session.build` builds and checks the `RunRequest` once, `Session.submit`
uploads, submits, records and tracks. `problem_field` says which form field a problem message is about.
"""

from __future__ import annotations

import re
from typing import Mapping

from .errors import ValidationError
from .params import ParamDecl
from .request import RunRequest


def problems(session, request: RunRequest, decls: Mapping[str, ParamDecl] | None = None) -> list[str]:
    """Every problem of the request (`Session.build`'s, with the form's own param declarations `decls`)."""
    try:
        session.build(request, param_decls=decls)
    except ValidationError as exc:
        return list(exc.problems)
    return []


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
    """Build (and so check) once, optionally clean the checkpoint folder, then submit through
    `Session.submit`; returns the Job. Nothing is deleted, uploaded or submitted when a check fails (one
    ValidationError lists every problem)."""
    spec = session.build(request, param_decls=decls)
    if request.clean_checkpoint and spec.checkpoint_path:
        from .storage import clean_checkpoint

        clean_checkpoint(spec.checkpoint_path, session.settings.storage_options)
    return session.submit(spec, bundle if bundle is not None else session.bundle(), request.runtime_name)
