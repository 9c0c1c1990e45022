"""Fitting an estimator the way a training does, on data that no value refuses for its own
sake (two classes, a positive target): what the hyperparameter tests compare Cauce's
refusals with."""

import warnings

import numpy as np

from cauce.experiments.pipeline.algorithms import CLASSIFICATION, parameter_spec_build

# The cost of a fit is no part of what is compared: fewer trees and iterations keep walks short.
CHEAP = {"n_estimators": 2, "max_iter": 2}

_RNG = np.random.default_rng(0)
X = _RNG.normal(size=(60, 3))
TARGETS = {
    "classification": (X[:, 0] > 0).astype(int),
    "regression": np.abs(X[:, 0] * 2 + _RNG.normal(size=60)) + 0.1,
}


def walk_values(spec) -> list:
    """scikit-learn's own choices (not only those a form offers), booleans, None and the
    values at and just inside each bound."""
    everything = parameter_spec_build(
        name=spec.name, default=spec.default, constraints=list(spec.constraints)
    )
    values = [*everything.choices]
    if everything.allows_bool:
        values += [True, False]
    if everything.allows_none:
        values.append(None)
    for number in everything.numbers:
        step = 1 if number.kind == "int" else 1e-3
        for bound in (number.low, number.high):
            if bound is None:
                continue
            for value in (bound, bound + step, bound - step):
                value = int(value) if number.kind == "int" else float(value)
                if number.contains(value) and value not in values:
                    values.append(value)
    cheap = CHEAP.get(spec.name)
    return [v for v in values if cheap is None or not isinstance(v, int) or v <= cheap]


def fails_at_fit(algorithm, hyperparameters: dict) -> bool:
    """Whether fit, predict or predict_proba refuses the configuration."""
    estimator_class = algorithm.estimator_class()
    defaults = estimator_class().get_params()
    params = {name: value for name, value in CHEAP.items() if name in defaults}
    params.update(hyperparameters)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = estimator_class(**params).fit(X, TARGETS[algorithm.task_type])
            model.predict(X[:5])
            if algorithm.task_type == CLASSIFICATION:
                model.predict_proba(X[:5])
        except (ValueError, TypeError):
            return True
    return False
