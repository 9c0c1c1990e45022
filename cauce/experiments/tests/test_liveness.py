"""Lazy reaping where users look, and the orphan MLflow runs closed at worker start.

Against the real MLflow server; a stale heartbeat is written straight to the database here
(a really killed worker is in tests/test_killed_worker.py).
"""

import os
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from mlflow.tracking import MlflowClient

from cauce.experiments.liveness import experiment_fail_if_stale, experiments_close_orphan_runs
from cauce.experiments.models import MLExperiment
from cauce.experiments.tag_sync import EXPERIMENT_ID_TAG
from cauce.experiments.tests.runner_support import queued_experiment
from cauce.integrations.mlflow import runs, tracking
from tests.fixtures.mlflow_server import free_port

Status = MLExperiment.Status

STALE_AFTER = 60
STALE_MESSAGE = (
    "El proceso de trabajo se detuvo durante la ejecución (sin señales de vida desde hace más "
    "de 60 s). Vuelva a ejecutar el experimento."
)


@pytest.fixture(autouse=True)
def _stale_window(settings):
    settings.EXPERIMENT_STALE_AFTER_SECONDS = STALE_AFTER


@pytest.fixture
def mlflow_client(mlflow) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow)


def _open_run(name="interrumpido") -> str:
    """A RUNNING MLflow run, as a worker that died would leave it.

    In an MLflow experiment of its own: the runs some tests leave RUNNING on purpose must
    not show up in other tests' searches of the project's MLflow experiment.
    """
    experiment_id = tracking.experiment_ensure(name=f"liveness-{uuid.uuid4().hex}")
    return tracking.run_create(experiment_id=experiment_id, run_name=name, tags={})


def _running(dataset, *, seconds_since_heartbeat: float, run_id: str = "") -> MLExperiment:
    return queued_experiment(
        dataset,
        status=Status.RUNNING,
        stage=MLExperiment.Stage.TRAINING,
        attempts=1,
        mlflow_run_id=run_id,
        heartbeat_at=timezone.now() - timedelta(seconds=seconds_since_heartbeat),
    )


def _status(client, experiment, **headers):
    url = reverse("experiments:ml_experiment_status", args=[experiment.pk])
    return client.get(url, headers={"HX-Request": "true", **headers})


# --- lazy reaping --------------------------------------------------------------------------


def test_the_status_partial_fails_a_running_experiment_without_heartbeat(
    owner_client, iris_dataset, mlflow_client
):
    run_id = _open_run()
    experiment = _running(iris_dataset, seconds_since_heartbeat=STALE_AFTER + 1, run_id=run_id)

    response = _status(owner_client, experiment)

    assert response.status_code == 200
    assert response.headers["HX-Refresh"] == "true"
    experiment.refresh_from_db()
    assert experiment.status == Status.ERROR
    assert experiment.stage == ""
    assert experiment.error == STALE_MESSAGE
    assert experiment.finished_at is not None
    assert mlflow_client.get_run(run_id).info.status == "FAILED"
    assert mlflow_client.get_run(run_id).info.end_time is not None


def test_the_status_partial_leaves_a_live_experiment_running(owner_client, iris_dataset, mlflow):
    experiment = _running(iris_dataset, seconds_since_heartbeat=STALE_AFTER - 5)

    response = _status(owner_client, experiment)

    assert response.status_code == 200
    assert "HX-Refresh" not in response.headers
    assert "Entrenando el modelo" in response.content.decode()
    experiment.refresh_from_db()
    assert experiment.status == Status.RUNNING


def test_the_detail_page_shows_a_stale_experiment_as_error(
    viewer_client, iris_dataset, mlflow_client
):
    run_id = _open_run()
    experiment = _running(iris_dataset, seconds_since_heartbeat=STALE_AFTER + 1, run_id=run_id)

    response = viewer_client.get(reverse("experiments:ml_experiment_detail", args=[experiment.pk]))

    assert response.status_code == 200
    assert "El proceso de trabajo se detuvo durante la ejecución" in response.content.decode()
    experiment.refresh_from_db()
    assert experiment.status == Status.ERROR
    assert mlflow_client.get_run(run_id).info.status == "FAILED"


def test_the_api_detail_answers_error_for_a_stale_experiment(
    owner_api, iris_dataset, mlflow_client
):
    run_id = _open_run()
    experiment = _running(iris_dataset, seconds_since_heartbeat=STALE_AFTER + 1, run_id=run_id)

    body = owner_api.get(f"/api/experiments/{experiment.pk}/").json()

    assert body["status"] == "ERROR"
    assert body["error"] == STALE_MESSAGE
    assert body["finished_at"] is not None
    assert mlflow_client.get_run(run_id).info.status == "FAILED"


def test_an_experiment_without_any_heartbeat_is_judged_by_its_last_update(
    owner_client, iris_dataset, mlflow
):
    experiment = _running(iris_dataset, seconds_since_heartbeat=0)
    MLExperiment.objects.filter(pk=experiment.pk).update(
        heartbeat_at=None, updated_at=timezone.now() - timedelta(seconds=STALE_AFTER + 1)
    )

    _status(owner_client, experiment)

    experiment.refresh_from_db()
    assert experiment.status == Status.ERROR


def test_the_stored_message_is_spanish_whatever_the_request_language(
    owner_client, iris_dataset, mlflow
):
    experiment = _running(iris_dataset, seconds_since_heartbeat=STALE_AFTER + 1)

    _status(owner_client, experiment, **{"Accept-Language": "en"})

    experiment.refresh_from_db()
    assert experiment.error == STALE_MESSAGE


def test_an_outsider_gets_404_and_reaps_nothing(outsider_client, iris_dataset, mlflow):
    experiment = _running(iris_dataset, seconds_since_heartbeat=STALE_AFTER + 1)

    assert _status(outsider_client, experiment).status_code == 404

    experiment.refresh_from_db()
    assert experiment.status == Status.RUNNING


def test_only_the_experiment_shown_is_reaped(owner_client, iris_dataset, mlflow):
    shown = _running(iris_dataset, seconds_since_heartbeat=STALE_AFTER + 1)
    other = _running(iris_dataset, seconds_since_heartbeat=STALE_AFTER + 1)

    assert experiment_fail_if_stale(experiment=shown) is True

    assert shown.status == Status.ERROR  # refreshed in place
    other.refresh_from_db()
    assert other.status == Status.RUNNING


def test_a_finished_experiment_is_never_touched(iris_dataset, mlflow):
    experiment = queued_experiment(
        iris_dataset,
        status=Status.FINISHED,
        heartbeat_at=timezone.now() - timedelta(days=1),
    )

    assert experiment_fail_if_stale(experiment=experiment) is False

    experiment.refresh_from_db()
    assert experiment.status == Status.FINISHED
    assert experiment.error == ""


@pytest.mark.parametrize("outage", ["mlflow_down", "mlflow_silent"])
def test_the_page_tries_mlflow_once_within_the_web_timeouts(
    request, owner_client, iris_dataset, outage, http_calls, settings
):
    mlflow_url = request.getfixturevalue(outage)
    experiment = _running(iris_dataset, seconds_since_heartbeat=STALE_AFTER + 1, run_id="0" * 32)

    response = _status(owner_client, experiment)

    assert response.headers["HX-Refresh"] == "true"
    experiment.refresh_from_db()
    assert experiment.status == Status.ERROR
    # One attempt to end the run, with the web's connect timeout, the run reads' bounded read
    # timeout and no retry; the wait itself is measured in bench/, not here.
    [call] = http_calls
    assert call.url.startswith(mlflow_url + "/api/2.0/mlflow/runs/")
    assert call.timeout == (settings.MLFLOW_WEB_CONNECT_TIMEOUT, 2.0)  # runs._READ_TIMEOUT
    assert call.retries == 0


def test_the_web_side_of_the_reaper_imports_neither_mlflow_nor_scikit_learn():
    code = (
        "import sys, django; django.setup();"
        "import cauce.experiments.views, cauce.experiments.api, cauce.experiments.liveness;"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'mlflow', 'sklearn', 'matplotlib'});"
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


# --- orphan runs ---------------------------------------------------------------------------


def _error_experiment(dataset, run_id: str, *, days_ago: float = 0) -> MLExperiment:
    experiment = queued_experiment(dataset, status=Status.ERROR, mlflow_run_id=run_id)
    MLExperiment.objects.filter(pk=experiment.pk).update(
        updated_at=timezone.now() - timedelta(days=days_ago)
    )
    return experiment


def test_running_runs_of_recent_error_experiments_are_ended_failed(iris_dataset, mlflow_client):
    orphan = _open_run("huérfano")
    _error_experiment(iris_dataset, orphan)
    ended = _open_run("terminado")
    runs.run_end(run_id=ended, status="FINISHED")
    _error_experiment(iris_dataset, ended)
    old = _open_run("antiguo")
    _error_experiment(iris_dataset, old, days_ago=8)
    live = _open_run("en marcha")
    _running(iris_dataset, seconds_since_heartbeat=0, run_id=live)
    _error_experiment(iris_dataset, "f" * 32)  # a run MLflow does not know
    _error_experiment(iris_dataset, "")

    assert experiments_close_orphan_runs() == 1

    assert mlflow_client.get_run(orphan).info.status == "FAILED"
    assert mlflow_client.get_run(ended).info.status == "FINISHED"
    assert mlflow_client.get_run(old).info.status == "RUNNING"
    assert mlflow_client.get_run(live).info.status == "RUNNING"


def test_unrecorded_runs_of_error_and_cancelled_experiments_are_found_by_their_tag(
    iris_dataset, mlflow_client
):
    """An attempt whose run id never reached the database (it was down) left the run
    RUNNING with only its tag to find it by; the runs of live experiments stay as they are."""
    project = iris_dataset.project
    project.mlflow_experiment_id = tracking.experiment_ensure(
        name=f"liveness-tags-{uuid.uuid4().hex}"
    )
    project.save(update_fields=["mlflow_experiment_id"])

    def tagged_run(experiment: MLExperiment) -> str:
        return tracking.run_create(
            experiment_id=project.mlflow_experiment_id,
            run_name=experiment.name,
            tags={EXPERIMENT_ID_TAG: str(experiment.pk)},
        )

    failed = tagged_run(_error_experiment(iris_dataset, ""))
    killed = tagged_run(queued_experiment(iris_dataset, status=Status.CANCELLED))
    live = tagged_run(_running(iris_dataset, seconds_since_heartbeat=0))
    foreign = tracking.run_create(
        experiment_id=project.mlflow_experiment_id, run_name="de otro", tags={}
    )

    assert experiments_close_orphan_runs() == 2

    assert mlflow_client.get_run(failed).info.status == "FAILED"
    assert mlflow_client.get_run(killed).info.status == "KILLED"
    assert mlflow_client.get_run(live).info.status == "RUNNING"
    assert mlflow_client.get_run(foreign).info.status == "RUNNING"
    assert experiments_close_orphan_runs() == 0  # nothing left to end


def test_the_orphan_pass_is_bounded_latest_first(iris_dataset, mlflow_client):
    earlier = _open_run("anterior")
    _error_experiment(iris_dataset, earlier, days_ago=1)
    latest = _open_run("último")
    _error_experiment(iris_dataset, latest)

    assert experiments_close_orphan_runs(limit=1) == 1

    assert mlflow_client.get_run(latest).info.status == "FAILED"
    assert mlflow_client.get_run(earlier).info.status == "RUNNING"


def test_the_orphan_pass_skips_quietly_with_mlflow_down(
    iris_dataset, mlflow_client, settings, http_calls
):
    orphan = _open_run("huérfano")
    _error_experiment(iris_dataset, orphan)
    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{free_port()}"
    http_calls.clear()

    assert experiments_close_orphan_runs() == 0
    # It gives up at the first refusal: one call, no retry, not one per orphan.
    assert [
        (call.url.startswith(settings.MLFLOW_TRACKING_URI), call.retries) for call in http_calls
    ] == [(True, 0)]

    assert mlflow_client.get_run(orphan).info.status == "RUNNING"
