"""Celery tasks of the registry: predicting a large file, the retention sweep, and removing
what a registration that failed during an MLflow outage left. Thin."""

from celery import shared_task
from django.conf import settings

from cauce.core.retry import mlflow_retry_delay
from cauce.integrations.mlflow import MlflowUnavailable


@shared_task(bind=True, acks_late=True, max_retries=None)
def prediction_job_run_task(self, job_id: str) -> None:
    """Predict one queued file (see ``predict.services.prediction_job_execute``).

    While MLflow is unreachable (the model cannot be loaded) the task retries with the
    MLflow backoff (``core.retry``); the last attempt ends the job ERROR "MLflow no disponible".
    """
    from cauce.registry.predict.services import prediction_job_execute

    last_try = self.request.retries >= settings.EXPERIMENT_MLFLOW_RETRIES
    try:
        prediction_job_execute(job_id=str(job_id), retry_on_unavailable=not last_try)
    except MlflowUnavailable as exc:
        raise self.retry(exc=exc, countdown=mlflow_retry_delay(self.request.retries)) from exc


@shared_task(ignore_result=True)
def prediction_jobs_expire_task() -> None:
    """Celery beat's retention sweep: expired prediction jobs, files and rows, one batch."""
    from cauce.registry.predict.retention import prediction_jobs_expire

    prediction_jobs_expire()


@shared_task(bind=True, acks_late=True, max_retries=None)
def registered_model_discard_task(self, name: str, project_id: int) -> None:
    """Remove the empty registered model a registration left when MLflow went away between
    creating it and its version (see ``services.registered_model_discard``); retries with the
    MLflow backoff while MLflow is unreachable."""
    from cauce.registry.services import registered_model_discard

    try:
        registered_model_discard(name=name, project_id=project_id)
    except MlflowUnavailable as exc:
        if self.request.retries >= settings.EXPERIMENT_MLFLOW_RETRIES:
            raise
        raise self.retry(exc=exc, countdown=mlflow_retry_delay(self.request.retries)) from exc
