"""The live job status widget: Stop and full-log buttons, state badge, times, progress with an ETA, replicas,
links, last metrics and a log box that follows the end like a terminal (of the replica picked beside the
buttons, the deciding one by default); a finished job collapses to a compact summary.

Updates come from the tracker thread (status) and one log-follower thread per view (lines); both go
through an UpdateBatcher, so the frontend gets at most about two deliveries a second per view, and the
kernel thread is never blocked. When the job has ended and its log is read to the end, `on_finish`
callbacks get the view: `%submarine run` replaces its output by the static summary (see `StatusDisplay`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from html import escape
from typing import Callable

import ipywidgets as w
from IPython.display import display, update_display

from submarine_kernel import log_view, metrics, render
from submarine_kernel.errors import SubmarineError
from submarine_kernel.job_types import JobRef, JobState, JobStatus
from submarine_kernel.progress import ProgressReader
from submarine_kernel.spec import DECIDING_ROLES
from submarine_kernel.job_handle import Job
from submarine_kernel.throttle import UpdateBatcher

from .common import FallbackBundle, close_tree
from .static import freeze_on_shutdown, frozen_bundle
from .usage_view import UsageView

TAIL_LINES = 200
UPDATE_INTERVAL = 0.5
#: after the final state, how long the rest of the log may take before the summary is shown anyway
FINISH_GRACE = 5.0
TICK_SECONDS = 1.0


def deciding_replica(status: JobStatus) -> str | None:
    """The replica whose log the view follows unless the user picks another (chief, else master, else worker
    0, as `JobSpec.deciding_role`); None before any replica is known (the runtime then picks it)."""
    for role in DECIDING_ROLES:
        for replica in status.replicas:
            if replica.role == role and replica.index == 0:
                return replica.name
    return status.replicas[0].name if status.replicas else None


def empty_log_html(status: JobStatus, replica: str | None) -> str:
    """What the log box says before its first line: the first seconds of a job (interpreter start, imports)
    print nothing, and an empty box reads as a hang."""
    whose = replica or "the deciding replica"
    if status.terminal:
        words = f"{whose} printed nothing"
    elif render.shown_state(status) is JobState.RUNNING:
        words = f"{whose} is running and has printed nothing yet"
    else:
        words = "starting replicas…"
    return f'<pre style="margin:0;font-size:11px;color:#6e7781"><i>{escape(words)}</i></pre>'


def log_html(lines) -> str:
    return f'<pre style="margin:0;font-size:11px;white-space:pre-wrap">{escape(chr(10).join(lines))}</pre>'


class JobStatusView(FallbackBundle, w.VBox):
    """Follows one job until it ends. `update(status)` may be called from any thread."""

    def __init__(self, session, ref: JobRef, status: JobStatus | None = None, tail_lines: int = TAIL_LINES,
                 follow_logs: bool = True, interval: float = UPDATE_INTERVAL):
        self.session = session
        self.ref = ref
        self.status = status or session.tracker.last(ref) or JobStatus(JobState.SUBMITTED, "submitted")
        self.lines: deque[str] = deque(maxlen=tail_lines)
        self.last_metrics: dict = {}
        self.progress = ProgressReader(self._params())
        self.tail_lines = tail_lines
        self.finished = False
        self._finish_callbacks: list[Callable[["JobStatusView"], None]] = []
        self._closed = False
        self._lock = threading.RLock()
        self._status_event = threading.Event()
        self._log_done = not follow_logs
        self.header = w.HTML()
        self.replicas = w.HTML()
        self.replicas.add_class("jp-RenderedHTMLCommon")  # JupyterLab's table styling
        # the widget's own element scrolls; column-reverse keeps it at the end while the user has not
        # scrolled up, and its scroll position survives value updates (only the inner content changes)
        self.log_view = w.HTML(layout=w.Layout(max_height="220px", overflow="auto", display="flex",
                                               flex_flow="column-reverse", border="1px solid #d0d7de"))
        self.log_view.add_class("submarine-log")
        # buttons first, in a row of their own, so they stay put while the header grows
        self.stop_button = w.Button(description="Stop", icon="stop", button_style="danger",
                                    tooltip="stop every replica of this job", layout=w.Layout(width="90px"))
        self.stop_button.add_class("submarine-stop")
        self.stop_button.on_click(lambda _: self.stop())
        self.full_log_button = w.Button(description="full log", icon="file-text",
                                        tooltip="show the whole log of the replica the box follows",
                                        layout=w.Layout(width="100px"))
        self.full_log_button.on_click(lambda _: self.show_full_log())
        # whose log the box follows: the deciding replica until the user picks another (options come with
        # the replicas, which a cluster may report only after a while)
        self.followed: str | None = deciding_replica(self.status)
        self.picked: str | None = None  # the user's choice; until then the runtime's deciding replica is read
        self._follow_generation = 0
        self.replica_picker = w.Dropdown(description="log of", options=self._replica_names(self.status),
                                         value=self.followed, style={"description_width": "40px"},
                                         layout=w.Layout(width="220px"))
        self.replica_picker.add_class("submarine-replica-picker")
        self._listing_replicas = False  # the picker's options change: not a choice of the user's
        self.replica_picker.observe(lambda change: self._listing_replicas or self.follow_replica(change["new"]),
                                    names="value")
        self.buttons = w.HBox([self.stop_button, self.full_log_button, self.replica_picker])
        self.note = w.HTML()
        self.usage = UsageView(session, ref)  # CPU, memory and GPU sparklines per replica
        self.logs_box = w.Accordion(children=[self.log_view], titles=(self._log_title(),))
        self.logs_box.selected_index = 0
        self.summary = w.HTML()
        super().__init__(children=self._live_children(),
                         layout=w.Layout(border="1px solid #d0d7de", padding="6px", margin="4px 0"))
        self.add_class("submarine-status")
        self._batcher = UpdateBatcher(self._deliver, interval, append_keys=("lines",), max_items=tail_lines)
        self._render_status()
        self._tracked: JobStatus | None = None  # the tracker's last status this view took
        self._remove_listener = session.tracker.listen(self._on_status)
        if self.status.terminal:
            self._remove_listener()
        if not self.status.terminal:  # "elapsed 7s" must count while nothing else changes
            threading.Thread(target=self._tick, name=f"submarine-tick-{ref.name}", daemon=True).start()
        self.follow_logs = follow_logs
        if follow_logs:
            self._start_follower()
        elif self.status.terminal:
            self._finish()

    def _params(self) -> dict:
        """The job's params (a declared `epochs`/`steps` is its progress total); {} when not recorded."""
        try:
            return dict(self.session.registry.get(self.ref.name, self.ref.runtime).params)
        except SubmarineError:
            return {}

    @staticmethod
    def _replica_names(status: JobStatus) -> list[str]:
        return [replica.name for replica in status.replicas]

    def _log_title(self) -> str:
        whose = f" of {self.followed}" if self.followed else ""
        return f"log{whose} (last {self.tail_lines} lines, follows the end)"

    def _live_children(self) -> list[w.Widget]:
        return [self.buttons, self.header, self.replicas, self.usage, self.note, self.logs_box]

    def on_finish(self, callback: Callable[["JobStatusView"], None]) -> None:
        """Call `callback(view)` once the job has ended and its log was read (at once if that is so)."""
        with self._lock:
            if not self.finished:
                self._finish_callbacks.append(callback)
                return
        callback(self)

    # -- inputs (any thread) -----------------------------------------------------------------------------
    def _on_status(self, ref: JobRef, status: JobStatus) -> None:
        if ref.key == self.ref.key:
            self._tracked = status
            self.update(status)

    def _catch_up(self) -> None:
        """Take the tracker's latest status if its publication was missed: the tracker tells listeners only of
        changes, and one it published before this view listened (a job that went RUNNING while the view was
        being built) would otherwise never reach it, leaving a running job without its replica table."""
        latest = self.session.tracker.last(self.ref)
        if latest is not None and latest is not self._tracked:
            self._tracked = latest
            self.update(latest)

    def update(self, status: JobStatus) -> None:
        """A new status (from the tracker or the magics); shown within the update interval."""
        self._status_event.set()
        self._batcher.push({"status": status})
        if status.terminal:
            self._batcher.flush()  # the final state shows at once
            self._remove_listener()
            timer = threading.Timer(FINISH_GRACE, lambda: self._batcher.push({"log_done": True}))
            timer.daemon = True
            timer.start()

    def _tick(self) -> None:
        """Redraw the header once a second while the job runs, so its elapsed time ticks."""
        while not self._closed and not self.finished and not self.status.terminal:
            time.sleep(TICK_SECONDS)
            self._catch_up()
            self._batcher.push({"tick": True})

    def follow_replica(self, replica: str | None) -> None:
        """Follow another replica's log in the log box (the picker's choice); its tail replaces the box."""
        if not replica or replica == self.followed:
            return
        with self._lock:
            self.followed = self.picked = replica
            self.lines.clear()
            self.log_view.value = empty_log_html(self.status, replica)
            self.logs_box.set_title(0, self._log_title())
        if self.follow_logs and not self.finished:
            self._start_follower()

    def _start_follower(self) -> None:
        """A thread that follows `followed`'s log; the one before it stops at its next line."""
        with self._lock:
            self._follow_generation += 1
            generation = self._follow_generation
        threading.Thread(target=self._follow_logs, args=(self.picked, generation),
                         name=f"submarine-logs-{self.ref.name}", daemon=True).start()

    def _follow_logs(self, replica: str | None = None, generation: int = 1) -> None:
        """Read one replica's log (the deciding one by default) as it grows; retry while the runtime has no log
        yet. Reported points feed the last metrics and the progress."""
        job = Job(self.session, self.ref)

        def current() -> bool:
            return not self._closed and generation == self._follow_generation
        try:
            while current():
                try:
                    for line in job.follow(replica=replica, tail=self.tail_lines):
                        if not current():
                            return
                        point = metrics.parse_metric_line(line, raw=True)
                        update: dict = {"lines": [log_view.readable(line)]}
                        if point is not None:
                            update["metrics"] = metrics.without_progress(point)
                            self.progress.feed(point)
                        self._batcher.push(update)
                    return
                except Exception as exc:  # no log yet (pod pending) or the runtime is unreachable: try later
                    self._batcher.push({"note": f"log not available yet: {exc}"})
                    if self.status.terminal:
                        return
                    self._status_event.wait(5)
                    self._status_event.clear()
        finally:
            if generation == self._follow_generation:  # a replaced follower's end says nothing of the log
                self._batcher.push({"log_done": True})
                self._batcher.flush()

    def show_full_log(self) -> None:
        """Read the whole log (not only its tail) into the log box, on a background thread."""
        self.full_log_button.disabled = True

        def work():
            try:
                lines = [log_view.readable(line)
                         for line in Job(self.session, self.ref).logs(replica=self.picked).splitlines()]
            except Exception as exc:
                self._batcher.push({"note": f"could not read the log of {self.ref.name}: {exc}"})
                self.full_log_button.disabled = False
                return
            with self._lock:
                self.lines = deque(lines)  # unbounded from now on: the user asked for all of it
                self.log_view.value = log_html(self.lines)
                whose = f" of {self.followed}" if self.followed else ""
                self.logs_box.set_title(0, f"log{whose} ({len(lines)} lines, follows the end)")
                self.logs_box.selected_index = 0
        threading.Thread(target=work, name=f"submarine-full-log-{self.ref.name}", daemon=True).start()

    # -- output (batched) --------------------------------------------------------------------------------
    def _deliver(self, batch: dict) -> None:
        with self._lock:
            if "status" in batch:
                self.status = batch["status"]
            if "metrics" in batch:
                self.last_metrics = {**self.last_metrics, **batch["metrics"]}
            if "note" in batch:
                self.note.value = f"<small>{escape(batch['note'])}</small>"
            if batch.get("log_done"):
                self._log_done = True
            if batch.get("lines"):
                self.lines.extend(batch["lines"])
                self.log_view.value = log_html(self.lines)
            self._render_status()
            if self.status.terminal and self._log_done:
                self._finish()

    def _render_status(self) -> None:
        status = self.status
        self.header.value = render.status_header_html(
            self.ref.name, status, self.ref.runtime,
            below=render.live_html(status, self.last_metrics, self.progress.current(time.time())))
        table = render.replicas_html(status)
        if self.replicas.value != table:
            self.replicas.value = table
        self._update_replica_picker(status)
        if not self.lines:
            self.log_view.value = empty_log_html(status, self.followed)
        if status.terminal:
            self.stop_button.layout.display = "none"  # nothing left to stop
            self.note.value = ""                     # "stopping…" is over
        if self.finished:
            self.summary.value = self.summary_html()

    def _update_replica_picker(self, status: JobStatus) -> None:
        """The picker lists the replicas the status knows (hidden while there are none or only one)."""
        names = self._replica_names(status)
        if list(self.replica_picker.options) != names:
            self.followed = self.followed or deciding_replica(status)
            self._listing_replicas = True
            try:
                self.replica_picker.options = names
                self.replica_picker.value = self.followed if self.followed in names else None
            finally:
                self._listing_replicas = False
            self.logs_box.set_title(0, self._log_title())
        self.replica_picker.layout.display = None if len(names) > 1 else "none"

    def _finish(self) -> None:
        """The job ended and its log is read: collapse to the summary, then tell the callbacks."""
        with self._lock:
            if self.finished:
                return
            self.finished = True
            callbacks, self._finish_callbacks = self._finish_callbacks, []
            self.summary.value = self.summary_html()
            self.children = [self.summary]
        for callback in callbacks:
            try:
                callback(self)
            except Exception:  # one broken output must not stop the others
                pass

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
        for child in self._live_children():  # no longer among `children` once collapsed to the summary
            close_tree(child)
        super().close()

    # -- fallbacks ---------------------------------------------------------------------------------------
    def summary_html(self) -> str:
        return render.summary_html(self.ref.name, self.status, self.ref.runtime, self.last_metrics, self.lines) \
            + self.usage.summary_html()

    def fallback_html(self) -> str:
        if self.status.terminal:
            return self.summary_html()
        return render.status_html(self.ref.name, self.status, self.ref.runtime, self.last_metrics,
                                  self.progress.current(time.time()))

    def fallback_text(self) -> str:
        if self.status.terminal:
            return render.summary_text(self.ref.name, self.status, self.ref.runtime, self.last_metrics)
        return render.status_text(self.ref.name, self.status, self.ref.runtime, self.last_metrics,
                                  self.progress.current(time.time()))


class StatusDisplay:
    """What `%submarine run` shows: the live widget plus HTML/text snapshots under one display_id.

    The snapshots are refreshed when the state changes (not on every log line), so headless runs show
    the current state; once the job has ended (and its log is read), the output is replaced by the static
    summary, so a saved, reopened or converted notebook shows what happened, not a dead widget.
    """

    def __init__(self, session, ref: JobRef, status: JobStatus):
        self.view = JobStatusView(session, ref, status)
        self.display_id = f"submarine-widget-{ref.name}-{id(self)}"
        self._shown_state = status.state
        self.frozen = False
        self._frozen_event = threading.Event()
        # update() (the tracker's thread) and freeze() (the view's batcher thread) both re-display: without one
        # lock, a state change seen just as the job ended re-sent the closed widget ("model not found")
        self._display_lock = threading.RLock()
        display(self.view, display_id=self.display_id)
        freeze_on_shutdown(self)
        self.view.on_finish(lambda view: self.freeze())

    def update(self, status: JobStatus) -> None:
        """Called by the magics (tracker thread, or after --wait); re-displays only on a state change."""
        self.view.update(status)
        with self._display_lock:
            if status.state != self._shown_state and not self.frozen:
                self._shown_state = status.state
                self.view.status = status
                update_display(self.view, display_id=self.display_id)

    def freeze(self) -> None:
        """Replace the widget output by its static summary (idempotent)."""
        with self._display_lock:
            if self.frozen:
                return
            self.frozen = True
            update_display(frozen_bundle(self.view), raw=True, display_id=self.display_id)
            close_tree(self.view)  # replaced: its state must not be saved with the notebook
        self._frozen_event.set()

    def wait_frozen(self, timeout: float = FINISH_GRACE + 1) -> bool:
        """Block until the static summary is out (`--wait` cells end with it, also under nbclient)."""
        return self._frozen_event.wait(timeout)
