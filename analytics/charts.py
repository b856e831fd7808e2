"""Small inline SVG charts: bars (and a line) on whole-number gridlines, text kept as text.

Two charts, drawn directly as SVG elements: no plotting library to import (it cost more than a
second of every run) and no inline styles, which a page served with `style-src 'self'` (the
site's CSP) would drop; colours and fonts are presentation attributes, which a CSP does not
govern. The table beside each chart carries the same numbers for screen readers and copying.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

# Colours with at least 4.5:1 contrast on white, told apart by shape too (bars vs line).
PAGEVIEWS_COLOUR = "#1d5a8c"
VISITORS_COLOUR = "#b34700"
TEXT_COLOUR = "#333333"
GRID_COLOUR = "#d9d9d9"

WIDTH = 720
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 10, 26  # room for the axis labels
FONT = f'font-family="sans-serif" font-size="12" fill="{TEXT_COLOUR}"'
BAR_SHARE = 0.7  # of each day's (or hour's) slot
GRIDLINES = 4
# Gridline steps: 1, 2, 5 and 2.5 times a power of ten, as far as whole numbers go.
STEPS = sorted({m * 10**e for e in range(16) for m in (1, 2, 5)} | {25 * 10**e for e in range(15)})


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
    """Pageviews as bars and visitors as a line, one point per day. (The legend is HTML next
    to the chart, so it wraps on a phone; the labels name the series in the table.)"""
    step = max(1, -(-len(labels) // 14))  # at most ~14 day labels, however long the period
    chart = _Chart(labels, max([*pageviews, *visitors], default=0), 256, number)
    return chart.svg(
        chart_id,
        title,
        chart.bars(pageviews),
        chart.line(visitors, VISITORS_COLOUR),
        chart.x_labels(step),
    )


def bar_chart(
    labels: Sequence[str],
    values: Sequence[int],
    *,
    title: str,
    chart_id: str,
    number: Callable[[float], str] = str,
) -> str:
    """One series as bars (the hour-of-day chart)."""
    chart = _Chart(labels, max(values, default=0), 208, number)
    step = 2 if len(labels) > 12 else 1
    return chart.svg(chart_id, title, chart.bars(values), chart.x_labels(step))


def gridline_values(top: float, most: int = GRIDLINES) -> list[int]:
    """Whole numbers from 0 to at least `top` in at most `most` equal round steps."""
    step = next(s for s in STEPS if s * most >= top)
    count = max(1, -(-int(top) // step))
    return [i * step for i in range(count + 1)]


class _Chart:
    """The plot area of one chart: x slots for the labels, y from 0 to the top gridline."""

    def __init__(
        self, labels: Sequence[str], top: float, height: int, number: Callable[[float], str]
    ) -> None:
        self.labels = list(labels)
        self.height = height
        self.number = number
        self.grid = gridline_values(top)
        self.slot = (WIDTH - LEFT - RIGHT) / max(1, len(self.labels))

    def x(self, i: int) -> float:
        """The middle of slot i."""
        return LEFT + (i + 0.5) * self.slot

    def y(self, value: float) -> float:
        bottom = self.height - BOTTOM
        return bottom - value / self.grid[-1] * (bottom - TOP)

    def svg(self, chart_id: str, title: str, *parts: str) -> str:
        title_id = f"{chart_id}-title"
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {self.height}" '
            f'role="img" aria-labelledby="{title_id}" class="chart">'
            f'<title id="{title_id}">{escape(title)}</title>\n'
            + self.y_axis()
            + "".join(parts)
            + "</svg>"
        )

    def y_axis(self) -> str:
        """Gridlines with their numbers, written the reader's way (2.400 or 2,400)."""
        lines = "".join(f"M{LEFT} {self.y(v):.1f}H{WIDTH - RIGHT}" for v in self.grid)
        numbers = "".join(
            f'<text x="{LEFT - 6}" y="{self.y(v) + 4:.1f}" text-anchor="end" {FONT}>'
            f"{escape(self.number(v))}</text>\n"
            for v in self.grid
        )
        return numbers + f'<path d="{lines}" stroke="{GRID_COLOUR}" stroke-width="0.8"/>\n'

    def bars(self, values: Sequence[int]) -> str:
        width = self.slot * BAR_SHARE
        base = self.y(0)
        shapes = "".join(
            f"M{self.x(i) - width / 2:.1f} {base:.1f}V{self.y(v):.1f}h{width:.1f}V{base:.1f}z"
            for i, v in enumerate(values)
            if v
        )
        return f'<path d="{shapes or "M0 0"}" fill="{PAGEVIEWS_COLOUR}"/>\n'

    def line(self, values: Sequence[int], colour: str) -> str:
        points = [(self.x(i), self.y(v)) for i, v in enumerate(values)]
        path = "L".join(f"{x:.1f} {y:.1f}" for x, y in points)
        dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5"/>' for x, y in points)
        return (
            f'<path d="M{path}" fill="none" stroke="{colour}" stroke-width="2"/>\n'
            f'<g fill="{colour}">{dots}</g>\n'
        )

    def x_labels(self, step: int) -> str:
        y = self.height - BOTTOM + 18
        return "".join(
            f'<text x="{self.x(i):.1f}" y="{y}" text-anchor="middle" {FONT}>{escape(label)}</text>\n'
            for i, label in enumerate(self.labels)
            if i % step == 0
        )
