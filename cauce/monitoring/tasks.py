"""Celery tasks of monitoring: drift windows, retention, MLflow metrics, webhooks. Thin."""

import requests
from celery import shared_task
from django.conf import settings

from cauce.core.retry import mlflow_retry_delay
from cauce.integrations.mlflow import MlflowUnavailable

WEBHOOK_RETRIES = 6


@shared_task(ignore_result=True)
def monitoring_drift_task() -> None:
    """Celery beat: every window of every version that served in the last 7 days."""
    from cauce.monitoring.windows import monitoring_compute_all

    monitoring_compute_all()


@shared_task(ignore_result=True)
def monitoring_retention_task() -> None:
    """Celery beat: monitoring rows older than ``MONITOR_RETENTION_DAYS``, in batches."""
    from cauce.monitoring.services import monitoring_retention_run

    monitoring_retention_run()


@shared_task(bind=True, acks_late=True, max_retries=None, ignore_result=True)
def drift_publish_task(self, model_name: str, version: int, metrics: dict, timestamp_ms: int):
    from cauce.monitoring.publish import drift_publish

    try:
        drift_publish(
            model_name=model_name, version=version, metrics=metrics, timestamp_ms=timestamp_ms
        )
    except MlflowUnavailable as exc:
        if self.request.retries >= settings.EXPERIMENT_MLFLOW_RETRIES:
            raise
        raise self.retry(exc=exc, countdown=mlflow_retry_delay(self.request.retries)) from exc


@shared_task(bind=True, acks_late=True, max_retries=WEBHOOK_RETRIES, ignore_result=True)
def alert_webhook_task(self, alert_id: int | None, test_project_id: int | None = None) -> None:
    """Send one alert to its project's webhook (or, with ``test_project_id``, a test delivery
    to that project's: the "Enviar prueba" button); retried with exponential backoff (2 s,
    4 s, 8 s... up to ``WEBHOOK_RETRIES`` times) while the receiver fails or is unreachable."""
    from cauce.monitoring.alerts import alert_webhook_send, webhook_test_send

    try:
        if test_project_id is not None:
            webhook_test_send(project_id=test_project_id)
        else:
            alert_webhook_send(alert_id=alert_id)
    except requests.RequestException as exc:
        raise self.retry(
            exc=exc, countdown=settings.MONITOR_WEBHOOK_BACKOFF * 2**self.request.retries
        ) from exc
