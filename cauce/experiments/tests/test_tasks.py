"""The Celery task: retries while MLflow is down, then a clear error; no orphan runs.

The task runs in this process through ``Task.apply`` (Celery's eager path, retries included:
each retry runs at once, the countdown is not waited for).
"""

import pytest
from django.utils import timezone
from mlflow.tracking import MlflowClient

from cauce.experiments.models import MLExperiment
from cauce.experiments.runner import experiment_execute
from cauce.experiments.tasks import run_full_experiment_pipeline_task
from cauce.experiments.tests.runner_support import queued_experiment
from cauce.integrations.mlflow import MlflowUnavailable, tracking

Status = MLExperiment.Status

# The runner runs in workers: under the worker's MLflow profile, as there.
pytestmark = pytest.mark.usefixtures("worker_profile")


@pytest.fixture(autouse=True)
def _short_retries(settings):
    settings.EXPERIMENT_MLFLOW_RETRIES = 2
    settings.EXPERIMENT_MLFLOW_RETRY_DELAY = 0
    # No heartbeat writes from another connection inside the test transaction.
    settings.EXPERIMENT_HEARTBEAT_SECONDS = 3600


def test_it_retries_while_mlflow_is_down_then_fails_with_a_clear_message(mlflow_down, iris_dataset):
    experiment = queued_experiment(iris_dataset)

    run_full_experiment_pipeline_task.apply(args=[str(experiment.pk)])

    experiment.refresh_from_db()
    assert experiment.status == Status.ERROR
    assert experiment.error.startswith(f"MLflow no disponible: el servidor {mlflow_down} no")
    assert "vuelva a ejecutarlo cuando MLflow esté en marcha" in experiment.error
    assert experiment.attempts == 3  # the first try and two retries
    assert experiment.stage == ""
    assert experiment.mlflow_run_id == ""
    assert experiment.finished_at is not None


def test_it_requeues_the_experiment_as_retrying_when_mlflow_is_down(mlflow_down, iris_dataset):
    experiment = queued_experiment(iris_dataset)

    with pytest.raises(MlflowUnavailable):
        experiment_execute(experiment_id=str(experiment.pk), retry_on_unavailable=True)

    experiment.refresh_from_db()
    assert experiment.status == Status.QUEUED
    assert experiment.stage == MLExperiment.Stage.RETRYING
    assert experiment.attempts == 1
    assert experiment.error == ""


def test_a_retry_ends_the_run_left_running_by_the_attempt_before(mlflow, iris_dataset):
    mlflow_experiment_id = tracking.experiment_ensure(
        name=iris_dataset.project.mlflow_experiment_name
    )
    orphan = tracking.run_create(experiment_id=mlflow_experiment_id, run_name="a", tags={})
    experiment = queued_experiment(
        iris_dataset,
        stage=MLExperiment.Stage.RETRYING,
        attempts=1,
        mlflow_run_id=orphan,
        heartbeat_at=timezone.now(),
    )

    run_full_experiment_pipeline_task.apply(args=[str(experiment.pk)])

    experiment.refresh_from_db()
    assert experiment.status == Status.FINISHED, experiment.error
    assert experiment.attempts == 2
    client = MlflowClient(tracking_uri=mlflow)
    assert client.get_run(orphan).info.status == "FAILED"
    assert client.get_run(experiment.mlflow_run_id).info.status == "FINISHED"
    running = client.search_runs([mlflow_experiment_id], "attributes.status = 'RUNNING'")
    assert [run.info.run_id for run in running] == []
