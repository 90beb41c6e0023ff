"""The live job status widget: state badge, times, replicas, links, last metrics, a Stop button and a
bounded log tail.

Updates come from the tracker thread (status) and one log-follower thread per view (lines); both go
through an UpdateBatcher, so the frontend gets at most about two deliveries a second per view, and the
kernel thread is never blocked.
"""

from __future__ import annotations

import threading
from collections import deque
from html import escape
from typing import Any

import ipywidgets as w
from IPython.display import display, update_display

from submarine_kernel import metrics, render
from submarine_kernel.runtimes.base import JobRef, JobState, JobStatus
from submarine_kernel.session import Job
from submarine_kernel.throttle import UpdateBatcher

from .common import FallbackBundle

TAIL_LINES = 200
UPDATE_INTERVAL = 0.5


def metrics_html(point: dict) -> str:
    if not point:
        return ""
    values = " · ".join(f"{escape(str(k))} {escape(_short(v))}" for k, v in point.items())
    return f'<div class="submarine-metrics"><small>last reported: {values}</small></div>'


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class JobStatusView(FallbackBundle, w.VBox):
    """Follows one job until it ends. `update(status)` may be called from any thread."""

    def __init__(self, session, ref: JobRef, status: JobStatus | None = None, tail_lines: int = TAIL_LINES,
                 follow_logs: bool = True, interval: float = UPDATE_INTERVAL):
        self.session = session
        self.ref = ref
        self.status = status or session.tracker.last(ref) or JobStatus(JobState.SUBMITTED, "submitted")
        self.lines: deque[str] = deque(maxlen=tail_lines)
        self.last_metrics: dict = {}
        self.tail_lines = tail_lines
        self._closed = False
        self._status_event = threading.Event()
        self.header = w.HTML()
        self.replicas = w.HTML()
        self.replicas.add_class("jp-RenderedHTMLCommon")  # JupyterLab's table styling
        self.log_view = w.HTML(layout=w.Layout(max_height="220px", overflow="auto", border="1px solid #d0d7de"))
        self.stop_button = w.Button(description="Stop", icon="stop", button_style="danger",
                                    tooltip="stop every replica of this job", layout=w.Layout(width="90px"))
        self.stop_button.on_click(lambda _: self.stop())
        self.note = w.HTML()
        logs_box = w.Accordion(children=[self.log_view], titles=(f"log tail (last {tail_lines} lines)",))
        logs_box.selected_index = 0
        super().__init__(children=[w.HBox([self.header, self.stop_button]), self.replicas, self.note, logs_box],
                         layout=w.Layout(border="1px solid #d0d7de", padding="6px", margin="4px 0"))
        self.add_class("submarine-status")
        self._batcher = UpdateBatcher(self._deliver, interval, append_keys=("lines",), max_items=tail_lines)
        self._render_status()
        self._remove_listener = session.tracker.listen(self._on_status)
        if self.status.terminal:
            self._remove_listener()
        if follow_logs:
            threading.Thread(target=self._follow_logs, name=f"submarine-logs-{ref.name}", daemon=True).start()

    # -- inputs (any thread) -----------------------------------------------------------------------------
    def _on_status(self, ref: JobRef, status: JobStatus) -> None:
        if ref.key == self.ref.key:
            self.update(status)

    def update(self, status: JobStatus) -> None:
        """A new status (from the tracker or the magics); shown within the update interval."""
        self._status_event.set()
        self._batcher.push({"status": status})
        if status.terminal:
            self._batcher.flush()  # the final state shows at once
            self._remove_listener()

    def _follow_logs(self) -> None:
        """Read the deciding replica's log as it grows; retry while the runtime has no log yet."""
        runtime = self.session.runtime(self.ref.runtime)
        while not self._closed:
            try:
                for line in runtime.logs(self.ref, tail=self.tail_lines, follow=True):
                    if self._closed:
                        return
                    point = metrics.parse_metric_line(line)
                    update: dict = {"lines": [line]}
                    if point is not None:
                        update["metrics"] = point
                    self._batcher.push(update)
                self._batcher.flush()
                return
            except Exception as exc:  # no log yet (pod pending) or the runtime is unreachable: try again later
                self._batcher.push({"note": f"log not available yet: {exc}"})
                if self.status.terminal:
                    return
                self._status_event.wait(5)
                self._status_event.clear()

    # -- output (batched) --------------------------------------------------------------------------------
    def _deliver(self, batch: dict) -> None:
        if "status" in batch:
            self.status = batch["status"]
        if "metrics" in batch:
            self.last_metrics = {**self.last_metrics, **batch["metrics"]}
        if "note" in batch:
            self.note.value = f"<small>{escape(batch['note'])}</small>"
        self._render_status()
        if batch.get("lines"):
            self.lines.extend(batch["lines"])
            self.log_view.value = ('<pre style="margin:0;font-size:11px;white-space:pre-wrap">'
                                   f"{escape(chr(10).join(self.lines))}</pre>")

    def _render_status(self) -> None:
        status = self.status
        times = " · ".join(f"{label} {escape(render.short_time(value))}" for label, value in
                           (("submitted", status.submitted), ("started", status.started),
                            ("finished", status.finished)) if value)
        spent = render.elapsed(status)
        links = " · ".join(render._link(k, v) for k, v in status.links.items())
        message = f"<div>{escape(status.message)}</div>" if status.message else ""
        self.header.value = (
            f'<div class="submarine-job" data-job="{escape(self.ref.name, quote=True)}" '
            f'data-state="{escape(status.state.value, quote=True)}">'
            f"<div><b>{escape(self.ref.name)}</b> on {escape(self.ref.runtime)} "
            f"{render.state_badge(status.state, status.stale)} <small>{escape(status.raw_state)}</small></div>"
            f"<div><small>{times}{' · elapsed ' + escape(spent) if spent else ''}</small></div>"
            f"{message}<div>{links}</div>{metrics_html(self.last_metrics)}</div>")
        table = render.table_html(["replica", "state", "exit", "host"], [
            [r.name, r.state.value, "" if r.exit_code is None else r.exit_code, r.host or ""]
            for r in status.replicas]) if status.replicas else ""
        if self.replicas.value != table:
            self.replicas.value = table
        if self.stop_button.disabled != status.terminal:
            self.stop_button.disabled = status.terminal

    # -- actions -----------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop the job on a background thread (a runtime may take seconds); the tracker reports the end."""
        self.stop_button.disabled = True
        self.note.value = "<small>stopping…</small>"

        def work():
            try:
                status = Job(self.session, self.ref).stop()
                self.update(status)
            except Exception as exc:
                self._batcher.push({"note": f"could not stop {self.ref.name}: {exc}"})
                self.stop_button.disabled = False
        threading.Thread(target=work, name=f"submarine-stop-{self.ref.name}", daemon=True).start()

    def close(self) -> None:
        self._closed = True
        self._remove_listener()
        self._batcher.close()
        super().close()

    # -- fallbacks ---------------------------------------------------------------------------------------
    def fallback_html(self) -> str:
        return render.status_html(self.ref.name, self.status, self.ref.runtime) + metrics_html(self.last_metrics)

    def fallback_text(self) -> str:
        return render.status_text(self.ref.name, self.status, self.ref.runtime)


class StatusDisplay:
    """What `%submarine run` shows: the live widget plus HTML/text snapshots under one display_id.

    The snapshots are refreshed when the state changes (not on every log line), so headless runs and
    saved notebooks show the final state, while a widget frontend keeps its live view.
    """

    def __init__(self, session, ref: JobRef, status: JobStatus):
        self.view = JobStatusView(session, ref, status)
        self.display_id = f"submarine-widget-{ref.name}-{id(self)}"
        self._shown_state = status.state
        display(self.view, display_id=self.display_id)

    def update(self, status: JobStatus) -> None:
        """Called by the magics (tracker thread, or after --wait); re-displays only on a state change."""
        self.view.update(status)
        if status.state != self._shown_state:
            self._shown_state = status.state
            self.view.status = status
            update_display(self.view, display_id=self.display_id)
