"""Cancel against a real worker and a real MLflow server.

A worker of its own (a private queue, a 1 s heartbeat) trains a slow model. Behind it waits
a second experiment. Both are cancelled: the waiting one through the API (its message,
delivered later, starts nothing), the training one from its page (the worker interrupts the
fit and ends the MLflow run KILLED). The same worker then trains another experiment.
"""

import uuid

import pytest
from django.urls import reverse
from mlflow.tracking import MlflowClient

from cauce.experiments.models import MLExperiment
from tests.fixtures.mlflow_server import stop_process
from tests.fixtures.worker import start_worker, wait_ready
from tests.queue_support import make_experiment, queue_on, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

Status = MLExperiment.Status
Stage = MLExperiment.Stage


@pytest.fixture
def worker(mlflow, settings, tmp_path):
    """(process, log path, queue): a worker with a 1 s heartbeat on a queue of its own."""
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-cancel-{uuid.uuid4().hex[:8]}"
    log_path = tmp_path / "worker.log"
    process = start_worker(
        mlflow, log_path, queue=queue, extra_env={"CAUCE_EXPERIMENT_HEARTBEAT_SECONDS": "1"}
    )
    try:
        wait_ready(process, log_path, timeout=180)
        yield process, log_path, queue
    finally:
        stop_process(process)


def test_cancel_stops_a_training_kills_its_run_and_a_queued_one_never_starts(
    worker,
    mlflow,
    owner_client,
    owner_api,
    project,
    make_dataset,
    noisy_csv_bytes,
    iris_dataset,
):
    process, log_path, queue = worker
    slow = make_dataset(project, noisy_csv_bytes, "lento.csv", name="Lento")
    training = make_experiment(
        project,
        slow,
        "Entrenamiento largo",
        "GradientBoostingClassifier",
        {"n_estimators": 100000, "max_depth": 3},
        "label",
    )
    waiting = make_experiment(
        project,
        iris_dataset,
        "En espera",
        "RandomForestClassifier",
        {"n_estimators": 10},
        "species",
    )
    queue_on(training, queue)
    queue_on(waiting, queue)

    def training_started() -> bool:
        training.refresh_from_db()
        return training.stage == Stage.TRAINING and bool(training.mlflow_run_id)

    wait_for(training_started, "the training", log_path)

    # The waiting one, through the API: its message is still in the queue.
    response = owner_api.post(f"/api/experiments/{waiting.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "CANCELLED"

    # The training one, from its page.
    response = owner_client.post(reverse("experiments:ml_experiment_cancel", args=[training.pk]))
    assert response.status_code == 302
    client = MlflowClient(tracking_uri=mlflow)
    run_id = training.mlflow_run_id
    wait_for(lambda: client.get_run(run_id).info.status == "KILLED", "the KILLED run", log_path)

    training.refresh_from_db()
    assert training.status == Status.CANCELLED
    assert training.stage == ""
    assert training.metrics == {}
    assert training.mlflow_model_id == ""
    assert client.get_run(run_id).data.metrics == {}

    # The worker took the waiting one's message next and started nothing.
    wait_for(
        lambda: f"Experiment {waiting.pk} is CANCELLED; nothing to run" in log_path.read_text(),
        "the waiting message",
        log_path,
    )
    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts, waiting.mlflow_run_id) == (Status.CANCELLED, 0, "")
    assert process.poll() is None

    # The same worker trains the next one, and the cancelled one runs again.
    queue_on(waiting, queue)

    def finished() -> bool:
        waiting.refresh_from_db()
        return waiting.status not in MLExperiment.ACTIVE_STATUSES

    wait_for(finished, "the re-run", log_path)
    assert waiting.status == Status.FINISHED, waiting.error
    assert client.get_run(waiting.mlflow_run_id).info.status == "FINISHED"
