"""No experiment stays RUNNING after its worker died, and no MLflow run stays RUNNING after it.

Light on purpose (no scikit-learn, pandas or the ``mlflow`` package): web processes import
it as well as workers. Choices, in one place:

- Stale. A RUNNING experiment whose ``heartbeat_at`` (or, before the first one,
  ``updated_at``) is older than ``EXPERIMENT_STALE_AFTER_SECONDS`` lost its worker: a live
  one writes it every ``EXPERIMENT_HEARTBEAT_SECONDS``. ``experiments_fail_stale`` turns it
  into ERROR and ends its MLflow run as FAILED, best effort.
- Where it runs. At worker start (``worker_ready``), before each task, and lazily where
  users look: ``experiment_fail_if_stale`` on the status partial, the detail page and the
  API detail. That one costs nothing for an experiment with a recent heartbeat; otherwise
  its MLflow call is bounded by the web's timeouts and cool-down (plain REST, see
  ``cauce.integrations.mlflow.runs``), so a page does not wait long with MLflow down.
- Language. The stored message is in ``LANGUAGE_CODE``, as the worker writes its own
  messages, whatever language the request that reaped it had.
- Orphan runs. An experiment may end ERROR or CANCELLED while its MLflow run could not be
  ended (MLflow was down through every retry, when it was reaped, or its worker had died
  when it was cancelled). At worker start, ``experiments_close_orphan_runs`` ends the runs
  still RUNNING of recent ERROR experiments as FAILED and of CANCELLED ones as KILLED
  (bounded); with MLflow down it logs and stops.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cauce.experiments.models import MLExperiment
from cauce.integrations.mlflow import MlflowError, MlflowNotFound, MlflowUnavailable, runs

logger = logging.getLogger(__name__)

Status = MLExperiment.Status

ORPHAN_RUNS_DAYS = 7
ORPHAN_RUNS_LIMIT = 200


def _stale_cutoff() -> datetime:
    return timezone.now() - timedelta(seconds=settings.EXPERIMENT_STALE_AFTER_SECONDS)


def stale_message() -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return _(
            "El proceso de trabajo se detuvo durante la ejecución (sin señales de vida desde "
            "hace más de %(seconds)d s). Vuelva a ejecutar el experimento."
        ) % {"seconds": settings.EXPERIMENT_STALE_AFTER_SECONDS}


def _run_end_quietly(run_id: str) -> None:
    if not run_id:
        return
    try:
        runs.run_terminate(run_id=run_id, status="FAILED")
    except MlflowNotFound:
        logger.info("MLflow run %s no longer exists; nothing to end", run_id)
    except Exception as exc:
        logger.warning("Could not end MLflow run %s as FAILED: %r", run_id, exc)


def run_end_if_running(*, run_id: str, status: str) -> bool:
    """End the run as ``status`` if MLflow still has it RUNNING; best effort, never raises
    (a worker's start ends it later otherwise). True when it ended it."""
    try:
        if runs.run_status(run_id=run_id) != "RUNNING":
            return False
        runs.run_terminate(run_id=run_id, status=status)
    except MlflowNotFound:
        return False
    except Exception as exc:
        logger.warning("Could not end MLflow run %s as %s: %r", run_id, status, exc)
        return False
    return True


def experiments_fail_stale(
    *, exclude_ids: Iterable[Any] = (), experiment_ids: Iterable[Any] | None = None
) -> int:
    """Turn RUNNING experiments with no heartbeat for ``EXPERIMENT_STALE_AFTER_SECONDS``
    into ERROR and end their MLflow runs as FAILED (best effort). Returns how many.

    ``exclude_ids`` lets a task spare its own experiment: a redelivered task restarts it.
    ``experiment_ids`` limits the look to these experiments (a page reaps only its own).
    """
    cutoff = _stale_cutoff()
    is_stale = Q(status=Status.RUNNING) & (
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, updated_at__lt=cutoff)
    )
    message = stale_message()
    failed_runs: list[str] = []
    with transaction.atomic():
        stale = (
            MLExperiment.objects.select_for_update(skip_locked=True)
            .filter(is_stale)
            .exclude(pk__in=list(exclude_ids))
            .only("pk", "heartbeat_at", "mlflow_run_id")
        )
        if experiment_ids is not None:
            stale = stale.filter(pk__in=list(experiment_ids))
        for experiment in stale:
            now = timezone.now()
            # Conditional again: SQLite has no row locks, and a worker that ended the
            # experiment or wrote a heartbeat meanwhile wins.
            changed = MLExperiment.objects.filter(is_stale, pk=experiment.pk).update(
                status=Status.ERROR, stage="", error=message, finished_at=now, updated_at=now
            )
            if not changed:
                continue
            logger.warning(
                "Experiment %s has had no heartbeat since %s: marked ERROR",
                experiment.pk,
                experiment.heartbeat_at,
            )
            failed_runs.append(experiment.mlflow_run_id)
    for run_id in failed_runs:
        _run_end_quietly(run_id)
    return len(failed_runs)


def experiment_fail_if_stale(*, experiment: MLExperiment) -> bool:
    """Reap this experiment if its worker stopped giving signs of life; True when it did.

    For the pages and endpoints that show an experiment: the object is refreshed in place,
    so what they render is the new state. Free for any experiment not RUNNING or recently
    alive; the database decides the rest.
    """
    if experiment.status != Status.RUNNING:
        return False
    last_sign = experiment.heartbeat_at or experiment.updated_at
    if last_sign is not None and last_sign >= _stale_cutoff():
        return False
    reaped = experiments_fail_stale(experiment_ids=[experiment.pk]) > 0
    experiment.refresh_from_db(
        fields=["status", "stage", "error", "finished_at", "heartbeat_at", "updated_at"]
    )
    return reaped


def experiments_close_orphan_runs(
    *, days: int = ORPHAN_RUNS_DAYS, limit: int = ORPHAN_RUNS_LIMIT
) -> int:
    """End the MLflow runs still RUNNING of ERROR (as FAILED) and CANCELLED (as KILLED)
    experiments updated in the last ``days`` (at most ``limit``, the latest first). Returns
    how many it ended.

    Best effort: a run that is gone or refused is skipped; MLflow unavailable stops the
    pass (the next worker start tries again).
    """
    since = timezone.now() - timedelta(days=days)
    candidates = list(
        MLExperiment.objects.filter(
            status__in=(Status.ERROR, Status.CANCELLED), updated_at__gte=since
        )
        .exclude(mlflow_run_id="")
        .order_by("-updated_at")
        .values_list("pk", "mlflow_run_id", "status")[:limit]
    )
    closed = 0
    for checked, (experiment_id, run_id, status) in enumerate(candidates):
        end_as = "KILLED" if status == Status.CANCELLED else "FAILED"
        try:
            if runs.run_status(run_id=run_id) != "RUNNING":
                continue
            runs.run_terminate(run_id=run_id, status=end_as)
        except MlflowUnavailable:
            logger.warning(
                "MLflow unavailable: %d runs of ERROR experiments left unchecked",
                len(candidates) - checked,
            )
            break
        except MlflowNotFound:
            continue
        except (MlflowError, KeyError) as exc:
            logger.warning("Could not check or end MLflow run %s: %r", run_id, exc)
            continue
        logger.warning(
            "MLflow run %s of %s experiment %s was still RUNNING: ended %s",
            run_id,
            status,
            experiment_id,
            end_as,
        )
        closed += 1
    return closed
