"""A notebook's hyperparameters: the cell tagged `parameters` (papermill's convention) and
`%submarine param NAME=DEFAULT [--choices a,b | --min X --max Y]` declarations.

Each parameter becomes a `ParamDecl` whose kind follows its default (int, float, bool, str) or its
choices; forms use the kind to pick a widget and `problems` to flag a bad value. No IPython here.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import Problem, ValidationError

PARAMETERS_TAG = "parameters"
KINDS = ("bool", "int", "float", "str", "choice")


def literal(text: str) -> Any:
    """`3` → 3, `0.1` → 0.1, `true` → True; anything that is not a number or bool stays the text."""
    stripped = text.strip()
    if stripped.lower() in ("true", "false"):
        return stripped.lower() == "true"
    try:
        value = ast.literal_eval(stripped)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    return value if isinstance(value, (bool, int, float, str)) else text


def kind_of(value: Any) -> str:
    """The form kind of a value: bool, int, float or str."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "str"


def coerce(text: Any, kind: str, name: str = "value") -> Any:
    """`text` as a value of `kind`; ValidationError with a one-line fix when it is not one."""
    if kind in ("str", "choice"):
        return str(text)
    if not isinstance(text, str):
        if kind == "bool" and isinstance(text, bool):
            return text
        if kind == "int" and isinstance(text, int) and not isinstance(text, bool):
            return text
        if kind == "float" and isinstance(text, (int, float)) and not isinstance(text, bool):
            return float(text)
        text = str(text)
    stripped = text.strip()
    if kind == "bool":
        if stripped.lower() in ("true", "1", "yes", "on"):
            return True
        if stripped.lower() in ("false", "0", "no", "off"):
            return False
        raise ValidationError(f"{name}={text!r} is not true or false")
    try:
        if kind == "int":
            return int(stripped)
        number = float(stripped)
    except ValueError:
        raise ValidationError(f"{name}={text!r} is not {'a whole number' if kind == 'int' else 'a number'}") \
            from None
    if not math.isfinite(number):
        raise ValidationError(f"{name}={text!r} is not a finite number")
    return number


@dataclass(frozen=True)
class ParamDecl:
    """One hyperparameter: name, default, and optional allowed choices or numeric bounds."""

    name: str
    default: Any
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    source: str = "declared"  # "declared" (%submarine param) or "parameters" (the tagged cell)

    @property
    def kind(self) -> str:
        return "choice" if self.choices else kind_of(self.default)

    def problems(self, value: Any) -> list[Problem]:
        """What is wrong with `value` for this parameter; [] when it is fine."""
        if self.choices:
            if value not in self.choices:
                return [Problem(f"param {self.name}={value!r} is not one of {', '.join(map(str, self.choices))}",
                                self.field)]
            return []
        kind = kind_of(self.default)
        if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind_of(value) != kind:
            return [Problem(f"param {self.name}={value!r} is not {_KIND_WORDS[kind]}", self.field)]
        if kind == "float" and not math.isfinite(value):
            return [Problem(f"param {self.name}={value!r} is not a finite number", self.field)]
        if self.minimum is not None and value < self.minimum:
            return [Problem(f"param {self.name}={value} is below its minimum {_fmt(self.minimum)}", self.field)]
        if self.maximum is not None and value > self.maximum:
            return [Problem(f"param {self.name}={value} is above its maximum {_fmt(self.maximum)}", self.field)]
        return []

    def coerce(self, text: Any) -> Any:
        """Text from a form or a sweep list as this parameter's type (choices keep the choice's type)."""
        if self.choices:
            for choice in self.choices:
                if str(choice) == str(text).strip():
                    return choice
            return str(text).strip()
        try:
            return coerce(text, kind_of(self.default), f"param {self.name}")
        except ValidationError as exc:
            raise ValidationError([Problem(p, self.field) for p in exc.problems]) from None

    @property
    def field(self) -> str:
        """The run request field its problems are about."""
        return f"params.{self.name}"

    def accept(self, value: Any) -> tuple[Any, list[Problem]]:
        """`value` (text is converted to this parameter's type first) and what is wrong with it; the one
        rule the magics, API, CLI, form and sweeps all apply."""
        if isinstance(value, str) or self.choices:
            try:
                value = self.coerce(value)
            except ValidationError as exc:
                return None, list(exc.problems)
        return value, self.problems(value)


_KIND_WORDS = {"bool": "true or false", "int": "a whole number", "float": "a number", "str": "text"}


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def declare(name: str, default: str, choices: Iterable[str] | None = None, minimum: str | None = None,
            maximum: str | None = None) -> ParamDecl:
    """A ParamDecl from `%submarine param` words; ValidationError listing every problem."""
    problems = []
    if not name.isidentifier():
        problems.append(f"param name {name!r} is invalid: use a Python identifier, e.g. learning_rate")
    value = literal(default)
    options = tuple(literal(c) for c in choices or () if c.strip())
    if choices is not None and not options:
        problems.append(f"param {name} has an empty --choices list: write --choices a,b,c")
    if options and (minimum is not None or maximum is not None):
        problems.append(f"param {name} has both --choices and --min/--max: use one of them")
    bounds = []
    for label, text in (("min", minimum), ("max", maximum)):
        if text is None:
            bounds.append(None)
            continue
        try:
            bounds.append(coerce(text, "float", f"--{label}"))
        except ValidationError as exc:
            problems.extend(exc.problems)
            bounds.append(None)
    low, high = bounds
    if (low is not None or high is not None) and kind_of(value) not in ("int", "float"):
        problems.append(f"param {name}={default!r} is not a number, so it cannot have --min/--max")
    if low is not None and high is not None and low > high:
        problems.append(f"param {name} has --min {_fmt(low)} above --max {_fmt(high)}")
    if problems:
        raise ValidationError(problems)
    decl = ParamDecl(name, value, options, low, high)
    problems = decl.problems(value)
    if problems:
        raise ValidationError([f"the default of {p}" for p in problems])
    return decl


def params_from_source(source: str) -> dict[str, Any]:
    """Top-level `name = literal` assignments of a parameters cell (other statements are ignored)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    found: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value_node = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target, value_node = node.target.id, node.value
        else:
            continue
        try:
            value = ast.literal_eval(value_node)
        except (ValueError, SyntaxError, TypeError):
            continue
        if isinstance(value, (bool, int, float, str)):  # lists and dicts have no form widget
            found[target] = value
    return found


def notebook_parameters(path: str | Path | None) -> dict[str, Any]:
    """The parameters of the saved notebook's cell(s) tagged `parameters`; {} when there is none or it
    cannot be read (an unsaved notebook, a path that moved)."""
    if not path:
        return {}
    import nbformat

    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception:
        return {}
    found: dict[str, Any] = {}
    for cell in nb.cells:
        if cell.get("cell_type") == "code" and PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
            found.update(params_from_source(cell.get("source", "")))
    return found


def decls_from_values(values: Mapping[str, Any], source: str = "parameters") -> dict[str, ParamDecl]:
    return {name: ParamDecl(name, value, source=source) for name, value in values.items()}


def merge(notebook_values: Mapping[str, Any], declared: Mapping[str, ParamDecl],
          current: Mapping[str, Any] | None = None) -> dict[str, ParamDecl]:
    """The form's parameters: the tagged cell's, then declarations (which win, as they add choices or
    bounds). A name whose value the kernel currently holds (`current`) defaults to that value when it
    is valid, so a re-run parameters cell shows up in the form."""
    merged = decls_from_values(notebook_values)
    for name, decl in declared.items():
        merged[name] = decl
    if current:
        for name, decl in list(merged.items()):
            value = current.get(name)
            same_kind = decl.choices or kind_of(value) == kind_of(decl.default)
            if name in current and same_kind and not decl.problems(value):
                merged[name] = ParamDecl(name, value, decl.choices, decl.minimum, decl.maximum,
                                         decl.source)
    return merged


def check_values(values: Mapping[str, Any], decls: Mapping[str, ParamDecl]) -> tuple[dict[str, Any], list[str]]:
    """Declared params' values as their declared type, and every problem (kind, choices, bounds).

    Text (`-p lr 1e-3`) converts to the declared type; a value that is already typed is checked as is.
    Undeclared params are not touched: they reach the job as typed."""
    typed: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in values.items():
        decl = decls.get(name)
        if decl is None:
            continue
        value, found = decl.accept(value)
        problems.extend(found)
        if value is not None:
            typed[name] = value
    return typed, problems


def declare_in_session(session, assignment: str, choices: str | None, minimum: str | None, maximum: str | None,
                       user_ns: dict) -> str:
    """Record a `%submarine param NAME=DEFAULT` declaration in `session` and define the variable in the kernel
    (unless a value was injected or changed since the last declaration); returns the line to print."""
    name, sep, default = assignment.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValidationError(f"{assignment!r} is not NAME=DEFAULT: write e.g. %submarine param lr=0.1")
    decl = declare(name, default, choices.split(",") if choices is not None else None, minimum, maximum)
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
