"""What `logs` prints, in the notebook (`%submarine logs`) and the shell (`submarine-kernel logs`) alike: a
`==> NAME REPLICA <==` header per replica, report()'s SUBMARINE_METRIC lines hidden unless asked for, `--tail`
counting only the lines shown, and at most `limit` lines in all, with how to see the rest.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterator

from .contract import replica_names
from .errors import SubmarineError
from .metrics import parse_metric_line
from .numfmt import metrics_text


def readable(line: str) -> str:
    """A log line as the live views show it: a report() line as its values (`reported: loss=0.5, step=3`), not
    the raw marker and JSON with the progress stamps; any other line as written."""
    point = parse_metric_line(line)
    return line if point is None else f"reported: {metrics_text(point)}"


@dataclass(frozen=True)
class LogLine:
    text: str
    note: bool = False  # a remark about the log (hidden lines, a cap), for stderr rather than the log itself


def log_lines(job, replica: str | None = None, every: bool = False, tail: int | None = None,
              follow: bool = False, metrics: bool = False, limit: int | None = None,
              prefix: str = "submarine-kernel") -> Iterator[LogLine]:
    """The lines `logs` shows for `job` (see the module docstring); `prefix` starts the commands it suggests."""
    if every and follow:
        raise SubmarineError("--follow reads one replica as it writes: give --replica NAME instead of --all")
    replicas = [f"{role}-{index}" for role, index in replica_names(job.spec)] if every else \
        [replica or f"{job.spec.deciding_role}-0"]
    # --tail counts the lines shown: with metric lines hidden, read the whole log and keep the last N
    tail_after = tail if tail and not metrics and not follow else None
    shown = 0
    for number, name in enumerate(replicas):
        lines = job.runtime.logs(job.ref, replica=name, tail=None if tail_after else tail, follow=follow)
        yield LogLine(("\n" if number else "") + f"==> {job.name} {name} <==")
        hidden, printed, left_out = 0, 0, 0
        kept: deque = deque(maxlen=tail_after)
        for line in lines:
            if not metrics and parse_metric_line(line) is not None:
                hidden += 1
            elif tail_after:
                kept.append(line)
            elif limit is not None and shown >= limit:
                left_out += 1
            else:
                printed += 1
                shown += 1
                yield LogLine(line)
        for line in kept:
            if limit is not None and shown >= limit:
                left_out += 1
                continue
            printed += 1
            shown += 1
            yield LogLine(line)
        if not printed and not hidden and not left_out:
            yield LogLine("(no output)")
        if left_out:
            yield LogLine(f"({left_out} more line(s) of {name} not shown here: `{prefix} logs {job.name} --replica "
                          f"{name} --tail N` shows the last N, `submarine-kernel logs {job.name} --replica {name}` "
                          "in a terminal prints all)", note=True)
        if hidden:
            yield LogLine(f"({hidden} SUBMARINE_METRIC line(s) of {name} hidden: --metrics shows them)", note=True)
