"""Monitoring's charts, drawn as SVG on the server like the registry's (``registry.charts``):
no JavaScript library, no inline style (the strict CSP); every text escaped by format_html."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from cauce.core.numbers import significant

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 40
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


def _frame(title: str, high: float, body: SafeString, css: str) -> SafeString:
    bottom = TOP + PLOT_H
    axes = format_html(
        '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>'
        '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>'
        '<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>'
        '<text class="tick" x="{}" y="{}" text-anchor="end">0</text>',
        *(LEFT, TOP, LEFT, bottom),
        *(LEFT, bottom, LEFT + PLOT_W, bottom),
        *(LEFT - 6, TOP + 10, significant(high)),
        *(LEFT - 6, bottom),
    )
    return format_html(
        '<svg class="monitor-chart {}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" '
        'role="img" aria-label="{}"><title>{}</title>{}{}</svg>',
        css, WIDTH, HEIGHT, title, title, axes, body,
    )  # fmt: skip


def _label_every(count: int) -> int:
    return max(1, count // 12)


def bars_svg(*, points: list[tuple[str, float]], title: str) -> SafeString:
    """One bar per (label, value), e.g. requests per hour."""
    high = max([value for _label, value in points] + [1])
    slot = PLOT_W / max(len(points), 1)
    every = _label_every(len(points))
    bottom = TOP + PLOT_H

    def bar(index: int, label: str, value: float) -> tuple:
        height = value / high * PLOT_H
        x = LEFT + index * slot + slot * 0.1
        shown = label if index % every == 0 else ""
        return (
            f"{x:.1f}", f"{bottom - height:.1f}", f"{slot * 0.8:.1f}", f"{height:.1f}",
            label, significant(value), f"{x + slot * 0.4:.1f}", bottom + 16, shown,
        )  # fmt: skip

    body = format_html_join(
        "",
        '<rect class="bar" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>'
        '<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
        (bar(i, label, value) for i, (label, value) in enumerate(points)),
    )
    return _frame(title, high, body, "bars")


def histogram_svg(
    *, labels: list[str], reference: list[float], current: list[float], title: str,
    reference_name: str, current_name: str, edges: list[str] | None = None,
) -> SafeString:  # fmt: skip
    """The reference's and the window's share per bin, side by side in each bin. Numeric bins
    are read on the axis by their ``edges`` (between the bars); categories by their names."""
    high = max([*reference, *current, 0.01])
    slot = PLOT_W / max(len(labels), 1)
    bottom = TOP + PLOT_H
    every = _label_every(len(labels))

    # Numeric bins are named by the edges between the bars, categories under their bar.
    under = [
        label if edges is None and index % every == 0 else "" for index, label in enumerate(labels)
    ]

    def pair(index: int) -> tuple:
        x = LEFT + index * slot
        ref = reference[index] if index < len(reference) else 0.0
        cur = current[index] if index < len(current) else 0.0
        width = slot * 0.4
        return (
            f"{x + slot * 0.1:.1f}", f"{bottom - ref / high * PLOT_H:.1f}", f"{width:.1f}",
            f"{ref / high * PLOT_H:.1f}", reference_name, labels[index], f"{ref:.1%}",
            f"{x + slot * 0.5:.1f}", f"{bottom - cur / high * PLOT_H:.1f}", f"{width:.1f}",
            f"{cur / high * PLOT_H:.1f}", current_name, labels[index], f"{cur:.1%}",
            f"{x + slot * 0.5:.1f}", bottom + 16, under[index],
        )  # fmt: skip

    body = format_html_join(
        "",
        '<rect class="reference" x="{}" y="{}" width="{}" height="{}"><title>{} {}: {}</title>'
        '</rect><rect class="current" x="{}" y="{}" width="{}" height="{}"><title>{} {}: {}'
        '</title></rect><text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
        (pair(i) for i in range(len(labels))),
    )
    if edges:
        step = max(1, len(edges) // 5)
        body = format_html(
            "{}{}",
            body,
            format_html_join(
                "",
                '<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                (
                    (f"{LEFT + (i + 1) * slot:.1f}", bottom + 16, edge)
                    for i, edge in enumerate(edges)
                    if i % step == 0
                ),
            ),
        )
    legend = format_html(
        '<rect class="reference" x="{}" y="{}" width="10" height="10"/>'
        '<text class="tick" x="{}" y="{}">{}</text>'
        '<rect class="current" x="{}" y="{}" width="10" height="10"/>'
        '<text class="tick" x="{}" y="{}">{}</text>',
        *(LEFT + 8, TOP, LEFT + 22, TOP + 9, reference_name),
        *(LEFT + 160, TOP, LEFT + 174, TOP + 9, current_name),
    )
    return _frame(title, high, format_html("{}{}", body, legend), "histogram")
