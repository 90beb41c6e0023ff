"""Static final renderings: a widget output becomes plain HTML + text once it is over, so a saved,
reopened, shared or converted notebook shows what happened instead of "Error displaying widget".

A job's status output is replaced when the job ends (widgets/status.py); the form's and the history's
outputs, and any status still live, when the kernel shuts down or restarts (the history's chart then
goes into an output of its own, as plotly's mime type). ipykernel has no shutdown
event, so `freeze_on_shutdown` wraps the running kernel's `do_shutdown` once.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from IPython.display import display, update_display

from .common import close_tree

# strong references: nothing else keeps a shown form's FrozenOutput alive until the kernel shuts down
_outputs: list[Any] = []
_lock = threading.Lock()
_hooked: "weakref.WeakSet[Any]" = weakref.WeakSet()


def frozen_bundle(view) -> dict:
    """The output that replaces a widget: its HTML and text renderings, no widget reference."""
    return {"text/html": view.fallback_html(), "text/plain": view.fallback_text()}


class FrozenOutput:
    """One displayed widget, shown under a display_id so its output can be replaced in place."""

    def __init__(self, view, kind: str):
        self.view = view
        self.display_id = f"submarine-{kind}-{id(view)}"
        self.frozen = False
        display(view, display_id=self.display_id)
        # a view with a slot (the history's chart) gets an empty output below it, filled when it freezes:
        # an output of its own keeps plotly's mime type, which a saved notebook renders without a kernel
        self.slot_id = f"{self.display_id}-slot" if hasattr(view, "slot_bundle") else None
        if self.slot_id:
            display({"text/html": '<div class="submarine-slot"></div>', "text/plain": ""}, raw=True,
                    display_id=self.slot_id)
        freeze_on_shutdown(self)

    def freeze(self) -> None:
        if self.frozen:
            return
        self.frozen = True
        bundle = self.view.frozen_bundle() if hasattr(self.view, "frozen_bundle") else frozen_bundle(self.view)
        update_display(bundle, raw=True, display_id=self.display_id)
        if self.slot_id:
            update_display(self.view.slot_bundle(), raw=True, display_id=self.slot_id)
        close_tree(self.view)  # replaced: its state must not be saved with the notebook


def show(view, kind: str) -> FrozenOutput:
    """Display `view`; its output turns static when the kernel shuts down."""
    return FrozenOutput(view, kind)


def freeze_on_shutdown(output) -> None:
    """Call `output.freeze()` when the kernel shuts down (or restarts)."""
    with _lock:
        _outputs[:] = [o for o in _outputs if not o.frozen] + [output]
    _hook_kernel()


def freeze_all() -> int:
    """Freeze every registered output now; returns how many were frozen."""
    with _lock:
        outputs = list(_outputs)
        _outputs.clear()
    count = 0
    for output in outputs:
        try:
            if not output.frozen:
                output.freeze()
                count += 1
        except Exception:  # a closed comm or a gone frontend must not block the shutdown
            pass
    return count


def _hook_kernel() -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return
    with _lock:
        if kernel in _hooked:
            return
        _hooked.add(kernel)
    original = kernel.do_shutdown

    def do_shutdown(restart):
        freeze_all()
        return original(restart)

    kernel.do_shutdown = do_shutdown
