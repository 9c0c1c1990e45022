"""Objects for the security suite: one of each kind, in the fixture project (see tests/fixtures)."""

import pytest
from django.utils import timezone

from cauce.experiments import services as experiment_services
from cauce.monitoring.models import Alert
from cauce.registry.models import PredictionJob, RegisteredModel


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
    return {
        "project": project,
        "dataset": iris_dataset,
        "experiment": experiment,
        "model": model,
        "job": job,
        "alert": alert,
        "member": editor,
    }
