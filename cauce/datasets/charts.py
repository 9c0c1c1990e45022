"""A column's class balance as a small horizontal bar chart, drawn as SVG on the server: the
CSP allows no inline styles, and SVG attributes (width, y) are not styles."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, BAR_H, GAP, LABEL_W, COUNT_W = 480, 18, 6, 140, 70
BAR_MAX = WIDTH - LABEL_W - COUNT_W


def _clip(text: str, size: int = 20) -> str:
    return text if len(text) <= size else f"{text[: size - 1]}…"


def class_balance_svg(*, counts: list[tuple[str, int, str]], title: str) -> SafeString:
    """``counts`` are (value, count, count as shown); bars scaled to the largest count."""
    largest = max((count for _value, count, _shown in counts), default=0) or 1
    height = len(counts) * (BAR_H + GAP) + GAP

    def rows():
        for index, (value, count, shown) in enumerate(counts):
            y = GAP + index * (BAR_H + GAP)
            width = max(1.0, count / largest * BAR_MAX)
            yield (
                LABEL_W - 6, y + BAR_H - 5, _clip(value),
                LABEL_W, y, f"{width:.1f}", BAR_H, value, shown,
                LABEL_W + width + 6, y + BAR_H - 5, shown,
            )  # fmt: skip

    bars = format_html_join(
        "",
        '<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>'
        '<rect class="bar" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>'
        '<text class="tick" x="{}" y="{}">{}</text>',
        rows(),
    )
    return format_html(
        '<svg class="balance-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" '
        'role="img" aria-label="{}"><title>{}</title>{}</svg>',
        WIDTH,
        height,
        title,
        title,
        bars,
    )
