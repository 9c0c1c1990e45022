"""Fixtures of the experiments' service, page and API tests (helpers: web_support.py)."""

from pathlib import Path

import pytest
from celery.signals import before_task_publish

from cauce.experiments.models import MLExperiment
from cauce.experiments.tasks import run_full_experiment_pipeline_task
from cauce.experiments.tests.compare_support import experiments_for_runs, runs_log
from cauce.experiments.tests.web_support import create_experiment
from cauce.integrations.mlflow import client as mlflow_client


@pytest.fixture
def media_root(settings, tmp_path) -> Path:
    """Each test stores dataset files in its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def experiment(media_root, project, iris_dataset, editor) -> MLExperiment:
    """A DRAFT classification experiment on Iris, tagged "base", made by the editor."""
    return create_experiment(project=project, dataset=iris_dataset, user=editor)


@pytest.fixture
def published(settings) -> list[dict]:
    """Messages sent to the broker for the experiment task: [{"args": ..., "queue": ...}].

    The embedded broker's folders are made as ``make run`` (or a worker) makes them.
    """
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        for folder in settings.CELERY_BROKER_TRANSPORT_OPTIONS.values():
            if isinstance(folder, str):
                Path(folder).mkdir(parents=True, exist_ok=True)
    sent: list[dict] = []

    def record(sender=None, body=None, routing_key=None, **_kwargs):
        if sender == run_full_experiment_pipeline_task.name:
            sent.append({"args": list(body[0]), "queue": routing_key})

    before_task_publish.connect(record, weak=False)
    yield sent
    before_task_publish.disconnect(record)


@pytest.fixture
def worker_profile(settings):
    """MLflow's client settings of a worker (``worker_init`` sets them there), as the runner's
    code has in production; the web's profile is back afterwards for the other tests."""
    mlflow_client.use_worker_profile()
    yield
    mlflow_client.use_web_profile()


@pytest.fixture
def end_runs(mlflow_server, db):
    """Ends, after the test, the MLflow runs its experiments left RUNNING (other tests of the
    session look for RUNNING runs in the same MLflow experiment, which a project of a later
    test may share: its name comes from the project's id): the recorded runs, and those of an
    attempt that never reached the database, found by their ``cauce.experiment_id`` tag."""
    yield
    from mlflow.tracking import MlflowClient

    from cauce.experiments.tag_sync import EXPERIMENT_ID_TAG
    from cauce.projects.models import Project

    client = MlflowClient(tracking_uri=mlflow_server)
    run_ids = set(
        MLExperiment.objects.exclude(mlflow_run_id="").values_list("mlflow_run_id", flat=True)
    )
    experiment_ids = {str(pk) for pk in MLExperiment.objects.values_list("pk", flat=True)}
    mlflow_experiments = [
        client.get_experiment_by_name(project.mlflow_experiment_name)
        for project in Project.objects.all()
    ]
    mlflow_experiment_ids = [found.experiment_id for found in mlflow_experiments if found]
    if mlflow_experiment_ids and experiment_ids:
        for run in client.search_runs(mlflow_experiment_ids, "attributes.status = 'RUNNING'"):
            if run.data.tags.get(EXPERIMENT_ID_TAG) in experiment_ids:
                run_ids.add(run.info.run_id)
    for run_id in sorted(run_ids):
        run = client.get_run(run_id)
        if run.info.status == "RUNNING" and run.info.lifecycle_stage == "active":
            client.set_terminated(run_id, status="FINISHED")


@pytest.fixture(scope="module")
def few_runs(mlflow_server):
    """Three finished runs in the real MLflow (p0 = 0, 1, 2; rmse = 1, 2, 3), logged once."""
    from mlflow.tracking import MlflowClient

    return runs_log(
        MlflowClient(tracking_uri=mlflow_server), experiment_name="compare-few", count=3
    )


@pytest.fixture
def three(mlflow, few_runs, project, iris_dataset, editor):
    """Experiments "Exp 000" to "Exp 002" of ``project`` on the three runs."""
    mlflow_experiment_id, runs = few_runs
    return experiments_for_runs(
        project=project,
        dataset=iris_dataset,
        user=editor,
        mlflow_experiment_id=mlflow_experiment_id,
        runs=runs,
    )
