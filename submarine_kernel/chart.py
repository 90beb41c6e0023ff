"""Metric charts (a metric over steps, one line per run) drawn with plotly, imported only when a chart is made.

The figure goes out as plotly's own mime type, which JupyterLab, Notebook 7 (plotly's bundled extension)
and VS Code render and a saved notebook keeps, with an HTML fallback (plotly.js from its CDN) for
nbconvert and other frontends. Hover shows each value; steps are whole numbers; the y axis can be log.
"""

from __future__ import annotations

import json
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
    spec["config"] = {"displaylogo": False, "responsive": True}
    html = pio.to_html(figure, full_html=False, include_plotlyjs="cdn", config=spec["config"])
    runs = len(spec.get("data", []))
    return {PLOTLY_MIME: spec, "text/html": f'<div class="submarine-chart">{html}</div>',
            "text/plain": f"chart of {title or 'a metric'} for {runs} run(s)"}


def empty_bundle(note: str) -> dict:
    """What a chart area shows when there is nothing to draw."""
    from html import escape

    return {"text/html": f'<div class="submarine-chart-empty"><i>{escape(note)}</i></div>', "text/plain": note}
