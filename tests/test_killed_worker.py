"""A worker SIGKILLed in the middle of a training: the experiment ends ERROR, its run FAILED.

A real worker process of its own (a private queue, so the session's worker never takes the
task) with a 1 s heartbeat and a 4 s stale window trains a slow model; it is killed once the
training has started. Whatever the broker does with the unacknowledged message (Redis keeps it
until its visibility timeout; the embedded broker has already dropped it), either a page that
shows the experiment or the next worker's start turns it into ERROR.
"""

import time
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from mlflow.tracking import MlflowClient

from cauce.experiments import services
from cauce.experiments.models import MLExperiment
from cauce.experiments.tasks import run_full_experiment_pipeline_task
from scripts.processes import process_table
from tests.fixtures.data import slow_classification_csv
from tests.fixtures.mlflow_server import stop_process
from tests.fixtures.worker import start_worker, wait_ready

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

Status = MLExperiment.Status

STALE_AFTER = 4
WORKER_ENV = {
    "CAUCE_EXPERIMENT_STALE_AFTER_SECONDS": str(STALE_AFTER),
    "CAUCE_EXPERIMENT_HEARTBEAT_SECONDS": "1",
}
STALE_MESSAGE = (
    "El proceso de trabajo se detuvo durante la ejecución (sin señales de vida desde hace más "
    f"de {STALE_AFTER} s). Vuelva a ejecutar el experimento."
)
TRAINING_WITHIN_SECONDS = 40
ROWS = 3000


@pytest.fixture
def slow_csv_bytes() -> bytes:
    """3000 rows of eight numeric features and a binary ``label`` that depends on them."""
    return slow_classification_csv(ROWS)


@pytest.fixture
def private_queue(settings) -> str:
    """A queue no other worker listens to."""
    return f"{settings.CELERY_TASK_DEFAULT_QUEUE}-killed-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def workers(mlflow, private_queue, tmp_path):
    """start() -> (process, log path): workers on the private queue, stopped at the end."""
    started: list = []

    def start():
        log_path = tmp_path / f"worker-{len(started)}.log"
        process = start_worker(mlflow, log_path, queue=private_queue, extra_env=WORKER_ENV)
        started.append(process)
        wait_ready(process, log_path)
        return process, log_path

    yield start
    for process in started:
        stop_process(process)


def _children(pid: int) -> set[int]:
    """Pids of the processes whose parent is ``pid`` (Linux /proc)."""
    return {child for child, (parent, _group, _state) in process_table().items() if parent == pid}


def _alive(pid: int) -> bool:
    entry = process_table().get(pid)
    return entry is not None and entry[2] != "Z"


def _training_experiment(project, make_dataset, slow_csv_bytes, queue) -> MLExperiment:
    """A slow experiment, queued on ``queue``; returned once its worker is training it."""
    dataset = make_dataset(project, slow_csv_bytes, "lento.csv", name="Lento")
    experiment = services.experiment_create(
        project=project,
        user=project.created_by,
        name="Entrenamiento largo",
        dataset=dataset,
        target_column="label",
        algorithm="GradientBoostingClassifier",
        hyperparameters={"n_estimators": 2000, "max_depth": 3},
    )
    MLExperiment.objects.filter(pk=experiment.pk).update(
        status=Status.QUEUED, stage=MLExperiment.Stage.WAITING, queued_at=timezone.now()
    )
    run_full_experiment_pipeline_task.apply_async(args=[str(experiment.pk)], queue=queue)
    deadline = time.monotonic() + TRAINING_WITHIN_SECONDS
    while time.monotonic() < deadline:
        experiment.refresh_from_db()
        if experiment.status not in MLExperiment.ACTIVE_STATUSES:
            pytest.fail(f"the experiment ended {experiment.status}: {experiment.error}")
        if (
            experiment.status == Status.RUNNING
            and experiment.mlflow_run_id
            and experiment.stage == MLExperiment.Stage.TRAINING
        ):
            return experiment
        time.sleep(0.1)
    pytest.fail(f"not training after {TRAINING_WITHIN_SECONDS} s: {experiment.status}")


def _kill(process) -> None:
    """SIGKILL the worker (--pool solo: one process) and check nothing of it survives."""
    children = _children(process.pid)
    process.kill()
    assert process.wait(timeout=10) == -9
    survivors = {pid for pid in children if _alive(pid)}
    assert not survivors, f"children of the killed worker still alive: {survivors}"


def _wait_until_stale(experiment: MLExperiment) -> None:
    """Until the last heartbeat is older than the window (and check none came after the kill)."""
    experiment.refresh_from_db()
    last = experiment.heartbeat_at
    assert last is not None
    while timezone.now() <= last + timedelta(seconds=STALE_AFTER + 0.3):
        time.sleep(0.1)
    experiment.refresh_from_db()
    assert experiment.heartbeat_at == last, "a heartbeat came after the worker was killed"
    assert experiment.status == Status.RUNNING


def _wait_for_log(log_path, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log_path.read_text():
            return
        time.sleep(0.1)
    pytest.fail(f"the worker never logged {text!r}: {log_path.read_text()[-3000:]}")


def _assert_no_run_left_running(mlflow_url: str, experiment: MLExperiment) -> None:
    client = MlflowClient(tracking_uri=mlflow_url)
    assert client.get_run(experiment.mlflow_run_id).info.status == "FAILED"
    runs = client.search_runs(
        [experiment.mlflow_experiment_id],
        filter_string=f"tags.`cauce.experiment_id` = '{experiment.pk}'",
    )
    assert runs, "the experiment's run is not tagged with its id"
    assert {run.info.status for run in runs} == {"FAILED"}


def test_the_status_partial_fails_the_experiment_of_a_killed_worker(
    workers, mlflow, settings, private_queue, owner_client, project, make_dataset, slow_csv_bytes
):
    settings.EXPERIMENT_STALE_AFTER_SECONDS = STALE_AFTER
    worker, _log = workers()
    experiment = _training_experiment(project, make_dataset, slow_csv_bytes, private_queue)
    run_id = experiment.mlflow_run_id

    _kill(worker)
    status_url = reverse("experiments:ml_experiment_status", args=[experiment.pk])
    experiment.refresh_from_db()
    if timezone.now() - experiment.heartbeat_at < timedelta(seconds=STALE_AFTER - 1):
        # Not yet stale: the page still shows it running.
        response = owner_client.get(status_url, headers={"HX-Request": "true"})
        assert "HX-Refresh" not in response.headers
        experiment.refresh_from_db()
        assert experiment.status == Status.RUNNING
    _wait_until_stale(experiment)

    response = owner_client.get(status_url, headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert response.headers["HX-Refresh"] == "true"
    experiment.refresh_from_db()
    assert experiment.status == Status.ERROR
    assert experiment.error == STALE_MESSAGE
    assert experiment.mlflow_run_id == run_id
    _assert_no_run_left_running(mlflow, experiment)
    detail = owner_client.get(reverse("experiments:ml_experiment_detail", args=[experiment.pk]))
    assert STALE_MESSAGE in detail.content.decode()


def test_the_next_worker_start_fails_the_experiment_of_a_killed_worker(
    workers, mlflow, private_queue, project, make_dataset, slow_csv_bytes
):
    worker, _log = workers()
    experiment = _training_experiment(project, make_dataset, slow_csv_bytes, private_queue)

    run_id = experiment.mlflow_run_id

    _kill(worker)
    _wait_until_stale(experiment)
    _next_worker, next_log = workers()

    # worker_ready runs the reaper before the worker says it is ready.
    experiment.refresh_from_db()
    assert experiment.status == Status.ERROR, next_log.read_text()[-3000:]
    assert experiment.error == STALE_MESSAGE
    _assert_no_run_left_running(mlflow, experiment)
    # A redelivered message (as Redis or AMQP would redeliver the killed worker's unacked
    # one) is taken by the new worker, which leaves the ended experiment alone.
    redelivered = run_full_experiment_pipeline_task.apply_async(
        args=[str(experiment.pk)], queue=private_queue
    )
    _wait_for_log(next_log, f"[{redelivered.id}] succeeded")
    experiment.refresh_from_db()
    assert experiment.status == Status.ERROR
    assert experiment.error == STALE_MESSAGE
    assert experiment.mlflow_run_id == run_id
    _assert_no_run_left_running(mlflow, experiment)
