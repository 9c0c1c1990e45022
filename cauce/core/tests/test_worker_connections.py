"""A worker's database connection around its tasks: Django's CONN_MAX_AGE, not Celery's
close-everything (its Django fixup, as a worker installs it)."""

import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.db import connection

from config.celery import app


def _task_boundaries(fixup: DjangoWorkerFixup) -> None:
    """What a worker runs between two tasks: the end of one, the start of the next."""
    from cauce.sweeps.tasks import sweep_fill_task as task

    for signal, fixup_handler in (
        (task_postrun, fixup.on_task_postrun),
        (task_prerun, fixup.on_task_prerun),
    ):
        fixup_handler(sender=task)
        signal.send(sender=task, task_id="t", task=task, args=(), kwargs={})


@pytest.fixture
def max_age():
    saved = connection.settings_dict["CONN_MAX_AGE"]

    def choose(seconds: int) -> None:
        connection.close()
        connection.settings_dict["CONN_MAX_AGE"] = seconds
        connection.ensure_connection()

    yield choose
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = saved


@pytest.mark.django_db(transaction=True)
def test_a_kept_connection_serves_the_next_task(max_age):
    max_age(60)
    before = connection.connection
    fixup = DjangoWorkerFixup(app)
    for _ in range(3):
        _task_boundaries(fixup)
    assert connection.connection is before
    with connection.cursor() as cursor:  # still usable
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


@pytest.mark.django_db(transaction=True)
def test_without_a_max_age_each_task_gets_a_new_connection(max_age):
    max_age(0)
    fixup = DjangoWorkerFixup(app)
    _task_boundaries(fixup)
    assert connection.connection is None


@pytest.mark.django_db(transaction=True)
def test_a_broken_connection_is_not_handed_to_the_next_task(max_age):
    max_age(60)
    connection.errors_occurred = True
    connection.connection.close()  # what a database restart leaves
    _task_boundaries(DjangoWorkerFixup(app))
    assert connection.connection is None


@pytest.mark.django_db(transaction=True)
def test_a_task_run_eagerly_leaves_the_callers_connection_alone(max_age):
    from cauce.sweeps.tasks import sweep_fill_task

    max_age(0)
    before = connection.connection
    sweep_fill_task.apply(args=["00000000-0000-0000-0000-000000000000"])
    assert connection.connection is before
