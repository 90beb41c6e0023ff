"""What the `%submarine form | history` magics and run's status output show, kept here so the magics module
only parses arguments and delegates. ipywidgets is imported inside the functions that make views.
"""

from __future__ import annotations

import time
from typing import Any, MutableMapping

from submarine_kernel import render


class PlainStatusDisplay:
    """A job's status as HTML + text under one display_id, updated in place (`--plain`, or no ipywidgets)."""

    def __init__(self, name: str, runtime: str, status):
        from IPython.display import display

        self.name, self.runtime = name, runtime
        self.progress = None  # what `--wait` read last (`show_progress`)
        self.display_id = f"submarine-{name}-{time.monotonic_ns()}"
        display(self._bundle(status), raw=True, display_id=self.display_id)

    def _bundle(self, status) -> dict:
        return {"text/html": render.status_html(self.name, status, self.runtime, progress=self.progress),
                "text/plain": render.status_text(self.name, status, self.runtime, progress=self.progress)}

    def update(self, status) -> None:
        from IPython.display import update_display

        update_display(self._bundle(status), raw=True, display_id=self.display_id)

    def show_progress(self, status, progress) -> None:
        """The job's progress (`progress.of_job`) as `--wait` reads it now and then; redrawn when it moved."""
        if progress is not None and progress != self.progress:
            self.progress = progress
            self.update(status)


def status_display(session, ref, status, plain: bool):
    """The live status widget (with HTML/text fallbacks under one display_id), or a PlainStatusDisplay when
    asked for `--plain` or when ipywidgets cannot be imported."""
    if not plain:
        try:
            from .status import StatusDisplay
        except ImportError:
            pass
        else:
            return StatusDisplay(session, ref, status)
    return PlainStatusDisplay(ref.name, ref.runtime, status)


def show_form(session, command: str | None, args, user_ns: MutableMapping[str, Any] | None):
    """Display a parameter form (turned static when the kernel shuts down); returns it."""
    from . import make_form
    from .static import show

    form = make_form(session, command, from_job=args.from_job, user_ns=user_ns, concurrency=args.concurrency)
    show(form, "form")
    return form


def show_history(session, args):
    """Display this notebook's run history (turned static when the kernel shuts down); returns it."""
    from .form import last_form
    from .history import RunHistory
    from .static import show

    view = RunHistory(session, form=last_form(session), limit=args.limit, all_notebooks=args.all)
    show(view, "history")
    return view
