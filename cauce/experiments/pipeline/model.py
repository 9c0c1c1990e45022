"""The scikit-learn pipeline: preprocessing by column kind, then the chosen estimator.

Only scikit-learn classes go into the pipeline, so the logged model loads anywhere with the
pinned requirements and no Cauce code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from cauce.core.exceptions import ApplicationError
from cauce.experiments.pipeline.algorithms import Algorithm
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
    """Fit, turning scikit-learn's refusals of a parameter value into a readable error."""
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


def feature_importances(model: Pipeline) -> pd.Series | None:
    """Importance per transformed feature, largest first; None when the estimator has none.

    Trees give ``feature_importances_``; linear models give ``coef_`` (absolute value,
    averaged over classes for a multiclass model).
    """
    estimator = model.named_steps["model"]
    values = getattr(estimator, "feature_importances_", None)
    if values is None:
        coef = getattr(estimator, "coef_", None)
        if coef is None:
            return None
        coef = np.abs(np.asarray(coef, dtype=float))
        values = coef.mean(axis=0) if coef.ndim == 2 else coef
    values = np.asarray(values, dtype=float)
    names = feature_names(model)
    if len(values) != len(names):
        return None
    return pd.Series(values, index=names).sort_values(ascending=False)
