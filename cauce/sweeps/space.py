"""What a valid search space is, checked against each algorithm's ParameterSpec.

Pure (no Optuna, no database): the services validate with it in web processes; the engine
turns the validated space into Optuna distributions (``cauce.sweeps.study``).

A parameter of the space is one of:
- ``{"type": "int", "low": 2, "high": 20, "log": false, "step": 1}``
- ``{"type": "float", "low": 0.001, "high": 10.0, "log": true}`` (``step`` optional)
- ``{"type": "categorical", "choices": ["gini", "entropy"]}``
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from django.utils import formats
from django.utils.translation import gettext as _

from cauce.core.exceptions import ApplicationError
from cauce.experiments.pipeline.algorithms import FLOAT, INT, ParameterSpec, algorithm_get
from cauce.experiments.pipeline.combinations import hyperparameters_conflict

INT_TYPE = "int"
FLOAT_TYPE = "float"
CATEGORICAL_TYPE = "categorical"
TYPES = (INT_TYPE, FLOAT_TYPE, CATEGORICAL_TYPE)

MAX_GRID_POINTS = 10_000
MAX_CHOICES = 100

# The metrics the pipeline measures (cauce.experiments.pipeline.evaluation) and which way is
# better; the first of each task is the default (the experiments' main metric).
METRICS = {
    "classification": {
        "f1_macro": "maximize",
        "accuracy": "maximize",
        "precision_macro": "maximize",
        "recall_macro": "maximize",
        "roc_auc": "maximize",
    },
    "regression": {"r2": "maximize", "mae": "minimize", "rmse": "minimize"},
}


def number_shown(value: float | int) -> str:
    """A number in a message as a person reads it in the active language: six significant
    digits at most, a whole number without decimals ("2", "0,001" in Spanish)."""
    rounded = float(f"{value:.6g}")
    if rounded.is_integer() and abs(rounded) < 1e15:
        return str(int(rounded))
    return formats.number_format(rounded)


def _fail(parameter: str, message: str) -> ApplicationError:
    return ApplicationError(message, extra={"search_space": message, "parameter": parameter})


def _number(parameter: str, key: str, value: Any, *, integer: bool) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(
            parameter,
            _("«%(name)s»: «%(key)s» debe ser un número.") % {"name": parameter, "key": key},
        )
    if integer:
        if float(value) != int(value):
            raise _fail(
                parameter,
                _("«%(name)s»: «%(key)s» debe ser un entero.") % {"name": parameter, "key": key},
            )
        return int(value)
    return float(value)


def _range_fits(spec: ParameterSpec, kind: str, low: float, high: float) -> bool:
    """Some numeric interval of the parameter (of the right kind) holds the whole range."""
    for number in spec.numbers:
        if kind == INT_TYPE and number.kind != INT and not number.integers:
            continue
        if kind == FLOAT_TYPE and number.kind != FLOAT:
            continue
        if number.contains(low) and number.contains(high):
            return True
    return False


def range_type(spec: ParameterSpec, low: Any, high: Any) -> str:
    """The type of a numeric range: int when both bounds are whole numbers (typed without
    decimals) and the parameter takes integers (``max_features`` 2 to 8, ``min_samples_leaf``
    1 to 20), float otherwise (0.1 to 0.5, or any range of a parameter that takes real numbers
    only, such as ``C`` 1 to 10)."""
    whole = all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high))
    if whole and any(number.kind == INT for number in spec.numbers):
        return INT_TYPE
    return FLOAT_TYPE


def _one_check(
    *, name: str, entry: Any, spec: ParameterSpec, sampler: str
) -> tuple[dict[str, Any], int | None]:
    """The normalized entry and how many grid points it gives (None: a continuous range)."""
    if not isinstance(entry, dict):
        raise _fail(
            name,
            _("«%(name)s»: cada parámetro se describe con un objeto, p. ej. "
              '{"type": "int", "low": 1, "high": 10}.') % {"name": name},
        )  # fmt: skip
    kind = entry.get("type")
    if kind not in TYPES:
        raise _fail(
            name,
            _("«%(name)s»: tipo «%(type)s» no válido; use int, float o categorical.")
            % {"name": name, "type": kind},
        )
    if kind == CATEGORICAL_TYPE:
        choices = entry.get("choices")
        if not isinstance(choices, list) or not choices:
            raise _fail(name, _("«%(name)s»: la lista de opciones está vacía.") % {"name": name})
        if len(choices) > MAX_CHOICES:
            raise _fail(
                name,
                _("«%(name)s»: como mucho %(max)d opciones.") % {"name": name, "max": MAX_CHOICES},
            )
        unique: list[Any] = []
        for choice in choices:
            if isinstance(choice, dict | list):
                raise _fail(
                    name,
                    _("«%(name)s»: cada opción debe ser un número, un texto, verdadero/falso o "
                      "null.") % {"name": name},
                )  # fmt: skip
            if not spec.accepts(choice):
                raise _fail(
                    name,
                    _("«%(name)s»: la opción %(value)s no es válida. Se esperaba %(expected)s.")
                    % {"name": name, "value": repr(choice), "expected": spec.describe()},
                )
            if choice not in unique or any(type(c) is not type(choice) for c in unique):
                unique.append(choice)
        return {"type": kind, "choices": unique}, len(unique)

    if "low" not in entry or "high" not in entry:
        raise _fail(name, _("«%(name)s»: indique «low» y «high» del rango.") % {"name": name})
    if (
        kind == FLOAT_TYPE
        and range_type(spec, entry["low"], entry["high"]) == INT_TYPE
        and not _range_fits(spec, FLOAT_TYPE, entry["low"], entry["high"])
    ):
        # Whole bounds outside the parameter's fractions (max_features 2 to 8 said "float"):
        # the integers it takes.
        kind = INT_TYPE
    integer = kind == INT_TYPE
    low = _number(name, "low", entry["low"], integer=integer)
    high = _number(name, "high", entry["high"], integer=integer)
    log = entry.get("log", False)
    if not isinstance(log, bool):
        raise _fail(name, _("«%(name)s»: «log» debe ser true o false.") % {"name": name})
    if low > high:
        raise _fail(
            name,
            _("«%(name)s»: el mínimo (%(low)s) es mayor que el máximo (%(high)s).")
            % {"name": name, "low": number_shown(low), "high": number_shown(high)},
        )
    if low == high:
        raise _fail(
            name,
            _("«%(name)s»: el rango está vacío (mínimo y máximo son %(low)s); para un valor "
              "fijo use fixed_hyperparameters.") % {"name": name, "low": number_shown(low)},
        )  # fmt: skip
    if log and low <= 0:
        raise _fail(
            name,
            _("«%(name)s»: la escala logarítmica necesita un mínimo mayor que 0 (se indicó "
              "%(low)s).") % {"name": name, "low": number_shown(low)},
        )  # fmt: skip
    if not _range_fits(spec, kind, low, high):
        raise _fail(
            name,
            _("«%(name)s»: el rango [%(low)s, %(high)s] se sale de lo que admite el parámetro: "
              "%(expected)s.") % {"name": name, "low": number_shown(low),
                                   "high": number_shown(high), "expected": spec.describe()},
        )  # fmt: skip
    normalized: dict[str, Any] = {"type": kind, "low": low, "high": high, "log": log}
    step = entry.get("step")
    if step is not None:
        step = _number(name, "step", step, integer=integer)
        if step <= 0 or step > high - low:
            raise _fail(
                name,
                _("«%(name)s»: el paso debe ser mayor que 0 y no mayor que el rango.")
                % {"name": name},
            )
        if log:
            raise _fail(
                name,
                _("«%(name)s»: un paso no se combina con la escala logarítmica.") % {"name": name},
            )
        normalized["step"] = step
    if integer:
        points = (high - low) // (step or 1) + 1
    elif step is not None:
        points = math.floor((high - low) / step + 1e-9) + 1
    else:
        points = None
    if sampler == "grid" and points is None:
        raise _fail(
            name,
            _("«%(name)s»: una búsqueda en rejilla necesita valores discretos: indique «step» o "
              "use opciones.") % {"name": name},
        )  # fmt: skip
    return normalized, points


def _combinations_check(
    *, estimator_class: type, space: dict[str, dict[str, Any]], fixed: dict[str, Any]
) -> None:
    """Refuse a space in which some trial would fail at fit whatever the data: each choice
    and each end of each range, with the fixed values (every combination, or every pair of
    parameters when there are more than MAX_GRID_POINTS combinations)."""
    values = {
        name: entry["choices"]
        if entry["type"] == CATEGORICAL_TYPE
        else [entry["low"], entry["high"]]
        for name, entry in space.items()
    }
    if math.prod(len(options) for options in values.values()) <= MAX_GRID_POINTS:
        groups = [list(values)]
    else:
        groups = [list(pair) for pair in itertools.combinations(values, 2)] or [list(values)]
    for names in groups:
        for chosen in itertools.product(*(values[name] for name in names)):
            conflict = hyperparameters_conflict(
                estimator_class, {**fixed, **dict(zip(names, chosen, strict=True))}
            )
            if conflict is not None:
                raise _fail(
                    conflict.parameter,
                    _("Algunas pruebas de esta búsqueda fallarían: %(reason)s")
                    % {"reason": conflict.message},
                )


def grid_values(entry: dict[str, Any]) -> list[Any]:
    """The values one parameter takes in a grid search."""
    if entry["type"] == CATEGORICAL_TYPE:
        return list(entry["choices"])
    low, high, step = entry["low"], entry["high"], entry.get("step")
    if entry["type"] == INT_TYPE:
        return list(range(low, high + 1, step or 1))
    count = math.floor((high - low) / step + 1e-9) + 1
    return [round(low + index * step, 12) for index in range(count)]


def search_space_validate(
    *, algorithm: str, search_space: Any, fixed_hyperparameters: dict[str, Any], sampler: str
) -> tuple[dict[str, dict[str, Any]], int | None]:
    """The normalized space and, for a grid, its number of configurations.

    Each refusal is an ApplicationError naming the parameter (``extra["parameter"]``).
    """
    spec = algorithm_get(algorithm)
    if not isinstance(search_space, dict) or not search_space:
        message = _("Indique al menos un hiperparámetro que buscar en «search_space».")
        raise ApplicationError(message, extra={"search_space": message})
    parameters = spec.parameters()
    normalized: dict[str, dict[str, Any]] = {}
    grid_size = 1
    for name, entry in search_space.items():
        parameter = parameters.get(name)
        if parameter is None:
            raise _fail(
                name,
                _("Hiperparámetro desconocido para %(algorithm)s: «%(name)s». Válidos: %(valid)s.")
                % {"algorithm": spec.name, "name": name, "valid": ", ".join(sorted(parameters))},
            )
        if name in fixed_hyperparameters:
            raise _fail(
                name,
                _("«%(name)s» está a la vez en el espacio de búsqueda y en los fijos.")
                % {"name": name},
            )
        normalized[name], points = _one_check(
            name=name, entry=entry, spec=parameter, sampler=sampler
        )
        if sampler == "grid":
            grid_size *= points or 1
    _combinations_check(
        estimator_class=spec.estimator_class(), space=normalized, fixed=fixed_hyperparameters
    )
    if sampler == "grid" and grid_size > MAX_GRID_POINTS:
        message = _(
            "La rejilla tiene %(size)s configuraciones; el máximo es %(max)s. Reduzca los rangos "
            "o las opciones."
        ) % {"size": f"{grid_size:,}".replace(",", "."), "max": "10.000"}
        raise ApplicationError(message, extra={"search_space": message})
    return normalized, (grid_size if sampler == "grid" else None)
