"""The experiment's status transitions: each applies only from the states it names, and
writes the same fields whoever calls it."""

from datetime import timedelta

import pytest
from django.db.models import Q
from django.utils import timezone

from cauce.experiments import transitions
from cauce.experiments.models import MLExperiment
from cauce.experiments.tests.runner_support import queued_experiment

Status = MLExperiment.Status
Stage = MLExperiment.Stage

ALL_STATUSES = list(Status.values)
RUN_ID = "0123456789abcdef0123456789abcdef"


def _experiment(dataset, status: str) -> MLExperiment:
    """An experiment in ``status`` with every field a transition may clear filled in."""
    now = timezone.now() - timedelta(minutes=5)
    return queued_experiment(
        dataset,
        tags=[],
        status=status,
        stage=Stage.TRAINING if status in MLExperiment.ACTIVE_STATUSES else "",
        stage_started_at=now,
        started_at=now,
        finished_at=now,
        heartbeat_at=now,
        due_at=now,
        error="antes",
        task_id="task-1",
        attempts=1,
        mlflow_run_id=RUN_ID,
        mlflow_model_id="m-1",
        mlflow_model_uri="models:/m-1",
    )


def _calls(experiment: MLExperiment, now):
    """Each transition, called on ``experiment`` as its writers call it."""
    return {
        "to_queued": lambda: transitions.to_queued(
            experiment_id=experiment.pk, task_id="task-2", now=now
        ),
        "to_running": lambda: transitions.to_running(
            experiment_id=experiment.pk, task_id="task-2", now=now
        ),
        "to_finished": lambda: transitions.to_finished(
            experiment_id=experiment.pk, task_id="task-1", timings={"fit": 1.0}, plots=[], now=now
        ),
        "to_queued_for_retry": lambda: transitions.to_queued_for_retry(
            experiment_id=experiment.pk, task_id="task-1", countdown=30, now=now
        ),
        "to_error": lambda: transitions.to_error(
            experiment_id=experiment.pk, message="falló", now=now
        ),
        "to_cancelled": lambda: transitions.to_cancelled(experiment_id=experiment.pk, now=now),
        "to_error_detached": lambda: transitions.to_error_detached(
            experiment_id=experiment.pk, run_id=RUN_ID, message="sin run", now=now
        ),
    }


ALLOWED_FROM = {
    "to_queued": [Status.DRAFT, Status.ERROR, Status.CANCELLED],
    "to_running": [Status.QUEUED, Status.RUNNING],
    "to_finished": [Status.RUNNING],
    "to_queued_for_retry": [Status.RUNNING],
    "to_error": [Status.QUEUED, Status.RUNNING],
    "to_cancelled": [Status.QUEUED, Status.RUNNING],
    "to_error_detached": [Status.FINISHED, Status.ERROR, Status.CANCELLED],
}
RESULT = {
    "to_queued": Status.QUEUED,
    "to_running": Status.RUNNING,
    "to_finished": Status.FINISHED,
    "to_queued_for_retry": Status.QUEUED,
    "to_error": Status.ERROR,
    "to_cancelled": Status.CANCELLED,
    "to_error_detached": Status.ERROR,
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(ALLOWED_FROM))
@pytest.mark.parametrize("status", ALL_STATUSES)
def test_a_transition_applies_only_from_its_states(iris_dataset, name, status):
    experiment = _experiment(iris_dataset, status)
    before = experiment.updated_at

    applied = _calls(experiment, timezone.now())[name]()

    experiment.refresh_from_db()
    if status in ALLOWED_FROM[name]:
        assert applied is True
        assert experiment.status == RESULT[name]
        assert experiment.updated_at > before
    else:
        assert applied is False
        assert experiment.status == status
        assert experiment.updated_at == before


ERROR_FIELDS = {
    "status": Status.ERROR,
    "stage": "",
    "stage_started_at": None,
    "due_at": None,
}


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Status.QUEUED, Status.RUNNING])
def test_to_error_writes_the_same_fields_from_queued_and_running(iris_dataset, status):
    experiment = _experiment(iris_dataset, status)
    now = timezone.now()

    assert transitions.to_error(experiment_id=experiment.pk, message="falló", now=now)

    experiment.refresh_from_db()
    assert {field: getattr(experiment, field) for field in ERROR_FIELDS} == ERROR_FIELDS
    assert experiment.error == "falló"
    assert experiment.finished_at == now
    assert experiment.updated_at == now


@pytest.mark.django_db
def test_to_error_detached_writes_the_error_fields_and_keeps_when_the_run_ended(iris_dataset):
    experiment = _experiment(iris_dataset, Status.FINISHED)
    ended = experiment.finished_at
    now = timezone.now()

    assert transitions.to_error_detached(
        experiment_id=experiment.pk, run_id=RUN_ID, message="sin run", now=now
    )

    experiment.refresh_from_db()
    assert {field: getattr(experiment, field) for field in ERROR_FIELDS} == ERROR_FIELDS
    assert (experiment.mlflow_run_id, experiment.mlflow_model_id, experiment.mlflow_model_uri) == (
        "",
        "",
        "",
    )
    assert experiment.error == "sin run"
    assert experiment.updated_at == now
    assert experiment.finished_at == ended


@pytest.mark.django_db
def test_to_error_detached_leaves_an_experiment_now_on_another_run(iris_dataset):
    experiment = _experiment(iris_dataset, Status.FINISHED)

    assert not transitions.to_error_detached(
        experiment_id=experiment.pk, run_id="another-run", message="sin run"
    )
    experiment.refresh_from_db()
    assert experiment.status == Status.FINISHED


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["to_finished", "to_queued_for_retry", "to_error_with_task"])
def test_a_transition_owned_by_a_task_leaves_a_row_another_task_took_over(iris_dataset, name):
    experiment = _experiment(iris_dataset, Status.RUNNING)
    MLExperiment.objects.filter(pk=experiment.pk).update(task_id="task-other")
    calls = {
        "to_finished": lambda: transitions.to_finished(
            experiment_id=experiment.pk, task_id="task-1", timings={}, plots=[]
        ),
        "to_queued_for_retry": lambda: transitions.to_queued_for_retry(
            experiment_id=experiment.pk, task_id="task-1", countdown=5
        ),
        "to_error_with_task": lambda: transitions.to_error(
            experiment_id=experiment.pk, message="x", task_id="task-1"
        ),
    }

    assert calls[name]() is False
    experiment.refresh_from_db()
    assert (experiment.status, experiment.task_id) == (Status.RUNNING, "task-other")


@pytest.mark.django_db
def test_a_caller_narrows_the_allowed_states_and_cannot_widen_them(iris_dataset):
    queued = _experiment(iris_dataset, Status.QUEUED)
    finished = _experiment(iris_dataset, Status.FINISHED)

    assert not transitions.to_error(
        experiment_id=queued.pk, message="x", from_statuses=[Status.RUNNING]
    )
    assert not transitions.to_cancelled(experiment_id=finished.pk, from_statuses=[Status.FINISHED])
    assert not transitions.to_running(
        experiment_id=queued.pk, task_id="task-2", from_statuses=[Status.RUNNING]
    )
    assert transitions.to_error(experiment_id=queued.pk, message="x", where=Q(due_at__isnull=False))
    queued.refresh_from_db()
    finished.refresh_from_db()
    assert (queued.status, finished.status) == (Status.ERROR, Status.FINISHED)


@pytest.mark.django_db
def test_to_running_counts_an_attempt_and_clears_the_last_ending(iris_dataset):
    experiment = _experiment(iris_dataset, Status.QUEUED)
    now = timezone.now()

    assert transitions.to_running(experiment_id=experiment.pk, task_id=None, now=now)

    experiment.refresh_from_db()
    assert experiment.attempts == 2
    assert experiment.task_id == "task-1"  # outside a task the id stays
    assert (experiment.stage, experiment.started_at, experiment.heartbeat_at) == (
        Stage.PREPARING,
        now,
        now,
    )
    assert (experiment.finished_at, experiment.error) == (None, "")
