"""Sweeps under parallel workers and faults, on real worker processes of their own (a private
queue, where the sweep's start is sent too: the session's worker never takes their tasks), a
real MLflow server and the test database (SQLite or PostgreSQL; the filesystem broker or Redis).

- Two pool processes run a grid: every configuration once, one child run each.
- MLflow stopped while a trial trains: the trial's child run is closed once MLflow is back,
  the next trial waits for it (retries, as experiments do), and the sweep finishes with every
  child run closed in its trial's state, then the parent.
- A worker SIGKILLed mid-trial: the next worker's start fails that trial (no heartbeat) and
  kicks the controller, and the sweep goes on to its count; nothing stays RUNNING in MLflow.
- A trial past the memory limit (``CAUCE_TRAINING_MEMORY_MB``, the experiments' own): FAIL
  with its reason on the page, in the API and on its child run (FAILED); the pool process lives on
  and trains the next trial.
"""

import json
import time
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from mlflow.tracking import MlflowClient

from cauce.sweeps import services
from cauce.sweeps.models import Sweep, Trial
from cauce.sweeps.tasks import sweep_start_task
from tests.fixtures.data import IRIS_FEATURES, slow_classification_csv
from tests.fixtures.mlflow_server import free_port, start_mlflow_server, stop_process, wait_healthy
from tests.fixtures.worker import start_worker, wait_ready

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

STALE_AFTER = 4
MLFLOW_DOWN_ENV = {
    "CAUCE_EXPERIMENT_MLFLOW_RETRY_DELAY": "1",
    "CAUCE_EXPERIMENT_MLFLOW_RETRY_MAX_DELAY": "2",
    "CAUCE_EXPERIMENT_MLFLOW_RETRIES": "100",
    "MLFLOW_WORKER_MAX_RETRIES": "0",
    "MLFLOW_WORKER_TIMEOUT": "5",
    "CAUCE_SWEEP_PARALLEL_TRIALS": "1",
}
WITHIN_SECONDS = 150


@pytest.fixture
def private_queue(settings, monkeypatch) -> str:
    """The queue of the test's own workers. The start a sweep's creation sends when it commits
    goes there too: sent on the session's queue (this process's default), the session's worker
    (``celery_worker_process``, on this same database when an earlier test started it) would
    start the sweep and train its trials on the session's queue, beside the test's workers."""
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-sweeps-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(sweep_start_task, "queue", queue, raising=False)  # Celery routes by it
    monkeypatch.setattr(sweep_start_task, "_exec_options", None)  # Celery caches the options
    return queue


@pytest.fixture
def workers(mlflow, private_queue, tmp_path):
    """start(**options) -> (process, log path): workers on the private queue."""
    started: list = []

    def start(**options):
        log_path = tmp_path / f"worker-{len(started)}.log"
        process = start_worker(mlflow, log_path, queue=private_queue, **options)
        started.append(process)
        wait_ready(process, log_path)
        return process, log_path

    yield start
    for process in started:
        stop_process(process)


def _create(project, **settings) -> Sweep:
    """A sweep created and started (on the private queue: see ``private_queue``)."""
    return services.sweep_create(project=project, user=project.created_by, **settings)


def _slow_sweep_training(project, make_dataset, **settings) -> Sweep:
    """A sweep of slow trials (seconds each: a fault comes while one trains) started on the
    private queue, once one of its trials is training with its MLflow child run."""
    dataset = make_dataset(project, slow_classification_csv(1500), "lento.csv", name="Lento")
    sweep = _create(
        project,
        dataset=dataset,
        target_column="label",
        algorithm="GradientBoostingClassifier",
        search_space={"max_depth": {"type": "int", "low": 2, "high": 3}},
        fixed_hyperparameters={"n_estimators": 1000},
        cv_folds=3,
        seed=5,
        **settings,
    )
    return _wait(
        sweep,
        lambda s: (
            Trial.objects.filter(sweep=s, status="RUNNING").exclude(mlflow_run_id="").exists()
        ),
        "a trial training",
    )


def _wait(sweep: Sweep, until, what: str) -> Sweep:
    deadline = time.monotonic() + WITHIN_SECONDS
    while time.monotonic() < deadline:
        sweep.refresh_from_db()
        if until(sweep):
            return sweep
        time.sleep(0.2)
    trials = list(Trial.objects.filter(sweep=sweep).values("number", "status", "error"))
    pytest.fail(f"{what} not after {WITHIN_SECONDS} s: {sweep.status} {trials}")


def _children(client: MlflowClient, sweep: Sweep):
    return client.search_runs(
        experiment_ids=[sweep.mlflow_experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{sweep.mlflow_run_id}'",
        max_results=1000,
    )


def test_a_grid_on_two_pool_processes_runs_each_configuration_once(
    workers, mlflow, private_queue, project, iris_dataset
):
    workers(pool="prefork", concurrency=2, extra_env={"CAUCE_SWEEP_PARALLEL_TRIALS": "2"})
    sweep = _create(
        project,
        name="Rejilla paralela",
        dataset=iris_dataset,
        target_column="species",
        feature_columns=IRIS_FEATURES,
        algorithm="DecisionTreeClassifier",
        search_space={
            "max_depth": {"type": "int", "low": 1, "high": 6},
            "criterion": {"type": "categorical", "choices": ["gini", "entropy"]},
        },
        sampler="grid",
        n_trials=500,
        seed=3,
    )
    assert sweep.n_trials == 12
    sweep = _wait(sweep, lambda s: not s.is_active, "the sweep's end")

    assert sweep.status == Sweep.Status.FINISHED
    trials = list(Trial.objects.filter(sweep=sweep))
    assert [trial.status for trial in trials] == [Trial.Status.COMPLETE] * 12
    assert len({json.dumps(trial.params, sort_keys=True) for trial in trials}) == 12
    client = MlflowClient(tracking_uri=mlflow)
    children = _children(client, sweep)
    assert len(children) == 12
    assert {run.info.status for run in children} == {"FINISHED"}
    assert client.get_run(sweep.mlflow_run_id).info.status == "FINISHED"


def test_a_worker_killed_mid_trial_fails_that_trial_and_the_sweep_goes_on(
    workers, mlflow, private_queue, project, make_dataset
):
    env = {
        "CAUCE_EXPERIMENT_STALE_AFTER_SECONDS": str(STALE_AFTER),
        "CAUCE_EXPERIMENT_HEARTBEAT_SECONDS": "1",
        "CAUCE_SWEEP_PARALLEL_TRIALS": "1",
    }
    worker, _log = workers(extra_env=env)
    sweep = _slow_sweep_training(
        project, make_dataset, name="Barrido interrumpido", sampler="random", n_trials=3
    )
    worker.kill()
    assert worker.wait(timeout=10) == -9
    killed = Trial.objects.get(sweep=sweep, status=Trial.Status.RUNNING)
    while timezone.now() <= killed.heartbeat_at + timedelta(seconds=STALE_AFTER + 0.5):
        time.sleep(0.2)
        killed.refresh_from_db()

    workers(extra_env=env)  # its start: the watch fails the trial and kicks the controller
    sweep = _wait(sweep, lambda s: not s.is_active, "the sweep's end")

    assert sweep.status == Sweep.Status.FINISHED
    killed.refresh_from_db()
    assert killed.status == Trial.Status.FAIL
    assert killed.error == "El proceso de trabajo se detuvo durante la prueba."
    trials = list(Trial.objects.filter(sweep=sweep))
    assert len(trials) == 3
    assert not [trial for trial in trials if trial.status in Trial.IN_FLIGHT]
    client = MlflowClient(tracking_uri=mlflow)
    killed_run = client.get_run(killed.mlflow_run_id)
    assert killed_run.info.status == "FAILED"
    assert killed_run.data.tags["cauce.trial_error"] == killed.error
    # Its params come with its close, which the controller made for the dead worker.
    assert killed_run.data.params["hp.max_depth"] == str(killed.params["max_depth"])
    statuses = {run.info.status for run in _children(client, sweep)}
    assert "RUNNING" not in statuses
    assert client.get_run(sweep.mlflow_run_id).info.status == "FINISHED"


def test_trials_wait_while_mlflow_is_down_and_the_sweep_finishes_once_it_is_back(
    settings, private_queue, project, make_dataset, tmp_path
):
    root, port = tmp_path / "mlflow", free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_mlflow_server(root, port)
    log_path = tmp_path / "worker.log"
    worker = start_worker(url, log_path, queue=private_queue, extra_env=MLFLOW_DOWN_ENV)
    try:
        wait_healthy(url, server, timeout=240)
        wait_ready(worker, log_path, timeout=180)
        sweep = _slow_sweep_training(
            project, make_dataset, name="Barrido sin MLflow", sampler="grid", n_trials=2
        )
        stop_process(server)  # the trial ends while MLflow is down; the next cannot start
        server = None
        _wait(
            sweep,
            lambda s: (
                log_path.read_text().count("sweep_trial_task") > 0
                and "retry: Retry in" in log_path.read_text()
            ),
            "a trial retried",
        )
        assert sweep.status == Sweep.Status.RUNNING

        server = start_mlflow_server(root, port)
        wait_healthy(url, server, timeout=240)
        sweep = _wait(sweep, lambda s: not s.is_active, "the sweep's end")

        assert sweep.status == Sweep.Status.FINISHED, sweep.error
        # As soon as the sweep says FINISHED, every child run is closed with its results in
        # its trial's state (one that ended while MLflow was down too, its task's retried
        # close still to come or not), and the parent ended after them.
        trials = list(Trial.objects.filter(sweep=sweep))
        assert [(trial.status, trial.run_closed) for trial in trials] == [
            (Trial.Status.COMPLETE, True)
        ] * 2
        assert sweep.mlflow_closed
        client = MlflowClient(tracking_uri=url)
        children = []
        for trial in trials:
            run = client.get_run(trial.mlflow_run_id)
            assert run.info.status == "FINISHED"
            assert run.data.metrics["objective_f1_macro"] == pytest.approx(trial.value)
            children.append(run)
        assert {run.info.status for run in _children(client, sweep)} == {"FINISHED"}
        parent = client.get_run(sweep.mlflow_run_id)
        assert parent.info.status == "FINISHED"
        assert parent.info.end_time >= max(run.info.end_time for run in children)
    finally:
        stop_process(worker)
        if server is not None:
            stop_process(server)


MEMORY_LIMIT_MB = 60
MEMORY_MESSAGE = (
    f"El entrenamiento superó el límite de memoria de {MEMORY_LIMIT_MB} MB y se detuvo. Pruebe "
    "con menos filas o columnas o con un modelo más pequeño (p. ej. menos árboles o menos "
    "profundidad), o pida que se amplíe el límite (CAUCE_TRAINING_MEMORY_MB)."
)


def test_a_trial_over_the_memory_limit_fails_with_its_reason_and_the_sweep_goes_on(
    workers,
    mlflow,
    private_queue,
    project,
    make_dataset,
    noisy_csv_bytes,
    viewer_client,
    api_client,
    viewer,
):
    worker, log_path = workers(
        pool="prefork",
        concurrency=1,
        extra_env={
            "CAUCE_TRAINING_MEMORY_MB": str(MEMORY_LIMIT_MB),
            "CAUCE_SWEEP_PARALLEL_TRIALS": "1",
        },
    )
    noisy = make_dataset(project, noisy_csv_bytes, "ruido.csv", name="Ruido")
    # Unbounded trees on noisy labels (~0.7 MB each): 300 need about 200 MB, 5 a few MB.
    sweep = _create(
        project,
        name="Barrido con memoria acotada",
        dataset=noisy,
        target_column="label",
        algorithm="RandomForestClassifier",
        search_space={"n_estimators": {"type": "categorical", "choices": [300, 5]}},
        sampler="grid",
        n_trials=2,
        seed=1,  # the grid's order: 300 trees first, then 5
    )
    sweep = _wait(sweep, lambda s: not s.is_active, "the sweep's end")

    assert sweep.status == Sweep.Status.FINISHED, sweep.error
    greedy = Trial.objects.get(sweep=sweep, params={"n_estimators": 300})
    small = Trial.objects.get(sweep=sweep, params={"n_estimators": 5})
    assert greedy.status == Trial.Status.FAIL
    assert greedy.error == MEMORY_MESSAGE
    assert greedy.value is None
    assert small.status == Trial.Status.COMPLETE, small.error
    # One trial at a time: the small one trained after the greedy one, on the same pool.
    assert (greedy.number, small.number) == (0, 1)
    assert small.started_at >= greedy.finished_at
    assert sweep.best_number == small.number
    # The reason on the sweep's page and in its API.
    api_client.force_authenticate(viewer)
    html = viewer_client.get(reverse("sweeps:sweep_detail", args=[sweep.pk])).content.decode()
    assert escape(MEMORY_MESSAGE) in html
    body = api_client.get(f"/api/sweeps/{sweep.pk}/").json()
    assert {trial["number"]: trial["error"] for trial in body["trials"]} == {
        greedy.number: MEMORY_MESSAGE,
        small.number: "",
    }
    client = MlflowClient(tracking_uri=mlflow)
    greedy_run = client.get_run(greedy.mlflow_run_id)
    assert greedy_run.info.status == "FAILED"
    assert greedy_run.data.tags["cauce.trial_state"] == "FAIL"
    assert greedy_run.data.tags["cauce.trial_error"] == MEMORY_MESSAGE
    assert client.get_run(small.mlflow_run_id).info.status == "FINISHED"
    assert client.get_run(sweep.mlflow_run_id).info.status == "FINISHED"
    # The pool process that went over the limit lives on: no pool process was lost.
    assert worker.poll() is None
    assert "WorkerLostError" not in log_path.read_text()
