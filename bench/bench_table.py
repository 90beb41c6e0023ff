"""The bench's one table: a Row per figure, the sections by name (`@section`), running one section so that
a crash or a missing test peer still leaves a row saying why, and printing the table."""

from __future__ import annotations

import argparse
import sys
import traceback
from dataclasses import dataclass
from typing import Callable


@dataclass
class Row:
    section: str
    metric: str
    value: str
    baseline: str
    ratio: str
    target: str
    ok: bool | None


SECTIONS: dict[str, Callable[[argparse.Namespace], list[Row]]] = {}
LABELS: dict[str, str] = {}  # section name (for --only) -> the label its rows carry


def section(name: str, label: str | None = None):
    def register(func):
        SECTIONS[name] = func
        LABELS[name] = label or name
        return func
    return register


def print_table(rows: list[Row]) -> None:
    headers = ["section", "metric", "value", "baseline", "ratio", "target", "ok"]
    cells = [[r.section, r.metric, r.value, r.baseline, r.ratio, r.target,
              "" if r.ok is None else ("yes" if r.ok else "NO")] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = " | ".join(h.ljust(w) for h, w in zip(headers, widths))
    print(line)
    print("-|-".join("-" * w for w in widths))
    for c in cells:
        print(" | ".join(v.ljust(w) for v, w in zip(c, widths)))


def one_line(exc: BaseException, limit: int = 160) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def run_section(name: str, args: argparse.Namespace, show_traceback: bool = False) -> list[Row]:
    """The section's rows; a section that crashes still gets a row saying why, so the others' figures
    are printed whatever happens here."""
    try:
        return SECTIONS[name](args)
    except ModuleNotFoundError as exc:  # a plain `pip install -e .` lacks the test peers (kmock, moto, ...)
        print(f"{name}: skipped, {exc.name} is not installed", file=sys.stderr, flush=True)
        return [Row(LABELS[name], "skipped", f"{exc.name} is not installed: pip install -e '.[test]'",
                    "", "", "", None)]
    except Exception as exc:  # noqa: BLE001 - any failure of one section is reported in its row
        if show_traceback:
            traceback.print_exc()
        print(f"{name}: could not be measured: {one_line(exc)}"
              f"{'' if show_traceback else ' (--traceback shows where)'}", file=sys.stderr, flush=True)
        return [Row(LABELS[name], "not measured", one_line(exc), "", "", "runs", False)]
