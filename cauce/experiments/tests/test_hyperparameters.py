"""The hyperparameter rules are scikit-learn's own, walked for every registered algorithm."""

import pytest
from django.utils import translation
from sklearn.utils._param_validation import (
    Hidden,
    InvalidParameterError,
    validate_parameter_constraints,
)

from cauce.core.exceptions import ApplicationError
from cauce.experiments.pipeline.algorithms import (
    ALGORITHMS,
    FLOAT,
    INT,
    NumberRange,
    hyperparameters_validate,
)
from cauce.experiments.tests.fit_support import fails_at_fit, walk_values

# Values of every kind a JSON body can carry, around the bounds scikit-learn uses.
PROBES = [
    None, True, False,
    -1, 0, 1, 2, 3, 255, 256, 10**6, 2**32,
    -0.5, 0.0, 1e-9, 0.1, 0.5, 0.9, 1.0, 1.5,
    "auto", "sqrt", "balanced", "gini", "best", "lbfgs", "uniform", "zero", "deprecated",
    "not-an-option", "",
    {"a": 1}, [1, 2], [[0, 1]],
]  # fmt: skip

PARAMETERS = [
    (algorithm.name, spec)
    for algorithm in ALGORITHMS.values()
    for spec in algorithm.parameters().values()
]


def _scikit_learn_accepts(algorithm: str, name: str, value, *, hidden: bool = True) -> bool:
    """scikit-learn's verdict; without ``hidden``, the values it keeps out of its own messages
    (deprecated ones) count as refused."""
    estimator_class = ALGORITHMS[algorithm].estimator_class()
    constraints = estimator_class._parameter_constraints[name]
    if not hidden:
        constraints = [c for c in constraints if not isinstance(c, Hidden)]
    try:
        validate_parameter_constraints({name: constraints}, {name: value}, caller_name=algorithm)
    except InvalidParameterError:
        return False
    return True


def _probes(spec) -> list:
    """The generic probes, the default and values just inside and outside each bound."""
    values = [*PROBES, spec.default, *spec.choices]
    for number in spec.numbers:
        for bound in (number.low, number.high):
            if bound is None:
                continue
            step = 1 if number.kind == "int" else 1e-6
            for value in (bound - step, bound, bound + step):
                values.append(int(value) if number.kind == "int" else float(value))
    return values


@pytest.mark.parametrize(("algorithm", "spec"), PARAMETERS, ids=lambda p: getattr(p, "name", p))
def test_every_value_is_judged_as_scikit_learn_judges_it(algorithm, spec):
    """Accepted exactly when scikit-learn accepts it, a bool where no boolean is taken aside
    (True is not a number to a user); refused with a message that names the parameter."""
    assert spec.constraints, f"{algorithm}.{spec.name} has no constraints of scikit-learn"
    for value in _probes(spec):
        expected = _scikit_learn_accepts(algorithm, spec.name, value)
        if isinstance(value, bool) and not spec.allows_bool:
            expected = False
        try:
            hyperparameters_validate(algorithm=algorithm, hyperparameters={spec.name: value})
        except ApplicationError as error:
            message = str(error.message)
            assert f"«{spec.name}»" in message
            assert error.extra == {"parameter": spec.name}
            if expected:
                # Fit refuses it beside the defaults (test_hyperparameter_combinations).
                assert fails_at_fit(ALGORITHMS[algorithm], {spec.name: value}), message
            else:
                assert message.startswith("Valor no válido para el hiperparámetro")
        else:
            assert expected, f"{spec.name}={value!r} accepted, scikit-learn refuses it"


@pytest.mark.parametrize(("algorithm", "spec"), PARAMETERS, ids=lambda p: getattr(p, "name", p))
def test_the_spec_describes_exactly_the_scalar_values_scikit_learn_takes(algorithm, spec):
    """What a form builds from the spec (numbers, choices, booleans, None) is scikit-learn's
    set, less what its fit refuses beside the other defaults: no value the form offers is
    refused, none that it could take is missing."""
    for value in _probes(spec):
        if isinstance(value, dict | list):
            continue
        accepted = _scikit_learn_accepts(algorithm, spec.name, value, hidden=False)
        if isinstance(value, bool) and not spec.allows_bool:
            accepted = False
        if isinstance(value, str) and not spec.choices and accepted:
            continue  # free text (scoring): the API's, not a form's
        if accepted and not spec.covers(value):
            # Not offered: what no other field's value makes fit (metric="mahalanobis").
            assert not _fits_with_some_other_value(ALGORITHMS[algorithm], spec, value)
            continue
        assert spec.covers(value) == accepted, f"{algorithm}.{spec.name}={value!r}"


def _fits_with_some_other_value(algorithm, spec, value) -> bool:
    if not fails_at_fit(algorithm, {spec.name: value}):
        return True
    return any(
        not fails_at_fit(algorithm, {spec.name: value, other.name: other_value})
        for other in algorithm.tunable_parameters()
        if other.name != spec.name
        for other_value in walk_values(other)
    )


def test_a_hist_gradient_boosting_s_early_stopping_takes_auto_true_and_false():
    for value in ("auto", True, False):
        assert hyperparameters_validate(
            algorithm="HistGradientBoostingClassifier", hyperparameters={"early_stopping": value}
        ) == {"early_stopping": value}


def test_a_number_is_never_given_as_true_or_false():
    with pytest.raises(ApplicationError) as raised:
        hyperparameters_validate(
            algorithm="RandomForestClassifier", hyperparameters={"max_depth": True}
        )
    assert str(raised.value.message) == (
        "Valor no válido para el hiperparámetro «max_depth»: true. "
        "Se esperaba un entero ≥ 1 o None."
    )


def test_the_message_says_the_rule_in_the_user_s_language():
    with translation.override("en"), pytest.raises(ApplicationError) as raised:
        hyperparameters_validate(
            algorithm="RandomForestClassifier", hyperparameters={"max_features": 0}
        )
    assert str(raised.value.message) == (
        "Invalid value for the hyperparameter “max_features”: 0. Expected an integer ≥ 1, "
        "a decimal number > 0 and ≤ 1, one of “log2”, “sqrt” or None."
    )


def test_values_that_are_not_json_are_refused():
    with pytest.raises(ApplicationError) as raised:
        hyperparameters_validate(
            algorithm="KNeighborsClassifier", hyperparameters={"weights": lambda d: d}
        )
    assert "«weights»" in str(raised.value.message)


def test_plumbing_and_deprecated_parameters_are_not_offered_in_a_form():
    names = {spec.name for spec in ALGORITHMS["RandomForestClassifier"].tunable_parameters()}
    assert {"n_estimators", "max_depth", "max_features", "class_weight"} <= names
    assert not names & {"n_jobs", "verbose", "warm_start", "random_state", "monotonic_cst"}
    logistic = {spec.name for spec in ALGORITHMS["LogisticRegression"].tunable_parameters()}
    assert "penalty" not in logistic  # deprecated: its default is a hidden option
    assert "C" in logistic


def test_a_spec_reads_bounds_choices_booleans_and_none_from_the_constraints():
    forest = ALGORITHMS["RandomForestClassifier"].parameters()
    depth = forest["max_depth"]
    assert (depth.kind, depth.default, depth.allows_none) == ("number", None, True)
    assert depth.numbers == (NumberRange(INT, 1, None, "left"),)
    features = forest["max_features"]
    assert features.numbers == (
        NumberRange(INT, 1, None, "left"),
        NumberRange(FLOAT, 0.0, 1.0, "right", integers=False),
    )
    assert features.choices == ("log2", "sqrt")
    early = ALGORITHMS["HistGradientBoostingClassifier"].parameters()["early_stopping"]
    assert (early.kind, early.choices, early.allows_bool, early.allows_none) == (
        "choice",
        ("auto",),
        True,
        False,
    )
    intercept = ALGORITHMS["LinearRegression"].parameters()["fit_intercept"]
    assert (intercept.kind, intercept.default, intercept.numbers) == ("boolean", True, ())
