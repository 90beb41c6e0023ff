"""A small SVG line chart (metric over steps, one line per run), so history views need no plotting library.

Every label is escaped; numbers are formatted by us. The SVG is inline HTML, so it shows in JupyterLab,
the classic notebook and nbconvert's HTML alike.
"""

from __future__ import annotations

from html import escape
from typing import Mapping, Sequence

PALETTE = ("#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a3069", "#57606a")


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e4 or abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4g}"


def line_chart_svg(lines: Mapping[str, Sequence[tuple[float, float]]], title: str = "", x_label: str = "step",
                   width: int = 560, height: int = 260) -> str:
    """An SVG chart with one polyline per named series of (x, y) points; a note when there is no data."""
    lines = {name: sorted(points) for name, points in lines.items() if points}
    if not lines:
        return f'<div class="submarine-chart-empty"><i>no {escape(title or "metric")} values reported yet</i></div>'
    xs = [x for points in lines.values() for x, _ in points]
    ys = [y for points in lines.values() for _, y in points]
    x_min, x_max = min(xs), max(xs)
    y_min, y_max = min(ys), max(ys)
    if x_max == x_min:
        x_min, x_max = x_min - 1, x_max + 1
    if y_max == y_min:
        pad = abs(y_min) * 0.1 or 1.0
        y_min, y_max = y_min - pad, y_max + pad
    left, right, top, bottom = 64, 16, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (x - x_min) / (x_max - x_min) * plot_w

    def sy(y: float) -> float:
        return top + (1 - (y - y_min) / (y_max - y_min)) * plot_h

    parts = [f'<svg class="submarine-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title, quote=True)}">',
             f'<text x="{left}" y="16" font-size="13" font-weight="600">{escape(title)}</text>',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#d0d7de"/>']
    for fraction in (0.0, 0.5, 1.0):
        y_value = y_min + fraction * (y_max - y_min)
        y = sy(y_value)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eaeef2"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">'
                     f'{escape(_number(y_value))}</text>')
        x_value = x_min + fraction * (x_max - x_min)
        parts.append(f'<text x="{sx(x_value):.1f}" y="{top + plot_h + 16}" font-size="11" text-anchor="middle">'
                     f'{escape(_number(x_value))}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" font-size="11" text-anchor="middle">'
                 f'{escape(x_label)}</text>')
    for index, (name, points) in enumerate(lines.items()):
        color = PALETTE[index % len(PALETTE)]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{coords}">'
                     f'<title>{escape(name)}</title></polyline>')
        parts += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{color}"/>' for x, y in points]
        legend_y = top + 14 + 14 * index
        parts.append(f'<text x="{left + plot_w - 6}" y="{legend_y}" font-size="11" text-anchor="end" '
                     f'fill="{color}">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
