"""Cancel: the service, the page's button, the API and what the runner does with it."""

import threading
import time

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from mlflow.tracking import MlflowClient

from cauce.core.exceptions import ConflictError
from cauce.experiments import services
from cauce.experiments.models import MLExperiment
from cauce.experiments.runner import experiment_execute
from cauce.experiments.tests.runner_support import queued_experiment
from cauce.experiments.tests.web_support import finish, set_state
from cauce.integrations.mlflow import runs, tracking

Status = MLExperiment.Status
Stage = MLExperiment.Stage

CANCEL_CONFIRM = (
    "¿Cancelar este experimento? Si se está entrenando, se detiene y su run de MLflow queda "
    "como KILLED."
)


def _cancel_url(experiment) -> str:
    return reverse("experiments:ml_experiment_cancel", args=[experiment.pk])


def _api_cancel_url(experiment) -> str:
    return f"/api/experiments/{experiment.pk}/cancel/"


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- the service -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("stage", [Stage.WAITING, Stage.RETRYING])
def test_a_queued_or_retrying_experiment_is_cancelled_and_never_starts(
    iris_dataset, editor, stage, mlflow_down
):
    experiment = queued_experiment(iris_dataset, stage=stage)

    services.experiment_cancel(experiment=experiment, user=editor)

    experiment.refresh_from_db()
    assert experiment.status == Status.CANCELLED
    assert experiment.get_status_display() == "Cancelado"
    assert experiment.stage == ""
    assert experiment.finished_at is not None
    # The queued message arrives later: the claim sees CANCELLED and does nothing.
    experiment_execute(experiment_id=str(experiment.pk), task_id="a-late-message")
    experiment.refresh_from_db()
    assert experiment.status == Status.CANCELLED
    assert experiment.attempts == 0
    assert experiment.mlflow_run_id == ""


@pytest.mark.django_db
def test_cancelling_a_retrying_experiment_ends_its_run_left_running_as_killed(
    iris_dataset, editor, mlflow
):
    mlflow_experiment_id = tracking.experiment_ensure(
        name=iris_dataset.project.mlflow_experiment_name
    )
    # MLflow's outage kept the first attempt's run from being ended.
    run_id = tracking.run_create(experiment_id=mlflow_experiment_id, run_name="r", tags={})
    experiment = queued_experiment(
        iris_dataset, stage=Stage.RETRYING, attempts=1, mlflow_run_id=run_id
    )

    services.experiment_cancel(experiment=experiment, user=editor)

    assert MlflowClient(tracking_uri=mlflow).get_run(run_id).info.status == "KILLED"
    experiment.refresh_from_db()
    assert experiment.status == Status.CANCELLED


@pytest.mark.django_db
def test_cancelling_a_queued_experiment_leaves_an_earlier_ended_run_alone(
    iris_dataset, editor, mlflow
):
    mlflow_experiment_id = tracking.experiment_ensure(
        name=iris_dataset.project.mlflow_experiment_name
    )
    run_id = tracking.run_create(experiment_id=mlflow_experiment_id, run_name="r", tags={})
    runs.run_end(run_id=run_id, status="FAILED")
    experiment = queued_experiment(iris_dataset, mlflow_run_id=run_id)

    services.experiment_cancel(experiment=experiment, user=editor)

    assert MlflowClient(tracking_uri=mlflow).get_run(run_id).info.status == "FAILED"


@pytest.mark.django_db
def test_a_queued_experiment_is_cancelled_even_with_mlflow_down(iris_dataset, editor, mlflow_down):
    experiment = queued_experiment(iris_dataset, stage=Stage.RETRYING, mlflow_run_id="abc" * 10)

    services.experiment_cancel(experiment=experiment, user=editor)

    experiment.refresh_from_db()
    assert experiment.status == Status.CANCELLED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "message"),
    [
        (Status.DRAFT, "Solo se puede cancelar un experimento en cola o en ejecución."),
        (Status.FINISHED, "Solo se puede cancelar un experimento en cola o en ejecución."),
        (Status.ERROR, "Solo se puede cancelar un experimento en cola o en ejecución."),
        (Status.CANCELLED, "El experimento ya está cancelado."),
    ],
)
def test_only_queued_or_running_experiments_can_be_cancelled(experiment, editor, status, message):
    set_state(experiment, status=status, error="antes")

    with pytest.raises(ConflictError) as raised:
        services.experiment_cancel(experiment=experiment, user=editor)

    assert str(raised.value.message) == message
    experiment.refresh_from_db()
    assert experiment.status == status
    assert experiment.error == "antes"


@pytest.mark.django_db
def test_a_cancelled_experiment_runs_again_under_a_new_task_id(
    iris_dataset, editor, django_capture_on_commit_callbacks
):
    experiment = queued_experiment(iris_dataset, task_id="first")
    services.experiment_cancel(experiment=experiment, user=editor)

    with django_capture_on_commit_callbacks(execute=False):
        services.experiment_enqueue(experiment=experiment, user=editor)

    experiment.refresh_from_db()
    assert experiment.status == Status.QUEUED
    assert experiment.stage == Stage.WAITING
    assert experiment.finished_at is None
    assert experiment.task_id not in ("", "first")
    assert experiment.dispatches == 1


# --- the page --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Status.QUEUED, Status.RUNNING])
def test_editors_see_the_cancel_button_with_a_confirmation(editor_client, experiment, status):
    set_state(experiment, status=status, stage=Stage.WAITING)

    page = editor_client.get(
        reverse("experiments:ml_experiment_detail", args=[experiment.pk])
    ).content.decode()

    assert f'action="{_cancel_url(experiment)}"' in page
    assert 'src="/static/cauce/confirm.js"' in page  # asks before a data-confirm form is sent
    assert f'data-confirm="{CANCEL_CONFIRM}"' in page


@pytest.mark.django_db
def test_viewers_get_no_cancel_button(viewer_client, experiment):
    set_state(experiment, status=Status.RUNNING)

    page = viewer_client.get(
        reverse("experiments:ml_experiment_detail", args=[experiment.pk])
    ).content.decode()

    assert "En ejecución" in page
    assert _cancel_url(experiment) not in page


@pytest.mark.django_db
def test_a_finished_experiment_has_no_cancel_button(editor_client, experiment):
    finish(experiment)

    page = editor_client.get(
        reverse("experiments:ml_experiment_detail", args=[experiment.pk])
    ).content.decode()

    assert "Finalizado" in page
    assert _cancel_url(experiment) not in page


@pytest.mark.django_db
def test_the_editor_cancels_from_the_page_and_can_run_it_again(editor_client, experiment):
    set_state(experiment, status=Status.QUEUED, stage=Stage.WAITING)

    response = editor_client.post(_cancel_url(experiment))

    assert response.status_code == 302
    assert response.url == reverse("experiments:ml_experiment_detail", args=[experiment.pk])
    assert _messages(response) == ["Experimento cancelado."]
    experiment.refresh_from_db()
    assert experiment.status == Status.CANCELLED
    page = editor_client.get(response.url).content.decode()
    assert 'class="badge CANCELLED">Cancelado</span>' in page
    assert "Puede volver a ejecutarlo con «Ejecutar»." in page
    assert reverse("experiments:ml_experiment_run", args=[experiment.pk]) in page
    assert _cancel_url(experiment) not in page


@pytest.mark.django_db
def test_the_page_says_why_a_cancel_is_refused(editor_client, experiment):
    finish(experiment)

    response = editor_client.post(_cancel_url(experiment))

    assert response.status_code == 302
    assert _messages(response) == ["Solo se puede cancelar un experimento en cola o en ejecución."]
    experiment.refresh_from_db()
    assert experiment.status == Status.FINISHED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "method", "status_code"),
    [
        ("viewer_client", "post", 403),
        ("outsider_client", "post", 404),
        ("editor_client", "get", 405),
    ],
)
def test_the_cancel_page_is_403_for_viewers_404_for_outsiders_and_post_only(
    request, experiment, who, method, status_code
):
    set_state(experiment, status=Status.QUEUED)
    client = request.getfixturevalue(who)

    assert getattr(client, method)(_cancel_url(experiment)).status_code == status_code
    experiment.refresh_from_db()
    assert experiment.status == Status.QUEUED


@pytest.mark.django_db
def test_the_list_filters_cancelled_experiments(viewer_client, experiment):
    set_state(experiment, status=Status.CANCELLED)

    page = viewer_client.get(
        reverse("experiments:ml_experiment_list", args=[experiment.project_id]),
        {"status": "CANCELLED"},
    ).content.decode()

    assert "Iris base" in page
    assert '<option value="CANCELLED" selected>Cancelado</option>' in page


# --- the API ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_cancels_for_editors(editor_api, experiment):
    set_state(experiment, status=Status.RUNNING, stage=Stage.TRAINING)

    response = editor_api.post(_api_cancel_url(experiment))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "CANCELLED"
    assert body["status_display"] == "Cancelado"
    assert body["stage"] == ""


@pytest.mark.django_db
def test_the_api_answers_409_when_there_is_nothing_to_cancel(editor_api, experiment):
    response = editor_api.post(_api_cancel_url(experiment))

    assert response.status_code == 409
    assert response.json() == {
        "message": "Solo se puede cancelar un experimento en cola o en ejecución."
    }


@pytest.mark.django_db
def test_the_api_cancel_is_403_for_viewers_and_404_for_outsiders(
    api_client, viewer, outsider_api, experiment
):
    set_state(experiment, status=Status.QUEUED)
    assert outsider_api.post(_api_cancel_url(experiment)).status_code == 404
    api_client.force_authenticate(viewer)
    assert api_client.post(_api_cancel_url(experiment)).status_code == 403
    experiment.refresh_from_db()
    assert experiment.status == Status.QUEUED


@pytest.mark.django_db
def test_the_cancel_endpoint_is_in_the_schema_with_its_status_codes(owner_api):
    schema = owner_api.get("/api/schema/", {"format": "json"}).json()

    operation = schema["paths"]["/api/experiments/{id}/cancel/"]["post"]

    # Its own answers, and the error answers every operation documents (cauce/api/schema.py).
    assert set(operation["responses"]) == {
        "200", "400", "401", "403", "404", "405", "409", "415", "503"
    }  # fmt: skip
    assert "CANCELLED" in schema["components"]["schemas"]["StatusEnum"]["enum"]


# --- the runner (under the worker's MLflow profile, as in a worker) ---------------------------


@pytest.mark.usefixtures("worker_profile")
@pytest.mark.django_db
def test_a_duplicate_message_of_a_running_experiment_is_ignored(iris_dataset):
    experiment = queued_experiment(
        iris_dataset, status=Status.RUNNING, task_id="claimer", attempts=1
    )
    before = MLExperiment.objects.get(pk=experiment.pk)

    experiment_execute(experiment_id=str(experiment.pk), task_id="second-dispatch")

    after = MLExperiment.objects.get(pk=experiment.pk)
    assert (after.status, after.attempts, after.task_id, after.updated_at) == (
        Status.RUNNING,
        1,
        "claimer",
        before.updated_at,
    )


def _cancel_when(experiment_id, stage: str) -> threading.Thread:
    """In another thread: cancel the experiment once it reaches ``stage``."""

    def watch() -> None:
        from django.db import connection

        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                current = MLExperiment.objects.get(pk=experiment_id)
                if current.status not in MLExperiment.ACTIVE_STATUSES:
                    return
                if current.stage == stage:
                    services.experiment_cancel(experiment=current, user=None)
                    return
                time.sleep(0.05)
        finally:
            connection.close()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.usefixtures("worker_profile")
@pytest.mark.django_db(transaction=True)
def test_a_cancel_during_the_training_interrupts_it_and_kills_the_run(
    iris_dataset, mlflow, settings
):
    # A training of minutes; the heartbeat thread notices the cancel within 0.2 s.
    settings.EXPERIMENT_HEARTBEAT_SECONDS = 0.2
    experiment = queued_experiment(
        iris_dataset,
        algorithm="GradientBoostingClassifier",
        hyperparameters={"n_estimators": 100000, "max_depth": 3},
        task_id="t-1",
    )
    watcher = _cancel_when(experiment.pk, Stage.TRAINING)

    experiment_execute(experiment_id=str(experiment.pk), task_id="t-1")

    watcher.join(timeout=10)
    experiment.refresh_from_db()
    assert experiment.status == Status.CANCELLED
    assert experiment.stage == ""
    assert experiment.metrics == {}
    assert experiment.mlflow_model_id == ""
    run = MlflowClient(tracking_uri=mlflow).get_run(experiment.mlflow_run_id)
    assert run.info.status == "KILLED"
    assert run.data.metrics == {}


@pytest.mark.usefixtures("worker_profile")
@pytest.mark.django_db(transaction=True)
def test_a_cancel_is_seen_at_the_next_step_without_the_heartbeat(iris_dataset, mlflow, settings):
    settings.EXPERIMENT_HEARTBEAT_SECONDS = 3600
    experiment = queued_experiment(
        iris_dataset,
        algorithm="RandomForestClassifier",
        hyperparameters={"n_estimators": 400},
        task_id="t-2",
    )
    watcher = _cancel_when(experiment.pk, Stage.TRAINING)

    experiment_execute(experiment_id=str(experiment.pk), task_id="t-2")

    watcher.join(timeout=10)
    experiment.refresh_from_db()
    assert experiment.status == Status.CANCELLED
    assert experiment.mlflow_model_id == ""
    client = MlflowClient(tracking_uri=mlflow)
    run = client.get_run(experiment.mlflow_run_id)
    assert run.info.status == "KILLED"
    # The training ended, but nothing after it was logged.
    assert run.data.metrics == {}
    assert client.list_artifacts(experiment.mlflow_run_id) == []


@pytest.mark.usefixtures("worker_profile")
@pytest.mark.django_db
def test_a_cancel_in_the_last_instant_kills_a_finished_run(
    iris_dataset, mlflow, monkeypatch, settings
):
    # No heartbeat thread: its own connection does not see this test's uncommitted rows.
    settings.EXPERIMENT_HEARTBEAT_SECONDS = 3600
    experiment = queued_experiment(iris_dataset)
    real_run_end = runs.run_end

    def run_end_then_cancel(*, run_id, status="FINISHED", worker=False):
        real_run_end(run_id=run_id, status=status, worker=worker)
        if status == "FINISHED":
            MLExperiment.objects.filter(pk=experiment.pk).update(
                status=Status.CANCELLED, finished_at=timezone.now()
            )

    monkeypatch.setattr(runs, "run_end", run_end_then_cancel)

    experiment_execute(experiment_id=str(experiment.pk))

    experiment.refresh_from_db()
    assert experiment.status == Status.CANCELLED
    assert MlflowClient(tracking_uri=mlflow).get_run(experiment.mlflow_run_id).info.status == (
        "KILLED"
    )
