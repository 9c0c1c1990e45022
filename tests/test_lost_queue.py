"""A worker killed while it holds a queued experiment's message: the next worker sends it again.

With the embedded broker a fetched message lives only in the worker that fetched it. The
clearest case is a retry: while MLflow is down the experiment goes back to the queue (stage
RETRYING) and its retry is a message with a countdown that the worker holds until it is
due. The worker is SIGKILLed while it holds it; nothing would ever run the experiment
again. The next worker's start finds it unclaimed past its due time plus the queue limit,
sends it again, and trains it (MLflow is back).
"""

import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from mlflow.tracking import MlflowClient

from cauce.experiments.models import MLExperiment
from tests.fixtures.mlflow_server import free_port, stop_process
from tests.fixtures.worker import start_worker, wait_ready
from tests.queue_support import make_experiment, queue_on, wait_for, wait_until_ended

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

Status = MLExperiment.Status
QUEUE_TIMEOUT = 2
RETRY_DELAY = 8


@pytest.fixture
def private_queue(settings) -> str:
    return f"{settings.CELERY_TASK_DEFAULT_QUEUE}-lost-{uuid.uuid4().hex[:8]}"


def test_the_next_worker_sends_again_the_retry_a_killed_worker_held(
    mlflow, private_queue, project, iris_dataset, tmp_path
):
    env = {
        "CAUCE_EXPERIMENT_QUEUE_TIMEOUT_SECONDS": str(QUEUE_TIMEOUT),
        "CAUCE_EXPERIMENT_MLFLOW_RETRY_DELAY": str(RETRY_DELAY),
        "MLFLOW_WORKER_MAX_RETRIES": "0",
    }
    # The first worker sees MLflow down (nothing listens on that port).
    dead_mlflow = f"http://127.0.0.1:{free_port()}"
    first_log = tmp_path / "first.log"
    first = start_worker(dead_mlflow, first_log, queue=private_queue, extra_env=env)
    try:
        wait_ready(first, first_log, timeout=180)
        experiment = make_experiment(
            project, iris_dataset, "Iris", "RandomForestClassifier", {"n_estimators": 10}, "species"
        )
        first_task = queue_on(experiment, private_queue)

        # The retry message is back from the broker, held by the worker until it is due.
        received = f"[{first_task}] received"
        wait_for(
            lambda: first_log.read_text().count(received) == 2,
            "the retry held by the worker",
            first_log,
        )
        experiment.refresh_from_db()
        assert (experiment.status, experiment.stage) == (Status.QUEUED, "retrying")
        first.kill()
        assert first.wait(timeout=10) == -9
    finally:
        stop_process(first)

    experiment.refresh_from_db()
    assert experiment.due_at - experiment.updated_at == timedelta(seconds=RETRY_DELAY)
    assert experiment.dispatches == 1
    # Until the retry was due, and the queue limit after that, it was only waiting.
    while timezone.now() <= experiment.due_at + timedelta(seconds=QUEUE_TIMEOUT + 0.5):
        time.sleep(0.2)
    experiment.refresh_from_db()
    assert (experiment.status, experiment.attempts) == (Status.QUEUED, 1)

    next_log = tmp_path / "next.log"
    following = start_worker(mlflow, next_log, queue=private_queue, extra_env=env)
    try:
        wait_ready(following, next_log, timeout=180)
        wait_until_ended(experiment, next_log)
    finally:
        stop_process(following)

    assert experiment.status == Status.FINISHED, experiment.error
    assert experiment.dispatches == 2
    assert experiment.task_id != first_task
    assert f"Experiment {experiment.pk} queued and unclaimed since its message" in (
        next_log.read_text()
    )
    run = MlflowClient(tracking_uri=mlflow).get_run(experiment.mlflow_run_id)
    assert run.info.status == "FINISHED"
