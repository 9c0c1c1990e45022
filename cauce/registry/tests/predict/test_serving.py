"""The serving adapter against a real MLflow server: loading, the cache, predictions."""

import numpy as np
import pytest
import sklearn
from mlflow.pyfunc import load_model
from mlflow.tracking._tracking_service.utils import _use_tracking_uri

from cauce.integrations.mlflow import MlflowNotFound, MlflowUnavailable, serving
from cauce.integrations.mlflow.serving import InputColumn
from cauce.registry.predict import frames


def _rows(trained, count=10):
    return trained.frame[trained.features].head(count)


def test_a_loaded_version_predicts_what_the_model_itself_predicts(trained_models, register):
    iris = trained_models["iris"]
    name, version = register(iris)

    model = serving.served_model_get(name=name, version=version)
    output = serving.model_predict(model=model, frame=_rows(iris), probabilities=True)

    with _use_tracking_uri(serving.tracking_uri()):
        own = load_model(f"models:/{name}/{version}")
    estimator = own.get_raw_model()
    assert output.predictions == own.predict(_rows(iris)).tolist()
    assert output.classes == ["setosa", "versicolor", "virginica"]
    assert output.probabilities == estimator.predict_proba(_rows(iris)).tolist()
    assert model.inputs == tuple(InputColumn(n, "double", True) for n in iris.features)


def test_text_and_boolean_columns_with_gaps_are_converted_and_predicted(trained_models, register):
    messy = trained_models["messy"]
    name, version = register(messy)
    model = serving.served_model_get(name=name, version=version)
    raw = messy.frame[messy.features].head(30).astype(object)
    as_text = raw.map(lambda value: None if value != value else str(value))

    checked = frames.input_check(as_text, inputs=model.inputs)
    output = serving.model_predict(model=model, frame=checked.frame, probabilities=True)

    expected = model._pyfunc.predict(raw)
    assert output.predictions == expected.tolist()
    assert len(output.probabilities) == 30
    assert output.classes == ["barato", "caro"]
    assert {column.type for column in model.inputs} == {"double", "string", "boolean"}


def test_a_regressor_gives_no_probabilities(trained_models, register):
    price = trained_models["price"]
    name, version = register(price)
    model = serving.served_model_get(name=name, version=version)

    output = serving.model_predict(model=model, frame=_rows(price), probabilities=True)

    assert model.has_probabilities is False
    assert output.probabilities is None
    assert all(isinstance(value, float) for value in output.predictions)


def test_the_cache_holds_at_most_its_size_and_drops_the_least_recently_used(
    settings, trained_models, register
):
    settings.REGISTRY_MODEL_CACHE_SIZE = 2
    iris = trained_models["iris"]
    name, first = register(iris)
    _, second = register(iris, name)
    _, third = register(iris, name)

    a = serving.served_model_get(name=name, version=first)
    serving.served_model_get(name=name, version=second)
    assert serving.served_model_get(name=name, version=first) is a  # a hit, now most recent
    serving.served_model_get(name=name, version=third)

    assert serving.served_models_cached() == [(name, first), (name, third)]
    assert serving.served_model_get(name=name, version=first) is a
    reloaded = serving.served_model_get(name=name, version=second)
    assert reloaded.version == second
    assert serving.served_models_cached() == [(name, first), (name, second)]


def test_an_unknown_version_is_not_found(trained_models, register):
    name, _version = register(trained_models["iris"])

    with pytest.raises(MlflowNotFound):
        serving.served_model_get(name=name, version=99)
    assert serving.served_models_cached() == []


def test_mlflow_down_is_unavailable_and_nothing_is_cached(mlflow_down):
    with pytest.raises(MlflowUnavailable):
        serving.served_model_get(name="cualquiera", version=1)

    assert serving.served_models_cached() == []


def test_a_cached_model_predicts_while_mlflow_is_down(settings, trained_models, register):
    iris = trained_models["iris"]
    name, version = register(iris)
    model = serving.served_model_get(name=name, version=version)
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"

    output = serving.model_predict(model=serving.served_model_get(name=name, version=version),
                                   frame=_rows(iris, 3))  # fmt: skip

    assert len(output.predictions) == 3
    assert np.asarray(output.predictions).dtype.kind == "U"
    assert serving.served_models_cached() == [(name, version)]
    assert model is serving.served_model_get(name=name, version=version)


def test_only_a_model_saved_by_another_scikit_learn_is_reported_in_the_log(
    trained_models, register, caplog
):
    name, version = register(trained_models["iris"])
    uri = f"models:/{name}/{version}"
    with caplog.at_level("WARNING", logger=serving.logger.name):
        model = serving.served_model_get(name=name, version=version)
        model._pyfunc.metadata.flavors["sklearn"]["sklearn_version"] = "0.1.0"
        serving._warn_version_mismatch(uri, model._pyfunc)

    assert [r.getMessage() for r in caplog.records if r.name == serving.logger.name] == [
        f"Model {uri} was saved with scikit-learn 0.1.0; this process has {sklearn.__version__}"
    ]


def test_a_loaded_model_is_found_in_the_cache_without_loading_anything_else(
    trained_models, register
):
    name, version = register(trained_models["iris"])

    assert serving.served_model_cached(name=name, version=version) is None
    model = serving.served_model_get(name=name, version=version)

    assert serving.served_model_cached(name=name, version=version) is model
    assert serving.served_models_cached() == [(name, version)]


def test_rows_checked_exactly_skip_mlflows_second_schema_check_and_predict_the_same(
    trained_models, register, monkeypatch
):
    import mlflow.pyfunc

    iris = trained_models["iris"]
    name, version = register(iris)
    model = serving.served_model_get(name=name, version=version)
    checked = frames.input_check(_rows(iris).reset_index(drop=True), inputs=model.inputs)
    assert frames.frame_is_exact(checked.frame, model.inputs)
    validated = []
    real_validate = mlflow.pyfunc._validate_prediction_input

    def spy(*args, **kwargs):
        validated.append(True)
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(mlflow.pyfunc, "_validate_prediction_input", spy)

    exact = serving.model_predict(model=model, frame=checked.frame, exact=True)
    assert validated == []
    enforced = serving.model_predict(model=model, frame=checked.frame)
    assert validated == [True]
    assert exact.predictions == enforced.predictions
    # A frame that is not exactly the signature is never declared so.
    assert not frames.frame_is_exact(checked.frame[list(reversed(iris.features))], model.inputs)
