"""A parameter's input in the form: the widget its kind calls for, and the hint of what it accepts."""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as w

from submarine_kernel.numfmt import plain_number
from submarine_kernel.params import ParamDecl

from .common import LABEL_STYLE


def param_widget(decl: ParamDecl, value: Any = None) -> w.ValueWidget:
    """The input widget for one parameter, following its kind. Numbers are Text: a number widget would
    drop the `.` of `2.7` in a whole-number field (27) or clamp a bad value without saying so."""
    value = decl.default if value is None else value
    common = {"description": decl.name, "style": LABEL_STYLE, "continuous_update": False}
    if decl.kind == "choice":
        return w.Dropdown(options=list(decl.choices), value=value, description=decl.name, style=LABEL_STYLE)
    if decl.kind == "bool":
        return w.Checkbox(value=bool(value), description=decl.name, style=LABEL_STYLE, indent=True,
                          layout=w.Layout(width="420px"))
    return w.Text(value=str(value), **common)


def param_hint(decl: ParamDecl) -> str:
    """What a parameter accepts, shown beside it: `whole number, 1..10`, `one of sgd, adam`."""
    if decl.kind == "choice":
        return "one of " + ", ".join(map(str, decl.choices))
    words = {"int": "whole number", "float": "number", "str": "text", "bool": ""}[decl.kind]
    low = "" if decl.minimum is None else plain_number(decl.minimum)
    high = "" if decl.maximum is None else plain_number(decl.maximum)
    bounds = f"{low}..{high}" if low or high else ""
    return ", ".join(part for part in (words, bounds) if part)


def param_hint_widget(decl: ParamDecl) -> w.HTML:
    """The hint beside a parameter's input (escaped)."""
    return w.HTML(f'<small class="submarine-hint" style="color:#57606a">{escape(param_hint(decl))}</small>')
