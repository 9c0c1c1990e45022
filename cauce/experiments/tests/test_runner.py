"""The runner against a real MLflow server: what a run leaves in MLflow and in the database."""

import re
import threading
import time
from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone
from mlflow.models import get_model_info
from mlflow.pyfunc import load_model
from mlflow.tracking import MlflowClient
from mlflow.tracking._tracking_service.utils import _use_tracking_uri

from cauce.experiments.liveness import experiments_fail_stale
from cauce.experiments.models import MLExperiment, TagSyncState
from cauce.experiments.runner import (
    MAX_ATTEMPTS,
    ExperimentStopped,
    _HeartbeatThread,
    _stopped,
    experiment_execute,
    experiment_mlflow_tags,
)
from cauce.experiments.tests.runner_support import queued_experiment
from cauce.integrations.mlflow import MlflowUnavailable, runs, tracking
from tests.fixtures.data import IRIS_FEATURES

Status = MLExperiment.Status

# The runner runs in workers: under the worker's MLflow profile, as there.
pytestmark = pytest.mark.usefixtures("worker_profile")


@pytest.fixture(autouse=True)
def _no_heartbeat_writes_inside_the_test_transaction(settings):
    # The heartbeat thread has its own connection; with the ``db`` fixture the test's rows are
    # uncommitted (and locked) for it. Its writes are tested with ``transactional_db`` below.
    settings.EXPERIMENT_HEARTBEAT_SECONDS = 3600


@pytest.fixture
def mlflow_client(mlflow):
    """A client of the test server; ``models:/`` URIs resolve through it during the test."""
    with _use_tracking_uri(mlflow):
        yield MlflowClient(tracking_uri=mlflow)


def _artifact_paths(client, run_id, path=None) -> set[str]:
    paths = set()
    for entry in client.list_artifacts(run_id, path):
        if entry.is_dir:
            paths |= _artifact_paths(client, run_id, entry.path)
        else:
            paths.add(entry.path)
    return paths


def _open_run(project) -> str:
    """A RUNNING MLflow run, as a worker that died would leave it."""
    experiment_id = tracking.experiment_ensure(name=project.mlflow_experiment_name)
    return tracking.run_create(experiment_id=experiment_id, run_name="interrumpido", tags={})


def test_it_runs_an_experiment_to_finished_with_everything_in_mlflow(
    mlflow_client, iris_dataset, editor
):
    experiment = queued_experiment(
        iris_dataset,
        tags=["iris", "baseline", "rf"],
        description="Bosque de referencia",
        queued_by=editor,
    )

    experiment_execute(experiment_id=str(experiment.pk))

    experiment.refresh_from_db()
    assert experiment.status == Status.FINISHED, experiment.error
    assert experiment.error == ""
    assert experiment.stage == ""
    assert experiment.attempts == 1
    assert experiment.started_at <= experiment.finished_at
    test_names = {"accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc"}
    # The same metrics on the training rows, beside the test ones.
    assert set(experiment.metrics) == test_names | {f"train_{name}" for name in test_names}
    assert experiment.main_metric > 0.8
    experiment.project.refresh_from_db()
    assert experiment.mlflow_experiment_id == experiment.project.mlflow_experiment_id != ""

    run = mlflow_client.get_run(experiment.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.info.experiment_id == experiment.mlflow_experiment_id
    assert run.info.run_name == "Bosque iris"
    params = run.data.params
    assert params["algorithm"] == "RandomForestClassifier"
    assert params["task_type"] == "classification"
    assert params["target"] == "species"
    assert params["features"] == ",".join(IRIS_FEATURES)
    assert params["test_size"] == "0.2"
    assert params["random_state"] == "7"
    assert params["dataset_id"] == str(iris_dataset.pk)
    assert params["dataset_name"] == "Iris"
    assert params["hp.n_estimators"] == "20"
    assert params["hp.max_depth"] == "4"
    assert params["rows_train"] == "120"
    timing_names = {"prepare", "load", "fit", "evaluate", "log", "total"}
    run_metrics = dict(run.data.metrics)
    timing_metrics = {
        name: run_metrics.pop(name) for name in list(run_metrics) if name.startswith("cauce.")
    }
    assert run_metrics == pytest.approx(experiment.metrics)
    assert {"accuracy", "train_accuracy", "f1_macro", "train_f1_macro"} <= set(run_metrics)
    # Each stage's duration is on the run (users see it in MLflow) and on the experiment.
    assert set(timing_metrics) == {f"cauce.time.{name}_s" for name in timing_names}
    assert timing_metrics == pytest.approx(
        {f"cauce.time.{name}_s": value for name, value in experiment.timings.items()}
    )
    assert all(value >= 0 for value in experiment.timings.values())
    stages = sum(experiment.timings[name] for name in timing_names - {"total"})
    assert stages == pytest.approx(experiment.timings["total"], abs=0.05)
    # The plots the page lists are the ones the run logged.
    assert experiment.plots == ["plots/confusion_matrix.png", "plots/feature_importance.png"]
    tags = run.data.tags
    assert (tags["tag_0"], tags["tag_1"], tags["tag_2"]) == ("baseline", "iris", "rf")
    assert tags["all_tags"] == "baseline,iris,rf"
    assert tags["tag_count"] == "3"
    assert tags["cauce.experiment_id"] == str(experiment.pk)
    assert tags["cauce.project_id"] == str(experiment.project_id)
    # What the MLflow UI shows as "Created by" and the run's description.
    assert run.info.user_id == "eduardo"
    assert tags["mlflow.user"] == "eduardo"
    assert tags["mlflow.note.content"] == "Bosque de referencia"
    # MLflow's "Source" names Cauce and the experiment; cauce.url links back to its page.
    assert tags["mlflow.source.name"] == f"Cauce · {experiment.name}"
    assert tags["mlflow.source.type"] == "JOB"
    assert tags["cauce.url"].endswith(f"/experiments/{experiment.pk}/")
    # Nothing else outside MLflow's own keys: a later sync would take it for a user's tag.
    assert {key for key in tags if not key.startswith("mlflow.")} == {
        "tag_0", "tag_1", "tag_2", "all_tags", "tag_count",
        "cauce.experiment_id", "cauce.project_id", "cauce.url",
        "cauce.tag.baseline", "cauce.tag.iris", "cauce.tag.rf",
    }  # fmt: skip
    state = TagSyncState.objects.get(pk=experiment.pk)
    assert state.synced_run_id == run.info.run_id
    assert state.snapshot == experiment_mlflow_tags(experiment)
    assert not state.is_pending

    assert _artifact_paths(mlflow_client, run.info.run_id) == {
        "metrics.json",
        "plots/confusion_matrix.png",
        "plots/feature_importance.png",
        "data/test_predictions.csv",
        "data/feature_importance.csv",
    }

    assert experiment.mlflow_model_uri == f"models:/{experiment.mlflow_model_id}"
    assert [output.model_id for output in run.outputs.model_outputs] == [experiment.mlflow_model_id]
    logged = mlflow_client.get_logged_model(experiment.mlflow_model_id)
    assert logged.experiment_id == experiment.mlflow_experiment_id
    # The model's metrics (MLflow's model page) are the run's quality metrics, not its timings.
    assert {m.key: m.value for m in logged.metrics} == pytest.approx(experiment.metrics)
    assert {m.run_id for m in logged.metrics} == {run.info.run_id}
    info = get_model_info(experiment.mlflow_model_uri)
    assert [spec.name for spec in info.signature.inputs] == IRIS_FEATURES
    assert info.saved_input_example_info is not None
    model = load_model(experiment.mlflow_model_uri)
    example = iris_dataset_rows(iris_dataset)
    predictions = model.predict(example)
    assert set(np.asarray(predictions)) <= {"setosa", "versicolor", "virginica"}


def test_an_experiment_s_run_costs_few_mlflow_calls(mlflow_client, iris_dataset, http_calls):
    """What the worker asks MLflow for one run, by kind. The metrics go in the last batch,
    after the model: logged before it, MLflow copies each to the model with one read of its
    history (and a batch more). Ending the run does not read it back to print its URL."""
    experiment = queued_experiment(iris_dataset, tags=["iris"])

    experiment_execute(experiment_id=str(experiment.pk))

    experiment.refresh_from_db()
    assert experiment.status == Status.FINISHED, experiment.error
    calls = Counter(
        (call.method, re.sub(r"/artifacts/.*", "/artifacts/…", urlsplit(call.url).path))
        for call in http_calls
    )
    api = "/api/2.0/mlflow"
    assert calls[("GET", f"{api}/metrics/get-history")] == 0
    # The experiment's params at the start; the results, the split's params and timings last.
    assert calls[("POST", f"{api}/runs/log-batch")] == 2
    # One for the run's artifact location, one by log_model (the run's metrics of that moment).
    assert calls[("GET", f"{api}/runs/get")] == 2
    assert calls[("POST", f"{api}/runs/update")] == 1
    uploads = sum(n for (method, path), n in calls.items() if method == "PUT")
    # 5 files of the run, 7 of the model (MLmodel, model.pkl, environments, examples).
    assert uploads == 12
    # The project's first run finds no MLflow experiment (by its tag, by its old name) and
    # creates it; later runs find it by the id Cauce keeps, in one request.
    assert sum(calls.values()) - uploads <= 14, calls


def iris_dataset_rows(dataset):
    from cauce.datasets.inference import load_dataframe

    frame = load_dataframe(dataset.file.path, file_format="csv", delimiter=",", encoding="utf-8")
    return frame[IRIS_FEATURES].head(3)


def test_it_trains_messy_data_and_logs_a_model_that_predicts_with_gaps(
    mlflow_client, messy_dataset
):
    experiment = queued_experiment(
        messy_dataset,
        name="Precio",
        target_column="price",
        feature_columns=["age", "income", "city", "member"],
        task_type=MLExperiment.TaskType.REGRESSION,
        algorithm="Ridge",
        hyperparameters={"alpha": 0.5},
        tags=[],
    )

    experiment_execute(experiment_id=str(experiment.pk))

    experiment.refresh_from_db()
    assert experiment.status == Status.FINISHED, experiment.error
    assert set(experiment.metrics) == {"r2", "mae", "rmse", "train_r2", "train_mae", "train_rmse"}
    run = mlflow_client.get_run(experiment.mlflow_run_id)
    assert run.data.tags["tag_count"] == "0"
    assert "tag_0" not in run.data.tags
    assert "plots/residuals.png" in _artifact_paths(mlflow_client, run.info.run_id)
    model = load_model(experiment.mlflow_model_uri)
    import pandas as pd

    rows = pd.DataFrame(
        {
            "age": [np.nan, 44.0],
            "income": [31000.0, np.nan],
            "city": ["Madrid", None],
            "member": [True, None],
        }
    )
    assert np.isfinite(np.asarray(model.predict(rows), dtype=float)).all()


def test_it_fails_with_the_reason_and_ends_the_run_failed_for_a_bad_target(
    mlflow_client, iris_dataset
):
    experiment = queued_experiment(iris_dataset, target_column="especie")

    experiment_execute(experiment_id=str(experiment.pk))

    experiment.refresh_from_db()
    assert experiment.status == Status.ERROR
    assert experiment.error == "La columna objetivo «especie» no está en el conjunto de datos."
    assert experiment.finished_at is not None
    assert experiment.stage == ""
    assert mlflow_client.get_run(experiment.mlflow_run_id).info.status == "FAILED"


def test_it_reports_an_unexpected_failure_without_a_traceback(mlflow_client, iris_dataset):
    experiment = queued_experiment(iris_dataset)
    iris_dataset.file.storage.delete(iris_dataset.file.name)

    experiment_execute(experiment_id=str(experiment.pk))

    experiment.refresh_from_db()
    assert experiment.status == Status.ERROR
    assert experiment.error.startswith("Error inesperado durante el entrenamiento")
    assert "(FileNotFoundError)" in experiment.error
    assert "Traceback" not in experiment.error
    assert "/" not in experiment.error  # no file path leaks
    assert mlflow_client.get_run(experiment.mlflow_run_id).info.status == "FAILED"


@pytest.mark.parametrize("status", [Status.DRAFT, Status.FINISHED, Status.ERROR])
def test_it_does_nothing_for_an_experiment_that_is_not_queued(iris_dataset, status):
    experiment = queued_experiment(iris_dataset, status=status, stage="")

    experiment_execute(experiment_id=str(experiment.pk))

    experiment.refresh_from_db()
    assert experiment.status == status
    assert experiment.attempts == 0
    assert experiment.mlflow_run_id == ""


def test_it_does_nothing_for_an_experiment_that_no_longer_exists(db, http_calls):
    assert experiment_execute(experiment_id="00000000-0000-0000-0000-000000000000") is None

    assert not MLExperiment.objects.exists()
    assert http_calls == []  # no MLflow run, no MLflow call at all


def test_a_redelivered_task_starts_over_and_fails_the_interrupted_run(mlflow_client, iris_dataset):
    old_run_id = _open_run(iris_dataset.project)
    experiment = queued_experiment(
        iris_dataset,
        status=Status.RUNNING,
        stage=MLExperiment.Stage.TRAINING,
        attempts=1,
        mlflow_run_id=old_run_id,
        heartbeat_at=timezone.now(),
    )

    experiment_execute(experiment_id=str(experiment.pk))

    experiment.refresh_from_db()
    assert experiment.status == Status.FINISHED, experiment.error
    assert experiment.attempts == 2
    assert experiment.mlflow_run_id not in ("", old_run_id)
    assert mlflow_client.get_run(old_run_id).info.status == "FAILED"
    assert mlflow_client.get_run(experiment.mlflow_run_id).info.status == "FINISHED"


def _attempt_run(experiment, *, mlflow_experiment_id: str) -> str:
    """A RUNNING run tagged as the runner tags an attempt's run, its id never recorded: what
    an attempt leaves when the database (and MLflow's store with it) goes down."""
    return tracking.run_create(
        experiment_id=mlflow_experiment_id,
        run_name=experiment.name,
        tags=experiment_mlflow_tags(experiment),
    )


@pytest.mark.usefixtures("end_runs")  # "other"'s run is left RUNNING
def test_a_new_attempt_fails_the_runs_earlier_attempts_left_running_unrecorded(
    mlflow_client, iris_dataset
):
    project = iris_dataset.project
    mlflow_experiment_id = tracking.experiment_ensure(name=project.mlflow_experiment_name)
    project.mlflow_experiment_id = mlflow_experiment_id
    project.save(update_fields=["mlflow_experiment_id"])
    experiment = queued_experiment(iris_dataset, stage=MLExperiment.Stage.RETRYING, attempts=1)
    other = queued_experiment(iris_dataset, name="Otro")
    orphan_run_id = _attempt_run(experiment, mlflow_experiment_id=mlflow_experiment_id)
    other_run_id = _attempt_run(other, mlflow_experiment_id=mlflow_experiment_id)

    experiment_execute(experiment_id=str(experiment.pk))

    experiment.refresh_from_db()
    assert experiment.status == Status.FINISHED, experiment.error
    assert experiment.mlflow_run_id not in ("", orphan_run_id)
    assert mlflow_client.get_run(orphan_run_id).info.status == "FAILED"
    assert mlflow_client.get_run(experiment.mlflow_run_id).info.status == "FINISHED"
    assert mlflow_client.get_run(other_run_id).info.status == "RUNNING"


def _at_its_last_attempt(dataset, **fields) -> MLExperiment:
    """RUNNING after its last allowed attempt: a redelivery now gives up."""
    return queued_experiment(
        dataset, status=Status.RUNNING, attempts=MAX_ATTEMPTS, heartbeat_at=timezone.now(), **fields
    )


@pytest.mark.usefixtures("end_runs")  # "other"'s run is left RUNNING
def test_giving_up_fails_the_runs_earlier_attempts_left_running_unrecorded(
    mlflow_client, iris_dataset
):
    project = iris_dataset.project
    mlflow_experiment_id = tracking.experiment_ensure(name=project.mlflow_experiment_name)
    experiment = _at_its_last_attempt(iris_dataset, mlflow_experiment_id=mlflow_experiment_id)
    other = queued_experiment(iris_dataset, name="Otro")
    orphan_run_id = _attempt_run(experiment, mlflow_experiment_id=mlflow_experiment_id)
    other_run_id = _attempt_run(other, mlflow_experiment_id=mlflow_experiment_id)

    experiment_execute(experiment_id=str(experiment.pk))

    experiment.refresh_from_db()
    assert experiment.status == Status.ERROR
    assert mlflow_client.get_run(orphan_run_id).info.status == "FAILED"
    assert mlflow_client.get_run(other_run_id).info.status == "RUNNING"


def test_an_attempt_goes_on_when_mlflow_refuses_the_orphan_search(
    mlflow_client, iris_dataset, monkeypatch
):
    def refused(**kwargs):
        raise MlflowUnavailable()

    monkeypatch.setattr(runs, "runs_end_running", refused)
    experiment = queued_experiment(iris_dataset, attempts=1)
    experiment.project.mlflow_experiment_id = tracking.experiment_ensure(
        name=experiment.project.mlflow_experiment_name
    )
    experiment.project.save(update_fields=["mlflow_experiment_id"])

    experiment_execute(experiment_id=str(experiment.pk))

    experiment.refresh_from_db()
    assert experiment.status == Status.FINISHED, experiment.error
    assert mlflow_client.get_run(experiment.mlflow_run_id).info.status == "FINISHED"


def test_a_redelivered_task_gives_up_after_the_last_attempt(mlflow_client, iris_dataset):
    old_run_id = _open_run(iris_dataset.project)
    experiment = _at_its_last_attempt(iris_dataset, mlflow_run_id=old_run_id)

    experiment_execute(experiment_id=str(experiment.pk))

    experiment.refresh_from_db()
    assert experiment.status == Status.ERROR
    assert experiment.attempts == MAX_ATTEMPTS
    assert "se interrumpió 3 veces" in experiment.error
    assert experiment.mlflow_run_id == old_run_id
    assert mlflow_client.get_run(old_run_id).info.status == "FAILED"


def test_the_reaper_fails_running_experiments_without_a_recent_heartbeat(
    mlflow_client, iris_dataset, settings
):
    settings.EXPERIMENT_STALE_AFTER_SECONDS = 60
    stale_run_id = _open_run(iris_dataset.project)
    stale = queued_experiment(
        iris_dataset,
        status=Status.RUNNING,
        attempts=1,
        mlflow_run_id=stale_run_id,
        heartbeat_at=timezone.now() - timedelta(seconds=61),
    )
    alive = queued_experiment(
        iris_dataset, status=Status.RUNNING, attempts=1, heartbeat_at=timezone.now()
    )
    spared = queued_experiment(
        iris_dataset,
        status=Status.RUNNING,
        attempts=1,
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )
    queued = queued_experiment(iris_dataset)

    assert experiments_fail_stale(exclude_ids=[spared.pk]) == 1

    stale.refresh_from_db()
    assert stale.status == Status.ERROR
    assert stale.error.startswith("El proceso de trabajo se detuvo durante la ejecución")
    assert stale.finished_at is not None
    assert mlflow_client.get_run(stale_run_id).info.status == "FAILED"
    for other, status in (
        (alive, Status.RUNNING),
        (spared, Status.RUNNING),
        (queued, Status.QUEUED),
    ):
        other.refresh_from_db()
        assert other.status == status


def test_the_tag_formats_follow_the_spec(iris_dataset, editor, settings):
    settings.CAUCE_BASE_URL = "https://cauce.example/equipo/"
    experiment = queued_experiment(
        iris_dataset,
        tags=["producción", "v2", "clientes"],
        description="Primera prueba",
        queued_by=editor,
    )
    assert experiment_mlflow_tags(experiment) == {
        "tag_0": "clientes",
        "tag_1": "producción",
        "tag_2": "v2",
        "all_tags": "clientes,producción,v2",
        "tag_count": "3",
        "mlflow.runName": "Bosque iris",
        "mlflow.note.content": "Primera prueba",
        "mlflow.user": "eduardo",
        "cauce.experiment_id": str(experiment.pk),
        "cauce.project_id": str(experiment.project_id),
        "mlflow.source.name": "Cauce · Bosque iris",
        "mlflow.source.type": "JOB",
        "cauce.url": f"https://cauce.example/equipo/experiments/{experiment.pk}/",
        "cauce.tag.clientes": "true",
        "cauce.tag.producción": "true",
        "cauce.tag.v2": "true",
    }


def test_without_tags_or_description_the_counters_are_still_written(iris_dataset):
    experiment = queued_experiment(iris_dataset, tags=[])
    tags = experiment_mlflow_tags(experiment)
    assert (tags["all_tags"], tags["tag_count"]) == ("", "0")
    assert not [key for key in tags if key.startswith("tag_") and key != "tag_count"]
    # No description: no note (the MLflow UI then says "No description"); the creator runs it.
    assert "mlflow.note.content" not in tags
    assert tags["mlflow.user"] == "olga"


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_refreshes_a_running_experiment(iris_dataset, settings):
    settings.EXPERIMENT_HEARTBEAT_SECONDS = 0.05
    long_ago = timezone.now() - timedelta(minutes=10)
    experiment = queued_experiment(
        iris_dataset, status=Status.RUNNING, attempts=1, heartbeat_at=long_ago
    )
    thread = _HeartbeatThread(experiment)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            experiment.refresh_from_db()
            if experiment.heartbeat_at > long_ago:
                break
            time.sleep(0.05)
    finally:
        thread.stop()
    assert experiment.heartbeat_at > timezone.now() - timedelta(seconds=10)
    assert not thread.is_alive()


@pytest.mark.django_db(transaction=True)
def test_a_heartbeat_after_the_experiment_finished_interrupts_nothing(iris_dataset, settings):
    """The beat between ``_finish`` and the thread's stop finds the experiment FINISHED by
    its own attempt (seen with 2 workers under load: the interruption then ended the FINISHED
    experiment's MLflow run as FAILED). The thread ends without interrupting."""
    settings.EXPERIMENT_HEARTBEAT_SECONDS = 0.05
    experiment = queued_experiment(
        iris_dataset, status=Status.FINISHED, attempts=1, task_id="t-finished"
    )
    thread = _HeartbeatThread(experiment, interrupt=threading.get_ident())
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
    except ExperimentStopped:
        pytest.fail("the heartbeat interrupted an experiment its attempt had finished")
    finally:
        thread.stop()
    assert not thread.is_alive()
    assert not thread.interrupted


@pytest.mark.django_db(transaction=True)
def test_a_heartbeat_after_a_cancel_still_interrupts(iris_dataset, settings):
    settings.EXPERIMENT_HEARTBEAT_SECONDS = 0.05
    experiment = queued_experiment(
        iris_dataset, status=Status.CANCELLED, attempts=1, task_id="t-cancelled"
    )
    thread = _HeartbeatThread(experiment, interrupt=threading.get_ident())
    stopped = False
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.01)
    except ExperimentStopped:
        stopped = True
    finally:
        thread.stop()
    assert stopped
    assert thread.interrupted


def test_a_stop_after_the_experiment_finished_leaves_its_run_finished(mlflow, iris_dataset):
    run_id = _open_run(iris_dataset.project)
    runs.run_end(run_id=run_id, status="FINISHED")
    experiment = queued_experiment(
        iris_dataset, status=Status.FINISHED, task_id="t-1", mlflow_run_id=run_id
    )

    _stopped(experiment)

    assert MlflowClient(tracking_uri=mlflow).get_run(run_id).info.status == "FINISHED"


def test_a_stop_of_a_cancelled_experiment_kills_its_run(mlflow, iris_dataset):
    run_id = _open_run(iris_dataset.project)
    experiment = queued_experiment(
        iris_dataset, status=Status.CANCELLED, task_id="t-1", mlflow_run_id=run_id
    )

    _stopped(experiment)

    assert MlflowClient(tracking_uri=mlflow).get_run(run_id).info.status == "KILLED"


def _wait_for_heartbeat_after(experiment, moment, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        experiment.refresh_from_db()
        if experiment.heartbeat_at > moment:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_goes_on_after_the_database_drops_its_connection(iris_dataset, settings):
    """What a PostgreSQL restart does to the thread's connection: the server ends it. The
    next beat fails, and the one after it connects again (before, every beat failed on the
    dead connection and the experiment was reaped as stale while it was still training)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no server that can end a connection")
    settings.EXPERIMENT_HEARTBEAT_SECONDS = 0.05
    long_ago = timezone.now() - timedelta(minutes=10)
    experiment = queued_experiment(
        iris_dataset, status=Status.RUNNING, attempts=1, heartbeat_at=long_ago
    )
    thread = _HeartbeatThread(experiment)
    thread.start()
    try:
        assert _wait_for_heartbeat_after(experiment, long_ago)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND query LIKE %s",
                ['%"heartbeat_at"%' + experiment.pk.hex + "%"],
            )
            assert cursor.fetchall() == [(True,)]
        dropped_at = timezone.now()
        assert _wait_for_heartbeat_after(experiment, dropped_at)
    finally:
        thread.stop()
    assert not thread.is_alive()
