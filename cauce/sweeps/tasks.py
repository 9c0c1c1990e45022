"""Celery tasks of sweeps, on the experiment queue. Thin: load by id, call the engine."""

import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from cauce.core.db import database_unavailable
from cauce.core.retry import mlflow_retry_delay
from cauce.integrations.mlflow import MlflowUnavailable

logger = logging.getLogger(__name__)


def _due_in(seconds: float):
    return timezone.now() + timezone.timedelta(seconds=seconds)


@shared_task(bind=True, acks_late=True, max_retries=None)
def sweep_start_task(self, sweep_id: str) -> None:
    """Start a queued sweep; while MLflow is down, retry with backoff, then end it ERROR."""
    from cauce.sweeps.engine import sweep_error, sweep_start
    from cauce.sweeps.models import Sweep

    countdown = mlflow_retry_delay(self.request.retries)
    try:
        sweep_start(sweep_id=sweep_id)
    except MlflowUnavailable as exc:
        if self.request.retries >= settings.EXPERIMENT_MLFLOW_RETRIES:
            sweep_error(
                sweep_id=sweep_id, message=_("MLflow no disponible: %(error)s") % {"error": exc}
            )
            return
        Sweep.objects.filter(pk=sweep_id, status=Sweep.Status.QUEUED).update(
            due_at=_due_in(countdown)
        )
        raise self.retry(exc=exc, countdown=countdown) from exc
    except Exception as exc:
        if not database_unavailable(exc) or self.request.retries >= (
            settings.EXPERIMENT_DATABASE_RETRIES
        ):
            raise
        logger.warning("Sweep %s: database unavailable (%r); retrying", sweep_id, exc)
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(bind=True, acks_late=True, max_retries=None)
def sweep_trial_task(self, sweep_id: str, number: int) -> None:
    """Run one trial of a sweep (see ``cauce.sweeps.engine.trial_execute``). While MLflow is
    down before the trial starts it waits and retries as an experiment does; then it FAILs
    and the sweep goes on."""
    from cauce.sweeps.engine import TrialRetry, trial_execute, trial_give_up
    from cauce.sweeps.models import Trial

    countdown = mlflow_retry_delay(self.request.retries)
    try:
        trial_execute(sweep_id=sweep_id, number=int(number))
    except TrialRetry as exc:
        if self.request.retries >= settings.EXPERIMENT_MLFLOW_RETRIES:
            trial_give_up(
                sweep_id=sweep_id,
                number=int(number),
                message=_("MLflow no disponible: %(error)s") % {"error": exc},
            )
            return
        Trial.objects.filter(
            sweep_id=sweep_id, number=int(number), status=Trial.Status.WAITING
        ).update(dispatched_at=_due_in(countdown))
        raise self.retry(exc=exc.cause, countdown=countdown) from exc
    except Exception as exc:
        if not database_unavailable(exc) or self.request.retries >= (
            settings.EXPERIMENT_DATABASE_RETRIES
        ):
            raise
        logger.warning("Sweep %s trial %s: database unavailable (%r)", sweep_id, number, exc)
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(bind=True, acks_late=True, max_retries=None)
def sweep_fill_task(self, sweep_id: str) -> None:
    """Run a sweep's controller (idempotent; see ``cauce.sweeps.engine.sweep_fill``)."""
    from cauce.sweeps.engine import sweep_fill

    try:
        sweep_fill(sweep_id=sweep_id)
    except Exception as exc:
        if not database_unavailable(exc) or self.request.retries >= (
            settings.EXPERIMENT_DATABASE_RETRIES
        ):
            raise
        raise self.retry(exc=exc, countdown=mlflow_retry_delay(self.request.retries)) from exc


@shared_task(ignore_result=True)
def sweeps_watch_task() -> None:
    """Periodic (Celery beat): kick every running sweep's controller, send lost messages
    again, fail trials whose worker died, close the runs of ended sweeps."""
    from cauce.sweeps.liveness import sweeps_watch

    sweeps_watch()


@shared_task(bind=True, acks_late=True, max_retries=None)
def sweep_register_candidate_task(self, sweep_id: str) -> None:
    """Register the auto-promoted experiment's model with the alias ``candidate`` once it
    finished (checked again every ``EXPERIMENT_MLFLOW_RETRY_DELAY`` while it trains)."""
    from cauce.sweeps.services import PromotionPending, sweep_register_candidate

    try:
        sweep_register_candidate(sweep_id=sweep_id)
    except (PromotionPending, MlflowUnavailable) as exc:
        if self.request.retries >= 120:
            logger.warning("Sweep %s: the promoted model was never registered", sweep_id)
            return
        raise self.retry(exc=exc, countdown=min(5 + self.request.retries, 30)) from exc
