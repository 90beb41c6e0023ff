"""What the `%submarine form | param | history` magics and run's status output do, kept here so the magics
module only parses arguments and delegates. ipywidgets is imported inside the functions that make views.
"""

from __future__ import annotations

from typing import Any, Callable, MutableMapping

from submarine_kernel.errors import ValidationError


def status_display(session, ref, status, plain: bool, plain_display: Callable):
    """The live status widget (with HTML/text fallbacks under one display_id), or `plain_display` when
    asked for `--plain` or when ipywidgets cannot be imported."""
    if not plain:
        try:
            from .status import StatusDisplay
        except ImportError:
            pass
        else:
            return StatusDisplay(session, ref, status)
    return plain_display(ref.name, ref.runtime, status)


def show_form(session, command: str | None, args, user_ns: MutableMapping[str, Any] | None):
    """Display a parameter form (turned static when the kernel shuts down); returns it."""
    from . import make_form
    from .static import show

    form = make_form(session, command, from_job=args.from_job, user_ns=user_ns, concurrency=args.concurrency)
    show(form, "form")
    return form


def declare_param(session, args, user_ns: MutableMapping[str, Any]) -> str:
    """Record a `%submarine param` declaration and define the variable in the kernel (unless a value was
    injected or changed since the last declaration); returns the line to print."""
    from submarine_kernel import params

    name, sep, default = args.assignment.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValidationError(f"{args.assignment!r} is not NAME=DEFAULT: write e.g. %submarine param lr=0.1")
    choices = args.choices.split(",") if args.choices is not None else None
    decl = params.declare(name, default, choices, args.minimum, args.maximum)
    previous = session.params.get(name)
    # papermill-style injection (headless -p) runs before this cell: keep an injected value
    if name not in user_ns or (previous is not None and user_ns[name] == previous.default):
        user_ns[name] = decl.default
    session.params[name] = decl
    limits = f", one of {', '.join(map(str, decl.choices))}" if decl.choices else ""
    if decl.minimum is not None or decl.maximum is not None:
        low = "" if decl.minimum is None else f"{decl.minimum:g}"
        high = "" if decl.maximum is None else f"{decl.maximum:g}"
        limits = f", {low}..{high}"
    return f"submarine: param {name} = {user_ns[name]!r} ({decl.kind}{limits})"


def show_history(session, args):
    """Display this notebook's run history (turned static when the kernel shuts down); returns it.
    With `--export mlflow`, log the runs to MLflow instead and print what was done."""
    if getattr(args, "export", None) == "mlflow":
        from submarine_kernel import metrics
        from submarine_kernel.mlflow_export import export_runs

        metrics.harvester_for(session).join(timeout=30)  # metrics of jobs that just ended are being stored
        records = session.registry.list(notebook=None if args.all else session.notebook, limit=args.limit)
        result = export_runs(records, args.tracking_uri, args.experiment)
        print(f"submarine: {result.summary()}")
        return result
    from .form import last_form
    from .history import RunHistory
    from .static import show

    view = RunHistory(session, form=last_form(session), limit=args.limit, all_notebooks=args.all)
    show(view, "history")
    return view
