"""The live status view's resource use: one row per replica with a CPU and a memory sparkline (and GPU use
where NVML or the cluster reports it), or the one line saying why nothing is known. Redrawn from the tracker's
usage answers (`Tracker.listen_usage`, every `Runtime.usage_interval`, 2 s locally)."""

from __future__ import annotations

from html import escape

import ipywidgets as w

from submarine_kernel import usage
from submarine_kernel.render import table_html

WAITING = "resource use: waiting for the first sample"


def usage_text(samples: dict | None) -> str:
    """The same as text: a line per replica, then the notes."""
    if samples is None:
        return WAITING
    rows = usage.replica_lines(samples, width=20)
    lines = [f"{name}: CPU {cpu}  mem {mem}  GPU {gpu}" for name, cpu, mem, gpu in rows]
    lines += samples.get("notes", [])
    return "\n".join(lines) if lines else "resource use: no samples"


def usage_html(samples: dict | None) -> str:
    """A small table of sparklines per replica, with the notes (what could not be measured) below it."""
    if samples is None:
        return f"<small>{escape(WAITING)}</small>"
    rows = usage.replica_lines(samples)
    notes = "".join(f'<div class="submarine-usage-note"><small>{escape(n)}</small></div>'
                    for n in samples.get("notes", []))
    if not rows:
        return notes or "<small>resource use: no samples</small>"
    spark = '<span style="font-family:monospace;letter-spacing:-1px">{}</span>'
    cells = [[escape(name), *(spark.format(escape(text)) for text in (cpu, mem, gpu))] for name, cpu, mem, gpu in rows]
    return (table_html(["replica", "CPU", "memory (RSS)", "GPU use / memory"], cells, css_class="submarine-usage",
                       cells_are_html=True) + notes)


class UsageView(w.HTML):
    """What one job's replicas use, kept current from the tracker; closing it stops listening."""

    def __init__(self, session, ref):
        self.ref = ref
        known = session.tracker.last_usage(ref)
        if known is None and session.registry is not None:
            try:
                known = session.registry.usage(ref)  # a job that ended before this view was made
            except Exception:
                known = None
        self.samples = known
        super().__init__(value=usage_html(known))
        self.add_class("submarine-usage")
        self.add_class("jp-RenderedHTMLCommon")
        self._remove_listener = session.tracker.listen_usage(self._on_usage)

    def _on_usage(self, ref, samples: dict) -> None:
        if ref.key == self.ref.key:
            self.samples = samples
            value = usage_html(samples)
            if value != self.value:
                self.value = value

    def summary_html(self) -> str:
        """The one line a finished job's summary keeps: `used: peak CPU 187 % · peak mem 612 MiB · GPU -`."""
        used = usage.peaks_text(self.samples)
        return f'<div class="submarine-used"><small>used: {escape(used)}</small></div>' if used else ""

    def close(self) -> None:
        self._remove_listener()
        super().close()
