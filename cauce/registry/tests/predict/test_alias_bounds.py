"""Which version an alias names, remembered by each web process: the bounds it keeps.

Against a real MLflow server. Each web process remembers a resolution for
``REGISTRY_ALIAS_TTL_SECONDS``; an alias moved (or removed, or a version deleted) through
Cauce is followed by the next call of every process, one moved in MLflow directly once the
TTL has passed. Two processes are two separate memories (``_resolutions``), sharing the
database as two web processes do.
"""

import time
from collections import OrderedDict

import pytest

from cauce.registry import services as registry_services
from cauce.registry.predict import selectors as predict_selectors
from tests.fixtures.mlflow_server import free_port

IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture
def rows(trained_models):
    frame = trained_models["iris"].frame[IRIS].head(3)
    return {"dataframe_split": {"columns": IRIS, "data": frame.values.tolist()}}


@pytest.fixture
def predict(viewer_api, rows):
    def call(model, query="alias=champion"):
        return viewer_api.post(f"/api/models/{model.name}/predict/?{query}", rows, format="json")

    return call


@pytest.fixture
def two_versions(served, mlflow_registry):
    """A model with versions 1 and 2 (the same run), its alias ``champion`` on the first."""
    model, first = served("iris")
    _model, second = served("iris", name=model.name)
    mlflow_registry.set_registered_model_alias(model.name, "champion", first)
    return model, first, second


@pytest.fixture
def long_ttl(settings):
    settings.REGISTRY_ALIAS_TTL_SECONDS = 3600


@pytest.fixture
def process_b(monkeypatch):
    """run(call) runs ``call`` as a second web process would: with its own memory."""
    own_memory: OrderedDict = OrderedDict()

    def run(call):
        with monkeypatch.context() as patch:
            patch.setattr(predict_selectors, "_resolutions", own_memory)
            return call()

    return run


def _version(response) -> int:
    assert response.status_code == 200, response.json()
    return response.json()["version"]


def test_an_alias_moved_through_cauce_is_followed_by_the_next_call_of_every_process(
    long_ttl, two_versions, predict, process_b
):
    model, first, second = two_versions
    assert _version(predict(model)) == first
    assert _version(process_b(lambda: predict(model))) == first

    process_b(lambda: registry_services.alias_set(model=model, alias="champion", version=second))

    assert _version(predict(model)) == second
    assert _version(process_b(lambda: predict(model))) == second


def test_an_alias_removed_through_cauce_is_gone_at_the_next_call(long_ttl, two_versions, predict):
    model, first, _second = two_versions
    assert _version(predict(model)) == first

    registry_services.alias_delete(model=model, alias="champion")

    response = predict(model)
    assert response.status_code == 404
    assert "champion" in response.json()["message"]


def test_a_version_deleted_through_cauce_is_not_predicted_with_again(
    long_ttl, two_versions, predict
):
    model, _first, second = two_versions
    assert _version(predict(model, f"version={second}")) == second

    registry_services.model_version_delete(model=model, version=second)

    assert predict(model, f"version={second}").status_code == 404


def test_an_alias_moved_in_mlflow_directly_is_followed_once_the_ttl_has_passed(
    settings, long_ttl, two_versions, predict, mlflow_registry
):
    model, first, second = two_versions
    assert _version(predict(model)) == first

    mlflow_registry.set_registered_model_alias(model.name, "champion", second)
    remembered = predict(model)
    settings.REGISTRY_ALIAS_TTL_SECONDS = 0.05
    time.sleep(0.1)  # past the TTL
    followed = predict(model)

    assert (_version(remembered), _version(followed)) == (first, second)


def test_a_remembered_resolution_predicts_without_asking_mlflow(
    settings, long_ttl, two_versions, predict
):
    model, first, _second = two_versions
    assert _version(predict(model)) == first
    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{free_port()}"  # MLflow gone

    assert _version(predict(model)) == first
    settings.REGISTRY_ALIAS_TTL_SECONDS = 0  # every call asks MLflow
    assert predict(model).status_code == 503


def test_a_refused_version_is_not_remembered(long_ttl, served, predict, mlflow_registry):
    """Only versions that passed the checks are remembered: a refusal is asked again."""
    model, version = served("iris", source_project=None)  # registered outside Cauce
    mlflow_registry.set_registered_model_alias(model.name, "champion", version)
    assert predict(model).status_code == 403

    assert predict(model).status_code == 403
    assert not predict_selectors._resolutions
