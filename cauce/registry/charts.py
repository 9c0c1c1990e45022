"""A metric across a model's versions, drawn as a small SVG on the server (no JS library)."""

from __future__ import annotations

import re

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from cauce.core.numbers import significant

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 36
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


# Metrics that live in [0, 1] (scikit-learn's scores): drawn on a [0, 1] axis, so that a
# change reads at its true size and a single version is not centred on a made-up range.
BOUNDED_METRIC = re.compile(
    r"^(train_|test_)?(accuracy|balanced_accuracy|precision|recall|f1|roc_auc|average_precision)"
    r"(_\w+)?$"
)


def _label(value: float) -> str:
    return significant(value)


def _range(metric: str, values: list[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if BOUNDED_METRIC.match(metric) and low >= 0 and high <= 1:
        return 0.0, 1.0
    if high == low:
        return low - 0.5, high + 0.5
    return low, high


def _tick_args(value: float, at: str) -> tuple:
    return (LEFT - 6, f"{float(at) + 4:.1f}", _label(value), LEFT, at, LEFT + PLOT_W, at)


def metric_chart_svg(*, metric: str, points: list[tuple[int, float]], title: str) -> SafeString:
    """``points`` are (version, value): versions evenly along x in order, values on y.

    Every text in it (metric name, title) is escaped by ``format_html``.
    """
    points = sorted(points)
    low, high = _range(metric, [value for _version, value in points])
    step = PLOT_W / max(len(points) - 1, 1)

    # Coordinates as text: format_html escapes its arguments, so no format specs there.
    def x(index: int) -> str:
        return f"{LEFT + (index * step if len(points) > 1 else PLOT_W / 2):.1f}"

    def y(value: float) -> str:
        return f"{TOP + PLOT_H - (value - low) / (high - low) * PLOT_H:.1f}"

    bottom = TOP + PLOT_H
    axes = format_html(
        '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>'
        '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>',
        *(LEFT, TOP, LEFT, bottom),
        *(LEFT, bottom, LEFT + PLOT_W, bottom),
    )
    ticks = format_html_join(
        "",
        '<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>'
        '<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}"/>',
        (_tick_args(value, y(value)) for value in (low, (low + high) / 2, high)),
    )
    line = format_html(
        '<polyline class="line" points="{}"/>',
        " ".join(f"{x(i)},{y(value)}" for i, (_version, value) in enumerate(points)),
    )
    dots = format_html_join(
        "",
        '<circle class="point" cx="{}" cy="{}" r="4"><title>v{}: {} = {}</title></circle>'
        '<text class="tick" x="{}" y="{}" text-anchor="middle">v{}</text>',
        (
            (x(i), y(value), version, metric, _label(value), x(i), bottom + 18, version)
            for i, (version, value) in enumerate(points)
        ),
    )
    return format_html(
        '<svg class="metric-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" '
        'role="img" aria-label="{}"><title>{}</title>{}{}{}{}</svg>',
        WIDTH,
        HEIGHT,
        title,
        title,
        axes,
        ticks,
        line,
        dots,
    )
