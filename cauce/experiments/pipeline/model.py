"""The scikit-learn pipeline: preprocessing by column kind, then the chosen estimator.

Only scikit-learn classes go into the pipeline, so the logged model loads anywhere with the
pinned requirements and no Cauce code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from cauce.core.exceptions import ApplicationError
from cauce.experiments.pipeline.algorithms import Algorithm
from cauce.experiments.pipeline.combinations import training_conflict
from cauce.experiments.pipeline.data import ColumnGroups

# A free-text column would otherwise add one column per distinct value; rarer values are
# grouped into one "infrequent" column.
MAX_CATEGORIES_PER_COLUMN = 50


def preprocessor_build(groups: ColumnGroups, *, scale: bool) -> ColumnTransformer:
    """Numeric: median imputation (+ standard scaling when ``scale``); the rest: most
    frequent value + one-hot encoding that ignores categories unseen in training."""
    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if scale:
        numeric_steps.append(("scale", StandardScaler()))
    transformers: list[tuple[str, Any, list[str]]] = []
    if groups.numeric:
        transformers.append(("num", Pipeline(numeric_steps), list(groups.numeric)))
    if groups.categorical:
        categorical = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent")),
                (
                    "onehot",
                    OneHotEncoder(
                        handle_unknown="ignore",
                        max_categories=MAX_CATEGORIES_PER_COLUMN,
                        # Dense: some estimators (histogram gradient boosting) refuse sparse.
                        sparse_output=False,
                    ),
                ),
            ]
        )
        transformers.append(("cat", categorical, list(groups.categorical)))
    # Columns not listed (datetimes, empty ones) are dropped by the transformer.
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=True)


def model_build(
    *,
    algorithm: Algorithm,
    hyperparameters: dict[str, Any],
    groups: ColumnGroups,
    random_state: int,
) -> Pipeline:
    """The untrained pipeline. The experiment's ``random_state`` seeds the estimator too,
    unless the user set it as a hyperparameter."""
    estimator_class = algorithm.estimator_class()
    params = dict(hyperparameters)
    if "random_state" in estimator_class().get_params(deep=False):
        params.setdefault("random_state", random_state)
    try:
        estimator = estimator_class(**params)
    except TypeError as exc:
        raise ApplicationError(
            _("Hiperparámetros no válidos para %(algorithm)s: %(error)s")
            % {"algorithm": algorithm.name, "error": exc}
        ) from exc
    return Pipeline(
        [
            ("preprocess", preprocessor_build(groups, scale=algorithm.needs_scaling)),
            ("model", estimator),
        ]
    )


def model_fit(model: Pipeline, x_train: pd.DataFrame, y_train: pd.Series) -> Pipeline:
    """Fit, turning scikit-learn's refusals of a parameter value into a readable error; a
    value that cannot work with this data (``training_conflict``) is refused before fitting."""
    conflict = training_conflict(
        model.named_steps["model"],
        y=y_train,
        feature_count=lambda: len(
            clone(model.named_steps["preprocess"]).fit(x_train).get_feature_names_out()
        ),
    )
    if conflict is not None:
        raise ApplicationError(
            _("Hiperparámetros no válidos: %(error)s") % {"error": conflict.message},
            extra={"parameter": conflict.parameter},
        )
    try:
        return model.fit(x_train, y_train)
    except (ValueError, TypeError) as exc:
        # InvalidParameterError is a ValueError; its message names the parameter and rule.
        if "parameter" in str(exc):
            raise ApplicationError(
                _("Hiperparámetros no válidos: %(error)s") % {"error": exc}
            ) from exc
        raise


def feature_names(model: Pipeline) -> list[str]:
    """Names of the columns the estimator sees, e.g. ``num__age`` or ``cat__city_Madrid``."""
    return [str(name) for name in model.named_steps["preprocess"].get_feature_names_out()]


# How the importance of a feature was measured (the CSV's ``method`` column).
IMPORTANCE_NATIVE = "feature_importances_"
IMPORTANCE_COEF = "abs_coef"
IMPORTANCE_PERMUTATION = "permutation"

# Permutation importance costs (repeats x input columns + 1) predictions of the sample, so
# it is bounded: a sample of the test rows, few repeats, one process (the worker may run
# other experiments beside this one), and fewer rows for a model slow to predict (k nearest
# neighbours on a large training set) so that it stays within a time budget.
PERMUTATION_MAX_ROWS = 2000
PERMUTATION_MIN_ROWS = 200
PERMUTATION_REPEATS = 5
PERMUTATION_BUDGET_SECONDS = 10.0


@dataclass(frozen=True)
class Importances:
    values: pd.Series  # per feature, largest first
    method: str
    # Standard deviation over the repeats (permutation only).
    std: pd.Series | None = None

    def to_frame(self) -> pd.DataFrame:
        frame = self.values.rename_axis("feature").rename("importance").to_frame()
        if self.std is not None:
            frame["importance_std"] = self.std.reindex(self.values.index)
        frame["method"] = self.method
        return frame


def feature_importances(model: Pipeline) -> Importances | None:
    """The estimator's own importance per transformed feature; None when it has none.

    Trees give ``feature_importances_``; linear models give ``coef_`` (absolute value,
    averaged over classes for a multiclass model).
    """
    estimator = model.named_steps["model"]
    values = getattr(estimator, "feature_importances_", None)
    method = IMPORTANCE_NATIVE
    if values is None:
        coef = getattr(estimator, "coef_", None)
        if coef is None:
            return None
        coef = np.abs(np.asarray(coef, dtype=float))
        values = coef.mean(axis=0) if coef.ndim == 2 else coef
        method = IMPORTANCE_COEF
    values = np.asarray(values, dtype=float)
    names = feature_names(model)
    if len(values) != len(names):
        return None
    return Importances(pd.Series(values, index=names).sort_values(ascending=False), method)


def permutation_rows(*, rows: int, columns: int, seconds_per_prediction: float) -> int:
    """How many of ``rows`` sampled rows to shuffle, given what predicting them took once.

    All of them when the ``PERMUTATION_REPEATS * columns + 1`` predictions fit in
    ``PERMUTATION_BUDGET_SECONDS``; otherwise proportionally fewer, never below
    ``PERMUTATION_MIN_ROWS``.
    """
    predictions = PERMUTATION_REPEATS * columns + 1
    expected = seconds_per_prediction * predictions
    if expected <= PERMUTATION_BUDGET_SECONDS:
        return rows
    return min(rows, max(PERMUTATION_MIN_ROWS, int(rows * PERMUTATION_BUDGET_SECONDS / expected)))


def permutation_importances(
    model: Pipeline, x_test: pd.DataFrame, y_test: pd.Series, *, random_state: int
) -> Importances:
    """How much the model's score (accuracy or R²) drops when one input column is shuffled.

    Measured on the input columns (the pipeline's own input), on at most
    ``PERMUTATION_MAX_ROWS`` test rows drawn with the experiment's seed; fewer when one
    prediction of them is slow (see ``permutation_rows``).
    """
    if len(x_test) > PERMUTATION_MAX_ROWS:
        x_test = x_test.sample(n=PERMUTATION_MAX_ROWS, random_state=random_state)
        y_test = y_test.loc[x_test.index]
    started = time.perf_counter()
    model.predict(x_test)
    rows = permutation_rows(
        rows=len(x_test),
        columns=x_test.shape[1],
        seconds_per_prediction=time.perf_counter() - started,
    )
    if rows < len(x_test):
        x_test, y_test = x_test.head(rows), y_test.head(rows)
    result = permutation_importance(
        model,
        x_test,
        y_test,
        n_repeats=PERMUTATION_REPEATS,
        random_state=random_state,
        n_jobs=1,
    )
    names = [str(name) for name in x_test.columns]
    values = pd.Series(result.importances_mean, index=names).sort_values(ascending=False)
    std = pd.Series(result.importances_std, index=names)
    return Importances(values, IMPORTANCE_PERMUTATION, std)
