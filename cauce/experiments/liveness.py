"""No experiment stays RUNNING or QUEUED after its worker died, and no MLflow run stays
RUNNING after it.

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
- Lost messages. With the embedded broker a worker that dies takes the messages it holds
  with it: an ETA retry (stage RETRYING) always, a fetched task not yet claimed. Such an
  experiment would stay QUEUED for ever. ``due_at`` says when a worker should have claimed
  it (its last dispatch, or the time its retry is due); ``experiments_redispatch_lost``
  sends a QUEUED one whose ``due_at`` is older than ``EXPERIMENT_QUEUE_TIMEOUT_SECONDS``
  again, under a new task id, up to ``EXPERIMENT_QUEUE_MAX_DISPATCHES`` messages in all,
  then ends it ERROR with a message that says so. A second message is harmless: whichever
  arrives first claims the experiment and the runner ignores the other. Who checks: the
  periodic ``experiments_watch_task`` (Celery beat, every ``EXPERIMENT_WATCH_SECONDS``,
  expiring after that long), which runs only when a worker has a free slot, after every
  message sent before it (the queue is first in, first out; a worker holds no more tasks
  than it runs): anything due longer ago than the timeout and still unclaimed was lost,
  not waiting behind long trainings. And a worker's start, which only sends again and never
  gives up: the messages of a queue nobody listened to for a while are still there. Pages
  do not: a page cannot tell a lost message from a long queue; it shows the place in it.
- Orphan runs. An experiment may end ERROR or CANCELLED while its MLflow run could not be
  ended (MLflow was down through every retry, when it was reaped, or its worker had died
  when it was cancelled). At worker start, ``experiments_close_orphan_runs`` ends the runs
  still RUNNING of recent ERROR experiments as FAILED and of CANCELLED ones as KILLED
  (bounded), the recorded ones and those found by their ``cauce.experiment_id`` tag; with
  MLflow down it logs and stops.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cauce.experiments import transitions
from cauce.experiments.dispatch import experiment_dispatch
from cauce.experiments.models import MLExperiment
from cauce.experiments.tag_sync import EXPERIMENT_ID_TAG
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
        runs.run_end(run_id=run_id, status="FAILED")
    except MlflowNotFound:
        logger.info("MLflow run %s no longer exists; nothing to end", run_id)
    except Exception as exc:
        logger.warning("Could not end MLflow run %s as FAILED: %r", run_id, exc)


def lost_message() -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return _(
            "Ningún proceso de trabajo tomó el experimento: se envió %(times)d veces a la cola "
            "y cada vez pasaron más de %(seconds)d s sin que empezara. Compruebe que hay "
            "procesos de trabajo en marcha y vuelva a ejecutarlo."
        ) % {
            "times": settings.EXPERIMENT_QUEUE_MAX_DISPATCHES,
            "seconds": settings.EXPERIMENT_QUEUE_TIMEOUT_SECONDS,
        }


def experiments_redispatch_lost(*, may_give_up: bool = True, limit: int = 100) -> tuple[int, int]:
    """Send again the QUEUED experiments that no worker claimed within
    ``EXPERIMENT_QUEUE_TIMEOUT_SECONDS`` of being due; with ``may_give_up``, end ERROR those
    already sent ``EXPERIMENT_QUEUE_MAX_DISPATCHES`` times. Returns (sent, ended), at most
    ``limit`` of them, the oldest first. Each change is conditional on the task id it saw,
    so two checkers never send one experiment twice."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.EXPERIMENT_QUEUE_TIMEOUT_SECONDS)
    lost = list(
        MLExperiment.objects.filter(status=Status.QUEUED, due_at__lt=cutoff)
        .order_by("due_at")
        .values_list("pk", "task_id", "dispatches")[:limit]
    )
    sent = ended = 0
    for experiment_id, task_id, dispatches in lost:
        if dispatches >= settings.EXPERIMENT_QUEUE_MAX_DISPATCHES:
            if may_give_up and transitions.to_error(
                experiment_id=experiment_id,
                message=lost_message(),
                from_statuses=[Status.QUEUED],
                task_id=task_id,
                where=Q(due_at__lt=cutoff),
                now=now,
            ):
                logger.warning(
                    "Experiment %s was sent %d times and never claimed: marked ERROR",
                    experiment_id,
                    dispatches,
                )
                ended += 1
            continue
        unchanged = MLExperiment.objects.filter(
            pk=experiment_id, status=Status.QUEUED, task_id=task_id, due_at__lt=cutoff
        )
        new_task_id = str(uuid.uuid4())
        if unchanged.update(
            task_id=new_task_id, due_at=now, dispatches=F("dispatches") + 1, updated_at=now
        ):
            logger.warning(
                "Experiment %s queued and unclaimed since its message %s: sent again as %s",
                experiment_id,
                task_id,
                new_task_id,
            )
            experiment_dispatch(experiment_id=experiment_id, task_id=new_task_id)
            sent += 1
    return sent, ended


def run_end_if_running(*, run_id: str, status: str) -> bool:
    """End the run as ``status`` if MLflow still has it RUNNING; best effort, never raises
    (a worker's start ends it later otherwise). True when it ended it."""
    try:
        if runs.run_status(run_id=run_id) != "RUNNING":
            return False
        runs.run_end(run_id=run_id, status=status)
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
            changed = transitions.to_error(
                experiment_id=experiment.pk, message=message, where=is_stale, now=now
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

    Two passes: each experiment's recorded run, then one search of the runs still RUNNING
    that carry one of these experiments' ``cauce.experiment_id`` tag: also an attempt's run
    whose id never reached the database (it was down then) and that nobody could end.
    Best effort: a run that is gone or refused is skipped; MLflow unavailable stops the
    pass (the next worker start tries again).
    """
    since = timezone.now() - timedelta(days=days)
    candidates = list(
        MLExperiment.objects.filter(
            status__in=(Status.ERROR, Status.CANCELLED), updated_at__gte=since
        )
        .order_by("-updated_at")
        .values_list(
            "pk", "status", "mlflow_run_id", "mlflow_experiment_id", "project__mlflow_experiment_id"
        )[:limit]
    )
    end_as = {
        str(pk): "KILLED" if status == Status.CANCELLED else "FAILED"
        for pk, status, *_ in candidates
    }
    recorded = [(str(pk), run_id) for pk, _status, run_id, *_ in candidates if run_id]
    closed = 0
    for checked, (experiment_id, run_id) in enumerate(recorded):
        try:
            if runs.run_status(run_id=run_id) != "RUNNING":
                continue
            runs.run_end(run_id=run_id, status=end_as[experiment_id])
        except MlflowUnavailable:
            logger.warning(
                "MLflow unavailable: %d runs of ERROR experiments left unchecked",
                len(recorded) - checked,
            )
            return closed
        except MlflowNotFound:
            continue
        except (MlflowError, KeyError) as exc:
            logger.warning("Could not check or end MLflow run %s: %r", run_id, exc)
            continue
        _log_orphan_ended(run_id, experiment_id, end_as[experiment_id])
        closed += 1
    mlflow_experiment_ids = sorted({own or project for *_, own, project in candidates} - {""})
    try:
        tagged = runs.runs_running_by_tag(
            experiment_ids=mlflow_experiment_ids, tag=EXPERIMENT_ID_TAG
        )
    except MlflowUnavailable:
        logger.warning("MLflow unavailable: the search for unrecorded orphan runs waits")
        return closed
    except (MlflowError, KeyError) as exc:
        logger.warning("Could not search for unrecorded orphan runs: %r", exc)
        return closed
    for run_id, experiment_id in tagged.items():
        if experiment_id not in end_as:
            continue  # a run of a live (or long finished) experiment
        try:
            runs.run_end(run_id=run_id, status=end_as[experiment_id])
        except MlflowUnavailable:
            return closed
        except (MlflowNotFound, MlflowError) as exc:
            logger.warning("Could not end MLflow run %s: %r", run_id, exc)
            continue
        _log_orphan_ended(run_id, experiment_id, end_as[experiment_id])
        closed += 1
    return closed


def _log_orphan_ended(run_id: str, experiment_id: str, status: str) -> None:
    logger.warning(
        "MLflow run %s of experiment %s was still RUNNING: ended %s",
        run_id,
        experiment_id,
        status,
    )
