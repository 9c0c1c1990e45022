"""The worker as ``make run`` starts it: a prefork pool, one training per pool process, each
bounded in memory.

Two slow trainings run at once on a pool of two, and a training that grows past a small
memory limit ends in ERROR with its message while the worker and its pool live on and train
the next experiment.
"""

import uuid

import pytest
from mlflow.tracking import MlflowClient

from cauce.experiments import services
from cauce.experiments.models import MLExperiment
from tests.fixtures.mlflow_server import stop_process
from tests.fixtures.worker import start_worker, wait_ready
from tests.queue_support import make_experiment, queue_on, wait_for, wait_until_ended

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

Status = MLExperiment.Status
MEMORY_LIMIT_MB = 60
MEMORY_MESSAGE = (
    f"El entrenamiento superó el límite de memoria de {MEMORY_LIMIT_MB} MB y se detuvo. Pruebe "
    "con menos filas o columnas o con un modelo más pequeño (p. ej. menos árboles o menos "
    "profundidad), o pida que se amplíe el límite (CAUCE_TRAINING_MEMORY_MB)."
)


@pytest.fixture
def pool_worker(mlflow, settings, tmp_path):
    """(process, log path, queue): a prefork worker of two pool processes, a 60 MB limit."""
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-pool-{uuid.uuid4().hex[:8]}"
    log_path = tmp_path / "worker.log"
    process = start_worker(
        mlflow,
        log_path,
        queue=queue,
        pool="prefork",
        concurrency=2,
        extra_env={
            "CAUCE_TRAINING_MEMORY_MB": str(MEMORY_LIMIT_MB),
            "CAUCE_EXPERIMENT_HEARTBEAT_SECONDS": "1",
        },
    )
    try:
        wait_ready(process, log_path, timeout=180)
        yield process, log_path, queue
    finally:
        stop_process(process)


def test_two_trainings_run_at_once_on_a_pool_of_two(
    pool_worker, mlflow, project, make_dataset, noisy_csv_bytes
):
    process, log_path, queue = pool_worker
    noisy = make_dataset(project, noisy_csv_bytes, "ruido.csv", name="Ruido")
    slow = [
        make_experiment(
            project,
            noisy,
            f"Lento {index}",
            "GradientBoostingClassifier",
            {"n_estimators": 100000, "max_depth": 2},
            "label",
        )
        for index in (1, 2)
    ]
    for experiment in slow:
        queue_on(experiment, queue)

    def both_training() -> bool:
        stages = set(
            MLExperiment.objects.filter(pk__in=[e.pk for e in slow]).values_list("status", "stage")
        )
        return stages == {(Status.RUNNING, MLExperiment.Stage.TRAINING)}

    wait_for(both_training, "both trainings at once", log_path)

    for experiment in slow:
        services.experiment_cancel(experiment=experiment, user=None)
    client = MlflowClient(tracking_uri=mlflow)
    for experiment in slow:
        experiment.refresh_from_db()
        run_id = experiment.mlflow_run_id
        wait_for(
            lambda run_id=run_id: client.get_run(run_id).info.status == "KILLED",
            "the KILLED runs",
            log_path,
        )
    assert process.poll() is None


def test_a_training_over_the_memory_limit_ends_in_error_and_the_worker_trains_the_next(
    pool_worker, mlflow, project, make_dataset, noisy_csv_bytes, iris_dataset
):
    process, log_path, queue = pool_worker
    noisy = make_dataset(project, noisy_csv_bytes, "ruido.csv", name="Ruido")
    # Unbounded trees on noisy labels: each grows to thousands of leaves (~0.7 MB), so 300
    # of them need about 200 MB.
    greedy = make_experiment(
        project,
        noisy,
        "Bosque enorme",
        "RandomForestClassifier",
        {"n_estimators": 300},
        "label",
    )
    small = make_experiment(
        project, iris_dataset, "Iris", "RandomForestClassifier", {"n_estimators": 10}, "species"
    )

    queue_on(greedy, queue)
    wait_until_ended(greedy, log_path, seconds=240)

    assert greedy.status == Status.ERROR
    assert greedy.error == MEMORY_MESSAGE
    assert greedy.metrics == {}
    client = MlflowClient(tracking_uri=mlflow)
    # The run is ended right after the experiment's status is written.
    wait_for(
        lambda: client.get_run(greedy.mlflow_run_id).info.status == "FAILED",
        "the FAILED run",
        log_path,
    )
    assert process.poll() is None

    queue_on(small, queue)
    wait_until_ended(small, log_path)
    assert small.status == Status.FINISHED, small.error
    assert client.get_run(small.mlflow_run_id).info.status == "FINISHED"
    assert process.poll() is None
    assert "WorkerLostError" not in log_path.read_text()
