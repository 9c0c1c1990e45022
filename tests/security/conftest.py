"""Objects for the security suite: one of each kind, in the fixture project (see tests/fixtures)."""

import pytest
from django.utils import timezone

from cauce.experiments import services as experiment_services
from cauce.monitoring.models import Alert
from cauce.registry.models import PredictionJob, RegisteredModel
from cauce.sweeps.models import Sweep


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def objects(media_root, project, iris_dataset, editor):
    """A dataset, an experiment with a (fake) MLflow run, a registered model and a job.

    No MLflow is needed: every view checks permissions before it calls MLflow.
    """
    experiment = experiment_services.experiment_create(
        project=project,
        user=editor,
        name="Iris base",
        dataset=iris_dataset,
        target_column="species",
        algorithm="LogisticRegression",
        tags=["base"],
    )
    type(experiment).objects.filter(pk=experiment.pk).update(
        status="FINISHED", mlflow_experiment_id="17", mlflow_run_id="0" * 32
    )
    experiment.refresh_from_db()
    model = RegisteredModel.objects.create(project=project, name="iris-clasificador")
    job = PredictionJob.objects.create(
        registered_model=model, version=1, source=PredictionJob.Source.JSON
    )
    alert = Alert.objects.create(
        project=project, registered_model=model, version=1, window="24h", kind="drift",
        feature="sepal_length", created_at=timezone.now(),
    )  # fmt: skip
    # A finished sweep: cancel and promote are refused before any state is looked at.
    sweep = Sweep.objects.create(
        project=project,
        dataset=iris_dataset,
        name="Barrido base",
        target_column="species",
        task_type="classification",
        algorithm="LogisticRegression",
        search_space={"C": {"type": "float", "low": 0.01, "high": 10, "log": True}},
        metric="f1_macro",
        direction=Sweep.Direction.MAXIMIZE,
        n_trials=4,
        sampler=Sweep.Sampler.TPE,
        status=Sweep.Status.FINISHED,
        best_number=0,
        best_value=0.9,
        best_params={"C": 1.0},
        created_by=editor,
    )
    return {
        "project": project,
        "sweep": sweep,
        "dataset": iris_dataset,
        "experiment": experiment,
        "model": model,
        "job": job,
        "alert": alert,
        "member": editor,
    }
