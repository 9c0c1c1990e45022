"""The queue: lost messages sent again or ended, the periodic watch, the place in the queue."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from cauce.experiments.liveness import experiments_redispatch_lost
from cauce.experiments.models import MLExperiment
from cauce.experiments.selectors import experiment_queue_position
from cauce.experiments.tasks import experiments_watch_task
from cauce.experiments.tests.runner_support import queued_experiment
from config.celery import app

pytestmark = pytest.mark.django_db

Status = MLExperiment.Status
Stage = MLExperiment.Stage

TIMEOUT = 300
LOST_MESSAGE = (
    "Ningún proceso de trabajo tomó el experimento: se envió 3 veces a la cola y cada vez "
    "pasaron más de 300 s sin que empezara. Compruebe que hay procesos de trabajo en marcha y "
    "vuelva a ejecutarlo."
)


@pytest.fixture(autouse=True)
def _queue_settings(settings):
    settings.EXPERIMENT_QUEUE_TIMEOUT_SECONDS = TIMEOUT
    settings.EXPERIMENT_QUEUE_MAX_DISPATCHES = 3


def _ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def test_a_queued_experiment_unclaimed_past_the_limit_is_sent_again(iris_dataset, published):
    experiment = queued_experiment(
        iris_dataset, task_id="lost", due_at=_ago(TIMEOUT + 5), dispatches=1
    )

    assert experiments_redispatch_lost() == (1, 0)

    experiment.refresh_from_db()
    assert experiment.status == Status.QUEUED
    assert experiment.dispatches == 2
    assert experiment.task_id not in ("", "lost")
    assert experiment.due_at > _ago(5)
    assert [message["args"] for message in published] == [[str(experiment.pk)]]
    # Sent once: a second look finds it due again only after another timeout.
    assert experiments_redispatch_lost() == (0, 0)


def test_a_retry_is_lost_only_once_its_time_and_the_limit_have_passed(iris_dataset, published):
    waiting = queued_experiment(
        iris_dataset, stage=Stage.RETRYING, due_at=_ago(TIMEOUT - 30), dispatches=1
    )
    later = queued_experiment(
        iris_dataset, stage=Stage.RETRYING, due_at=timezone.now() + timedelta(seconds=60)
    )

    assert experiments_redispatch_lost() == (0, 0)

    assert published == []
    waiting.refresh_from_db()
    later.refresh_from_db()
    assert (waiting.dispatches, later.dispatches) == (1, 0)


def test_after_the_last_dispatch_it_ends_in_error_with_a_clear_message(iris_dataset, published):
    experiment = queued_experiment(iris_dataset, due_at=_ago(TIMEOUT + 5), dispatches=3)

    assert experiments_redispatch_lost() == (0, 1)

    experiment.refresh_from_db()
    assert experiment.status == Status.ERROR
    assert experiment.error == LOST_MESSAGE
    assert experiment.stage == ""
    assert experiment.finished_at is not None
    assert published == []


def test_a_worker_start_sends_again_but_never_gives_up(iris_dataset, published):
    experiment = queued_experiment(iris_dataset, due_at=_ago(TIMEOUT + 5), dispatches=3)

    assert experiments_redispatch_lost(may_give_up=False) == (0, 0)

    experiment.refresh_from_db()
    assert (experiment.status, experiment.dispatches) == (Status.QUEUED, 3)


@pytest.mark.parametrize("status", [Status.RUNNING, Status.CANCELLED, Status.DRAFT])
def test_only_queued_experiments_are_looked_at(iris_dataset, published, status):
    experiment = queued_experiment(
        iris_dataset, status=status, due_at=_ago(TIMEOUT + 5), dispatches=3
    )

    assert experiments_redispatch_lost() == (0, 0)

    experiment.refresh_from_db()
    assert experiment.status == status
    assert published == []


def test_the_periodic_watch_reaps_the_dead_and_sends_the_lost(iris_dataset, published, settings):
    lost = queued_experiment(iris_dataset, due_at=_ago(TIMEOUT + 5), dispatches=1)
    dead = queued_experiment(
        iris_dataset,
        status=Status.RUNNING,
        heartbeat_at=_ago(settings.EXPERIMENT_STALE_AFTER_SECONDS + 5),
    )

    experiments_watch_task.apply()

    lost.refresh_from_db()
    dead.refresh_from_db()
    assert (lost.status, lost.dispatches) == (Status.QUEUED, 2)
    assert dead.status == Status.ERROR
    assert [message["args"] for message in published] == [[str(lost.pk)]]


def test_the_watch_is_in_the_one_beat_schedule_and_expires_after_its_period(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["experiments-watch"]

    assert entry == {
        "task": "cauce.experiments.tasks.experiments_watch_task",
        "schedule": settings.EXPERIMENT_WATCH_SECONDS,
        "options": {"expires": settings.EXPERIMENT_WATCH_SECONDS},
    }
    assert app.conf.beat_schedule["experiments-watch"] == entry
    assert entry["task"] in app.tasks
    assert settings.EXPERIMENT_QUEUE_TIMEOUT_SECONDS > settings.EXPERIMENT_WATCH_SECONDS


# --- the place in the queue ------------------------------------------------------------------


def test_the_place_counts_the_waiting_experiments_of_every_project(
    iris_dataset, make_dataset, other_project, iris_csv_bytes
):
    other_iris = make_dataset(other_project, iris_csv_bytes, "iris.csv")
    first = queued_experiment(other_iris, queued_at=_ago(30))
    second = queued_experiment(iris_dataset, queued_at=_ago(20))
    third = queued_experiment(iris_dataset, queued_at=_ago(10))
    queued_experiment(iris_dataset, stage=Stage.RETRYING, queued_at=_ago(40))
    queued_experiment(iris_dataset, status=Status.RUNNING, queued_at=_ago(50))

    assert [experiment_queue_position(experiment=e) for e in (first, second, third)] == [
        (1, 3),
        (2, 3),
        (3, 3),
    ]


def test_no_place_for_a_retrying_or_running_experiment(iris_dataset):
    retrying = queued_experiment(iris_dataset, stage=Stage.RETRYING)
    running = queued_experiment(iris_dataset, status=Status.RUNNING)

    assert experiment_queue_position(experiment=retrying) is None
    assert experiment_queue_position(experiment=running) is None


def test_the_status_block_shows_the_place_in_the_queue(viewer_client, iris_dataset):
    queued_experiment(iris_dataset, queued_at=_ago(20))
    mine = queued_experiment(iris_dataset, queued_at=_ago(10))
    queued_experiment(iris_dataset, queued_at=_ago(5))
    url = reverse("experiments:ml_experiment_status", args=[mine.pk])

    block = viewer_client.get(url, headers={"HX-Request": "true"}).content.decode()
    detail = viewer_client.get(reverse("experiments:ml_experiment_detail", args=[mine.pk]))

    assert '<span class="queue-position"> · Posición en la cola: 2 de 3</span>' in block
    assert "Posición en la cola: 2 de 3" in detail.content.decode()
