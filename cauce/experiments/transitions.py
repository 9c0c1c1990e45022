"""Every change of an experiment's status, in one place.

Each transition is one conditional ``UPDATE ... WHERE status IN (...)``: it applies only
from the states it names (and, where given, only while the row still carries the caller's
``task_id`` or matches ``where``), writes the same fields whoever calls it, and returns
whether it applied. Of two writers racing for one row, exactly one wins; the loser sees
False and leaves the row as the winner wrote it.

The decisions (when to fail, retry or give up) stay with the callers: the runner, the
reaper (``liveness``), the services and the doctor.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import F, Q
from django.utils import timezone

from cauce.experiments.models import MLExperiment

Status = MLExperiment.Status
Stage = MLExperiment.Stage

# Where each transition may start from.
ENQUEUE_FROM = MLExperiment.RERUNNABLE_STATUSES
CLAIM_FROM = (Status.QUEUED, Status.RUNNING)  # RUNNING: a redelivery starts it over
FINISH_FROM = (Status.RUNNING,)
RETRY_FROM = (Status.RUNNING,)
FAIL_FROM = MLExperiment.ACTIVE_STATUSES
CANCEL_FROM = MLExperiment.ACTIVE_STATUSES
# Settled: no worker writes them any more (the doctor repairs only those).
DETACH_RUN_FROM = (Status.FINISHED, Status.ERROR, Status.CANCELLED)


def _narrowed(requested: Iterable[str], allowed: Iterable[str]) -> list[str]:
    """The caller's statuses that the transition allows: a caller narrows, never widens."""
    return [status for status in requested if status in allowed]


def _move(
    experiment_id: Any,
    *,
    from_statuses: Iterable[str],
    owner: str | None = None,
    where: Q | None = None,
    **fields: Any,
) -> bool:
    """The conditional UPDATE. ``owner``: only while the row still carries this task id
    (``fields`` may set a new ``task_id``)."""
    rows = MLExperiment.objects.filter(pk=experiment_id, status__in=list(from_statuses))
    if owner is not None:
        rows = rows.filter(task_id=owner)
    if where is not None:
        rows = rows.filter(where)
    return bool(rows.update(**fields))


def to_queued(
    *, experiment_id: Any, task_id: str, queued_by: Any = None, now: datetime | None = None
) -> bool:
    """DRAFT, ERROR or CANCELLED → QUEUED, as a fresh run under a new ``task_id`` (a worker
    still busy with a cancelled run of it no longer owns it)."""
    now = now or timezone.now()
    return _move(
        experiment_id,
        from_statuses=ENQUEUE_FROM,
        status=Status.QUEUED,
        stage=Stage.WAITING,
        queued_at=now,
        started_at=None,
        finished_at=None,
        heartbeat_at=None,
        attempts=0,
        error="",
        metrics={},
        plots=None,
        timings={},
        stage_started_at=now,
        # mlflow_run_id stays: the runner ends a previous run as FAILED before a new one.
        mlflow_model_id="",
        mlflow_model_uri="",
        task_id=task_id,
        due_at=now,
        dispatches=1,
        queued_by=queued_by,
        updated_at=now,
    )


def to_running(
    *,
    experiment_id: Any,
    task_id: str | None,
    from_statuses: Iterable[str] = CLAIM_FROM,
    now: datetime | None = None,
) -> bool:
    """QUEUED (or RUNNING whose worker died) → RUNNING for the worker whose task is
    ``task_id`` (None outside a task: the task id stays), counting one more attempt.
    ``from_statuses`` narrows it to the status the caller read."""
    now = now or timezone.now()
    fields: dict[str, Any] = {"task_id": task_id} if task_id else {}
    return _move(
        experiment_id,
        from_statuses=_narrowed(from_statuses, CLAIM_FROM),
        status=Status.RUNNING,
        stage=Stage.PREPARING,
        attempts=F("attempts") + 1,
        started_at=now,
        stage_started_at=now,
        heartbeat_at=now,
        finished_at=None,
        error="",
        updated_at=now,
        **fields,
    )


def to_finished(
    *,
    experiment_id: Any,
    task_id: str,
    timings: dict[str, float],
    plots: list[str],
    now: datetime | None = None,
) -> bool:
    """RUNNING under ``task_id`` → FINISHED, with the run's timings and plots."""
    now = now or timezone.now()
    return _move(
        experiment_id,
        from_statuses=FINISH_FROM,
        owner=task_id,
        status=Status.FINISHED,
        stage="",
        stage_started_at=None,
        timings=timings,
        plots=plots,
        finished_at=now,
        heartbeat_at=now,
        updated_at=now,
    )


def to_queued_for_retry(
    *, experiment_id: Any, task_id: str, countdown: float, now: datetime | None = None
) -> bool:
    """RUNNING under ``task_id`` → QUEUED (stage RETRYING), due once the retry's countdown
    has passed."""
    now = now or timezone.now()
    return _move(
        experiment_id,
        from_statuses=RETRY_FROM,
        owner=task_id,
        status=Status.QUEUED,
        stage=Stage.RETRYING,
        stage_started_at=now,
        due_at=now + timedelta(seconds=countdown),
        updated_at=now,
    )


def _error_fields(message: str, now: datetime) -> dict[str, Any]:
    return {
        "status": Status.ERROR,
        "stage": "",
        "stage_started_at": None,
        "error": str(message),
        "due_at": None,
        "updated_at": now,
    }


def to_error(
    *,
    experiment_id: Any,
    message: str,
    from_statuses: Iterable[str] = FAIL_FROM,
    task_id: str | None = None,
    where: Q | None = None,
    now: datetime | None = None,
) -> bool:
    """QUEUED or RUNNING → ERROR with ``message``: a failed training, a message the broker
    refused or no worker claimed, a worker that stopped giving signs of life.
    ``from_statuses`` narrows it to the status the caller expects."""
    now = now or timezone.now()
    return _move(
        experiment_id,
        from_statuses=_narrowed(from_statuses, FAIL_FROM),
        owner=task_id,
        where=where,
        finished_at=now,
        **_error_fields(message, now),
    )


def to_cancelled(
    *, experiment_id: Any, from_statuses: Iterable[str] = CANCEL_FROM, now: datetime | None = None
) -> bool:
    """QUEUED or RUNNING → CANCELLED (``from_statuses`` narrows it to the status the caller
    read). A worker running it stops at its next step; a queued one is never claimed."""
    now = now or timezone.now()
    return _move(
        experiment_id,
        from_statuses=_narrowed(from_statuses, CANCEL_FROM),
        status=Status.CANCELLED,
        stage="",
        stage_started_at=None,
        error="",
        finished_at=now,
        due_at=None,
        updated_at=now,
    )


def to_error_detached(
    *, experiment_id: Any, run_id: str, message: str, now: datetime | None = None
) -> bool:
    """A settled experiment whose MLflow run ``run_id`` is gone → ERROR, detached from the
    run and its model, so that it can be run again. Its ``finished_at`` stays: the run did
    end then."""
    now = now or timezone.now()
    return _move(
        experiment_id,
        from_statuses=DETACH_RUN_FROM,
        where=Q(mlflow_run_id=run_id),
        mlflow_run_id="",
        mlflow_model_id="",
        mlflow_model_uri="",
        **_error_fields(message, now),
    )
