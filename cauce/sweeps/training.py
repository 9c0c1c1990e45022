"""One trial's training: the experiment pipeline's plain functions, no model logged.

Knows nothing of Django models, Optuna or MLflow: ``on_fold`` is told each fold's score (the
engine reports it to the pruner and checks for a cancel there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from django.utils.translation import gettext as _
from sklearn.model_selection import KFold, StratifiedKFold

from cauce.core.exceptions import ApplicationError
from cauce.experiments.pipeline.algorithms import CLASSIFICATION, algorithm_get
from cauce.experiments.pipeline.data import training_data_prepare, training_split
from cauce.experiments.pipeline.evaluation import model_evaluate
from cauce.experiments.pipeline.model import model_build, model_fit


@dataclass(frozen=True)
class TrialSettings:
    target: str
    features: list[str]
    task_type: str
    algorithm: str
    hyperparameters: dict[str, Any]
    metric: str
    cv_folds: int
    test_size: float
    seed: int
    column_kinds: dict[str, str]


@dataclass(frozen=True)
class TrialScores:
    value: float
    # One score per fold (cross-validation); empty for a train/test split.
    fold_scores: list[float]
    # Every metric: the test split's, or the mean over the folds.
    metrics: dict[str, float]


def _score(metrics: dict[str, float], metric: str) -> float:
    if metric not in metrics:
        raise ApplicationError(
            _("La métrica «%(metric)s» no se pudo calcular en esta prueba.") % {"metric": metric}
        )
    return metrics[metric]


def _fit_evaluate(settings: TrialSettings, data, x_train, y_train, x_test, y_test):
    model = model_build(
        algorithm=algorithm_get(settings.algorithm),
        hyperparameters=settings.hyperparameters,
        groups=data.groups,
        random_state=settings.seed,
    )
    model_fit(model, x_train, y_train)
    return model_evaluate(model, x_test, y_test, task_type=settings.task_type).metrics


def trial_split(frame: pd.DataFrame, *, settings: TrialSettings):
    """The prepared data and its train/test split, as every trial of the sweep cuts it (the
    sweep's seed): ``(data, split)``. Raises ``ApplicationError`` for data no trial can use."""
    data = training_data_prepare(
        frame,
        target=settings.target,
        features=settings.features,
        task_type=settings.task_type,
        kinds=settings.column_kinds,
    )
    split = training_split(
        data, test_size=settings.test_size, random_state=settings.seed, task_type=settings.task_type
    )
    return data, split


def trial_train(
    frame: pd.DataFrame,
    *,
    settings: TrialSettings,
    on_fold: Callable[[int, float], None],
) -> TrialScores:
    """Fit and score one configuration. With ``cv_folds`` the training split is cut in
    k folds (stratified when every class allows it) and ``on_fold(step, mean so far)`` is
    called after each; it may raise to stop the trial (pruned or cancelled)."""
    data, split = trial_split(frame, settings=settings)
    if not settings.cv_folds:
        on_fold(-1, float("nan"))  # a last chance to stop before the fit
        metrics = _fit_evaluate(
            settings, data, split.x_train, split.y_train, split.x_test, split.y_test
        )
        return TrialScores(_score(metrics, settings.metric), [], metrics)

    x, y = split.x_train.reset_index(drop=True), split.y_train.reset_index(drop=True)
    stratify = settings.task_type == CLASSIFICATION and y.value_counts().min() >= settings.cv_folds
    splitter = (StratifiedKFold if stratify else KFold)(
        n_splits=settings.cv_folds, shuffle=True, random_state=settings.seed
    )
    scores: list[float] = []
    fold_metrics: list[dict[str, float]] = []
    for step, (train_index, test_index) in enumerate(splitter.split(x, y)):
        metrics = _fit_evaluate(
            settings,
            data,
            x.iloc[train_index],
            y.iloc[train_index],
            x.iloc[test_index],
            y.iloc[test_index],
        )
        scores.append(_score(metrics, settings.metric))
        fold_metrics.append(metrics)
        on_fold(step, sum(scores) / len(scores))
    names = set.intersection(*(set(metrics) for metrics in fold_metrics))
    mean = {name: sum(m[name] for m in fold_metrics) / len(fold_metrics) for name in names}
    return TrialScores(sum(scores) / len(scores), scores, mean)
