"""Celery tasks of the experiments app. Thin: load by id, call the runner, retry.

The web process imports this module to enqueue; the runner (scikit-learn, matplotlib) is
imported inside the task so that only workers pay for it.
"""

import logging

from celery import shared_task
from django.conf import settings

from cauce.core.db import database_unavailable
from cauce.core.retry import backoff_delay, mlflow_retry_delay
from cauce.integrations.mlflow import MlflowUnavailable

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, max_retries=None)
def run_full_experiment_pipeline_task(self, experiment_id: str) -> None:
    """Run one queued experiment end to end (see ``cauce.experiments.runner``).

    While MLflow is unreachable the runner puts the experiment back in the queue (stage
    RETRYING) and this task retries up to ``EXPERIMENT_MLFLOW_RETRIES`` times with backoff;
    the last attempt ends it as ERROR "MLflow no disponible: ...". The limit is read from
    settings at run time, so ``max_retries`` on the decorator is unbounded.

    While the database is unreachable (a restart) it retries the same way, up to
    ``EXPERIMENT_DATABASE_RETRIES`` times; an experiment still stuck after that is ended by
    the liveness checks (``cauce.experiments.liveness``).
    """
    from cauce.experiments.liveness import experiments_fail_stale
    from cauce.experiments.runner import experiment_execute

    experiment_id = str(experiment_id)
    last_try = self.request.retries >= settings.EXPERIMENT_MLFLOW_RETRIES
    countdown = mlflow_retry_delay(self.request.retries)
    try:
        experiments_fail_stale(exclude_ids=[experiment_id])
        experiment_execute(
            experiment_id=experiment_id,
            retry_on_unavailable=not last_try,
            retry_countdown=countdown,
            task_id=self.request.id,
        )
    except MlflowUnavailable as exc:
        raise self.retry(exc=exc, countdown=countdown) from exc
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        if self.request.retries >= settings.EXPERIMENT_DATABASE_RETRIES:
            logger.error("Experiment %s: database still unavailable; giving up", experiment_id)
            raise
        logger.warning("Experiment %s: database unavailable (%r); retrying", experiment_id, exc)
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(bind=True, acks_late=True, max_retries=None)
def tag_sync_push_task(self, experiment_id: str) -> None:
    """Write an experiment's tags, name and description to its MLflow run (the outbox).

    While MLflow or Cauce's database is unreachable it retries with backoff up to
    ``TAG_SYNC_RETRIES`` times; after that the change stays pending (it was committed with its
    outbox entry) and ``tag_sync_sweep_task`` applies it later.
    """
    from cauce.experiments.tag_sync import PushOutcome, tag_sync_push

    try:
        outcome = tag_sync_push(experiment_id=str(experiment_id))
    except MlflowUnavailable as exc:
        if self.request.retries >= settings.TAG_SYNC_RETRIES:
            return
        raise _push_retry(self, exc) from exc
    except Exception as exc:
        if not database_unavailable(exc) or self.request.retries >= settings.TAG_SYNC_RETRIES:
            raise
        logger.warning("Tag push of %s: database unavailable (%r); retrying", experiment_id, exc)
        raise _push_retry(self, exc) from exc
    if outcome == PushOutcome.BUSY and self.request.retries < settings.TAG_SYNC_RETRIES:
        # Another worker is writing this run; look again once it should be done.
        raise _push_retry(self)


def _push_retry(task, exc: BaseException | None = None):
    """The push task's retry (Celery's ``Retry``, to raise): backoff, the tag-sync queue."""
    return task.retry(
        exc=exc,
        countdown=backoff_delay(
            task.request.retries,
            base=settings.TAG_SYNC_RETRY_DELAY,
            cap=settings.TAG_SYNC_RETRY_MAX_DELAY,
        ),
        queue=settings.TAG_SYNC_QUEUE or None,
    )


@shared_task(acks_late=True)
def tag_sync_sweep_task() -> None:
    """Periodic (Celery beat): push every change still pending, e.g. after an MLflow outage."""
    from cauce.experiments.tag_sync import tag_sync_sweep

    tag_sync_sweep(limit=settings.TAG_SYNC_SWEEP_BATCH)


@shared_task(acks_late=True)
def tag_sync_pull_task() -> None:
    """Periodic (Celery beat): adopt the tags edited on the runs in MLflow."""
    from cauce.experiments.tag_sync import tag_sync_pull

    try:
        tag_sync_pull()
    except MlflowUnavailable:
        # Nothing to adopt while MLflow is down; the next period reads the runs again.
        logger.warning("Tag pull skipped: MLflow is unavailable")


@shared_task(ignore_result=True)
def experiments_watch_task() -> None:
    """Periodic (Celery beat; see ``CELERY_BEAT_SCHEDULE``): fail RUNNING experiments whose
    worker died, and send again (or end) QUEUED ones whose message was lost."""
    from cauce.experiments.liveness import experiments_fail_stale, experiments_redispatch_lost

    experiments_fail_stale()
    experiments_redispatch_lost()
