"""What every Submarine widget shares: a display bundle that falls back to HTML and text, and layout bits.

A kernel cannot know whether its frontend renders widgets (JupyterLab does; nbconvert and consoles do
not), so every view puts its widget reference, an HTML snapshot and a text snapshot in one bundle and
lets the frontend pick.
"""

from __future__ import annotations

from html import escape

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
LABEL_STYLE = {"description_width": "150px"}


class FallbackBundle:
    """Mixin for ipywidgets views: `_repr_mimebundle_` adds `fallback_html()` and `fallback_text()`."""

    def fallback_html(self) -> str:
        raise NotImplementedError

    def fallback_text(self) -> str:
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs) or {}  # the widget view reference
        if isinstance(data, tuple):
            data = data[0]
        return {**data, "text/html": self.fallback_html(), "text/plain": self.fallback_text()}


def problems_html(problems: list[str]) -> str:
    """A red list of problems (escaped), or "" when there are none."""
    if not problems:
        return ""
    items = "".join(f"<li>{escape(p)}</li>" for p in problems)
    return (f'<div class="submarine-problems" style="color:#cf222e"><b>Fix before running:</b>'
            f'<ul style="margin:2px 0 2px 18px;padding:0">{items}</ul></div>')


def flag_html(problems: list[str]) -> str:
    """The short red note shown beside one form field."""
    return f'<span class="submarine-flag" style="color:#cf222e">⚠ {escape("; ".join(problems))}</span>' \
        if problems else ""


def close_tree(widget) -> None:
    """Close a widget and every widget it holds (children, layouts, styles), so the frontend drops their
    models: JupyterLab saves the state of every open widget into the notebook, replaced ones included."""
    import ipywidgets as w

    seen: set[int] = set()

    def close(item) -> None:
        if id(item) in seen:
            return
        seen.add(id(item))
        for name in item.keys:
            value = getattr(item, name, None)
            for inner in (value if isinstance(value, (list, tuple)) else (value,)):
                if isinstance(inner, w.Widget):
                    close(inner)
        item.close()
    close(widget)
