"""How a run's metrics are named: the test ones as they are (``accuracy``), the same measured
on the training rows with a prefix (``train_accuracy``). Pure: the pages import it without
loading scikit-learn."""

from __future__ import annotations

from dataclasses import dataclass

TRAIN_PREFIX = "train_"


def metrics_with_train(test: dict[str, float], train: dict[str, float]) -> dict[str, float]:
    """The test metrics under their own names and the training ones under ``train_<name>``."""
    return {**test, **{f"{TRAIN_PREFIX}{name}": value for name, value in train.items()}}


@dataclass(frozen=True)
class MetricPair:
    name: str
    train: float | None
    test: float | None
    is_main: bool = False


def metric_pairs(metrics: dict[str, float], *, main: str = "") -> list[MetricPair]:
    """One row per metric with its training and test values (None where the run has no such
    value: runs from before training metrics were logged), the main metric first."""
    names = {name.removeprefix(TRAIN_PREFIX) for name in metrics}
    ordered = sorted(names, key=lambda name: (name != main, name))
    return [
        MetricPair(
            name=name,
            train=metrics.get(f"{TRAIN_PREFIX}{name}"),
            test=metrics.get(name),
            is_main=name == main,
        )
        for name in ordered
    ]
