"""Small inline SVG charts drawn with matplotlib (pandas' own plotting), text kept as text.

No `style` attributes: a page served with `style-src 'self'` (the site's CSP) would drop them, so
matplotlib's inline styles become SVG presentation attributes, which a CSP does not govern.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from html import escape

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

# Colours with at least 4.5:1 contrast on white, told apart by shape too (bars vs line).
PAGEVIEWS_COLOUR = "#1d5a8c"
VISITORS_COLOUR = "#b34700"
TEXT_COLOUR = "#333333"
GRID_COLOUR = "#d9d9d9"

STYLE = {
    "svg.fonttype": "none",  # text stays <text>: searchable, scalable, read by screen readers
    "svg.hashsalt": "itfixe",  # same input, same bytes
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 12,
    "axes.edgecolor": GRID_COLOUR,
    "axes.labelcolor": TEXT_COLOUR,
    "xtick.color": TEXT_COLOUR,
    "ytick.color": TEXT_COLOUR,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.spines.left": False,
    "svg.image_inline": True,
}


def daily_chart(
    labels: Sequence[str],
    pageviews: Sequence[int],
    visitors: Sequence[int],
    *,
    title: str,
    pageviews_label: str,
    visitors_label: str,
    number: Callable[[float], str] = str,
    chart_id: str = "daily",
) -> str:
    """Pageviews as bars and visitors as a line, one point per day."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(9, 3.2))  # not pyplot: no global figure state, a faster import
        ax = fig.subplots()
        x = range(len(labels))
        ax.bar(x, pageviews, color=PAGEVIEWS_COLOUR, width=0.7, label=pageviews_label, zorder=2)
        ax.plot(
            x,
            visitors,
            color=VISITORS_COLOUR,
            marker="o",
            markersize=3.5,
            linewidth=2,
            label=visitors_label,
            zorder=3,
        )
        step = max(1, -(-len(labels) // 14))  # at most ~14 day labels, however long the period
        ax.set_xticks(list(x)[::step], list(labels)[::step])
        ax.set_xlim(-0.6, len(labels) - 0.4)
        _finish(ax, number)  # the legend is HTML next to the chart: it wraps on a phone
        return _to_svg(fig, chart_id, title)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[int],
    *,
    title: str,
    chart_id: str,
    number: Callable[[float], str] = str,
) -> str:
    """One series as bars (the hour-of-day chart)."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(9, 2.6))
        ax = fig.subplots()
        x = range(len(labels))
        ax.bar(x, values, color=PAGEVIEWS_COLOUR, width=0.7, zorder=2)
        step = 2 if len(labels) > 12 else 1
        ax.set_xticks(list(x)[::step], list(labels)[::step])
        ax.set_xlim(-0.6, len(labels) - 0.4)
        _finish(ax, number)
        return _to_svg(fig, chart_id, title)


def _finish(ax, number: Callable[[float], str]) -> None:
    """Shared look: a few whole-number gridlines written the reader's way (2.400 or 2,400)."""
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: number(value)))
    ax.grid(axis="y", color=GRID_COLOUR, linewidth=0.8, zorder=0)
    ax.tick_params(axis="both", length=0, pad=4)
    ax.set_ylim(bottom=0)
    ax.figure.tight_layout(pad=0.4)


def _to_svg(fig, chart_id: str, title: str) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None})
    return tidy_svg(buffer.getvalue(), chart_id, title)


def _presentation_attributes(match: re.Match) -> str:
    """` style="fill: #fff; stroke: none"` as ` fill="#fff" stroke="none"` (same look, no CSS)."""
    declarations = (d.partition(":") for d in match.group(1).split(";") if d.strip())
    return "".join(f' {name.strip()}="{value.strip()}"' for name, _, value in declarations)


def tidy_svg(svg: str, chart_id: str, title: str) -> str:
    """Make matplotlib's SVG fit to inline: no prolog or metadata, ids unique on the page,
    a <title> and role for screen readers, and a size that follows the page width."""
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    svg = re.sub(r"\s*\n\s*", "\n", svg)  # indentation is a third of matplotlib's output
    svg = re.sub(r' transform="rotate\(-0 [^"]*\)"', "", svg)
    # A tenth of a pixel is precise enough; only in attributes, never in the text shown.
    svg = re.sub(r'="[^"]*"', lambda m: re.sub(r"(\d\.\d)\d+", r"\1", m.group(0)), svg)
    svg = re.sub(r"\s*<defs>\s*<style[^>]*>.*?</style>\s*</defs>", "", svg, flags=re.S)
    svg = re.sub(r'\sstyle="([^"]*)"', _presentation_attributes, svg)
    referenced = set(re.findall(r"#([\w.-]+)\b", svg))
    names: dict[str, str] = {}

    def rename(match: re.Match) -> str:
        old = match.group(1)
        if old not in referenced:
            return ""
        names[old] = f"{chart_id}-{len(names) + 1}"
        return f' id="{names[old]}"'

    svg = re.sub(r'\s+id="([^"]+)"', rename, svg)
    for old, new in names.items():
        svg = svg.replace(f"#{old})", f"#{new})").replace(f'"#{old}"', f'"#{new}"')
    while True:  # groups that held only an id are empty now
        svg, n = re.subn(r"<g/>\n?|<g>\s*</g>\n?", "", svg)
        if not n:
            break
    title_id = f"{chart_id}-title"
    svg = re.sub(
        r'<svg[^>]*?(viewBox="[^"]*")[^>]*>',
        lambda m: (
            f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'{m.group(1)} role="img" aria-labelledby="{title_id}" class="chart">'
            f'<title id="{title_id}">{escape(title)}</title>'
        ),
        svg,
        count=1,
    )
    return svg.strip()
