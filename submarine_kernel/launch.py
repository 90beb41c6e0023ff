"""A form's run request checked and submitted: `problems` on every change, `launch` on Run.

The same path as `%submarine run`: `Session.build` builds and checks the `RunRequest` once, `Session.submit`
uploads, submits, records and tracks. Each problem names its field (`errors.Problem`).
"""

from __future__ import annotations

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


def launch(session, request: RunRequest, decls: Mapping[str, ParamDecl] | None = None, bundle=None):
    """Build (and so check) once, optionally clean the checkpoint folder, then submit through
    `Session.submit`; returns the Job. Nothing is deleted, uploaded or submitted when a check fails (one
    ValidationError lists every problem)."""
    spec = session.build(request, param_decls=decls)
    if request.clean_checkpoint and spec.checkpoint_path:
        from .storage import clean_checkpoint

        clean_checkpoint(spec.checkpoint_path, session.settings.storage_options)
    return session.submit(spec, bundle if bundle is not None else session.bundle(), request.runtime_name)
