"""A parameter's input in the form: the widget its kind calls for, and the hint of what it accepts."""

from __future__ import annotations

import math
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


def sweep_example(decl: ParamDecl, mode: str) -> str:
    """The placeholder of a parameter's sweep box: examples of its own type, inside its bounds (a whole-number
    field shows `1, 4, 8`, never `0.01, 0.1`); `mode` is grid (values) or random (a range, or values)."""
    if decl.kind == "choice":
        return "values: " + ", ".join(map(str, decl.choices))
    if decl.kind == "bool":
        return "values: true, false"
    if decl.kind == "str":
        return f"values: {decl.default or 'a'}, b"
    if decl.kind == "int":
        # around the default where no bound says otherwise
        around = decl.default if isinstance(decl.default, int) and decl.default > 1 else 4
        low = int(decl.minimum) if decl.minimum is not None else max(1, around // 2)
        high = int(decl.maximum) if decl.maximum is not None else max(low, around) * 2
        values = list(dict.fromkeys([low, (low + high) // 2, high]))
        shown = ", ".join(map(str, values))
        number = str
    else:
        around = float(decl.default) if isinstance(decl.default, (int, float)) and decl.default > 0 else 0.01
        low = float(decl.minimum) if decl.minimum is not None else around / 10
        high = float(decl.maximum) if decl.maximum is not None else max(low, around) * 10
        middle = math.sqrt(low * high) if low > 0 else (low + high) / 2  # rates and the like: log-spaced
        number = _float_text
        shown = ", ".join(map(number, dict.fromkeys([low, middle, high])))
    if mode == "grid":
        return f"values: {shown}"
    log = f", log:{number(low)}..{number(high)}" if decl.kind == "float" and low > 0 else ""
    return f"range {number(low)}..{number(high)}{log}, or values {shown}"


def _float_text(value: float) -> str:
    """A float example that reads as one (`1.0`, not `1`), one significant digit: `0.01`, `0.5`."""
    return repr(float(f"{value:.1g}"))
