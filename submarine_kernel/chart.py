"""Metric charts (a metric over steps, one line per run) drawn with plotly, imported only when a chart is made.

The figure goes out as plotly's own mime type, which JupyterLab, Notebook 7 (plotly's bundled extension)
and VS Code render and a saved notebook keeps, with an HTML fallback for nbconvert and other frontends: an
inline SVG drawn here, so the chart reads offline (plotly.js from a CDN drew an empty box there, and
embedding plotly.js would add megabytes to every saved notebook). Hover shows each value; steps are whole
numbers; the y axis can be log.
"""

from __future__ import annotations

import json
import math
from html import escape
from typing import Mapping, Sequence

PLOTLY_MIME = "application/vnd.plotly.v1+json"
#: hover values follow the one number rule (numfmt: 4 significant digits, trailing zeros kept)
HOVER_NUMBER = ".4g"


def metric_figure(lines: Mapping[str, Sequence[tuple[float, float]]], metric: str,
                  colors: Mapping[str, str] | None = None, log_y: bool = False):
    """A plotly Figure with one line per named series of (step, value) points; None when there is no data."""
    import plotly.graph_objects as go

    lines = {name: sorted(points) for name, points in lines.items() if points}
    if not lines:
        return None
    colors = colors or {}
    figure = go.Figure()
    steps = [x for points in lines.values() for x, _ in points]
    whole = all(float(x).is_integer() for x in steps)
    for name, points in lines.items():
        xs = [int(x) if whole else x for x, _ in points]
        ys = [y for _, y in points]
        figure.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines+markers", name=name, line={"color": colors.get(name), "width": 2},
            marker={"size": 5},
            hovertemplate=f"{_hover_text(name)}<br>step %{{x}}<br>{_hover_text(metric)} %{{y:{HOVER_NUMBER}}}"
                          "<extra></extra>"))
    xaxis: dict = {"title": {"text": "step"}}
    if whole:
        xaxis["tickformat"] = "d"
        if max(steps) - min(steps) <= 10:
            xaxis["dtick"] = 1  # no half steps on a short run
    figure.update_layout(
        title={"text": metric + (" (log scale)" if log_y else "")}, xaxis=xaxis,
        yaxis={"title": {"text": metric}, "type": "log" if log_y else "linear"},
        height=320, margin={"l": 60, "r": 20, "t": 40, "b": 40}, template="plotly_white",
        hovermode="closest", legend={"orientation": "h", "y": -0.2})
    return figure


def _hover_text(text: str) -> str:
    # plotly reads %{...} in hover templates: a metric or run name must not be taken for one
    return text.replace("%", "%%").replace("<", "&lt;").replace(">", "&gt;")


def figure_bundle(figure, title: str = "") -> dict:
    """The display bundle of a figure: plotly's mime type, an HTML fallback and a line of text."""
    import plotly.io as pio

    spec = json.loads(pio.to_json(figure, validate=False))
    # not "responsive": it sizes the chart to its container, which is 0 px tall while JupyterLab and Notebook 7
    # first render an Output widget's content (Run All left the chart 0 px tall until a window resize)
    spec["config"] = {"displaylogo": False}
    runs = len(spec.get("data", []))
    return {PLOTLY_MIME: spec, "text/html": f'<div class="submarine-chart">{static_svg(spec)}</div>',
            "text/plain": f"chart of {title or 'a metric'} for {runs} run(s)"}


def empty_bundle(note: str) -> dict:
    """What a chart area shows when there is nothing to draw."""
    from html import escape

    return {"text/html": f'<div class="submarine-chart-empty"><i>{escape(note)}</i></div>', "text/plain": note}


SVG_WIDTH, SVG_HEIGHT, SVG_MARGIN = 640, 300, 50


def static_svg(spec: Mapping) -> str:
    """The figure's lines as a self-contained SVG: axes with their end values, one polyline per trace in its
    colour, a legend. Hand-written because it needs no library and no network (see the module docstring)."""
    traces = [t for t in spec.get("data", []) if t.get("x") and t.get("y")]
    log_y = spec.get("layout", {}).get("yaxis", {}).get("type") == "log"
    title = escape(str(spec.get("layout", {}).get("title", {}).get("text", "")))

    def y_of(value):
        return math.log10(value) if log_y else value
    points = [(float(x), y_of(float(y))) for t in traces for x, y in zip(t["x"], t["y"])
              if y is not None and (not log_y or float(y) > 0)]
    if not points:
        return f"<i>{title}: nothing to draw</i>"
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    width, height, margin = SVG_WIDTH, SVG_HEIGHT, SVG_MARGIN

    def at(x, y):
        return (margin + (x - x0) / (x1 - x0) * (width - 2 * margin),
                height - margin - (y - y0) / (y1 - y0) * (height - 2 * margin))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" style="font:11px sans-serif;background:white">',
             f'<text x="{width / 2}" y="16" text-anchor="middle" font-weight="600">{title}</text>',
             f'<line x1="{margin}" y1="{height - margin}" x2="{width - margin}" y2="{height - margin}" stroke="#888"/>',
             f'<line x1="{margin}" y1="{margin}" x2="{margin}" y2="{height - margin}" stroke="#888"/>']
    shown_y = (lambda v: f"{10 ** v:.4g}") if log_y else (lambda v: f"{v:.4g}")
    for value, (x, y) in ((y0, at(x0, y0)), (y1, at(x0, y1))):
        parts.append(f'<text x="{x - 4}" y="{y + 4}" text-anchor="end">{escape(shown_y(value))}</text>')
    for value in (x0, x1):
        x, y = at(value, y0)
        parts.append(f'<text x="{x}" y="{y + 14}" text-anchor="middle">{value:g}</text>')
    for index, trace in enumerate(traces):
        color = escape(str(trace.get("line", {}).get("color") or "#0969da"), quote=True)
        line = " ".join(f"{px:.1f},{py:.1f}" for px, py in (at(float(x), y_of(float(y))) for x, y in
                                                              zip(trace["x"], trace["y"])
                                                              if y is not None and (not log_y or float(y) > 0)))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{line}"/>')
        parts.append(f'<text x="{width - margin}" y="{margin + 14 * index}" text-anchor="end" fill="{color}">'
                     f"{escape(str(trace.get('name', '')))}</text>")
    parts.append("</svg>")
    return "".join(parts)
