"""Real models for the prediction tests: trained once per session, registered per test.

Each model is trained by Cauce's own pipeline and logged by the adapter exactly as the
worker logs an experiment's model (cloudpickle, signature, input example). A test then
registers it under a fresh name with MLflow's client and, where it needs one, makes the
MLExperiment row that ties the run to a project.
"""

import io
import itertools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from django.test import override_settings
from mlflow.tracking import MlflowClient

from cauce.experiments.models import MLExperiment
from cauce.experiments.pipeline.training import TrainingSpec, training_run
from cauce.integrations.mlflow import client as mlflow_client
from cauce.integrations.mlflow import runs, serving, tracking
from cauce.registry.predict import selectors as predict_selectors
from tests.fixtures.artifacts import experiment_for_run

IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@dataclass(frozen=True)
class TrainedModel:
    run_id: str
    model_id: str
    model_uri: str
    mlflow_experiment_id: str
    features: list[str]
    frame: pd.DataFrame  # the whole training table (features and target)
    task_type: str
    algorithm: str


def _train_and_log(frame: pd.DataFrame, spec: TrainingSpec, experiment_id: str) -> TrainedModel:
    with tempfile.TemporaryDirectory() as tmp:
        result = training_run(frame, spec=spec, output_dir=Path(tmp))
    run_id = tracking.run_create(experiment_id=experiment_id, run_name=spec.algorithm, tags={})
    x_train = result.split.x_train
    logged = tracking.run_log_sklearn_model(
        run_id=run_id,
        experiment_id=experiment_id,
        model=result.model,
        input_example=x_train.head(5),
        signature_input=x_train,
        signature_output=result.predictions,
        pip_requirements=["scikit-learn", "pandas"],
    )
    runs.run_end(run_id=run_id)
    return TrainedModel(
        run_id=run_id,
        model_id=logged.model_id,
        model_uri=logged.model_uri,
        mlflow_experiment_id=experiment_id,
        features=list(x_train.columns),
        frame=frame,
        task_type=spec.task_type,
        algorithm=spec.algorithm,
    )


@pytest.fixture(scope="session")
def trained_models(mlflow_server, iris_csv_bytes, messy_csv_bytes) -> dict[str, TrainedModel]:
    """``iris`` (RandomForest, numbers), ``messy`` (LogisticRegression on numbers, text and
    booleans with gaps) and ``price`` (Ridge: a regressor, no probabilities)."""
    iris = pd.read_csv(io.BytesIO(iris_csv_bytes))
    messy = pd.read_csv(io.BytesIO(messy_csv_bytes))
    messy_features = ["age", "income", "city", "member"]
    with override_settings(MLFLOW_TRACKING_URI=mlflow_server):
        mlflow_client.reset_availability()
        experiment_id = tracking.experiment_ensure(name="cauce-predict-tests")
        specs = {
            "iris": (iris, TrainingSpec("species", IRIS_FEATURES, "classification",
                                        "RandomForestClassifier", {"n_estimators": 15})),
            "messy": (messy[[*messy_features, "label"]],
                      TrainingSpec("label", messy_features, "classification",
                                   "LogisticRegression")),
            "price": (messy[[*messy_features, "price"]],
                      TrainingSpec("price", messy_features, "regression", "Ridge")),
        }  # fmt: skip
        return {
            key: _train_and_log(frame, spec, experiment_id) for key, (frame, spec) in specs.items()
        }


_names = itertools.count(1)


@pytest.fixture(autouse=True)
def _empty_model_cache():
    serving.served_models_clear()
    predict_selectors.resolutions_forget()
    yield
    serving.served_models_clear()
    predict_selectors.resolutions_forget()


@pytest.fixture
def mlflow_registry(mlflow) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow)


@pytest.fixture
def register(mlflow_registry):
    """register(trained, name=None) -> (name, version): a new version of ``trained``."""

    def make(trained: TrainedModel, name: str | None = None) -> tuple[str, int]:
        name = name or f"predict-test-{next(_names)}-{trained.algorithm}"
        try:
            mlflow_registry.create_registered_model(name)
        except Exception as error:
            if "RESOURCE_ALREADY_EXISTS" not in str(error):
                raise
        version = mlflow_registry.create_model_version(
            name, trained.model_uri, run_id=trained.run_id, model_id=trained.model_id
        )
        return name, int(version.version)

    return make


@pytest.fixture
def experiment_of(db):
    """experiment_of(trained, project) -> the FINISHED MLExperiment of that run in project."""

    def make(trained: TrainedModel, project) -> MLExperiment:
        return experiment_for_run(
            project=project,
            mlflow_experiment_id=trained.mlflow_experiment_id,
            run_id=trained.run_id,
            name=f"Exp {trained.algorithm}",
            status=MLExperiment.Status.FINISHED,
            model_id=trained.model_id,
        )

    return make


@pytest.fixture
def served(trained_models, register, experiment_of, project):
    """served(key="iris", name=None, source_project=project) -> (RegisteredModel, version).

    A registered version of a trained model, owned by ``project``. Its run is an experiment
    of ``source_project`` (None: of no project, as a version registered outside Cauce).
    """
    from cauce.registry.models import RegisteredModel

    def make(key: str = "iris", *, name: str | None = None, source_project=project):
        trained = trained_models[key]
        name, version = register(trained, name)
        if source_project is not None:
            experiment_of(trained, source_project)
        model, _created = RegisteredModel.objects.get_or_create(
            name=name, defaults={"project": project, "created_by": project.created_by}
        )
        return model, version

    return make


@pytest.fixture
def viewer_api(api_client, viewer):
    api_client.force_authenticate(viewer)
    return api_client


@pytest.fixture
def media_root(settings, tmp_path):
    """Prediction jobs' files in this test's own folder, kept 7 days."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PREDICTION_RETENTION_DAYS = 7
    return settings.MEDIA_ROOT
