"""The launch command as a template: `{name}` placeholders filled with shell-quoted param values (or the
params appended as `--name value`), and how a param value reads on a command line and in the environment.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any, Mapping

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def render_command(command: str, params: Mapping[str, Any]) -> str:
    """Substitute `{name}` placeholders with shell-quoted values, or append `--name value` pairs.

    A command with a placeholder is a template, as Python's str.format reads one: `{{` and `}}` are literal
    braces (`--json '{{"a": {x}}}'` gives `{"a": <x>}`). `${VAR}` is the shell's, never a placeholder.
    A command without placeholders is left exactly as written.
    """
    tokens = _template(command)
    if not any(kind == "param" for kind, _, _ in tokens):
        return command + "".join(f" --{name} {shlex.quote(format_param(value))}" for name, value in params.items())
    out = []
    for kind, text, quote in tokens:
        if kind == "text":
            out.append(text)
        elif text in params:
            value = shlex.quote(format_param(params[text]))
            out.append(f"{quote}{value}{quote}" if quote else value)
        else:  # an unset placeholder: spec problems name it; leave it visible
            out.append("{" + text + "}")
    return "".join(out)


def placeholders(command: str) -> list[str]:
    """The `{name}` placeholders of a launch command, in order."""
    return [text for kind, text, _ in _template(command) if kind == "param"]


def _template(command: str) -> list[tuple[str, str, str | None]]:
    """`(kind, text, quote)` tokens: "text" with `{{`/`}}` already resolved, or "param" with its name and the
    shell quote it sits in, so a value in `"{msg}"` or `'{msg}'` can close and reopen that quote (a quoted
    value inside "..." would still expand)."""
    tokens: list[tuple[str, str, str | None]] = []
    text: list[str] = []
    quote = None  # the shell quote we are inside: None, "'" or '"'
    i = 0
    while i < len(command):
        char = command[i]
        if char == "\\" and quote != "'":
            text.append(command[i:i + 2])
            i += 2
        elif char in "'\"" and quote in (None, char):
            quote = None if quote else char
            text.append(char)
            i += 1
        elif command.startswith("${", i):  # the shell's own expansion, copied whole
            end = command.find("}", i)
            end = len(command) if end < 0 else end + 1
            text.append(command[i:end])
            i = end
        elif command.startswith(("{{", "}}"), i):
            text.append(char)
            i += 2
        elif (match := _PLACEHOLDER.match(command, i)):
            tokens.append(("text", "".join(text), None))
            text = []
            tokens.append(("param", match.group(1), quote))
            i = match.end()
        else:
            text.append(char)
            i += 1
    tokens.append(("text", "".join(text), None))
    return tokens


def format_param(value: Any) -> str:
    """How a param value appears on a command line and in the environment."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def param_env(params: Mapping[str, Any]) -> dict[str, str]:
    return {f"SUBMARINE_PARAM_{name.upper()}": format_param(value) for name, value in params.items()}
