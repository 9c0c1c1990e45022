"""Metrics of a trained pipeline on the held-out rows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.pipeline import Pipeline

from cauce.experiments.pipeline.algorithms import CLASSIFICATION


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]
    predictions: np.ndarray
    # Class labels in the estimator's order (classification), else empty.
    classes: list[Any]


def model_evaluate(
    model: Pipeline, x_test: pd.DataFrame, y_test: pd.Series, *, task_type: str
) -> Evaluation:
    """Classification: accuracy, macro precision/recall/F1 and ROC AUC where defined;
    regression: R², MAE and RMSE. Undefined values are left out, never NaN."""
    predictions = model.predict(x_test)
    if task_type == CLASSIFICATION:
        classes = list(getattr(model, "classes_", []))
        values = _classification_metrics(model, x_test, y_test, predictions, classes)
    else:
        classes = []
        values = _regression_metrics(y_test, predictions)
    finite = {name: float(value) for name, value in values.items() if math.isfinite(value)}
    return Evaluation(metrics=finite, predictions=predictions, classes=classes)


def _classification_metrics(
    model: Pipeline,
    x_test: pd.DataFrame,
    y_test: pd.Series,
    predictions: np.ndarray,
    classes: list[Any],
) -> dict[str, float]:
    # A plain array (a pandas string column is converted once, not by each metric), and the
    # three macro averages from one confusion matrix: the same values as precision_score,
    # recall_score and f1_score each computing its own.
    y_true = np.asarray(y_test)
    precision, recall, f1, _support = skm.precision_recall_fscore_support(
        y_true, predictions, average="macro", zero_division=0
    )
    values = {
        "accuracy": skm.accuracy_score(y_true, predictions),
        "precision_macro": precision,
        "recall_macro": recall,
        "f1_macro": f1,
    }
    roc_auc = _roc_auc(model, x_test, y_test, classes)
    if roc_auc is not None:
        values["roc_auc"] = roc_auc
    return values


def _roc_auc(
    model: Pipeline, x_test: pd.DataFrame, y_test: pd.Series, classes: list[Any]
) -> float | None:
    """Binary: the probability of the positive class (``classes[1]``); multiclass: one-vs-rest
    macro average. Undefined when the estimator has no probabilities or a class is absent
    from the test rows."""
    if not hasattr(model, "predict_proba") or len(classes) < 2:
        return None
    if set(pd.unique(y_test)) != set(classes):
        return None
    try:
        probabilities = model.predict_proba(x_test)
    except AttributeError:  # e.g. a probability-less configuration of the estimator
        return None
    if len(classes) == 2:
        positive = (np.asarray(y_test) == classes[1]).astype(int)
        return float(skm.roc_auc_score(positive, probabilities[:, 1]))
    return float(
        skm.roc_auc_score(y_test, probabilities, multi_class="ovr", average="macro", labels=classes)
    )


def _regression_metrics(y_test: pd.Series, predictions: np.ndarray) -> dict[str, float]:
    return {
        "r2": skm.r2_score(y_test, predictions) if len(y_test) > 1 else math.nan,
        "mae": skm.mean_absolute_error(y_test, predictions),
        "rmse": skm.root_mean_squared_error(y_test, predictions),
    }
