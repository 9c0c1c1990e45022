import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("cauce")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _prepare_worker(**_kwargs) -> None:
    """Workers may wait longer for MLflow than web requests; what trainings import is
    imported once here, before the pool forks."""
    from cauce.experiments.runner import worker_preload
    from cauce.integrations.mlflow import client as mlflow_client

    mlflow_client.use_worker_profile()
    worker_preload()


@worker_ready.connect
def _reap_stale_experiments(**_kwargs) -> None:
    """A worker killed mid-run left its experiments RUNNING: fail them now; send again the
    queued ones whose message it took with it (never giving up here: a queue nobody listened
    to still holds its messages); then end the MLflow runs that recent ERROR or CANCELLED
    experiments left RUNNING (MLflow was down, or their worker dead, at the time); the same
    for sweeps (``cauce.sweeps.liveness``: lost trials, dead trials, controllers kicked)."""
    from cauce.experiments.liveness import (
        experiments_close_orphan_runs,
        experiments_fail_stale,
        experiments_redispatch_lost,
    )
    from cauce.sweeps.liveness import sweeps_watch

    experiments_fail_stale()
    experiments_redispatch_lost(may_give_up=False)
    experiments_close_orphan_runs()
    sweeps_watch(may_give_up=False)


@task_prerun.connect
def _log_task_context(task_id=None, task=None, args=(), kwargs=None, **_kwargs) -> None:
    """Every log line of a task names the task and, when it has one, its experiment."""
    from cauce.core.logging import experiment_id_of, task_context_set

    experiment_id = experiment_id_of(task, args or (), kwargs or {})
    task_context_set(task_id=task_id, experiment_id=experiment_id)


@task_postrun.connect
def _clear_task_context(**_kwargs) -> None:
    from cauce.core.logging import task_context_clear

    task_context_clear()


@task_prerun.connect
@task_postrun.connect
def _database_connections_tidy(task=None, **_kwargs) -> None:
    """Around each task a worker runs, Django's own rule for its connections, as around a web
    request: closed when older than ``CONN_MAX_AGE`` (0 in development: every task) or
    unusable, else kept and health-checked at first use. Celery's Django fixup would close
    them all around every task (``CELERY_DB_REUSE_MAX``): a new PostgreSQL connection per
    trial of a sweep. A task run eagerly (in the caller's process, inside its request or
    transaction) leaves the caller's connection alone, as the fixup does."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
