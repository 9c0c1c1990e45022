"""Whole training runs on the shared fixture data: metrics, files and feature names."""

import io
import json

import pandas as pd
import pytest

from cauce.core.exceptions import ApplicationError
from cauce.datasets.inference import load_dataframe
from cauce.experiments.pipeline.training import TrainingSpec, training_run

CLASSIFICATION_METRICS = {"accuracy", "precision_macro", "recall_macro", "f1_macro"}
REGRESSION_METRICS = {"r2", "mae", "rmse"}
MESSY_FEATURES = ["age", "income", "city", "member"]


def _csv(content: bytes) -> pd.DataFrame:
    return load_dataframe(io.BytesIO(content), file_format="csv", encoding="utf-8", delimiter=",")


@pytest.fixture
def iris(iris_csv_bytes):
    return _csv(iris_csv_bytes)


@pytest.fixture
def messy(messy_csv_bytes):
    return _csv(messy_csv_bytes)


def _files(directory) -> set[str]:
    return {str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file()}


def _is_png(path) -> bool:
    content = path.read_bytes()
    return content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) > 5000


def test_it_trains_and_evaluates_an_iris_random_forest(iris, tmp_path):
    stages = []
    result = training_run(
        iris,
        spec=TrainingSpec(
            target="species",
            features=[],
            task_type="classification",
            algorithm="RandomForestClassifier",
            hyperparameters={"n_estimators": 25},
            random_state=0,
        ),
        output_dir=tmp_path,
        on_stage=stages.append,
    )
    assert stages == ["training", "evaluating"]
    assert CLASSIFICATION_METRICS | {"roc_auc"} == set(result.metrics)
    assert result.metrics["accuracy"] > 0.8
    assert 0.9 < result.metrics["roc_auc"] <= 1
    assert result.model.named_steps["model"].n_estimators == 25
    assert result.model.named_steps["model"].random_state == 0
    assert _files(tmp_path) == {
        "plots/confusion_matrix.png",
        "plots/feature_importance.png",
        "data/test_predictions.csv",
        "data/feature_importance.csv",
        "metrics.json",
    }
    assert set(result.files) == _files(tmp_path)
    assert _is_png(tmp_path / "plots/confusion_matrix.png")
    assert _is_png(tmp_path / "plots/feature_importance.png")
    predictions = pd.read_csv(tmp_path / "data/test_predictions.csv")
    assert len(predictions) == 30
    assert {"petal_width", "y_true", "y_pred"} <= set(predictions.columns)
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["metrics"] == pytest.approx(result.metrics)
    assert summary["train_metrics"] == pytest.approx(result.train_metrics)
    assert summary["rows_train"] == 120
    assert summary["classes"] == ["setosa", "versicolor", "virginica"]


def test_it_measures_the_same_metrics_on_the_training_rows(iris, messy, tmp_path):
    forest = training_run(
        iris,
        spec=TrainingSpec(
            target="species",
            features=[],
            task_type="classification",
            algorithm="RandomForestClassifier",
            hyperparameters={"n_estimators": 25},
            random_state=0,
        ),
        output_dir=tmp_path / "forest",
    )
    assert set(forest.train_metrics) == set(forest.metrics)
    # A forest of full-depth trees learns its training rows by heart: the gap shows it.
    assert forest.train_metrics["accuracy"] == 1.0
    assert forest.all_metrics["train_accuracy"] == 1.0
    assert forest.all_metrics["accuracy"] == forest.metrics["accuracy"]
    assert set(forest.all_metrics) == set(forest.metrics) | {
        f"train_{name}" for name in forest.metrics
    }
    regression = training_run(
        messy,
        spec=TrainingSpec(
            target="price",
            features=MESSY_FEATURES,
            task_type="regression",
            algorithm="LinearRegression",
        ),
        output_dir=tmp_path / "regression",
    )
    assert set(regression.train_metrics) == REGRESSION_METRICS
    assert regression.train_metrics["r2"] != regression.metrics["r2"]


def test_it_one_hot_encodes_text_and_imputes_gaps_in_messy_data(messy, tmp_path):
    assert messy[MESSY_FEATURES].isna().any().all()
    result = training_run(
        messy,
        spec=TrainingSpec(
            target="label",
            features=MESSY_FEATURES,
            task_type="classification",
            algorithm="LogisticRegression",
        ),
        output_dir=tmp_path,
    )
    assert result.metrics["accuracy"] > 0.7
    assert "roc_auc" in result.metrics  # binary: probability of the positive class
    assert result.feature_names[:2] == ["num__age", "num__income"]
    assert "cat__city_Madrid" in result.feature_names
    assert "cat__member_True" in result.feature_names
    importance = pd.read_csv(tmp_path / "data/feature_importance.csv")
    assert set(importance["feature"]) == set(result.feature_names)


def test_it_trains_a_regression_with_residuals_and_permutation_importance_for_knn(messy, tmp_path):
    result = training_run(
        messy,
        spec=TrainingSpec(
            target="price",
            features=MESSY_FEATURES,
            task_type="regression",
            algorithm="KNeighborsRegressor",
        ),
        output_dir=tmp_path,
    )
    assert set(result.metrics) == REGRESSION_METRICS
    assert result.metrics["rmse"] > 0
    assert result.metrics["mae"] <= result.metrics["rmse"]
    assert _files(tmp_path) == {
        "plots/residuals.png",
        "plots/feature_importance.png",
        "data/test_predictions.csv",
        "data/feature_importance.csv",
        "metrics.json",
    }
    assert result.plots == ["plots/residuals.png", "plots/feature_importance.png"]
    assert _is_png(tmp_path / "plots/residuals.png")
    assert _is_png(tmp_path / "plots/feature_importance.png")
    # KNN has no importances of its own: measured by shuffling each input column.
    importance = pd.read_csv(tmp_path / "data/feature_importance.csv")
    assert list(importance.columns) == ["feature", "importance", "importance_std", "method"]
    assert set(importance["feature"]) == set(MESSY_FEATURES)
    assert set(importance["method"]) == {"permutation"}
    assert result.summary["feature_importance_method"] == "permutation"


@pytest.mark.parametrize(
    ("algorithm", "method"),
    [
        ("HistGradientBoostingClassifier", "permutation"),
        ("KNeighborsClassifier", "permutation"),
        ("RandomForestClassifier", "feature_importances_"),
        ("LogisticRegression", "abs_coef"),
    ],
)
def test_every_classifier_gets_an_importance_plot_and_csv_naming_its_method(
    iris, tmp_path, algorithm, method
):
    result = training_run(
        iris,
        spec=TrainingSpec(
            target="species", features=[], task_type="classification", algorithm=algorithm
        ),
        output_dir=tmp_path,
    )
    assert result.plots == ["plots/confusion_matrix.png", "plots/feature_importance.png"]
    assert _is_png(tmp_path / "plots/feature_importance.png")
    importance = pd.read_csv(tmp_path / "data/feature_importance.csv")
    assert set(importance["method"]) == {method}
    assert len(importance) == 4


def test_it_predicts_rows_with_unseen_categories_and_gaps(messy, tmp_path):
    result = training_run(
        messy,
        spec=TrainingSpec(
            target="price",
            features=MESSY_FEATURES,
            task_type="regression",
            algorithm="RandomForestRegressor",
            hyperparameters={"n_estimators": 10},
        ),
        output_dir=tmp_path,
    )
    unseen = pd.DataFrame(
        {
            "age": [None, 40.0],
            "income": [31000.0, None],
            "city": ["Lugo", None],
            "member": [None, "True"],
        }
    )
    assert len(result.model.predict(unseen)) == 2


def test_it_leaves_out_roc_auc_when_a_class_is_missing_from_the_test_rows(iris, tmp_path):
    iris.loc[0, "species"] = "rara"  # a single row: it lands in train or test, never both
    result = training_run(
        iris,
        spec=TrainingSpec(
            target="species",
            features=[],
            task_type="classification",
            algorithm="DecisionTreeClassifier",
            random_state=5,
        ),
        output_dir=tmp_path,
    )
    assert "roc_auc" not in result.metrics
    assert set(result.metrics) == CLASSIFICATION_METRICS


def test_it_rejects_an_algorithm_of_the_other_task_type(iris, tmp_path):
    spec = TrainingSpec(
        target="species", features=[], task_type="classification", algorithm="Ridge"
    )
    with pytest.raises(ApplicationError, match="no sirve para una tarea"):
        training_run(iris, spec=spec, output_dir=tmp_path)


def test_it_explains_a_hyperparameter_that_scikit_learn_refuses(iris, tmp_path):
    spec = TrainingSpec(
        target="species",
        features=[],
        task_type="classification",
        algorithm="RandomForestClassifier",
        hyperparameters={"n_estimators": -3},
    )
    with pytest.raises(ApplicationError, match="n_estimators"):
        training_run(iris, spec=spec, output_dir=tmp_path)


def test_permutation_importance_shuffles_fewer_rows_for_a_model_slow_to_predict():
    from cauce.experiments.pipeline.model import (
        PERMUTATION_BUDGET_SECONDS,
        PERMUTATION_MIN_ROWS,
        PERMUTATION_REPEATS,
        permutation_rows,
    )

    assert permutation_rows(rows=2000, columns=4, seconds_per_prediction=0.01) == 2000
    # 0.5 s per prediction of 2000 rows, 10 columns: 51 predictions must fit in the budget.
    rows = permutation_rows(rows=2000, columns=10, seconds_per_prediction=0.5)
    assert rows == int(2000 * PERMUTATION_BUDGET_SECONDS / (0.5 * (PERMUTATION_REPEATS * 10 + 1)))
    assert PERMUTATION_MIN_ROWS < rows < 2000
    assert (
        permutation_rows(rows=2000, columns=10, seconds_per_prediction=60) == PERMUTATION_MIN_ROWS
    )
