"""The optimisation history as a server-drawn SVG: each trial's value and the best so far.

Plain geometry (no plotting library, no script): the template draws the shapes, so the page
keeps the strict CSP.
"""

from __future__ import annotations

from dataclasses import dataclass

from cauce.sweeps.models import Sweep, Trial

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 32


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    number: int
    value: float


@dataclass(frozen=True)
class HistoryChart:
    width: int
    height: int
    points: list[Point]
    best_line: str  # an SVG polyline's points
    low: float
    high: float
    last_number: int
    # The plot area's corners, for the axes.
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


def history_chart(*, sweep: Sweep, trials: list[Trial]) -> HistoryChart | None:
    """None until a trial has a value."""
    done = sorted(
        (
            trial
            for trial in trials
            if trial.status == Trial.Status.COMPLETE and trial.value is not None
        ),
        key=lambda trial: trial.number,
    )
    if not done:
        return None
    values = [trial.value for trial in done]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    last = max(trial.number for trial in done) or 1

    def x_of(number: int) -> float:
        return round(LEFT + (WIDTH - LEFT - RIGHT) * number / last, 1)

    def y_of(value: float) -> float:
        return round(HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * (value - low) / span, 1)

    points = [Point(x_of(t.number), y_of(t.value), t.number, t.value) for t in done]
    maximize = sweep.direction == Sweep.Direction.MAXIMIZE
    best = None
    line = []
    for trial in done:
        if best is None or (trial.value > best if maximize else trial.value < best):
            best = trial.value
        line.append(f"{x_of(trial.number)},{y_of(best)}")
    return HistoryChart(WIDTH, HEIGHT, points, " ".join(line), low, high, last)


@dataclass(frozen=True)
class ImportanceBar:
    name: str
    value: float
    percent: int


def importance_bars(importances: dict[str, float]) -> list[ImportanceBar]:
    """Largest first, each as a share of the whole (Optuna's importances sum to 1)."""
    ordered = sorted(importances.items(), key=lambda item: item[1], reverse=True)
    return [ImportanceBar(name, value, round(value * 100)) for name, value in ordered]
