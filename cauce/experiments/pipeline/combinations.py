"""Hyperparameter values scikit-learn takes one by one but refuses when it fits.

Its ``_parameter_constraints`` judge each value alone (``algorithms.ParameterSpec``); some
values only fail with others (``metric="cosine"`` with ``algorithm="kd_tree"``), and some with
the training data (``criterion="poisson"`` with a negative target). Each check here repeats,
without training, the test the estimator's own ``fit`` makes, calling scikit-learn's own check
where it has one, so that the form, the API and a search space refuse such a choice with a
message that names the field, instead of an experiment failing in the worker.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _


@dataclass(frozen=True)
class Conflict:
    """Why a configuration fails: ``parameter`` is the field to blame; ``other`` the field it
    does not go with (None: the value fails whatever the others are)."""

    parameter: str
    message: str
    other: str | None = None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return _("«%(value)s»") % {"value": value}
    if value is None:
        return "None"
    if isinstance(value, bool):
        return _("verdadero") if value else _("falso")
    return str(value)


def _pair(params: dict[str, Any], given: dict[str, Any], first: str, second: str) -> Conflict:
    """The two values do not go together; the one the user gave is blamed (the first when
    both were)."""
    blamed, other = (second, first) if first not in given and second in given else (first, second)
    return Conflict(
        parameter=blamed,
        other=other,
        message=_("«%(name)s» = %(value)s no se puede combinar con «%(other)s» = %(other_value)s.")
        % {
            "name": blamed,
            "value": _text(params[blamed]),
            "other": other,
            "other_value": _text(params[other]),
        },
    )


def _neighbors(estimator: Any, params: dict[str, Any], given: dict[str, Any]) -> Conflict | None:
    from sklearn.metrics import DistanceMetric
    from sklearn.metrics._dist_metrics import METRIC_MAPPING64

    metric = params["metric"]
    if params["n_neighbors"] is None:  # kneighbors compares it with 0
        return Conflict("n_neighbors", _("«n_neighbors» necesita un número de vecinos, no None."))
    if estimator.__sklearn_tags__().input_tags.pairwise:
        return Conflict(
            "metric",
            _("«metric» = %(value)s espera una matriz de distancias entre filas en lugar de "
              "columnas; Cauce entrena con columnas.") % {"value": _text(metric)},
        )  # fmt: skip
    try:
        estimator._check_algorithm_metric()
    except ValueError:
        return _pair(params, given, "metric", "algorithm")
    metric_params = params["metric_params"] or {}
    # What a ball tree builds the distance with (fit takes a tree for "auto" when it can);
    # without metric_params the brute force search fails the same way. With them, brute force
    # hands them to SciPy, which decides when it fits.
    tree_possible = params["algorithm"] != "brute" or not metric_params
    if isinstance(metric, str) and metric in METRIC_MAPPING64 and tree_possible:
        try:
            DistanceMetric.get_metric(metric, **metric_params)
        except Exception:  # whatever it raises, the tree's fit raises too
            if metric_params:
                return Conflict(
                    "metric_params",
                    _("«metric_params» no son los parámetros que espera «metric» = %(value)s.")
                    % {"value": _text(metric)},
                )
            return Conflict(
                "metric",
                _("«metric» = %(value)s necesita sus propios parámetros en «metric_params», "
                  "que solo se pueden indicar por la API.") % {"value": _text(metric)},
            )  # fmt: skip
    if metric == "minkowski" and "p" not in metric_params:
        p = params["p"]
        if p is None:
            return _pair(params, given, "p", "metric")
        if p < 1 and params["algorithm"] in ("kd_tree", "ball_tree"):
            # The trees need a true distance; with "auto" scikit-learn falls back to brute force.
            return _pair(params, given, "p", "algorithm")
    return None


def _logistic(estimator: Any, params: dict[str, Any], given: dict[str, Any]) -> Conflict | None:
    from sklearn.linear_model._logistic import _check_solver
    from sklearn.svm import LinearSVC
    from sklearn.svm._base import _get_liblinear_solver_type
    from sklearn.utils._param_validation import (
        InvalidParameterError,
        validate_parameter_constraints,
    )

    penalty = params["penalty"]
    if penalty == "deprecated":  # as LogisticRegression.fit reads l1_ratio and C
        l1_ratio = params["l1_ratio"]
        penalty = "l2" if l1_ratio in (0, None) else "l1" if l1_ratio == 1 else "elasticnet"
        if params["C"] == math.inf:
            penalty = None
    try:
        _check_solver(params["solver"], penalty, params["dual"])
        if params["solver"] == "liblinear":
            _get_liblinear_solver_type("ovr", penalty, "logistic_regression", params["dual"])
        if params["solver"] == "liblinear":
            # liblinear takes the tolerance of LinearSVC, whose own constraint says > 0.
            validate_parameter_constraints(
                {"tol": LinearSVC._parameter_constraints["tol"]}, {"tol": params["tol"]}, "tol"
            )
    except InvalidParameterError:
        return _pair(params, given, "tol", "solver")
    except ValueError:
        # liblinear is the only solver with a dual form, and not for an L1 penalty.
        if params["dual"] and (params["solver"] != "liblinear" or penalty == "l1"):
            return _pair(params, given, "dual", "solver")
        if params["penalty"] != "deprecated":  # the API may still give it
            return _pair(params, given, "penalty", "solver")
        return _pair(params, given, "l1_ratio", "solver")
    return None


def _ridge(estimator: Any, params: dict[str, Any], given: dict[str, Any]) -> Conflict | None:
    # Ridge.fit: lbfgs only with positive=True, and positive=True only with auto or lbfgs.
    solver, positive = params["solver"], params["positive"]
    if (solver == "lbfgs" and not positive) or (positive and solver not in ("auto", "lbfgs")):
        return _pair(params, given, "solver", "positive")
    return None


def _forest(estimator: Any, params: dict[str, Any], given: dict[str, Any]) -> Conflict | None:
    # BaseForest.fit: a sample size and out-of-bag scores need bootstrap samples.
    if not params["bootstrap"]:
        if params["max_samples"] is not None:
            return _pair(params, given, "max_samples", "bootstrap")
        if params["oob_score"]:
            return _pair(params, given, "oob_score", "bootstrap")
    return None


def _hist_gradient_boosting(
    estimator: Any, params: dict[str, Any], given: dict[str, Any]
) -> Conflict | None:
    from sklearn._loss.loss import PinballLoss

    # HistGradientBoostingRegressor's quantile loss needs the quantile it estimates, one the
    # loss it builds takes (0 and 1 are not).
    if params.get("loss") == "quantile":
        try:
            PinballLoss(quantile=params.get("quantile"))
        except (TypeError, ValueError):
            return _pair(params, given, "quantile", "loss")
    return None


def _checks(estimator_class: type) -> list[Callable[..., Conflict | None]]:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.ensemble._forest import BaseForest
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.neighbors._base import NeighborsBase

    checks = {
        NeighborsBase: _neighbors,
        LogisticRegression: _logistic,
        Ridge: _ridge,
        BaseForest: _forest,
        HistGradientBoostingRegressor: _hist_gradient_boosting,
    }
    return [check for base, check in checks.items() if issubclass(estimator_class, base)]


def hyperparameters_conflict(
    estimator_class: type, hyperparameters: dict[str, Any]
) -> Conflict | None:
    """The first combination of the given values (with the defaults of the others) that the
    estimator's fit refuses whatever the data; None when there is none. The values must each
    be valid already (``hyperparameters_validate``)."""
    estimator = estimator_class(**hyperparameters)
    params = estimator.get_params(deep=False)
    for check in _checks(estimator_class):
        conflict = check(estimator, params, hyperparameters)
        if conflict is not None:
            return conflict
    return None


# --- with the training data -----------------------------------------------------------------


def training_conflict(
    estimator: Any, *, y: Any, feature_count: Callable[[], int]
) -> Conflict | None:
    """What the estimator's fit (or predict) would refuse in this training data: the target's
    sign or number of classes, the number of rows or of columns. ``feature_count`` gives the
    number of columns the estimator receives (called only when a check needs it)."""
    params = estimator.get_params(deep=False)
    target = np.asarray(y)
    rows = len(target)
    for name in ("criterion", "loss"):
        value = params.get(name)
        if value == "poisson" and (
            not np.issubdtype(target.dtype, np.number) or (target < 0).any() or target.sum() <= 0
        ):
            return Conflict(
                name,
                _("«%(name)s» = «poisson» necesita un objetivo sin valores negativos y de suma "
                  "mayor que 0.") % {"name": name},
            )  # fmt: skip
        if value == "gamma" and (not np.issubdtype(target.dtype, np.number) or (target <= 0).any()):
            return Conflict(
                name,
                _("«%(name)s» = «gamma» necesita un objetivo con todos sus valores mayores que 0.")
                % {"name": name},
            )
    from sklearn.base import is_classifier

    # Hashed, not sorted as text: np.unique(target.astype(str)) takes ~0.4 s on 500,000 rows.
    classes = int(pd.Series(target).nunique(dropna=False)) if is_classifier(estimator) else 0
    binary_only = [("loss", "exponential"), ("solver", "liblinear")]
    for name, value in binary_only:
        if params.get(name) == value and classes > 2:
            return Conflict(
                name,
                _("«%(name)s» = «%(value)s» solo sirve con dos clases; el objetivo tiene "
                  "%(classes)s.") % {"name": name, "value": value, "classes": classes},
            )  # fmt: skip
    neighbors = params.get("n_neighbors")
    if isinstance(neighbors, int) and "metric" in params and neighbors > rows:
        return Conflict(
            "n_neighbors",
            _("«n_neighbors» = %(value)s es mayor que el número de filas de entrenamiento "
              "(%(rows)s).") % {"value": neighbors, "rows": rows},
        )  # fmt: skip
    if params.get("metric") == "haversine":
        count = feature_count()
        if count != 2:
            return Conflict(
                "metric",
                _("«metric» = «haversine» necesita exactamente dos columnas de entrada (latitud "
                  "y longitud, en radianes); el modelo recibe %(count)s.") % {"count": count},
            )  # fmt: skip
    fraction = params.get("validation_fraction")
    stopping = (
        params.get("n_iter_no_change")
        if "early_stopping" not in params
        else (
            params["early_stopping"] is True
            or (params["early_stopping"] == "auto" and rows > 10_000)
        )
    )
    if stopping and isinstance(fraction, int | float):
        # The held-out part is cut as train_test_split cuts it; each side needs a row (of
        # every class, for a classifier: the split is stratified).
        if isinstance(fraction, float):
            held_out, kept = math.ceil(fraction * rows), math.floor((1.0 - fraction) * rows)
        else:
            held_out, kept = fraction, rows - fraction
        if min(held_out, kept) < max(classes, 1):
            return Conflict(
                "validation_fraction",
                _("«validation_fraction» = %(value)s reserva %(held_out)s de %(rows)s filas "
                  "para validar; cada parte necesita al menos %(minimum)s filas.")
                % {"value": fraction, "held_out": held_out, "rows": rows,
                   "minimum": max(classes, 1)},
            )  # fmt: skip
    return None
