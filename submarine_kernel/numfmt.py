"""One rule for numbers in every table (widgets, HTML/text views, the CLI): metric values keep
SIGNIFICANT_DIGITS significant digits, trailing zeros included, so `0.02246` sits beside `1.260`, not `1.26`.

Whole numbers (steps, epochs, counts) are exact; text (a diverged `"nan"`) passes through.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

SIGNIFICANT_DIGITS = 4


def number(value: Any, digits: int = SIGNIFICANT_DIGITS) -> str:
    """`0.022461` → `0.02246`, `1.26` → `1.260`, `12345.6` → `1.235e+04`, `7` → `7`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    text = f"{value:#.{digits}g}"
    mantissa, sep, exponent = text.partition("e")
    return mantissa.rstrip(".") + sep + exponent


def metrics_text(point: Mapping[str, Any], separator: str = ", ") -> str:
    """`loss=0.02246, acc=0.9100, step=73`: one point's values under the rule above."""
    return separator.join(f"{name}={number(value)}" for name, value in point.items())


def plain_number(value: float) -> str:
    """A bound or setting as the user wrote it: `1`, not `1.0`; `0.5`."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def duration(seconds: float) -> str:
    """`1m 05s`, `2h 03m 00s`, `7s`: elapsed times and ETAs alike."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
