"""Checks, cleaning and split of the training data (no database, no MLflow)."""

import io

import numpy as np
import pandas as pd
import pytest

from cauce.core.exceptions import ApplicationError
from cauce.datasets.inference import load_dataframe
from cauce.experiments.pipeline.data import (
    training_columns_check,
    training_data_prepare,
    training_split,
)
from tests.fixtures.data import IRIS_FEATURES


def _csv(content: bytes) -> pd.DataFrame:
    return load_dataframe(io.BytesIO(content), file_format="csv", encoding="utf-8", delimiter=",")


@pytest.fixture
def iris(iris_csv_bytes):
    return _csv(iris_csv_bytes)


@pytest.fixture
def messy(messy_csv_bytes):
    return _csv(messy_csv_bytes)


def test_it_names_a_target_that_is_not_in_the_data():
    with pytest.raises(ApplicationError, match="La columna objetivo «especie» no está"):
        training_columns_check(columns=["a", "b"], target="especie", features=["a"])


def test_it_names_every_missing_feature():
    with pytest.raises(ApplicationError) as caught:
        training_columns_check(columns=["a", "t"], target="t", features=["a", "x", "y"])
    assert "«x», «y»" in str(caught.value)
    assert "no están en el conjunto de datos" in str(caught.value)


def test_it_rejects_the_target_as_a_feature():
    with pytest.raises(ApplicationError, match="no puede ser también una columna de entrada"):
        training_columns_check(columns=["a", "t"], target="t", features=["a", "t"])


def test_it_uses_every_other_column_when_no_features_are_given(iris):
    data = training_data_prepare(iris, target="species", features=[], task_type="classification")
    assert list(data.features.columns) == IRIS_FEATURES
    assert data.groups.numeric == IRIS_FEATURES


def test_it_groups_messy_columns_by_kind(messy):
    data = training_data_prepare(
        messy,
        target="label",
        features=["age", "income", "city", "member"],
        task_type="classification",
    )
    assert data.groups.numeric == ["age", "income"]
    assert data.groups.categorical == ["city", "member"]
    assert data.groups.dropped == []


def test_it_drops_rows_without_a_target_and_counts_them(iris):
    iris.loc[[0, 5, 60], "species"] = None
    data = training_data_prepare(iris, target="species", features=[], task_type="classification")
    assert data.rows_total == 150
    assert data.rows_dropped_missing_target == 3
    assert len(data.features) == len(data.target) == 147


def test_it_leaves_out_datetime_and_empty_columns(iris):
    iris["measured_on"] = pd.date_range("2024-01-01", periods=len(iris)).strftime("%Y-%m-%d")
    iris["blank"] = np.nan
    frame = _csv(iris.to_csv(index=False).encode())
    data = training_data_prepare(frame, target="species", features=[], task_type="classification")
    assert data.groups.dropped == ["measured_on", "blank"]
    assert "measured_on" not in data.groups.used


def test_it_rejects_a_classification_target_with_one_class(iris):
    iris["species"] = "setosa"
    with pytest.raises(ApplicationError, match="tiene una sola clase"):
        training_data_prepare(iris, target="species", features=[], task_type="classification")


def test_it_rejects_a_continuous_target_for_classification(messy):
    with pytest.raises(ApplicationError, match="valores continuos"):
        training_data_prepare(messy, target="price", features=["age"], task_type="classification")


def test_it_rejects_a_text_target_for_regression(messy):
    with pytest.raises(ApplicationError, match="no es numérica"):
        training_data_prepare(messy, target="label", features=["age"], task_type="regression")


def test_it_rejects_too_few_rows_with_a_target(iris):
    iris.loc[4:, "species"] = None
    with pytest.raises(ApplicationError, match=r"muy pocas filas .*\(4 de 150\)"):
        training_data_prepare(iris, target="species", features=[], task_type="classification")


def test_it_rejects_a_split_that_leaves_nothing_to_train_on(iris):
    data = training_data_prepare(
        iris.head(6), target="sepal_length", features=["petal_width"], task_type="regression"
    )
    with pytest.raises(ApplicationError, match="no quedan filas suficientes"):
        training_split(data, test_size=0.9, random_state=1, task_type="regression")


@pytest.mark.parametrize("test_size", [0, 1, 1.5, -0.2])
def test_it_rejects_a_test_size_outside_zero_and_one(iris, test_size):
    data = training_data_prepare(iris, target="species", features=[], task_type="classification")
    with pytest.raises(ApplicationError, match="entre 0 y 1"):
        training_split(data, test_size=test_size, random_state=1, task_type="classification")


def test_it_stratifies_when_every_class_has_two_rows(iris):
    data = training_data_prepare(iris, target="species", features=[], task_type="classification")
    split = training_split(data, test_size=0.2, random_state=3, task_type="classification")
    assert split.stratified
    assert (split.y_test.value_counts() == 10).all()
    assert len(split.x_train) == 120


def test_it_splits_plainly_when_a_class_has_a_single_row(iris):
    iris.loc[0, "species"] = "rara"
    data = training_data_prepare(iris, target="species", features=[], task_type="classification")
    split = training_split(data, test_size=0.2, random_state=3, task_type="classification")
    assert not split.stratified
    assert len(split.x_test) == 30
