"""The registry of scikit-learn estimators a user can train, and checks of their inputs."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cauce.core.exceptions import ApplicationError

CLASSIFICATION = "classification"
REGRESSION = "regression"

# A numeric target with at most this many distinct integer values is taken for classes.
MAX_CLASSES_FOR_INTEGER_TARGET = 20


@dataclass(frozen=True)
class Algorithm:
    name: str  # the scikit-learn class name, as the API takes it
    label: Any
    task_type: str
    import_path: str
    # Distance- and gradient-based estimators need standardized inputs; trees don't.
    needs_scaling: bool

    def estimator_class(self) -> type:
        module_name, class_name = self.import_path.rsplit(".", 1)
        return getattr(importlib.import_module(module_name), class_name)


_ALGORITHMS = [
    Algorithm("LogisticRegression", gettext_lazy("Regresión logística"), CLASSIFICATION,
              "sklearn.linear_model.LogisticRegression", True),
    Algorithm("RandomForestClassifier", gettext_lazy("Bosque aleatorio (clasificación)"),
              CLASSIFICATION, "sklearn.ensemble.RandomForestClassifier", False),
    Algorithm("GradientBoostingClassifier", gettext_lazy("Gradient boosting (clasificación)"),
              CLASSIFICATION, "sklearn.ensemble.GradientBoostingClassifier", False),
    Algorithm("HistGradientBoostingClassifier",
              gettext_lazy("Gradient boosting por histogramas (clasificación)"),
              CLASSIFICATION, "sklearn.ensemble.HistGradientBoostingClassifier", False),
    Algorithm("DecisionTreeClassifier", gettext_lazy("Árbol de decisión (clasificación)"),
              CLASSIFICATION, "sklearn.tree.DecisionTreeClassifier", False),
    Algorithm("KNeighborsClassifier", gettext_lazy("K vecinos más cercanos (clasificación)"),
              CLASSIFICATION, "sklearn.neighbors.KNeighborsClassifier", True),
    Algorithm("LinearRegression", gettext_lazy("Regresión lineal"), REGRESSION,
              "sklearn.linear_model.LinearRegression", True),
    Algorithm("Ridge", gettext_lazy("Regresión Ridge"), REGRESSION,
              "sklearn.linear_model.Ridge", True),
    Algorithm("RandomForestRegressor", gettext_lazy("Bosque aleatorio (regresión)"), REGRESSION,
              "sklearn.ensemble.RandomForestRegressor", False),
    Algorithm("GradientBoostingRegressor", gettext_lazy("Gradient boosting (regresión)"),
              REGRESSION, "sklearn.ensemble.GradientBoostingRegressor", False),
    Algorithm("HistGradientBoostingRegressor",
              gettext_lazy("Gradient boosting por histogramas (regresión)"),
              REGRESSION, "sklearn.ensemble.HistGradientBoostingRegressor", False),
    Algorithm("DecisionTreeRegressor", gettext_lazy("Árbol de decisión (regresión)"),
              REGRESSION, "sklearn.tree.DecisionTreeRegressor", False),
    Algorithm("KNeighborsRegressor", gettext_lazy("K vecinos más cercanos (regresión)"),
              REGRESSION, "sklearn.neighbors.KNeighborsRegressor", True),
]  # fmt: skip

ALGORITHMS: dict[str, Algorithm] = {algorithm.name: algorithm for algorithm in _ALGORITHMS}


def algorithm_get(name: str) -> Algorithm:
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ApplicationError(
            _("Algoritmo desconocido: «%(name)s». Disponibles: %(names)s.")
            % {"name": name, "names": ", ".join(ALGORITHMS)}
        ) from None


def algorithms_for(task_type: str | None = None) -> list[Algorithm]:
    return [a for a in _ALGORITHMS if task_type in (None, a.task_type)]


def algorithm_choices(task_type: str | None = None) -> list[tuple[str, Any]]:
    return [(a.name, a.label) for a in algorithms_for(task_type)]


def task_type_infer(target: pd.Series) -> str:
    """Classification for text, boolean or few-valued integer targets; regression otherwise."""
    values = target.dropna()
    if values.empty:
        return CLASSIFICATION
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return CLASSIFICATION
    integer_valued = bool((values == values.round()).all())
    if integer_valued and values.nunique() <= MAX_CLASSES_FOR_INTEGER_TARGET:
        return CLASSIFICATION
    return REGRESSION


_SKLEARN_PARAM_ERROR = re.compile(
    r"The '(?P<name>\w+)' parameter of \w+ must be (?P<rule>.+?)\. Got"
)


def hyperparameters_validate(*, algorithm: str, hyperparameters: Any) -> dict[str, Any]:
    """Check names against the estimator and values against scikit-learn's own constraints.

    Returns the hyperparameters unchanged when valid; otherwise raises ApplicationError whose
    message names the offending parameter, with ``extra={"parameter": name}``.
    """
    spec = algorithm_get(algorithm)
    if hyperparameters in (None, ""):
        return {}
    if not isinstance(hyperparameters, dict):
        raise ApplicationError(
            _('Los hiperparámetros deben ser un objeto JSON, p. ej. {"n_estimators": 100}.')
        )
    estimator_class = spec.estimator_class()
    known = estimator_class().get_params(deep=False)
    for name in hyperparameters:
        if name not in known:
            raise ApplicationError(
                _("Hiperparámetro desconocido para %(algorithm)s: «%(name)s». Válidos: %(valid)s.")
                % {"algorithm": spec.name, "name": name, "valid": ", ".join(sorted(known))},
                extra={"parameter": name},
            )
        default = known[name]
        if isinstance(hyperparameters[name], bool) and not isinstance(default, bool | None):
            # bool is an int to Python (and to scikit-learn's checks), never to a user.
            raise ApplicationError(
                _(
                    "Valor no válido para el hiperparámetro «%(name)s»: se esperaba un número, "
                    "no verdadero/falso."
                )
                % {"name": name},
                extra={"parameter": name},
            )
    try:
        estimator_class(**hyperparameters)._validate_params()
    except (ValueError, TypeError) as exc:
        match = _SKLEARN_PARAM_ERROR.search(str(exc))
        name = match["name"] if match else next(iter(hyperparameters))
        value = hyperparameters.get(name)
        raise ApplicationError(
            _(
                "Valor no válido para el hiperparámetro «%(name)s»: %(value)r "
                "(scikit-learn exige: %(rule)s)."
            )
            % {"name": name, "value": value, "rule": match["rule"] if match else str(exc)},
            extra={"parameter": name},
        ) from None
    return dict(hyperparameters)
