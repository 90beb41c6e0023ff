"""argparse value types shared by the magics and the command line, so both refuse the same way."""

from __future__ import annotations

import argparse
from typing import Callable


def whole_number(minimum: int, what: str = "a whole number") -> Callable[[str], int]:
    """An argparse `type` for a whole number of at least `minimum` (`--tail -3` is refused, not a traceback)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text} is below {minimum}: give {what} of {minimum} or more")
        return value

    parse.__name__ = "int"  # argparse names the type in its messages
    return parse
