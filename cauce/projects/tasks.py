"""Celery tasks of the projects app. Thin: load by id, call the service, retry."""

from celery import shared_task
from django.conf import settings

from cauce.core.retry import backoff_delay
from cauce.integrations.mlflow import MlflowUnavailable


@shared_task(bind=True, acks_late=True, max_retries=None)
def project_mlflow_rename_task(self, project_id: int) -> None:
    """Rename the project's MLflow experiment after the project (``project_mlflow_rename``).

    While MLflow is down it retries like a tag push (``TAG_SYNC_RETRIES``, same backoff and
    queue); past that, the project's next run renames the experiment.
    """
    from cauce.projects.services import project_mlflow_rename

    try:
        project_mlflow_rename(project_id=project_id)
    except MlflowUnavailable as exc:
        if self.request.retries >= settings.TAG_SYNC_RETRIES:
            return
        raise self.retry(
            exc=exc,
            countdown=backoff_delay(
                self.request.retries,
                base=settings.TAG_SYNC_RETRY_DELAY,
                cap=settings.TAG_SYNC_RETRY_MAX_DELAY,
            ),
            queue=settings.TAG_SYNC_QUEUE or None,
        ) from exc
