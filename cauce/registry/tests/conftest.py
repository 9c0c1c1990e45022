"""Experiments whose MLflow run has a logged model, ready to register (real MLflow server)."""

import itertools
import json

import pytest
import yaml
from mlflow.tracking import MlflowClient

from cauce.experiments.models import MLExperiment


def mlmodel_bytes(columns: dict[str, str]) -> bytes:
    """An MLmodel file whose input signature has ``columns`` ({name: type})."""
    inputs = [{"type": kind, "name": name, "required": True} for name, kind in columns.items()]
    outputs = [{"type": "string", "required": True}]
    document = {
        "artifact_path": "model",
        "flavors": {"python_function": {"loader_module": "mlflow.sklearn"}},
        "signature": {"inputs": json.dumps(inputs), "outputs": json.dumps(outputs)},
    }
    return yaml.safe_dump(document).encode()


IRIS_COLUMNS = {
    "sepal_length": "double",
    "sepal_width": "double",
    "petal_length": "double",
    "petal_width": "double",
}


@pytest.fixture
def mlflow_client(mlflow) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow)


@pytest.fixture
def finished_experiment(make_run_experiment, mlflow):
    """make(name=..., metrics=..., columns=..., for_project=...) -> a FINISHED MLExperiment
    whose run has a logged model (an MLmodel with that input signature)."""

    # Each experiment of a test gets its own n_estimators: 10, 20, 30...
    n_estimators = itertools.count(10, 10)

    def make(name="Iris base", metrics=None, columns=None, for_project=None):
        experiment = make_run_experiment(
            {"notes.txt": b"run"},
            name=name,
            for_project=for_project,
            model_files={"MLmodel": mlmodel_bytes(columns or IRIS_COLUMNS)},
        )
        metrics = metrics if metrics is not None else {"f1_macro": 0.9, "accuracy": 0.91}
        # What the worker leaves: the metrics in the run and on the experiment.
        client = MlflowClient(tracking_uri=mlflow)
        for key, value in metrics.items():
            client.log_metric(experiment.mlflow_run_id, key, value)
        client.log_param(experiment.mlflow_run_id, "n_estimators", str(next(n_estimators)))
        MLExperiment.objects.filter(pk=experiment.pk).update(metrics=metrics)
        experiment.refresh_from_db()
        return experiment

    return make


@pytest.fixture(autouse=True)
def _empty_registry(request):
    """The session's MLflow server outlives each test's database: start every registry test
    with an empty model registry, so names and version numbers mean the same in each test."""
    if "mlflow" not in request.fixturenames:
        yield
        return
    client = MlflowClient(tracking_uri=request.getfixturevalue("mlflow"))
    for model in client.search_registered_models(max_results=1000):
        client.delete_registered_model(model.name)
    yield
