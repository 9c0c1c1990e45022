"""Celery tasks of sweeps, on the experiment queue. Thin: load by id, call the engine."""

import logging

from celery import shared_task
from django.conf import settings
from django.utils.translation import gettext as _

from cauce.core.retry import mlflow_retry_delay
from cauce.integrations.mlflow import MlflowUnavailable

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, max_retries=None)
def sweep_start_task(self, sweep_id: str) -> None:
    """Start a queued sweep; while MLflow is down, retry with backoff, then end it ERROR."""
    from cauce.sweeps.engine import sweep_error, sweep_start

    try:
        sweep_start(sweep_id=sweep_id)
    except MlflowUnavailable as exc:
        if self.request.retries >= settings.EXPERIMENT_MLFLOW_RETRIES:
            sweep_error(
                sweep_id=sweep_id, message=_("MLflow no disponible: %(error)s") % {"error": exc}
            )
            return
        raise self.retry(exc=exc, countdown=mlflow_retry_delay(self.request.retries)) from exc


@shared_task(acks_late=True)
def sweep_trial_task(sweep_id: str, number: int) -> None:
    """Run one trial of a sweep (see ``cauce.sweeps.engine.trial_execute``)."""
    from cauce.sweeps.engine import trial_execute

    trial_execute(sweep_id=sweep_id, number=int(number))
