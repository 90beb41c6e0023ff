"""What the history's compare view adds below the params and metrics of the picked runs: what each run used
(peak CPU, peak memory, GPU, or why nothing is known) and, for two runs, how their provenance records differ
(provenance.differences: commit, files, params, image, Python, packages)."""

from __future__ import annotations

from html import escape

from submarine_kernel import provenance, usage
from submarine_kernel.render import table_html


def used_html(summaries: dict, rows) -> str:
    """One line per picked run: `peak CPU 187 % · peak mem 612 MiB · GPU -`, or its notes."""
    if not rows:
        return ""
    cells = [[escape(r.name), escape(usage.peaks_text(summaries.get(r.key)) or "not recorded")] for r in rows]
    return ("<div><b>What each run used</b></div>"
            + table_html([], cells, css_class="submarine-used", cells_are_html=True))


def provenance_html(registry, rows) -> str:
    """How the first two picked runs were made differently; "" unless two are picked."""
    if len(rows) < 2:
        return ""
    first, second = rows[0], rows[1]
    a, b = registry.provenance(first.record.ref), registry.provenance(second.record.ref)
    missing = [r.name for r, record in ((first, a), (second, b)) if record is None]
    if missing:
        said = (f"{' and '.join(missing)} kept no record of what it was made from (submitted before runs kept "
                "one)")
        return f"<div><b>Made from</b> <small>{escape(said)}</small></div>"
    found = provenance.differences(a, b)
    head = (f"<div><b>Made from</b> <small>{escape(first.name)}: {escape(provenance.summary(a))}<br>"
            f"{escape(second.name)}: {escape(provenance.summary(b))}</small></div>")
    if not found:
        return head + "<small>the records are the same: commit, files, params, image, Python and packages</small>"
    return head + table_html(["what", first.name, second.name], [list(row) for row in found],
                             css_class="submarine-provenance-diff")


def details_html(session, rows) -> str:
    """Both parts for the compare view; a registry that cannot be read leaves them out with one line."""
    try:
        summaries = session.registry.usage_summaries()
        return (f'<div class="submarine-run-details">{used_html(summaries, rows)}'
                f"{provenance_html(session.registry, rows)}</div>")
    except Exception as exc:  # the history itself still shows: these are details
        said = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"<small>run details unavailable: {escape(said)}</small>"
