"""MLflow down, then back: the experiment retries through the real broker and worker, and ends.

A real ``mlflow server`` of this test's own (its port, its store) is started once and stopped:
the experiment is queued while it is down, the worker finds MLflow unavailable and puts it
back in the queue (RETRYING) with short retry delays, the server comes back on the same port
and store, and the next retry trains the experiment to FINISHED in that server.
"""

import uuid

import pytest
from mlflow.tracking import MlflowClient

from cauce.experiments.models import MLExperiment
from tests.fixtures.mlflow_server import free_port, start_mlflow_server, stop_process, wait_healthy
from tests.fixtures.worker import start_worker, wait_ready
from tests.queue_support import make_experiment, queue_on, wait_for, wait_until_ended

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

Status = MLExperiment.Status

WORKER_ENV = {
    "CAUCE_EXPERIMENT_MLFLOW_RETRY_DELAY": "1",
    "CAUCE_EXPERIMENT_MLFLOW_RETRY_MAX_DELAY": "2",
    "CAUCE_EXPERIMENT_MLFLOW_RETRIES": "100",
    "MLFLOW_WORKER_MAX_RETRIES": "0",
    "MLFLOW_WORKER_TIMEOUT": "5",
}


def test_an_experiment_queued_while_mlflow_is_down_finishes_once_it_is_back(
    settings, project, iris_dataset, tmp_path
):
    root = tmp_path / "mlflow"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_mlflow_server(root, port)
    try:
        wait_healthy(url, server, timeout=240)
    finally:
        stop_process(server)
    assert server.poll() is not None

    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-retry-{uuid.uuid4().hex[:8]}"
    log_path = tmp_path / "worker.log"
    worker = start_worker(url, log_path, queue=queue, extra_env=WORKER_ENV)
    server = None
    try:
        wait_ready(worker, log_path, timeout=180)
        experiment = make_experiment(
            project, iris_dataset, "Iris", "RandomForestClassifier", {"n_estimators": 10}, "species"
        )
        task_id = queue_on(experiment, queue)

        def retried_twice() -> bool:
            experiment.refresh_from_db()
            return experiment.attempts >= 2

        wait_for(retried_twice, "two tries while MLflow is down", log_path)
        experiment.refresh_from_db()
        assert experiment.status in (Status.QUEUED, Status.RUNNING)
        assert experiment.mlflow_run_id == ""
        assert f"[{task_id}] retry: Retry in" in log_path.read_text()

        server = start_mlflow_server(root, port)
        wait_healthy(url, server, timeout=240)
        wait_until_ended(experiment, log_path)

        assert experiment.status == Status.FINISHED, experiment.error
        assert experiment.error == ""
        assert experiment.attempts >= 3
        assert experiment.task_id == task_id  # retries are the same task
        run = MlflowClient(tracking_uri=url).get_run(experiment.mlflow_run_id)
        assert run.info.status == "FINISHED"
        assert run.data.metrics["f1_macro"] == experiment.metrics["f1_macro"]
    finally:
        stop_process(worker)
        if server is not None:
            stop_process(server)
