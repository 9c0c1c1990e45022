import pytest

from cauce.sweeps.models import Sweep
from tests.fixtures.data import IRIS_FEATURES


def sweep_body(project, dataset, **changes) -> dict:
    body = {
        "project": project.pk,
        "dataset": dataset.pk,
        "name": "Barrido iris",
        "target_column": "species",
        "feature_columns": IRIS_FEATURES,
        "algorithm": "DecisionTreeClassifier",
        "search_space": {
            "max_depth": {"type": "int", "low": 1, "high": 4},
            "criterion": {"type": "categorical", "choices": ["gini", "entropy"]},
        },
        "fixed_hyperparameters": {},
        "metric": "accuracy",
        "direction": "maximize",
        "n_trials": 8,
        "sampler": "grid",
        "cv_folds": 0,
        "seed": 7,
        "tags": ["barrido", "iris"],
    }
    body.update(changes)
    return body


@pytest.fixture
def sweep(project, iris_dataset, owner):
    return Sweep.objects.create(
        project=project,
        dataset=iris_dataset,
        name="Existente",
        target_column="species",
        feature_columns=IRIS_FEATURES,
        task_type="classification",
        algorithm="DecisionTreeClassifier",
        search_space={"max_depth": {"type": "int", "low": 1, "high": 4, "log": False}},
        metric="accuracy",
        direction="maximize",
        n_trials=4,
        sampler="grid",
        created_by=owner,
    )
