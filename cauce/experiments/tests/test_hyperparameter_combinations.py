"""Values scikit-learn takes one by one but refuses at fit: walked for every algorithm."""

import itertools

import pytest

from cauce.core.exceptions import ApplicationError
from cauce.experiments.pipeline.algorithms import ALGORITHMS, hyperparameters_validate
from cauce.experiments.pipeline.combinations import training_conflict
from cauce.experiments.tests.fit_support import TARGETS, X, fails_at_fit, walk_values


def _refused(algorithm, hyperparameters) -> bool:
    """Refused by the form's and API's validation, or before fitting this data."""
    try:
        hyperparameters_validate(algorithm=algorithm.name, hyperparameters=hyperparameters)
    except ApplicationError as error:
        assert error.extra["parameter"] in hyperparameters
        return True
    estimator = algorithm.estimator_class()(**hyperparameters)
    y = TARGETS[algorithm.task_type]
    return training_conflict(estimator, y=y, feature_count=lambda: X.shape[1]) is not None


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_a_combination_is_refused_exactly_when_scikit_learn_s_fit_fails(name):
    """Every value alone and every pair of values of the parameters a form offers (with the
    defaults of the others): refused before training exactly when fit or predict fails."""
    algorithm = ALGORITHMS[name]
    values = {spec.name: walk_values(spec) for spec in algorithm.tunable_parameters()}
    alone = [{name: value} for name, options in values.items() for value in options]
    pairs = [
        {first: a, second: b}
        for first, second in itertools.combinations(values, 2)
        for a in values[first]
        for b in values[second]
    ]
    wrong = [
        hyperparameters
        for hyperparameters in [*alone, *pairs]
        if _refused(algorithm, hyperparameters) != fails_at_fit(algorithm, hyperparameters)
    ]
    assert not wrong, wrong


THREE_CLASSES = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
NEGATIVE = X[:, 0] * 2


@pytest.mark.parametrize(
    ("name", "hyperparameters", "y", "parameter"),
    [
        ("RandomForestRegressor", {"criterion": "poisson", "n_estimators": 2}, NEGATIVE,
         "criterion"),
        ("DecisionTreeRegressor", {"criterion": "poisson"}, NEGATIVE, "criterion"),
        ("HistGradientBoostingRegressor", {"loss": "gamma", "max_iter": 2}, NEGATIVE, "loss"),
        ("HistGradientBoostingRegressor", {"loss": "poisson", "max_iter": 2}, NEGATIVE, "loss"),
        ("LogisticRegression", {"solver": "liblinear"}, THREE_CLASSES, "solver"),
        ("GradientBoostingClassifier", {"loss": "exponential", "n_estimators": 2}, THREE_CLASSES,
         "loss"),
        ("KNeighborsClassifier", {"n_neighbors": 61}, TARGETS["classification"], "n_neighbors"),
        ("KNeighborsClassifier", {"metric": "haversine"}, TARGETS["classification"], "metric"),
        ("GradientBoostingClassifier",
         {"n_iter_no_change": 2, "validation_fraction": 0.01, "n_estimators": 2},
         THREE_CLASSES, "validation_fraction"),
        ("HistGradientBoostingRegressor",
         {"early_stopping": True, "validation_fraction": 0.999, "max_iter": 2},
         TARGETS["regression"], "validation_fraction"),
    ],
)  # fmt: skip
def test_what_fails_with_this_data_is_refused_before_fitting_naming_the_field(
    name, hyperparameters, y, parameter
):
    """Each case fails in scikit-learn's fit or predict with this data, and works with the
    walk's data (a positive target, two classes, enough rows, two columns for haversine)."""
    algorithm = ALGORITHMS[name]
    estimator = algorithm.estimator_class()(**hyperparameters)
    columns = 2 if hyperparameters.get("metric") == "haversine" else X.shape[1]

    conflict = training_conflict(estimator, y=y, feature_count=lambda: X.shape[1])
    fine = training_conflict(
        estimator, y=TARGETS[algorithm.task_type], feature_count=lambda: columns
    )

    assert conflict is not None and conflict.parameter == parameter
    assert f"«{parameter}»" in conflict.message
    with pytest.raises((ValueError, TypeError)):
        fitted = estimator.fit(X, y)
        fitted.predict(X[:5])
    if fine is None:
        estimator.fit(X[:, :columns], TARGETS[algorithm.task_type]).predict(X[:5, :columns])


def test_a_training_refuses_it_before_fitting_with_the_field_in_the_error():
    import pandas as pd

    from cauce.experiments.pipeline.data import ColumnGroups
    from cauce.experiments.pipeline.model import model_build, model_fit

    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = model_build(
        algorithm=ALGORITHMS["KNeighborsClassifier"],
        hyperparameters={"metric": "haversine"},
        groups=ColumnGroups(numeric=["a", "b", "c"]),
        random_state=0,
    )
    with pytest.raises(ApplicationError) as refused:
        model_fit(model, frame, pd.Series(TARGETS["classification"]))
    assert refused.value.extra == {"parameter": "metric"}
    assert "el modelo recibe 3" in str(refused.value.message)
