"""The sweeps' watch and the controller's lease, without a worker: rows in, rows out."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cauce.sweeps import liveness
from cauce.sweeps.engine import sweep_fill
from cauce.sweeps.models import Sweep, Trial

pytestmark = pytest.mark.django_db


def _running(sweep) -> Sweep:
    Sweep.objects.filter(pk=sweep.pk).update(status=Sweep.Status.RUNNING)
    sweep.refresh_from_db()
    return sweep


def _trial(sweep, number=0, **fields) -> Trial:
    return Trial.objects.create(sweep=sweep, number=number, optuna_trial_id=number + 1, **fields)


def test_a_kick_that_finds_the_lease_taken_leaves_it_to_the_holder(sweep):
    sweep = _running(sweep)
    until = timezone.now() + timedelta(seconds=60)
    Sweep.objects.filter(pk=sweep.pk).update(controller_token="other", controller_until=until)

    sweep_fill(sweep_id=sweep.pk)

    sweep.refresh_from_db()
    assert sweep.controller_wanted  # the holder runs once more before it lets go
    assert sweep.controller_token == "other"
    assert not Trial.objects.filter(sweep=sweep).exists()


def test_the_watch_fails_a_running_trial_without_a_heartbeat(sweep, settings):
    sweep = _running(sweep)
    old = timezone.now() - timedelta(seconds=settings.EXPERIMENT_STALE_AFTER_SECONDS + 5)
    stale = _trial(sweep, 0, status=Trial.Status.RUNNING, heartbeat_at=old)
    alive = _trial(sweep, 1, status=Trial.Status.RUNNING, heartbeat_at=timezone.now())

    failed = liveness.trials_fail_stale()

    assert [trial.pk for trial in failed] == [stale.pk]
    stale.refresh_from_db()
    alive.refresh_from_db()
    assert stale.status == Trial.Status.FAIL
    assert stale.error == "El proceso de trabajo se detuvo durante la prueba."
    assert alive.status == Trial.Status.RUNNING


def test_the_watch_sends_a_lost_trial_again_then_gives_up(sweep, settings):
    sweep = _running(sweep)
    old = timezone.now() - timedelta(seconds=settings.EXPERIMENT_QUEUE_TIMEOUT_SECONDS + 5)
    lost = _trial(sweep, 0, dispatched_at=old, dispatches=1)

    assert liveness.trials_redispatch_lost() == 1
    lost.refresh_from_db()
    assert (lost.status, lost.dispatches) == (Trial.Status.WAITING, 2)
    assert lost.dispatched_at > old

    Trial.objects.filter(pk=lost.pk).update(
        dispatched_at=old, dispatches=settings.EXPERIMENT_QUEUE_MAX_DISPATCHES
    )
    assert liveness.trials_redispatch_lost(may_give_up=False) == 0
    lost.refresh_from_db()
    assert lost.status == Trial.Status.WAITING
    assert liveness.trials_redispatch_lost() == 0
    lost.refresh_from_db()
    assert lost.status == Trial.Status.FAIL


def test_the_watch_sends_a_lost_start_again(sweep, settings):
    old = timezone.now() - timedelta(seconds=settings.EXPERIMENT_QUEUE_TIMEOUT_SECONDS + 5)
    Sweep.objects.filter(pk=sweep.pk).update(due_at=old)

    assert liveness.sweeps_restart_lost() == 1
    sweep.refresh_from_db()
    assert sweep.due_at > old
    assert liveness.sweeps_restart_lost() == 0  # not due again yet
