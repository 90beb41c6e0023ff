"""Job status and job lists as HTML (every value escaped) and plain text, for any frontend.

No IPython here: the magics wrap these in display objects, the CLI prints the text.
"""

from __future__ import annotations

import datetime as _dt
from html import escape
from typing import Iterable, Mapping
from urllib.parse import urlsplit

from .runtimes.base import JobState, JobStatus

STATE_COLORS = {
    JobState.SUCCEEDED: "#1a7f37", JobState.FAILED: "#cf222e", JobState.STOPPED: "#6e7781",
    JobState.RUNNING: "#0969da", JobState.PENDING: "#9a6700", JobState.SUBMITTED: "#9a6700",
    JobState.NEW: "#6e7781", JobState.UNKNOWN: "#6e7781",
}
_SAFE_SCHEMES = ("http", "https", "file")


def parse_time(text: str | None) -> _dt.datetime | None:
    if not text:
        return None
    try:
        return _dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def elapsed(status: JobStatus, now: _dt.datetime | None = None) -> str:
    """`1m 05s` from start (or submission) to finish (or now)."""
    start = parse_time(status.started) or parse_time(status.submitted)
    if start is None:
        return ""
    end = parse_time(status.finished) or now or _dt.datetime.now(_dt.timezone.utc)
    seconds = max(0, int((end - start).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def short_time(text: str | None) -> str:
    moment = parse_time(text)
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def safe_href(url: str) -> str | None:
    """The URL when its scheme is safe to link (no `javascript:`), else None."""
    return url if urlsplit(url).scheme.lower() in _SAFE_SCHEMES else None


def _link(name: str, url: str) -> str:
    href = safe_href(url)
    if href is None:
        return f"{escape(name)}: {escape(url)}"
    return f'<a href="{escape(href, quote=True)}" target="_blank" rel="noopener">{escape(name)}</a>'


def state_badge(state: JobState, stale: bool = False) -> str:
    color = STATE_COLORS.get(state, "#6e7781")
    label = escape(state.value) + (" (stale)" if stale else "")
    return (f'<span class="submarine-state" style="background:{color};color:white;padding:1px 8px;'
            f'border-radius:8px;font-weight:600">{label}</span>')


def status_html(name: str, status: JobStatus, runtime: str = "") -> str:
    """A status card: state, times, elapsed, per-replica table, links, message."""
    rows = "".join(
        f"<tr><td>{escape(r.name)}</td><td>{escape(r.state.value)}</td>"
        f"<td>{'' if r.exit_code is None else escape(str(r.exit_code))}</td><td>{escape(r.host or '')}</td></tr>"
        for r in status.replicas)
    links = " · ".join(_link(k, v) for k, v in status.links.items())
    times = " · ".join(f"{label} {escape(short_time(value))}" for label, value in
                       (("submitted", status.submitted), ("started", status.started),
                        ("finished", status.finished)) if value)
    message = f'<div class="submarine-message">{escape(status.message)}</div>' if status.message else ""
    table = (f'<table class="submarine-replicas"><thead><tr><th>replica</th><th>state</th><th>exit</th><th>host</th>'
             f"</tr></thead><tbody>{rows}</tbody></table>") if rows else ""
    where = f" on {escape(runtime)}" if runtime else ""
    return (f'<div class="submarine-job" data-job="{escape(name, quote=True)}">'
            f"<div><b>{escape(name)}</b>{where} {state_badge(status.state, status.stale)} "
            f"<small>{escape(status.raw_state)}</small></div>"
            f"<div><small>{times}{' · elapsed ' + escape(elapsed(status)) if elapsed(status) else ''}</small></div>"
            f"{message}{table}{_details_html(status)}<div>{links}</div></div>")


def _details_html(status: JobStatus) -> str:
    return "".join(f"<div><small>{escape(k)}: {escape(v)}</small></div>" for k, v in status.details.items())


def status_text(name: str, status: JobStatus, runtime: str = "") -> str:
    lines = [f"{name}{' on ' + runtime if runtime else ''}: {status.state.value}"
             f"{' (stale)' if status.stale else ''}{' · ' + elapsed(status) if elapsed(status) else ''}"]
    if status.message:
        lines.append(f"  {status.message}")
    for r in status.replicas:
        code = "" if r.exit_code is None else f" (exit {r.exit_code})"
        lines.append(f"  {r.name:<14} {r.state.value}{code}")
    lines += [f"  {k}: {v}" for k, v in {**status.details, **status.links}.items()]
    return "\n".join(lines)


def table_html(headers: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="submarine-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _one_line(text: str) -> str:
    """A cell of a text table stays on its row: a newline in a param value is shown as \\n."""
    return text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")


def table_text(headers: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    headers = [str(h) for h in headers]
    rows = [[_one_line(str(c)) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*headers)] + [fmt.format(*r) for r in rows])


def params_text(params: Mapping[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())
