"""The registry of scikit-learn estimators a user can train, and checks of their inputs."""

from __future__ import annotations

import functools
import importlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cauce.core.exceptions import ApplicationError
from cauce.experiments.pipeline.combinations import hyperparameters_conflict

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

    def parameters(self) -> dict[str, ParameterSpec]:
        """Every hyperparameter of the estimator, in scikit-learn's order."""
        return _parameters(self.name)

    def tunable_parameters(self) -> list[ParameterSpec]:
        """Those a form offers (see ParameterSpec.tunable)."""
        return [spec for spec in self.parameters().values() if spec.tunable]


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


# --- hyperparameters ----------------------------------------------------------------------
#
# What each estimator accepts is read from scikit-learn's own ``_parameter_constraints`` (the
# rules its ``_validate_params`` applies), described as ParameterSpec: the form draws its fields
# from it, the services validate with it, and a search can turn its ranges and choices into a
# search space.

INT = "int"
FLOAT = "float"

# Parameters that change how a training runs, not what it learns, or that Cauce sets itself:
# the API takes them as scikit-learn does, the form does not offer them.
NOT_TUNED = frozenset(
    {
        "verbose",
        "n_jobs",
        "warm_start",
        "copy_X",
        "random_state",  # the experiment's own seed (model_build)
        "categorical_features",  # the pipeline encodes categories before the estimator
    }
)

# A sentence on what the most tuned parameters do; the others show what they take and their
# default only.
PARAMETER_HELP = {
    "n_estimators": gettext_lazy("Número de árboles. Más árboles: más estable y más lento."),
    "max_depth": gettext_lazy(
        "Profundidad máxima de cada árbol. None: sin límite. Menos profundidad: menos sobreajuste."
    ),
    "min_samples_split": gettext_lazy(
        "Filas que necesita un nodo para dividirse (un entero, o una fracción de las filas)."
    ),
    "min_samples_leaf": gettext_lazy(
        "Filas mínimas en cada hoja (un entero, o una fracción de las filas)."
    ),
    "max_features": gettext_lazy(
        "Columnas que se consideran en cada división (un entero, una fracción o una regla)."
    ),
    "max_leaf_nodes": gettext_lazy("Número máximo de hojas de cada árbol. None: sin límite."),
    "criterion": gettext_lazy("Cómo se mide la calidad de una división."),
    "learning_rate": gettext_lazy(
        "Peso de cada árbol nuevo. Más pequeño: necesita más árboles, suele generalizar mejor."
    ),
    "max_iter": gettext_lazy("Número máximo de iteraciones."),
    "early_stopping": gettext_lazy(
        "Detener el entrenamiento cuando deja de mejorar en una parte reservada de los datos. "
        "«auto»: solo con más de 10 000 filas."
    ),
    "subsample": gettext_lazy("Fracción de las filas con la que se ajusta cada árbol."),
    "l2_regularization": gettext_lazy("Regularización L2 de las hojas. 0: ninguna."),
    "class_weight": gettext_lazy(
        "«balanced»: da más peso a las clases con menos filas. None: todas pesan igual."
    ),
    "C": gettext_lazy("Inversa de la regularización: más pequeño, modelo más simple."),
    "alpha": gettext_lazy("Fuerza de la regularización: más grande, modelo más simple."),
    "solver": gettext_lazy("Algoritmo de optimización."),
    "fit_intercept": gettext_lazy("Ajustar el término independiente."),
    "n_neighbors": gettext_lazy("Número de vecinos que votan."),
    "weights": gettext_lazy(
        "«uniform»: todos los vecinos pesan igual; «distance»: los más cercanos pesan más."
    ),
    "bootstrap": gettext_lazy("Cada árbol se ajusta con una muestra con reemplazo de las filas."),
}

# A JSON number never stands for True or False, so no form or API value is a bool where the
# parameter does not take booleans (scikit-learn's Interval would take True for 1).
_STRUCTURE_LABELS = {
    dict: gettext_lazy("un objeto JSON"),
    list: gettext_lazy("una lista"),
    tuple: gettext_lazy("una lista"),
    str: gettext_lazy("un texto"),
}


@dataclass(frozen=True)
class NumberRange:
    """One numeric interval a parameter takes (scikit-learn's Interval)."""

    kind: str  # INT, or FLOAT (a real number; ``integers`` says whether 3 counts as well)
    low: float | None
    high: float | None
    closed: str  # "left", "right", "both" or "neither", as scikit-learn says
    integers: bool = True  # a FLOAT range that also takes integer values (Real, not RealNotInt)

    @property
    def low_inclusive(self) -> bool:
        return self.closed in ("left", "both")

    @property
    def high_inclusive(self) -> bool:
        return self.closed in ("right", "both")

    def contains(self, value: float) -> bool:
        if self.low is not None and (
            value < self.low or (value == self.low and not self.low_inclusive)
        ):
            return False
        return not (
            self.high is not None
            and (value > self.high or (value == self.high and not self.high_inclusive))
        )

    def describe(self) -> str:
        kind = {
            INT: _("un entero"),
            FLOAT: _("un número") if self.integers else _("un número con decimales"),
        }[self.kind]
        bounds = []
        if self.low is not None:
            bounds.append(("≥ " if self.low_inclusive else "> ") + _number_text(self.low))
        if self.high is not None:
            bounds.append(("≤ " if self.high_inclusive else "< ") + _number_text(self.high))
        if not bounds:
            return kind
        return _("%(kind)s %(bounds)s") % {"kind": kind, "bounds": _(" y ").join(bounds)}


def _number_text(value: float) -> str:
    """A bound as a person reads it, in the active language ("0,0001" in Spanish)."""
    return str(int(value)) if float(value).is_integer() else formats.number_format(value)


@dataclass(frozen=True)
class ParameterSpec:
    """What one hyperparameter takes: the union of its numbers, choices, booleans and None.

    ``constraints`` are scikit-learn's own, which decide; the rest describes them for a form
    (``tunable``), for messages and for searches.
    """

    name: str
    default: Any
    numbers: tuple[NumberRange, ...]
    choices: tuple[str, ...]
    allows_bool: bool
    allows_none: bool
    # Values only the API can give (a JSON object or list: class_weight={"a": 2}).
    structures: tuple[Any, ...]
    tunable: bool
    constraints: tuple[Any, ...] = field(repr=False, compare=False)
    help_text: Any = ""

    @property
    def kind(self) -> str:
        """The main kind, for a form: "number", "choice" or "boolean"."""
        if self.numbers:
            return "number"
        if self.choices:
            return "choice"
        return "boolean"

    @property
    def number_kind(self) -> str | None:
        kinds = {number.kind for number in self.numbers}
        return None if not kinds else INT if kinds == {INT} else FLOAT

    def accepts(self, value: Any) -> bool:
        """scikit-learn's own verdict, except that a bool is no number and values are JSON."""
        from sklearn.utils._param_validation import make_constraint

        if isinstance(value, bool) and not self.allows_bool:
            return False
        if not _is_json(value):
            return False
        if not self.constraints:  # scikit-learn leaves it unchecked ("no_validation")
            return True
        return any(make_constraint(c).is_satisfied_by(value) for c in self.constraints)

    def covers(self, value: Any) -> bool:
        """Whether the value is among the numbers, choices, booleans and None described here
        (what a form can give; the JSON objects and lists of ``structures`` aside)."""
        if value is None:
            return self.allows_none
        if isinstance(value, bool):
            return self.allows_bool
        if isinstance(value, str):
            return value in self.choices
        if isinstance(value, int | float):
            return any(
                number.contains(value)
                and (number.kind == FLOAT or isinstance(value, int))
                and (number.integers or not isinstance(value, int))
                for number in self.numbers
            )
        return False

    def describe(self) -> str:
        """What the parameter takes, in words: "un entero ≥ 1 o None"."""
        parts = [number.describe() for number in self.numbers]
        if self.choices:
            quoted = ", ".join(_("«%(value)s»") % {"value": choice} for choice in self.choices)
            parts.append(
                quoted if len(self.choices) == 1 else _("una de %(choices)s") % {"choices": quoted}
            )
        if self.allows_bool:
            parts.extend([_("verdadero"), _("falso")])
        labels = []
        for structure in self.structures:
            label = str(_STRUCTURE_LABELS.get(structure, ""))
            if label and label not in labels:
                labels.append(label)
        parts.extend(labels)
        if self.allows_none:
            parts.append("None")
        if not parts:
            return _("un valor JSON")
        if len(parts) == 1:
            return parts[0]
        return _("%(first)s o %(last)s") % {"first": ", ".join(parts[:-1]), "last": parts[-1]}


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _visible_constraints(constraints: list[Any]) -> list[Any]:
    """scikit-learn's constraints as objects, Hidden ones (deprecated values) left out."""
    from sklearn.utils._param_validation import Hidden, make_constraint

    shown = []
    for constraint in constraints:
        if isinstance(constraint, Hidden):
            continue
        made = make_constraint(constraint)
        if getattr(made, "hidden", False):
            continue
        shown.append(made)
    return shown


def parameter_spec_build(
    *, name: str, default: Any, constraints: list[Any] | None
) -> ParameterSpec:
    from sklearn.utils._param_validation import (
        Integral,
        Interval,
        Options,
        Real,
        RealNotInt,
        _Booleans,
        _InstancesOf,
        _NoneConstraint,
        _RandomStates,
        _VerboseHelper,
    )

    numbers: list[NumberRange] = []
    choices: list[str] = []
    structures: list[Any] = []
    allows_bool = allows_none = False

    def add(made: Any) -> None:
        nonlocal allows_bool, allows_none
        if isinstance(made, Interval):
            kind = INT if made.type is Integral else FLOAT
            numbers.append(
                NumberRange(kind, made.left, made.right, made.closed, made.type is not RealNotInt)
            )
        elif isinstance(made, Options):
            if made.type is bool:
                allows_bool = True
            else:
                options = sorted(set(made.options) - set(made.deprecated or ()), key=str)
                choices.extend(option for option in options if isinstance(option, str))
        elif isinstance(made, _Booleans):
            allows_bool = True
        elif isinstance(made, _NoneConstraint):
            allows_none = True
        elif isinstance(made, _RandomStates | _VerboseHelper):
            for inner in made._constraints:
                add(inner)
        elif isinstance(made, _InstancesOf) and made.type is bool:
            allows_bool = True
        elif isinstance(made, _InstancesOf) and made.type in (Integral, Real):
            numbers.append(
                NumberRange(INT if made.type is Integral else FLOAT, None, None, "neither")
            )
        elif isinstance(made, _InstancesOf) and made.type in _STRUCTURE_LABELS:
            structures.append(made.type)
        # Callables, estimators, arrays and free text have no JSON or form value of their own.

    for made in _visible_constraints(constraints or []):
        add(made)
    spec = ParameterSpec(
        name=name,
        default=default,
        numbers=tuple(numbers),
        choices=tuple(choices),
        allows_bool=allows_bool,
        allows_none=allows_none,
        structures=tuple(structures),
        tunable=False,
        constraints=tuple(constraints or ()),
        help_text=PARAMETER_HELP.get(name, ""),
    )
    # Offered in the form: a parameter with something to choose, whose default is one of the
    # choices shown (a default only a Hidden constraint takes marks a deprecated parameter).
    choosable = bool(numbers or choices or allows_bool)
    tunable = name not in NOT_TUNED and choosable and spec.covers(default)
    return replace(spec, tunable=tunable)


@functools.cache
def _parameters(algorithm: str) -> dict[str, ParameterSpec]:
    estimator_class = ALGORITHMS[algorithm].estimator_class()
    constraints = getattr(estimator_class, "_parameter_constraints", {})
    return {
        name: _without_lone_conflicts(
            estimator_class,
            parameter_spec_build(name=name, default=default, constraints=constraints.get(name)),
        )
        for name, default in estimator_class().get_params(deep=False).items()
    }


def _without_lone_conflicts(estimator_class: type, spec: ParameterSpec) -> ParameterSpec:
    """The spec without the choices (or None) that fail at fit whatever the other fields say,
    such as ``metric="mahalanobis"`` without its ``metric_params``: a form does not offer them
    (the API still takes them with what they need). A value that only fails beside another
    one (``solver="lbfgs"`` needs ``positive=True``) stays offered."""

    def works(value: Any) -> bool:
        conflict = hyperparameters_conflict(estimator_class, {spec.name: value})
        return conflict is None or conflict.other is not None

    choices = tuple(choice for choice in spec.choices if works(choice))
    allows_none = spec.allows_none and works(None)
    if choices == spec.choices and allows_none == spec.allows_none:
        return spec
    return replace(spec, choices=choices, allows_none=allows_none)


def _value_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if _is_json(value) else repr(value)


def hyperparameters_validate(*, algorithm: str, hyperparameters: Any) -> dict[str, Any]:
    """Check names against the estimator, values against scikit-learn's own constraints and
    their combination against the checks its fit makes (``combinations``).

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
    parameters = spec.parameters()
    for name, value in hyperparameters.items():
        parameter = parameters.get(name)
        if parameter is None:
            raise ApplicationError(
                _("Hiperparámetro desconocido para %(algorithm)s: «%(name)s». Válidos: %(valid)s.")
                % {"algorithm": spec.name, "name": name, "valid": ", ".join(sorted(parameters))},
                extra={"parameter": name},
            )
        if not parameter.accepts(value):
            raise ApplicationError(
                hyperparameter_error(parameter, value), extra={"parameter": name}
            )
    conflict = hyperparameters_conflict(spec.estimator_class(), hyperparameters)
    if conflict is not None:
        raise ApplicationError(conflict.message, extra={"parameter": conflict.parameter})
    return dict(hyperparameters)


def hyperparameter_error(parameter: ParameterSpec, value: Any) -> str:
    return _(
        "Valor no válido para el hiperparámetro «%(name)s»: %(value)s. Se esperaba %(expected)s."
    ) % {"name": parameter.name, "value": _value_text(value), "expected": parameter.describe()}
