"""No sweep stalls: the watch that kicks controllers and mends what dead workers and lost
messages left behind.

Light (no Optuna, scikit-learn or the ``mlflow`` package): it runs in a worker's main process
at its start as well as in the periodic ``sweeps_watch_task`` (Celery beat, every
``EXPERIMENT_WATCH_SECONDS``). It only writes rows, sends messages and ends runs over REST;
the controller (``cauce.sweeps.engine``) does the asking and the telling, in a pool process.

- A QUEUED sweep whose start message is older than ``EXPERIMENT_QUEUE_TIMEOUT_SECONDS`` gets
  its start sent again (the start is idempotent).
- A RUNNING trial with no heartbeat for ``EXPERIMENT_STALE_AFTER_SECONDS`` lost its worker:
  FAIL, its child run FAILED; the controller tells the study and asks another.
- A WAITING trial sent longer ago than the queue timeout lost its message: sent again, up to
  ``EXPERIMENT_QUEUE_MAX_DISPATCHES`` times, then FAIL (with ``may_give_up``).
- Every RUNNING sweep's controller is kicked (a message: ``sweep_fill_task``), so a kick lost
  with a worker, a database restart or a dead lease never stalls a sweep.
- An ended sweep whose runs were not all seen ended gets them ended (``sweep_runs_close``),
  the children before the parent, each child in its trial's state.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cauce.integrations.mlflow import MlflowError, MlflowNotFound, runs
from cauce.sweeps.models import Sweep, Trial

logger = logging.getLogger(__name__)

LIMIT = 100


SWEEP_ID_TAG = "cauce.sweep_id"


def run_end_quietly(run_id: str, status: str) -> None:
    if not run_id:
        return
    try:
        runs.run_end(run_id=run_id, status=status, worker=True)
    except MlflowNotFound:
        pass
    except MlflowError as exc:
        logger.warning("Run %s not ended as %s (%r)", run_id, status, exc)


def trial_fail_lost(trial: Trial, *, message: str) -> bool:
    """A RUNNING trial whose worker died: FAIL, its child run ended; True when it did."""
    now = timezone.now()
    if not Trial.objects.filter(pk=trial.pk, status=Trial.Status.RUNNING).update(
        status=Trial.Status.FAIL, error=message, finished_at=now
    ):
        return False
    logger.warning("Sweep %s trial %s: its worker stopped; FAIL", trial.sweep_id, trial.number)
    cancelled = Sweep.objects.filter(pk=trial.sweep_id, status=Sweep.Status.CANCELLED).exists()
    run_end_quietly(trial.mlflow_run_id, "KILLED" if cancelled else "FAILED")
    return True


def worker_lost_message() -> str:
    return _("El proceso de trabajo se detuvo durante la prueba.")


def trial_dispatch(trial: Trial) -> bool:
    """Send the trial's task; if the broker refuses it, the trial FAILs (the controller tells
    the study and asks another). True when sent."""
    from cauce.sweeps.tasks import sweep_trial_task

    try:
        sweep_trial_task.apply_async(args=[str(trial.sweep_id), trial.number])
    except Exception:
        logger.exception("Sweep %s: trial %s not sent", trial.sweep_id, trial.number)
        Trial.objects.filter(pk=trial.pk, status=Trial.Status.WAITING).update(
            status=Trial.Status.FAIL, error=_("La cola no respondió."), finished_at=timezone.now()
        )
        return False
    return True


def child_run_status(trial_status: str, *, cancelled: bool) -> str:
    """The state a trial's child run ends in, whoever ends it (the trial, its retried close,
    the controller, the watch), so that no one ends it in another: KILLED when the sweep was
    cancelled, FINISHED for a COMPLETE or PRUNED trial, FAILED otherwise."""
    if cancelled:
        return "KILLED"
    if trial_status in (Trial.Status.COMPLETE, Trial.Status.PRUNED):
        return "FINISHED"
    return "FAILED"


def sweep_children_end(sweep: Sweep, *, worker: bool = False) -> list[str]:
    """End the sweep's child runs still RUNNING, each in its trial's state
    (``child_run_status``; a run no trial points to, an attempt given up, FAILED); the ids it
    ended. One search; a row read and one ``run_end`` per run found: usually none. Raises
    ``MlflowError``. The parent (it carries the sweep's tag too) is left alone."""
    if not sweep.mlflow_experiment_id:
        return []
    found = runs.runs_running_by_tag(
        experiment_ids=[sweep.mlflow_experiment_id],
        tag=SWEEP_ID_TAG,
        value=str(sweep.pk),
        worker=worker,
    )
    found.pop(sweep.mlflow_run_id, None)
    if not found:
        return []
    states = dict(
        Trial.objects.filter(sweep=sweep, mlflow_run_id__in=list(found)).values_list(
            "mlflow_run_id", "status"
        )
    )
    cancelled = sweep.status == Sweep.Status.CANCELLED
    ended = []
    for run_id in found:
        status = child_run_status(states.get(run_id, Trial.Status.FAIL), cancelled=cancelled)
        try:
            runs.run_end(run_id=run_id, status=status, worker=worker)
        except MlflowNotFound:
            continue
        ended.append(run_id)
    return ended


def sweep_runs_close(*, sweep_id: Any, worker: bool = False) -> bool:
    """For an ended sweep with no trial in flight: end any child run still RUNNING in its
    trial's state (``sweep_children_end``), then the parent run (FINISHED, KILLED when
    cancelled, FAILED on error): the parent never ends before its children. Best effort;
    True once done (``mlflow_closed``). ``worker``: a worker's waits and retries for MLflow
    (``runs.run_end``), else the web's short ones."""
    sweep = Sweep.objects.filter(pk=sweep_id).first()
    if sweep is None or sweep.is_active or sweep.mlflow_closed:
        return bool(sweep and sweep.mlflow_closed)
    if Trial.objects.filter(sweep=sweep, status__in=Trial.IN_FLIGHT).exists():
        return False
    status = {
        Sweep.Status.FINISHED: "FINISHED",
        Sweep.Status.CANCELLED: "KILLED",
    }.get(sweep.status, "FAILED")
    try:
        sweep_children_end(sweep, worker=worker)
        if sweep.mlflow_run_id:
            try:
                if runs.run_status(run_id=sweep.mlflow_run_id) == "RUNNING":
                    runs.run_end(run_id=sweep.mlflow_run_id, status=status, worker=worker)
            except MlflowNotFound:
                pass
    except MlflowError as exc:
        logger.warning("Sweep %s: runs not closed yet (%r); the watch tries again", sweep.pk, exc)
        return False
    Sweep.objects.filter(pk=sweep.pk).update(mlflow_closed=True)
    return True


def _lost_message() -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return _(
            "Ningún proceso de trabajo tomó la prueba: se envió %(times)d veces a la cola."
        ) % {"times": settings.EXPERIMENT_QUEUE_MAX_DISPATCHES}


def trials_fail_stale() -> list[Trial]:
    """FAIL the RUNNING trials without a recent heartbeat; the ones it failed."""
    cutoff = timezone.now() - timedelta(seconds=settings.EXPERIMENT_STALE_AFTER_SECONDS)
    stale = Trial.objects.filter(status=Trial.Status.RUNNING, heartbeat_at__lt=cutoff)[:LIMIT]
    with translation.override(settings.LANGUAGE_CODE):
        message = worker_lost_message()
    return [trial for trial in stale if trial_fail_lost(trial, message=message)]


def trials_redispatch_lost(*, may_give_up: bool = True) -> int:
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.EXPERIMENT_QUEUE_TIMEOUT_SECONDS)
    lost = Trial.objects.filter(
        status=Trial.Status.WAITING,
        dispatched_at__lt=cutoff,
        sweep__status=Sweep.Status.RUNNING,
    ).order_by("dispatched_at")[:LIMIT]
    sent = 0
    for trial in lost:
        unchanged = Trial.objects.filter(
            pk=trial.pk, status=Trial.Status.WAITING, dispatched_at=trial.dispatched_at
        )
        if trial.dispatches >= settings.EXPERIMENT_QUEUE_MAX_DISPATCHES:
            if may_give_up:
                unchanged.update(status=Trial.Status.FAIL, error=_lost_message(), finished_at=now)
            continue
        if unchanged.update(dispatched_at=now, dispatches=F("dispatches") + 1):
            logger.warning(
                "Sweep %s trial %s: message lost, sent again", trial.sweep_id, trial.number
            )
            trial_dispatch(trial)
            sent += 1
    return sent


def sweeps_restart_lost() -> int:
    from cauce.sweeps.tasks import sweep_start_task

    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.EXPERIMENT_QUEUE_TIMEOUT_SECONDS)
    sent = 0
    for sweep in Sweep.objects.filter(status=Sweep.Status.QUEUED, due_at__lt=cutoff)[:LIMIT]:
        unchanged = Sweep.objects.filter(
            pk=sweep.pk, status=Sweep.Status.QUEUED, due_at=sweep.due_at
        )
        if unchanged.update(due_at=now):
            logger.warning("Sweep %s: start message lost, sent again", sweep.pk)
            sweep_start_task.apply_async(args=[str(sweep.pk)])
            sent += 1
    return sent


def sweeps_kick_running() -> int:
    from cauce.sweeps.tasks import sweep_fill_task

    ids = list(Sweep.objects.filter(status=Sweep.Status.RUNNING).values_list("pk", flat=True))
    for sweep_id in ids[:LIMIT]:
        sweep_fill_task.apply_async(args=[str(sweep_id)])
    return len(ids)


def sweeps_close_runs(*, days: int = 7) -> int:
    since = timezone.now() - timedelta(days=days)
    pending = Sweep.objects.filter(
        status__in=(Sweep.Status.FINISHED, Sweep.Status.CANCELLED, Sweep.Status.ERROR),
        mlflow_closed=False,
        updated_at__gte=since,
    ).values_list("pk", flat=True)[:LIMIT]
    return sum(1 for sweep_id in pending if sweep_runs_close(sweep_id=sweep_id))


def sweeps_watch(*, may_give_up: bool = True) -> None:
    """All of the above; each part on its own, so one failing leaves the others to run."""
    for part in (
        trials_fail_stale,
        lambda: trials_redispatch_lost(may_give_up=may_give_up),
        sweeps_restart_lost,
        sweeps_kick_running,
        sweeps_close_runs,
    ):
        try:
            part()
        except Exception:
            logger.exception("Sweeps watch: a part failed; the next period tries again")
