"""ipywidgets views of submarine-kernel (installed as `submarine_kernel.widgets`): the parameter form, the
live job status and the run history. ipywidgets is imported when a view is made, never at `%load_ext`.

Python API: `sk.form(...)` and `sk.history()` return the views; the magics `%submarine form`,
`%submarine history` and `%submarine run` show them.
"""

from __future__ import annotations

from typing import Any, Mapping


def make_form(session, command: str | None = None, *, request=None, from_job: str | None = None,
              params: Mapping[str, Any] | None = None, user_ns: Mapping[str, Any] | None = None,
              concurrency: int = 2):
    """A ParameterForm for `session`, starting from `request`, else the job `from_job`, else this
    notebook's newest run; `command` replaces the launch command; `params` (name → default) adds params."""
    from submarine_kernel import params as params_mod
    from submarine_kernel.request import RunRequest

    from .form import ParameterForm

    seeded = request is None and not from_job
    if request is None:
        record = session.record(from_job) if from_job else \
            next(iter(session.records(notebook=session.notebook, limit=1)), None)
        request = RunRequest.from_record(record) if record is not None else RunRequest()
        if not from_job:  # starting from the newest run is a convenience, not a re-run of it
            request = request.with_changes(rerun_of="")
    if command:
        request = request.with_changes(command=command)
    decls = session.param_decls(user_ns)
    decls.update(params_mod.decls_from_values(params or {}, source="declared"))
    if seeded:  # the newest run seeds the job fields, not its one-off -p params (unless its command needs them)
        from submarine_kernel.command_template import placeholders

        needed = set(decls) | set(placeholders(request.command))
        request = request.with_changes(params={k: v for k, v in request.params.items() if k in needed})
    for name, value in request.params.items():  # a past run's -p params stay editable
        if name not in decls and isinstance(value, (bool, int, float, str)):
            decls[name] = params_mod.ParamDecl(name, value, source="run")
    # the form starts from the current values, not the past run's, for params the notebook defines
    current = {name: decl.default for name, decl in decls.items()}
    request = request.with_changes(params={**request.params, **current})
    return ParameterForm(session, request, decls, concurrency=concurrency)


def form(command: str | None = None, *, from_job: str | None = None, params: Mapping[str, Any] | None = None,
         concurrency: int = 2):
    """`sk.form("python train.py --lr {lr}", params={"lr": 0.1})`: the parameter form of the default session."""
    from submarine_kernel.session import default_session

    user_ns = None
    try:
        from IPython import get_ipython

        shell = get_ipython()
        user_ns = shell.user_ns if shell is not None else None
    except ImportError:
        pass
    return make_form(default_session(), command, from_job=from_job, params=params, user_ns=user_ns,
                     concurrency=concurrency)


def history(*, all_notebooks: bool = False, limit: int = 500, form=None):
    """`sk.history()`: this notebook's runs (or every notebook's), with compare, metric plots and Re-run."""
    from submarine_kernel.session import default_session

    from .history import RunHistory

    return RunHistory(default_session(), form=form, limit=limit, all_notebooks=all_notebooks)


def status(job):
    """The live status widget of a Job (as returned by `sk.submit`)."""
    from .status import JobStatusView

    return JobStatusView(job.session, job.ref)
