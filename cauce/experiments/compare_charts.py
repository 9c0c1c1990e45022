"""The comparison's charts, drawn as SVG on the server (no JS library): a scatter of any two
params or metrics, and parallel coordinates. Every text in them is escaped by ``format_html``;
each mark carries its experiment's id (``data-id``) so the page's script can filter the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.utils.formats import get_format, number_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

# The comparison allows at most this many experiments; the charts draw them all.
MAX_CHART_RUNS = 500
SIGNIFICANT = 4


def number_short(value: float | None) -> str:
    """A number in the page's locale with about four significant digits (the full value goes
    in a title beside it); very large or small ones in scientific notation."""
    if value is None:
        return "—"
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    if exponent >= 9 or exponent < -4:
        text = f"{value:.{SIGNIFICANT - 1}e}"
        return text.replace(".", str(get_format("DECIMAL_SEPARATOR")))
    decimals = max(0, SIGNIFICANT - 1 - exponent)
    text = number_format(round(value, decimals), decimal_pos=decimals, use_l10n=True)
    separator = str(get_format("DECIMAL_SEPARATOR"))
    if decimals and separator in text:
        text = text.rstrip("0").rstrip(separator)
    return text


def number_full(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def as_number(value) -> float | None:
    """A param's text or a metric as a finite float, else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Point:
    id: str
    name: str
    values: dict[str, float | None]
    baseline: bool = False


@dataclass(frozen=True)
class _Scale:
    low: float
    high: float
    log: bool
    start: float  # pixel of ``low``
    end: float  # pixel of ``high``
    # The values' own ends, for the ticks, when the scale has room beyond them.
    first: float | None = None
    last: float | None = None

    @classmethod
    def of(cls, values: list[float], *, log: bool, start: float, end: float) -> _Scale:
        log = log and bool(values) and min(values) > 0
        mapped = [math.log10(value) for value in values] if log else values
        low, high = (min(mapped), max(mapped)) if mapped else (0.0, 1.0)
        if high == low:
            # One value: centred, with room of a tenth of it (a log scale: a factor of ~1.26),
            # so a positive-only param keeps a positive range.
            room = 0.1 if log else (abs(low) * 0.1 or 0.5)
            low, high = low - room, high + room
        return cls(low, high, log, start, end)

    def padded(self) -> _Scale:
        """The same scale with 5 % room at each end, so no dot sits on an axis."""
        room = (self.high - self.low) * 0.05
        return _Scale(
            self.low - room, self.high + room, self.log, self.start, self.end, self.low, self.high
        )

    def __call__(self, value: float) -> float:
        mapped = math.log10(value) if self.log else value
        return self.start + (mapped - self.low) / (self.high - self.low) * (self.end - self.start)

    def ticks(self) -> list[float]:
        first = self.low if self.first is None else self.first
        last = self.high if self.last is None else self.last
        ends = [first, (first + last) / 2, last]
        return [10**value for value in ends] if self.log else ends

    def nice_ticks(self, count: int = 5) -> list[float]:
        """Round values (1, 2 or 5 x 10^k; a log scale: its powers of ten, else 1/2/5 x 10^k)
        inside the scale, about ``count`` of them."""
        if self.log:
            powers = range(math.ceil(self.low - 1e-9), math.floor(self.high + 1e-9) + 1)
            ticks = [10.0**power for power in powers]
            if len(ticks) >= 2:
                return ticks
            ticks = [
                factor * 10.0**power
                for power in range(math.floor(self.low) - 1, math.ceil(self.high) + 1)
                for factor in (1, 2, 5)
            ]
            return [t for t in ticks if self.low - 1e-9 <= math.log10(t) <= self.high + 1e-9]
        step = nice_step((self.high - self.low) / max(count - 1, 1))
        first = math.ceil(self.low / step - 1e-9)
        last = math.floor(self.high / step + 1e-9)
        # Rounded to the step's decimals so 0.30000000000000004 prints as 0.3.
        decimals = max(0, -math.floor(math.log10(step))) + 1
        return [round(index * step, decimals) for index in range(first, last + 1)]


def nice_step(rough: float) -> float:
    """The 1, 2 or 5 x 10^k nearest to ``rough``."""
    if rough <= 0 or not math.isfinite(rough):
        return 1.0
    power = 10.0 ** math.floor(math.log10(rough))
    ratio = rough / power
    factor = 1 if ratio < 1.5 else 2 if ratio < 3 else 5 if ratio < 7 else 10
    return factor * power


def _text(value: float) -> str:
    return f"{value:.1f}"


SCATTER_W, SCATTER_H = 640, 400
S_LEFT, S_RIGHT, S_TOP, S_BOTTOM = 72, 20, 16, 52


def scatter_svg(
    *, points: list[Point], x: str, y: str, title: str, log_axes: frozenset[str] = frozenset()
) -> SafeString:
    """One dot per experiment having both ``x`` and ``y``; the baseline drawn apart. An axis
    in ``log_axes`` uses a log scale when all its values are positive."""
    drawn = [
        point
        for point in points[:MAX_CHART_RUNS]
        if point.values.get(x) is not None and point.values.get(y) is not None
    ]
    xs, ys = [p.values[x] for p in drawn], [p.values[y] for p in drawn]
    sx = _Scale.of(xs, log=x in log_axes, start=S_LEFT, end=SCATTER_W - S_RIGHT).padded()
    sy = _Scale.of(ys, log=y in log_axes, start=SCATTER_H - S_BOTTOM, end=S_TOP).padded()
    bottom, right = SCATTER_H - S_BOTTOM, SCATTER_W - S_RIGHT
    axes = format_html(
        '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>'
        '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>'
        '<text class="label" x="{}" y="{}" text-anchor="middle">{}</text>'
        '<text class="label" x="{}" y="{}" text-anchor="middle" '
        'transform="rotate(-90 {} {})">{}</text>',
        *(S_LEFT, S_TOP, S_LEFT, bottom),
        *(S_LEFT, bottom, right, bottom),
        *(_text((S_LEFT + right) / 2), SCATTER_H - 8, f"{x} (log)" if sx.log else x),
        *(14, _text((S_TOP + bottom) / 2), 14, _text((S_TOP + bottom) / 2)),
        f"{y} (log)" if sy.log else y,
    )
    ticks = format_html_join(
        "",
        '<text class="tick" x="{}" y="{}" text-anchor="end"><title>{}</title>{}</text>'
        '<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}"/>',
        (
            (
                *(S_LEFT - 6, _text(sy(v) + 4), number_full(v), number_short(v)),
                *(S_LEFT, _text(sy(v)), right, _text(sy(v))),
            )
            for v in sy.nice_ticks()
        ),
    )
    xticks = format_html_join(
        "",
        '<text class="tick" x="{}" y="{}" text-anchor="middle"><title>{}</title>{}</text>',
        ((_text(sx(v)), bottom + 16, number_full(v), number_short(v)) for v in sx.nice_ticks()),
    )
    dots = format_html_join(
        "",
        '<circle class="point{}" data-id="{}" cx="{}" cy="{}" r="{}">'
        "<title>{}: {} = {}, {} = {}</title></circle>",
        (
            (
                " baseline" if point.baseline else "",
                point.id,
                _text(sx(point.values[x])),
                _text(sy(point.values[y])),
                6 if point.baseline else 4,
                point.name,
                x,
                number_full(point.values[x]),
                y,
                number_full(point.values[y]),
            )
            for point in drawn
        ),
    )
    return format_html(
        '<svg class="compare-chart scatter" xmlns="http://www.w3.org/2000/svg" '
        'viewBox="0 0 {} {}" role="img" aria-label="{}" data-points="{}">'
        "<title>{}</title>{}{}{}{}</svg>",
        SCATTER_W,
        SCATTER_H,
        title,
        len(drawn),
        title,
        axes,
        ticks,
        xticks,
        dots,
    )


# Drawn at its natural size (1 SVG unit = 1 CSS px, so its 11-12 px text stays 11-12 px);
# wider than the page it scrolls sideways in its card. Axis names alternate between two
# heights so that long names of neighbouring axes do not overlap.
PC_AXIS_GAP, PC_H, PC_MIN_W = 120, 360, 640
PC_LEFT, PC_TOP, PC_BOTTOM = 70, 56, 40


def parallel_svg(
    *, points: list[Point], axes: list[str], log_axes: set[str], title: str
) -> SafeString:
    """One vertical axis per name of ``axes``, one line per experiment through its values.

    An axis in ``log_axes`` uses a log scale when all its values are positive. Each axis says
    how to read a brushed range back (``data-top``/``data-bottom`` pixels); each line keeps its
    pixel on every axis (``data-ys``, empty where it has no value) for the page's script."""
    drawn = points[:MAX_CHART_RUNS]
    # At least as wide as the scatter; axes spread over it when they are few.
    width = max(PC_MIN_W, PC_LEFT * 2 + PC_AXIS_GAP * max(len(axes) - 1, 1))
    gap = (width - PC_LEFT * 2) / max(len(axes) - 1, 1)
    top, bottom = PC_TOP, PC_H - PC_BOTTOM
    scales = {
        name: _Scale.of(
            [p.values[name] for p in drawn if p.values.get(name) is not None],
            log=name in log_axes,
            start=bottom,
            end=top,
        )
        for name in axes
    }
    axis_x = {name: round(PC_LEFT + index * gap, 1) for index, name in enumerate(axes)}

    def axis_args(index: int, name: str) -> tuple:
        x, scale = axis_x[name], scales[name]
        low, high = scale.ticks()[0], scale.ticks()[-1]
        return (
            *(index, name, top, bottom, x, top, x, bottom),
            *(x, top - (30 if index % 2 else 16), name, " (log)" if scale.log else ""),
            *(x - 6, bottom + 14, number_full(low), number_short(low)),
            *(x - 6, top - 2, number_full(high), number_short(high)),
            *(x - 12, top, bottom - top, x - 8),
        )

    axis_parts = format_html_join(
        "",
        '<g class="pc-axis" data-axis="{}" data-name="{}" data-top="{}" data-bottom="{}">'
        '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>'
        '<text class="label" x="{}" y="{}" text-anchor="middle">{}{}</text>'
        '<text class="tick" x="{}" y="{}" text-anchor="end"><title>{}</title>{}</text>'
        '<text class="tick" x="{}" y="{}" text-anchor="end"><title>{}</title>{}</text>'
        '<rect class="brush-area" x="{}" y="{}" width="24" height="{}"/>'
        '<rect class="brush" x="{}" y="0" width="16" height="0"/></g>',
        (axis_args(index, name) for index, name in enumerate(axes)),
    )

    def line_args(point: Point) -> tuple:
        ys = []
        coordinates = []
        for name in axes:
            value = point.values.get(name)
            if value is None or (scales[name].log and value <= 0):
                ys.append("")
                continue
            pixel = _text(scales[name](value))
            ys.append(pixel)
            coordinates.append(f"{axis_x[name]},{pixel}")
        described = ", ".join(
            f"{name} = {number_full(point.values.get(name))}"
            for name in axes
            if point.values.get(name) is not None
        )
        return (
            " baseline" if point.baseline else "",
            point.id,
            ",".join(ys),
            " ".join(coordinates),
            point.name,
            described,
        )

    lines = format_html_join(
        "",
        '<polyline class="pc-line{}" data-id="{}" data-ys="{}" points="{}">'
        "<title>{}: {}</title></polyline>",
        (line_args(point) for point in drawn),
    )
    return format_html(
        '<svg class="compare-chart parallel" xmlns="http://www.w3.org/2000/svg" '
        'viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="{}" data-parallel>'
        "<title>{}</title>{}{}</svg>",
        width,
        PC_H,
        width,
        PC_H,
        title,
        title,
        lines,
        axis_parts,
    )
