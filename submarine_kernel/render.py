"""Job status and job lists as HTML (every value escaped) and plain text, for any frontend.

No IPython here: the magics wrap these in display objects, the CLI prints the text.
"""

from __future__ import annotations

import datetime as _dt
from html import escape
from typing import TYPE_CHECKING, Iterable, Mapping
from urllib.parse import urlsplit

from .numfmt import duration, metrics_text
from .job_types import PRUNED, PRUNED_AT_STEP, JobState, JobStatus

if TYPE_CHECKING:
    from .progress import Progress

STATE_COLORS = {
    JobState.SUCCEEDED: "#1a7f37", JobState.FAILED: "#cf222e", JobState.STOPPED: "#6e7781",
    JobState.RUNNING: "#0969da", JobState.PENDING: "#9a6700", JobState.SUBMITTED: "#9a6700",
    JobState.NEW: "#6e7781", JobState.UNKNOWN: "#6e7781", PRUNED: "#8250df",
}
_SAFE_SCHEMES = ("http", "https")  # a notebook page cannot open file:// links: such logs are shown inline
LINK_STYLE = "color:#0969da;text-decoration:underline"
SUMMARY_LOG_LINES = 50
LEFT_TABLE = "margin-left:0;margin-right:auto"
LEFT_CELL = "text-align:left"


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
    return duration(int((end - start).total_seconds()))


def short_time(text: str | None) -> str:
    moment = parse_time(text)
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def safe_href(url: str) -> str | None:
    """The URL when its scheme is safe to link (no `javascript:`), else None."""
    return url if urlsplit(url).scheme.lower() in _SAFE_SCHEMES else None


def link(name: str, url: str) -> str:
    """A link that opens in a new tab; a URL with an unsafe scheme is shown as code, not linked."""
    href = safe_href(url)
    if href is None:
        return f"{escape(name)}: <code>{escape(url)}</code>"
    return (f'<a href="{escape(href, quote=True)}" target="_blank" rel="noopener" style="{LINK_STYLE}">'
            f"{escape(name)}</a>")


def links_html(links: Mapping[str, str]) -> str:
    """The runtime's web links (tracking UI, dashboards), blue; file:// paths are left out, because the
    views show those logs inline and a browser will not open them from a notebook page."""
    return " · ".join(link(k, v) for k, v in links.items() if urlsplit(v).scheme.lower() != "file")


def shown_state(status: JobStatus) -> JobState:
    """The state to show: a job still SUBMITTED/PENDING whose replicas already run is RUNNING."""
    if status.state in (JobState.SUBMITTED, JobState.PENDING, JobState.NEW) and \
            any(r.state is JobState.RUNNING for r in status.replicas):
        return JobState.RUNNING
    return status.state


def shown_label(status: JobStatus) -> str:
    """`shown_state`'s word, or PRUNED for a sweep trial its stopping rule stopped (recorded in its details)."""
    if status.state is JobState.STOPPED and PRUNED_AT_STEP in status.details:
        return PRUNED
    return shown_state(status).value


def pruned_note(status: JobStatus | None) -> str:
    """`at step 3` for a pruned sweep trial (the last step it ran before its rule stopped it), else ""."""
    step = status.details.get(PRUNED_AT_STEP) if status is not None else None
    return f"at step {step}" if step is not None else ""


def raw_state_html(status: JobStatus) -> str:
    """The runtime's own word for the state, only when it says more than the badge ("SUCCEEDED succeeded")."""
    raw = status.raw_state.strip()
    if not raw or raw.lower() in (status.state.value.lower(), shown_state(status).value.lower()):
        return ""
    return f" <small>{escape(raw)}</small>"


def state_badge(state: JobState | str, stale: bool = False) -> str:
    """A coloured badge for a state, or for a shown label such as PRUNED (`shown_label`)."""
    color = STATE_COLORS.get(state, "#6e7781")
    label = escape(str(state)) + (" (stale)" if stale else "")
    return (f'<span class="submarine-state" style="background:{color};color:white;padding:1px 8px;'
            f'border-radius:8px;font-weight:600">{label}</span>')


def replicas_html(status: JobStatus) -> str:
    """The per-replica table (replica, state, exit code, host); "" for a job with no replicas yet."""
    if not status.replicas:
        return ""
    return table_html(["replica", "state", "exit", "host"], [
        [r.name, r.state.value, "" if r.exit_code is None else r.exit_code, r.host or ""] for r in status.replicas],
        css_class="submarine-replicas", align_left=True)


def status_header_html(name: str, status: JobStatus, runtime: str = "", below: str = "") -> str:
    """A job's status card without its replica table: name, runtime, state badge, times, elapsed, message,
    the runtime's facts and links; `below` (HTML, e.g. the last metrics) goes at its end. The live widget
    shows it above its own replica table; `status_html` adds the table."""
    spent = elapsed(status)
    message = f'<div class="submarine-message">{escape(status.message)}</div>' if status.message else ""
    where = f" on {escape(runtime)}" if runtime else ""
    state = shown_state(status)
    links = links_html(status.links)
    return (f'<div class="submarine-job" data-job="{escape(name, quote=True)}" '
            f'data-state="{escape(state.value, quote=True)}">'
            f"<div><b>{escape(name)}</b>{where} {state_badge(state, status.stale)}{raw_state_html(status)}</div>"
            f"<div><small>{escape(times_text(status))}{' · elapsed ' + escape(spent) if spent else ''}"
            f"</small></div>{message}{_details_html(status)}<div>{links}</div>{below}</div>")


def status_html(name: str, status: JobStatus, runtime: str = "",
                last_metrics: Mapping[str, object] | None = None, progress: "Progress | None" = None,
                used: str = "") -> str:
    """A status card: state, times, elapsed, links, message, progress, the last reported metrics, what the
    job used (`usage.peaks_text`), then the per-replica table."""
    below = live_html(status, last_metrics, progress) + (f"<div><small>used: {escape(used)}</small></div>"
                                                         if used else "")
    return status_header_html(name, status, runtime, below=below) + replicas_html(status)


def live_html(status: JobStatus, last_metrics: Mapping[str, object] | None = None,
              progress: "Progress | None" = None) -> str:
    """Below a status card's header: the progress bar and ETA (while the job runs), then the last metrics."""
    shown = progress.html() if progress is not None and not status.terminal else ""
    if last_metrics:
        shown += (f'<div class="submarine-metrics"><small>last reported: {escape(metrics_text(last_metrics, " · "))}'
                  "</small></div>")
    return shown


def _details_html(status: JobStatus) -> str:
    return "".join(f"<div><small>{escape(k)}: {escape(v)}</small></div>" for k, v in status.details.items())


def times_text(status: JobStatus) -> str:
    return " · ".join(f"{label} {short_time(value)}" for label, value in
                      (("submitted", status.submitted), ("started", status.started),
                       ("finished", status.finished)) if value)


def summary_html(name: str, status: JobStatus, runtime: str = "", last_metrics: Mapping[str, object] | None = None,
                 log_lines: Iterable[str] = ()) -> str:
    """A finished job in a few lines: state, duration, last metrics, message, and its log's end inline
    (folded), with the command that prints the full log. Static HTML: it survives a saved notebook."""
    state = shown_state(status)
    spent = elapsed(status)
    where = f" on {escape(runtime)}" if runtime else ""
    values = metrics_text(last_metrics or {})
    lines = list(log_lines)[-SUMMARY_LOG_LINES:]
    message = f'<div class="submarine-message">{escape(status.message)}</div>' \
        if status.message and status.state is not JobState.SUCCEEDED else ""
    # one short line for the replicas; exit codes only where they say something (a failure)
    replicas = " · ".join(f"{r.name} {r.state.value}" + (f" (exit {r.exit_code})" if r.exit_code else "")
                          for r in status.replicas)
    replicas = f'<div><small class="submarine-replicas">{escape(replicas)}</small></div>' if replicas else ""
    log = (f'<details class="submarine-log"><summary><small>log: last {len(lines)} lines · full log: '
           f"<code>%submarine logs {escape(name)}</code></small></summary>"
           f'<pre style="margin:0;font-size:11px;white-space:pre-wrap;max-height:220px;overflow:auto">'
           f"{escape(chr(10).join(lines))}</pre></details>") if lines else \
        f"<div><small>full log: <code>%submarine logs {escape(name)}</code></small></div>"
    links = links_html(status.links)
    links = f"<div>{links}</div>" if links else ""
    values = f' · <span class="submarine-metrics">{escape(values)}</span>' if values else ""
    return (f'<div class="submarine-job submarine-summary" data-job="{escape(name, quote=True)}" '
            f'data-state="{escape(state.value, quote=True)}" style="border:1px solid #d0d7de;padding:4px 8px;'
            f'margin:2px 0"><div><b>{escape(name)}</b>{where} {state_badge(state, status.stale)}'
            f"{' · ' + escape(spent) if spent else ''}"
            f"{values}</div>{message}{replicas}{links}{log}</div>")


def summary_text(name: str, status: JobStatus, runtime: str = "",
                 last_metrics: Mapping[str, object] | None = None) -> str:
    spent = elapsed(status)
    values = metrics_text(last_metrics or {})
    return (f"{name}{' on ' + runtime if runtime else ''}: {shown_state(status).value}"
            f"{' · ' + spent if spent else ''}{' · ' + values if values else ''}"
            f"{chr(10) + '  ' + status.message if status.message and status.state is not JobState.SUCCEEDED else ''}")


def status_text(name: str, status: JobStatus, runtime: str = "",
                last_metrics: Mapping[str, object] | None = None, progress: "Progress | None" = None,
                used: str = "") -> str:
    lines = [f"{name}{' on ' + runtime if runtime else ''}: {shown_state(status).value}"
             f"{' (stale)' if status.stale else ''}{' · ' + elapsed(status) if elapsed(status) else ''}"]
    if status.message:
        lines.append(f"  {status.message}")
    if progress is not None and not status.terminal:
        lines.append(f"  {progress.line()}")
    if last_metrics:
        lines.append(f"  last reported: {metrics_text(last_metrics)}")
    if used:
        lines.append(f"  used: {used}")
    for r in status.replicas:
        code = "" if r.exit_code is None else f" (exit {r.exit_code})"
        lines.append(f"  {r.name:<14} {r.state.value}{code}")
    lines += [f"  {k}: {v}" for k, v in {**status.details, **status.links}.items()]
    return "\n".join(lines)


def table_html(headers: Iterable[str], rows: Iterable[Iterable[object]], css_class: str = "",
               cells_are_html: bool = False, align_left: bool = False) -> str:
    """An HTML table; every header and cell is escaped unless `cells_are_html` says the cells are already
    HTML (badges, links, escaped by whoever made them). No headers: a table with a body only. `align_left`
    puts the table and its cells at the left, where JupyterLab's table CSS centres the table and right-aligns
    cells (inline styles win over its `.jp-RenderedHTMLCommon table` rules)."""
    table_style, cell_style = (f' style="{LEFT_TABLE}"', f' style="{LEFT_CELL}"') if align_left else ("", "")
    head = "".join(f"<th{cell_style}>{escape(str(h))}</th>" for h in headers)
    cell = (lambda c: str(c)) if cells_are_html else (lambda c: escape(str(c)))
    body = "".join("<tr>" + "".join(f"<td{cell_style}>{cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    return (f'<table class="submarine-table{" " + css_class if css_class else ""}"{table_style}>'
            f"{thead}<tbody>{body}</tbody></table>")


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
