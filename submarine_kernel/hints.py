"""What the user types next, worded for where they are: `%submarine ...` in a notebook,
`submarine-kernel ...` in a shell."""

from __future__ import annotations

import difflib
from typing import Iterable

from .job_types import JobState, JobStatus

NOTEBOOK = "%submarine"
SHELL = "submarine-kernel"


def failed_replica(status: JobStatus | None) -> str | None:
    """The replica that decided a failure: the first to end FAILED (replicas stopped because of it end
    STOPPED); None when the status names none."""
    if status is None:
        return None
    failed = [r for r in status.replicas if r.state == JobState.FAILED]
    if not failed:
        return None
    # earliest end first; a replica without an end time after those with one; ties keep the runtime's
    # order (deciding replica first)
    return min(enumerate(failed), key=lambda item: (item[1].finished is None, item[1].finished or "", item[0]))[1].name


def logs_command(name: str, status: JobStatus | None = None, prefix: str = NOTEBOOK) -> str:
    """`%submarine logs NAME --replica worker-0`: the log that explains how the job ended."""
    replica = failed_replica(status)
    return f"{prefix} logs {name}" + (f" --replica {replica}" if replica else "")


def ended_message(name: str, status: JobStatus, prefix: str = NOTEBOOK) -> str:
    """`job NAME ended FAILED: why (%submarine logs NAME --replica worker-0)`."""
    return (f"job {name} ended {status.state.value}: {status.message or 'see its logs'} "
            f"({logs_command(name, status, prefix)})")


def unknown_name(kind: str, name: str, known: Iterable[str]) -> str:
    """`unknown param 'lerning_rate'; did you mean 'learning_rate'?` (difflib's closest known names), or the
    known names when none is close."""
    known = sorted(set(known))
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if close:
        return f"unknown {kind} {name!r}; did you mean {' or '.join(repr(c) for c in close)}?"
    return f"unknown {kind} {name!r}" + (f": use one of {', '.join(known)}" if known else "")


def close_to(name: str, known: Iterable[str]) -> list[str]:
    """Known names a typo of `name` could mean (difflib, strict: only near misses)."""
    return difflib.get_close_matches(name, [k for k in known if k != name], n=3, cutoff=0.8)
