"""The sweep's controller and its trials, run by the workers.

- Controller. ``sweep_fill`` asks the study for trials and sends each to a Celery task on the
  experiment queue (once the trial's row is committed), keeping at most
  ``SWEEP_PARALLEL_TRIALS`` in flight, until the sweep has ``n_trials``. One controller at a
  time holds a lease on the sweep's row (a conditional UPDATE, committed: the same on SQLite
  and PostgreSQL, and Optuna's own connection never waits for it); a kick that finds the lease
  taken sets ``controller_wanted`` and the holder runs once more before it lets go, so no kick
  is lost. Asks never overlap: a grid never hands out one configuration twice and TPE's
  constant liar sees every running trial.
- Who kicks. The start; each trial, right after its result is committed (in its own
  process, or through ``sweep_fill_task`` if that fails); and the watch
  (``cauce.sweeps.liveness``, Celery beat and worker start), which also sends a lost trial
  message again and fails a trial whose worker died. A lease left by a dead controller
  expires after ``LEASE_SECONDS``.
- Trials. ``trial_execute`` trains one configuration (``cauce.sweeps.training``) within the
  experiments' memory limit, logs it as a child run of the sweep's MLflow run and tells the
  study how it ended. Cross-validation reports each fold to the pruner; a cancelled sweep
  stops the trial at its next fold. The study is told from Cauce's rows too (the controller
  reconciles), so a trial failed by the watch never stays RUNNING in Optuna.
- Ends. The controller ends the sweep FINISHED when every trial is done, with the best value
  on the parent run, once every run is ended: first each child run whose close is still
  pending (its trial ended while MLflow was down), with its results and in its trial's state,
  then the parent. A cancel (``cauce.sweeps.services.sweep_cancel``) ends it at once. Runs
  left RUNNING (MLflow down at the end, a cancel) are ended by the last trial or the watch
  (``sweep_runs_close``), the children first, each in its trial's state
  (``cauce.sweeps.liveness.child_run_status``): a child run never changes its final state.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Count, Q
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from cauce.core.exceptions import ApplicationError
from cauce.datasets.models import Dataset, DatasetVersion
from cauce.datasets.selectors import dataset_dataframe
from cauce.experiments.limits import training_memory_limit
from cauce.experiments.tag_sync import (
    EXPERIMENT_ID_TAG,
    MLFLOW_MAX_TAG_VALUE,
    SOURCE_NAME_KEY,
    SOURCE_TYPE,
    SOURCE_TYPE_KEY,
    URL_KEY,
    USER_KEY,
    mlflow_tags_desired,
)
from cauce.integrations.mlflow import MlflowError, MlflowUnavailable, runs, tracking
from cauce.integrations.mlflow import sweeps as mlflow_sweeps
from cauce.projects.services import project_mlflow_experiment_ensure
from cauce.sweeps.liveness import (
    SWEEP_ID_TAG,
    child_run_status,
    run_end_quietly,
    sweep_children_end,
    sweep_runs_close,
    trial_dispatch,
    trial_fail_lost,
    worker_lost_message,
)
from cauce.sweeps.models import Sweep, Trial
from cauce.sweeps.training import TrialSettings, trial_split, trial_train

logger = logging.getLogger(__name__)

TRIAL_NUMBER_TAG = "cauce.trial_number"
TRIAL_STATE_TAG = "cauce.trial_state"
TRIAL_ERROR_TAG = "cauce.trial_error"
LEASE_SECONDS = 60
FINISHED_TRIALS = (Trial.Status.COMPLETE, Trial.Status.PRUNED, Trial.Status.FAIL)


class TrialStopped(BaseException):
    """The sweep is no longer RUNNING: stop the trial (its child run ends KILLED)."""


class TrialRetry(Exception):
    """MLflow is unreachable before the trial started: the task retries it later."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


# --- MLflow of the parent run ----------------------------------------------------------------


def sweep_mlflow_tags(sweep: Sweep) -> dict[str, str]:
    """The tag sync's tags (``tag_i``, ``all_tags``, ``tag_count``, name, user) for the
    sweep's own tags, with the sweep's id instead of an experiment's."""
    source = SimpleNamespace(
        name=sweep.name,
        description="",
        queued_by=None,
        created_by=sweep.created_by,
        pk=sweep.pk,
        project_id=sweep.project_id,
    )
    tags = mlflow_tags_desired(source, tag_names=sweep.tags).tags
    tags.pop(EXPERIMENT_ID_TAG, None)
    tags[SWEEP_ID_TAG] = str(sweep.pk)
    # The sweep's page, not an experiment's (the same base URL and sub-path rule).
    path = "/" + reverse("sweeps:sweep_detail", args=[sweep.pk]).removeprefix(get_script_prefix())
    tags[URL_KEY] = settings.CAUCE_BASE_URL.rstrip("/") + path
    tags[SOURCE_NAME_KEY] = f"Cauce · {sweep.name}"
    return tags


def sweep_mlflow_params(sweep: Sweep) -> dict[str, Any]:
    params: dict[str, Any] = {
        "algorithm": sweep.algorithm,
        "task_type": sweep.task_type,
        "target": sweep.target_column,
        "features": ",".join(sweep.feature_columns),
        "dataset_id": sweep.dataset_id,
        "metric": sweep.metric,
        "direction": sweep.direction,
        "n_trials": sweep.n_trials,
        "sampler": sweep.sampler,
        "cv_folds": sweep.cv_folds,
        "test_size": sweep.test_size,
        "seed": sweep.seed,
    }
    if sweep.dataset_version is not None:
        params["dataset_version"] = sweep.dataset_version.version
        params["dataset_digest"] = sweep.dataset_version.digest
    for name, entry in sweep.search_space.items():
        params[f"space.{name}"] = json.dumps(entry)
    for name, value in sweep.fixed_hyperparameters.items():
        params[f"hp.{name}"] = value
    return params


# --- start -----------------------------------------------------------------------------------


def sweep_start(*, sweep_id: Any) -> None:
    """QUEUED → RUNNING: the study, the parent run, then the first trials. A start message
    for a sweep already RUNNING only kicks its controller.

    ``MlflowUnavailable`` is raised for the task to retry."""
    from cauce.sweeps import study as optuna_study

    sweep = Sweep.objects.select_related("project", "created_by", "dataset", "dataset_version").get(
        pk=sweep_id
    )
    if sweep.status != Sweep.Status.QUEUED:
        if sweep.status == Sweep.Status.RUNNING:
            sweep_fill(sweep_id=sweep.pk)
        return
    # The project's MLflow experiment, as its experiments find it (named and tagged).
    experiment_id = project_mlflow_experiment_ensure(project=sweep.project)
    run_id = tracking.run_create(
        experiment_id=experiment_id, run_name=sweep.name, tags=sweep_mlflow_tags(sweep)
    )
    try:
        tracking.run_log_params(run_id=run_id, params=sweep_mlflow_params(sweep))
        _parent_inputs_log(sweep, run_id)
        optuna_study.study_create(sweep)
    except BaseException:
        run_end_quietly(run_id, "FAILED")
        raise
    now = timezone.now()
    started = Sweep.objects.filter(pk=sweep.pk, status=Sweep.Status.QUEUED).update(
        status=Sweep.Status.RUNNING,
        mlflow_experiment_id=experiment_id,
        mlflow_run_id=run_id,
        started_at=now,
        updated_at=now,
    )
    if not started:  # cancelled (or started by a second message) meanwhile
        run_end_quietly(run_id, "KILLED")
        return
    sweep_fill(sweep_id=sweep.pk)


def _parent_inputs_log(sweep: Sweep, run_id: str) -> None:
    """The data the trials train and are scored on, as the parent run's dataset inputs: the
    version's training and evaluation splits as every trial cuts them (cross-validation folds
    come from the training split), one ``log_inputs``. MLflow's run page lists them, and its
    ``dataset.digest`` search finds the sweep as it finds an experiment trained on the
    version. Data no trial can use is not logged: each trial fails with the reason."""
    from cauce.experiments.runner import dataset_inputs_log

    if sweep.dataset_version is None:  # a sweep from before versions
        return
    try:
        _data, split = trial_split(_frame(sweep), settings=_trial_settings(sweep, {}))
    except ApplicationError as exc:
        logger.info("Sweep %s: no dataset inputs logged (%s)", sweep.pk, exc.message)
        return
    dataset_inputs_log(trained=sweep, run_id=run_id, split=split)


def sweep_error(*, sweep_id: Any, message: str) -> None:
    now = timezone.now()
    Sweep.objects.filter(pk=sweep_id, status__in=Sweep.ACTIVE_STATUSES).update(
        status=Sweep.Status.ERROR, error=message, finished_at=now, updated_at=now
    )
    Trial.objects.filter(sweep_id=sweep_id, status=Trial.Status.WAITING).update(
        status=Trial.Status.FAIL, error=message, finished_at=now
    )


# --- the controller --------------------------------------------------------------------------


def _best_refresh(sweep: Sweep) -> bool:
    """Record the best completed trial on the sweep; True when it changed."""
    order = "-value" if sweep.direction == Sweep.Direction.MAXIMIZE else "value"
    best = (
        Trial.objects.filter(sweep=sweep, status=Trial.Status.COMPLETE, value__isnull=False)
        .order_by(order, "number")
        .first()
    )
    if best is None or best.number == sweep.best_number:
        return False
    sweep.best_number, sweep.best_value, sweep.best_params = best.number, best.value, best.params
    Sweep.objects.filter(pk=sweep.pk).update(
        best_number=best.number, best_value=best.value, best_params=best.params
    )
    return True


def _log_best(sweep: Sweep) -> None:
    if not sweep.mlflow_run_id or sweep.best_value is None:
        return
    try:
        mlflow_sweeps.run_log_metrics(
            run_id=sweep.mlflow_run_id,
            metrics={f"best_{sweep.metric}": sweep.best_value},
            tags={"cauce.best_trial": str(sweep.best_number)},
        )
    except MlflowError as exc:
        logger.warning("Sweep %s: best value not logged (%r)", sweep.pk, exc)


def _finish(sweep: Sweep) -> None:
    """RUNNING → FINISHED (ERROR when no trial completed). What a reader of the ended sweep
    expects is there before the status says so: the importances, every run ended in its
    final state (``_runs_end``)."""
    completed = Trial.objects.filter(sweep=sweep, status=Trial.Status.COMPLETE).exists()
    fields: dict[str, Any] = {"importances": _importances(sweep) if completed else {}}
    if completed:
        fields["status"] = Sweep.Status.FINISHED
    else:
        fields["status"] = Sweep.Status.ERROR
        fields["error"] = _("Ninguna prueba terminó bien: vea el error de cada prueba.")
    fields["mlflow_closed"] = _runs_end(sweep, parent_status="FINISHED" if completed else "FAILED")
    now = timezone.now()
    fields.update(finished_at=now, updated_at=now)
    if not Sweep.objects.filter(pk=sweep.pk, status=Sweep.Status.RUNNING).update(**fields):
        return
    logger.info("Sweep %s ended %s", sweep.pk, fields["status"])
    if completed and sweep.auto_promote:
        transaction.on_commit(lambda: _auto_promote(sweep.pk))


def _runs_end(sweep: Sweep, *, parent_status: str) -> bool:
    """The sweep's runs ended, the children before the parent: each ended trial's child run
    not closed yet (MLflow was down when the trial ended and its task retries the close; a
    trial failed by the watch) closed here with its results and in its trial's state, as its
    task would; then any other child run left RUNNING; then the parent. True once done.

    MLflow unavailable: False, nothing more is tried (the parent stays RUNNING); the trials'
    retried closes and the watch (``sweep_runs_close``) end the rest, in the same order and
    states."""
    pending = Trial.objects.filter(sweep=sweep, run_closed=False).exclude(mlflow_run_id="")
    for trial in pending:
        status = child_run_status(trial.status, cancelled=False)
        if not _trial_run_close(trial, sweep=sweep, run_status=status):
            logger.warning("Sweep %s: runs left for the watch to end", sweep.pk)
            return False
    if not sweep.mlflow_run_id:
        return True
    try:
        sweep_children_end(sweep, worker=True)
        runs.run_end(run_id=sweep.mlflow_run_id, status=parent_status, worker=True)
    except MlflowError as exc:  # the watch ends it later (sweep_runs_close)
        logger.warning("Sweep %s: parent run not ended (%r)", sweep.pk, exc)
        return False
    return True


def _auto_promote(sweep_id: Any) -> None:
    from cauce.sweeps.services import sweep_promote

    sweep = Sweep.objects.select_related("project", "dataset", "created_by").get(pk=sweep_id)
    if sweep.promoted_experiment_id is not None:
        return
    try:
        sweep_promote(sweep=sweep, user=sweep.created_by, register_alias="candidate")
    except ApplicationError as exc:
        logger.warning("Sweep %s: the best trial was not promoted (%s)", sweep_id, exc.message)


def _importances(sweep: Sweep) -> dict[str, float]:
    """Optuna's parameter importances, kept for the sweep's page (best effort)."""
    from cauce.sweeps import study as optuna_study

    try:
        return optuna_study.param_importances(sweep)
    except Exception:
        logger.exception("Sweep %s: parameter importances not computed", sweep.pk)
        return {}


def _lease_free() -> Q:
    return Q(controller_until__isnull=True) | Q(controller_until__lt=timezone.now())


def _lease_take(sweep_id: Any, token: str) -> bool:
    return bool(
        Sweep.objects.filter(pk=sweep_id)
        .filter(_lease_free())
        .update(
            controller_token=token,
            controller_until=timezone.now() + timedelta(seconds=LEASE_SECONDS),
            controller_wanted=False,
        )
    )


def _lease_keep_or_release(sweep_id: Any, token: str) -> bool:
    """After a run of the controller: let the lease go unless a kick came meanwhile; then
    keep it (renewed, the kick seen) and return True: the holder runs once more."""
    if Sweep.objects.filter(pk=sweep_id, controller_token=token, controller_wanted=False).update(
        controller_token="", controller_until=None
    ):
        return False
    # A kick came (or the lease expired and another process holds it now: then not ours).
    return bool(
        Sweep.objects.filter(pk=sweep_id, controller_token=token).update(
            controller_until=timezone.now() + timedelta(seconds=LEASE_SECONDS),
            controller_wanted=False,
        )
    )


def sweep_fill(*, sweep_id: Any, reconcile: bool = True) -> None:
    """Ask for trials until ``SWEEP_PARALLEL_TRIALS`` are in flight or ``n_trials`` were
    asked; end the sweep once every trial is done. Safe to call any number of times, from
    any process: see the module's docstring.

    One conditional UPDATE takes the lease; only when it is taken does a second one leave
    the kick for its holder (``controller_wanted``, set only while the lease is held, so the
    holder sees it when it lets go; the lease free again by then: take it). The holder lets
    go with one UPDATE that succeeds only when no kick came, else runs once more.

    ``reconcile=False``: the kick of a trial that told the study itself, the only trial
    that can have ended since the last run; a run for another kick reconciles."""
    token = uuid.uuid4().hex
    while not _lease_take(sweep_id, token):
        held = Sweep.objects.filter(pk=sweep_id).exclude(_lease_free())
        if held.update(controller_wanted=True):
            return  # the holder runs once more: it sees controller_wanted
        if not Sweep.objects.filter(pk=sweep_id).exists():
            return
    try:
        while True:
            _fill(sweep_id, reconcile=reconcile)
            if not _lease_keep_or_release(sweep_id, token):
                return
            reconcile = True  # another process's kick: whatever it saw end
    except BaseException:
        Sweep.objects.filter(pk=sweep_id, controller_token=token).update(
            controller_token="", controller_until=None
        )
        raise


def _reconcile(sweep: Sweep) -> None:
    """Tell the study the trials Cauce saw end that it still has running (a trial failed by
    the watch, a tell lost with its worker): constant liar and the grid read Optuna's states."""
    import optuna

    from cauce.sweeps import study as optuna_study

    study = optuna_study.study_load(sweep)
    running = {
        trial.number
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    }
    if not running:
        return
    ended = Trial.objects.filter(sweep=sweep, number__in=running, status__in=FINISHED_TRIALS)
    for number, state, value in ended.values_list("number", "status", "value"):
        optuna_study.tell(study, number=number, state=state, value=value)


def _fill(sweep_id: Any, *, reconcile: bool = True) -> None:
    from cauce.sweeps import study as optuna_study

    sweep = Sweep.objects.get(pk=sweep_id)
    if sweep.status != Sweep.Status.RUNNING:
        return
    if _best_refresh(sweep):
        _log_best(sweep)
    if reconcile:
        _reconcile(sweep)
    counts = Trial.objects.filter(sweep=sweep).aggregate(
        asked=Count("pk"),
        in_flight=Count("pk", filter=Q(status__in=Trial.IN_FLIGHT)),
        done=Count("pk", filter=Q(status__in=FINISHED_TRIALS)),
    )
    if counts["done"] >= sweep.n_trials:
        _finish(sweep)
        return
    asked, in_flight = counts["asked"], counts["in_flight"]
    while in_flight < settings.SWEEP_PARALLEL_TRIALS and asked < sweep.n_trials:
        if asked > counts["asked"]:  # a second ask in this run: a cancel stops it
            sweep.refresh_from_db(fields=["status"])
            if sweep.status != Sweep.Status.RUNNING:
                return
        study = optuna_study.study_load(sweep, next_number=asked)
        trial = study.ask(optuna_study.distributions(sweep))
        with transaction.atomic():
            row = Trial.objects.create(
                sweep=sweep,
                number=trial.number,
                optuna_trial_id=trial._trial_id,
                params=optuna_study.params_of(trial.params),
                dispatched_at=timezone.now(),
                dispatches=1,
            )
            transaction.on_commit(lambda row=row: trial_dispatch(row))
        # Counted here, not read again: a trial that ends meanwhile kicks the controller
        # (then its holder, this process, runs once more).
        asked, in_flight = asked + 1, in_flight + 1


def sweep_kick(*, sweep_id: Any, reconcile: bool = True) -> None:
    """Run the controller here; if that fails (the database, Optuna), leave it to a task.
    ``reconcile``: see ``sweep_fill``."""
    from cauce.sweeps.tasks import sweep_fill_task

    try:
        sweep_fill(sweep_id=sweep_id, reconcile=reconcile)
    except Exception:
        logger.exception("Sweep %s: controller failed here; sent to the queue", sweep_id)
        try:
            sweep_fill_task.apply_async(args=[str(sweep_id)], countdown=2)
        except Exception:
            logger.exception("Sweep %s: controller not sent; the watch kicks it", sweep_id)


# --- one trial -------------------------------------------------------------------------------


def _trial_record(trial: Trial, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(trial, name, value)
    Trial.objects.filter(pk=trial.pk).update(**fields)


def _trial_settings(sweep: Sweep, params: dict[str, Any]) -> TrialSettings:
    return TrialSettings(
        target=sweep.target_column,
        features=list(sweep.feature_columns),
        task_type=sweep.task_type,
        algorithm=sweep.algorithm,
        hyperparameters={**sweep.fixed_hyperparameters, **params},
        metric=sweep.metric,
        cv_folds=sweep.cv_folds,
        test_size=sweep.test_size,
        seed=sweep.seed,
        column_kinds={
            column["name"]: column["kind"]
            for column in _training_data(sweep).schema
            if column.get("kind")
        },
    )


def _child_run(sweep: Sweep, trial: Trial) -> str:
    """The trial's child run, created as it starts; its params go with its results (one
    request fewer per trial on MLflow's server, see ``_trial_run_close``)."""
    tags = {
        SWEEP_ID_TAG: str(sweep.pk),
        TRIAL_NUMBER_TAG: str(trial.number),
        "cauce.project_id": str(sweep.project_id),
        # What made it, as its parent says (MLflow's "Source" and "Created by").
        SOURCE_NAME_KEY: f"Cauce · {sweep.name} #{trial.number}",
        SOURCE_TYPE_KEY: SOURCE_TYPE,
    }
    if sweep.created_by is not None:
        tags[USER_KEY] = sweep.created_by.get_username()
    return mlflow_sweeps.child_run_create(
        experiment_id=sweep.mlflow_experiment_id,
        parent_run_id=sweep.mlflow_run_id,
        run_name=f"{sweep.name} #{trial.number}",
        tags=tags,
    )


def _child_run_params(sweep: Sweep, trial: Trial) -> dict[str, Any]:
    params: dict[str, Any] = {f"hp.{name}": value for name, value in trial.params.items()}
    params.update({f"hp.{name}": v for name, v in sweep.fixed_hyperparameters.items()})
    params.update({"trial_number": trial.number, "algorithm": sweep.algorithm})
    return params


# The last datasets read by this process: a sweep's trials read the same file again and again.
_FRAMES: OrderedDict[tuple, Any] = OrderedDict()
_FRAMES_KEPT = 2


def _training_data(sweep: Sweep) -> DatasetVersion | Dataset:
    """The version the trials train on (a sweep from before versions: its dataset's file)."""
    return sweep.dataset_version or sweep.dataset


def _frame(sweep: Sweep):
    """The sweep's columns of its dataset version; read once per process and version, then
    copied."""
    columns = (*sweep.feature_columns, sweep.target_column)
    data = _training_data(sweep)
    key = (sweep.dataset_id, sweep.dataset_version_id, data.file.name, columns)
    found = _FRAMES.get(key)
    if found is None:
        found = dataset_dataframe(dataset=data, columns=list(columns))
        _FRAMES[key] = found
        while len(_FRAMES) > _FRAMES_KEPT:
            _FRAMES.popitem(last=False)
    else:
        _FRAMES.move_to_end(key)
    return found.copy()


class _Heartbeat(threading.Thread):
    """Writes the trial's ``heartbeat_at`` every ``EXPERIMENT_HEARTBEAT_SECONDS``."""

    def __init__(self, trial: Trial) -> None:
        super().__init__(name=f"trial-heartbeat-{trial.pk}", daemon=True)
        self.trial_pk = trial.pk
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(settings.EXPERIMENT_HEARTBEAT_SECONDS):
                try:
                    Trial.objects.filter(pk=self.trial_pk, status=Trial.Status.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception as exc:  # the database restarting: the next beat tries again
                    logger.warning("Trial %s: heartbeat not written (%r)", self.trial_pk, exc)
                    close_old_connections()
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


def _fresh(moment) -> bool:
    cutoff = timezone.now() - timedelta(seconds=settings.EXPERIMENT_STALE_AFTER_SECONDS)
    return moment is not None and moment >= cutoff


def trial_execute(*, sweep_id: Any, number: int) -> None:
    """Run one asked trial; tell the study and the controller how it ended.

    ``TrialRetry`` is raised when MLflow is unreachable before the trial started: the trial
    is WAITING again and the task retries it."""
    trial = Trial.objects.select_related(
        "sweep__dataset", "sweep__dataset_version", "sweep__created_by"
    ).get(sweep_id=sweep_id, number=number)
    sweep = trial.sweep
    now = timezone.now()
    claimed = Trial.objects.filter(pk=trial.pk, status=Trial.Status.WAITING).update(
        status=Trial.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        if trial.status == Trial.Status.RUNNING:
            if _fresh(trial.heartbeat_at):
                return  # a second message for a trial another worker runs now
            # A redelivery: the worker that ran it died mid-trial.
            trial_fail_lost(trial, message=worker_lost_message())
        elif (
            trial.mlflow_run_id
            and not trial.run_closed
            and not _trial_run_close(trial, sweep=sweep)
        ):
            # A retry: MLflow was down when the trial ended, and still is.
            raise TrialRetry(MlflowUnavailable("the child run could not be closed"))
        sweep_kick(sweep_id=sweep.pk)
        return
    if sweep.status != Sweep.Status.RUNNING:
        _trial_record(
            trial, status=Trial.Status.FAIL, error=_("Barrido cancelado."), finished_at=now
        )
        sweep_runs_close(sweep_id=sweep.pk, worker=True)
        return
    heartbeat = _Heartbeat(trial)
    heartbeat.start()
    try:
        closed, told = _trial_run(sweep, trial)
    finally:
        heartbeat.stop()
    if Sweep.objects.filter(pk=sweep.pk, status=Sweep.Status.RUNNING).exists():
        sweep_kick(sweep_id=sweep.pk, reconcile=not told)
    else:
        sweep_runs_close(sweep_id=sweep.pk, worker=True)
    if not closed:
        raise TrialRetry(MlflowUnavailable("the child run could not be closed"))


def _trial_run(sweep: Sweep, trial: Trial) -> tuple[bool, bool]:
    """Train and record the trial: whether its child run was closed (False: MLflow
    unavailable, the task retries the close) and whether the study was told."""
    import optuna

    from cauce.sweeps import study as optuna_study

    study = optuna_study.study_load(sweep)
    handle = None  # the running trial in Optuna: read when the first fold is reported

    def on_fold(step: int, mean_so_far: float) -> None:
        nonlocal handle
        if not Sweep.objects.filter(pk=sweep.pk, status=Sweep.Status.RUNNING).exists():
            raise TrialStopped
        if step < 0:
            return
        if handle is None:
            handle = optuna_study.trial_handle(study, trial.optuna_trial_id)
        handle.report(mean_so_far, step)
        if handle.should_prune():
            raise optuna.TrialPruned

    started = time.perf_counter()
    state, run_status, value, error, scores = "FAIL", "FAILED", None, "", None
    try:
        run_id = _child_run(sweep, trial)
    except MlflowUnavailable as exc:
        Trial.objects.filter(pk=trial.pk, status=Trial.Status.RUNNING).update(
            status=Trial.Status.WAITING, started_at=None, heartbeat_at=None
        )
        raise TrialRetry(exc) from exc
    _trial_record(trial, mlflow_run_id=run_id)
    try:
        frame = _frame(sweep)
        with training_memory_limit():
            scores = trial_train(
                frame, settings=_trial_settings(sweep, trial.params), on_fold=on_fold
            )
        state, run_status, value = "COMPLETE", "FINISHED", scores.value
    except optuna.TrialPruned:
        state, run_status = "PRUNED", "FINISHED"
    except TrialStopped:
        state, run_status, error = "FAIL", "KILLED", _("Barrido cancelado.")
    except ApplicationError as exc:
        error = str(exc.message)
    except Exception as exc:
        logger.exception("Sweep %s trial %s failed", sweep.pk, trial.number)
        error = _("La prueba falló (%(kind)s).") % {"kind": type(exc).__name__}
    duration = round(time.perf_counter() - started, 3)
    fold_scores = list(scores.fold_scores) if scores else _reported(handle)
    # One read for both: the sweep cancelled meanwhile, the trial failed by the watch meanwhile.
    row_status, row_error, row_finished_at, sweep_status = (
        Trial.objects.filter(pk=trial.pk)
        .values_list("status", "error", "finished_at", "sweep__status")
        .get()
    )
    if sweep_status == Sweep.Status.CANCELLED:
        run_status = "KILLED"  # cancelled meanwhile: the child ends with its parent
    results = {
        "status": state,
        "value": value,
        "error": error,
        "fold_scores": fold_scores,
        "metrics": dict(scores.metrics) if scores else {},
        "duration_seconds": duration,
    }
    for name, result in results.items():
        setattr(trial, name, result)
    # The moment the trial ended: its row's and its metrics' (see _trial_run_close).
    trial.finished_at = timezone.now()
    if row_status != Trial.Status.RUNNING:
        # The watch failed it meanwhile (no heartbeat) and ended its run FAILED: its verdict
        # stands, in MLflow too (the run never turns FINISHED after it was seen FAILED).
        trial.status, trial.error, trial.value, trial.metrics = row_status, row_error, None, {}
        trial.finished_at = row_finished_at or trial.finished_at
        cancelled = sweep_status == Sweep.Status.CANCELLED
        run_status = child_run_status(row_status, cancelled=cancelled)
    # The child run ends before the row says the trial ended: whoever reads an ended trial
    # finds its run ended too.
    closed = _trial_run_close(trial, sweep=sweep, run_status=run_status, record=False)
    finished = Trial.objects.filter(pk=trial.pk, status=Trial.Status.RUNNING).update(
        **results, run_closed=closed, finished_at=trial.finished_at
    )
    if not finished:  # the watch failed it meanwhile (no heartbeat): its verdict stands
        logger.warning("Sweep %s trial %s: failed by the watch meanwhile", sweep.pk, trial.number)
        if closed:
            Trial.objects.filter(pk=trial.pk).update(run_closed=True)
        trial.refresh_from_db()
    told = False
    try:
        optuna_study.tell(
            study,
            number=trial.number,
            state=trial.status,
            value=trial.value,
            trial_id=trial.optuna_trial_id,
        )
        told = True
    except Exception as exc:  # the controller reconciles it from the row
        logger.warning("Sweep %s trial %s: not told (%r)", sweep.pk, trial.number, exc)
    logger.info("Sweep %s trial %s: %s %s", sweep.pk, trial.number, trial.status, trial.value)
    return closed, told


def trial_give_up(*, sweep_id: Any, number: int, message: str) -> None:
    """A trial that could not start (MLflow down through every retry): FAIL, then go on."""
    Trial.objects.filter(sweep_id=sweep_id, number=number, status__in=Trial.IN_FLIGHT).update(
        status=Trial.Status.FAIL, error=message, finished_at=timezone.now()
    )
    sweep_kick(sweep_id=sweep_id)


def _reported(handle) -> list[float]:
    """The fold scores reported before a prune or a stop (running means, by step)."""
    if handle is None:  # none reported
        return []
    try:
        values = handle.storage.get_trial(handle._trial_id).intermediate_values
    except Exception:
        return []
    return [values[step] for step in sorted(values)]


def _trial_run_close(
    trial: Trial, *, sweep: Sweep, run_status: str | None = None, record: bool = True
) -> bool:
    """Log the trial's params and results on its child run and end it; True once done (recorded as
    ``run_closed``, unless ``record`` is False: the caller writes it with its own update).
    False while MLflow is unavailable (the task retries); another refusal ends the run
    FAILED. A failed trial's reason goes with its state, as a tag (cut to MLflow's limit).

    The metrics carry the moment the trial ended (its ``finished_at``), not the moment of
    the close: MLflow keeps a metric logged again with the same key, value, step and time
    once, so two closes at once (the controller's and the trial's retried one) leave one
    point per metric and step."""
    if run_status is None:  # a retried close
        cancelled = Sweep.objects.filter(pk=sweep.pk, status=Sweep.Status.CANCELLED).exists()
        run_status = child_run_status(trial.status, cancelled=cancelled)
    tags = {TRIAL_STATE_TAG: str(trial.status)}
    if trial.error:
        tags[TRIAL_ERROR_TAG] = trial.error[:MLFLOW_MAX_TAG_VALUE]
    try:
        metrics = dict(trial.metrics)
        if trial.duration_seconds is not None:  # a trial failed by the watch has none
            metrics["duration_s"] = trial.duration_seconds
        if trial.value is not None:
            metrics[f"objective_{sweep.metric}"] = trial.value
        mlflow_sweeps.run_log_trial(
            run_id=trial.mlflow_run_id,
            timestamp_ms=int((trial.finished_at or timezone.now()).timestamp() * 1000),
            params=_child_run_params(sweep, trial),
            metrics=metrics,
            steps={f"fold_{sweep.metric}": trial.fold_scores} if trial.fold_scores else {},
            tags=tags,
        )
        runs.run_end(run_id=trial.mlflow_run_id, status=run_status, worker=True)
    except MlflowUnavailable as exc:
        logger.warning("Sweep %s trial %s: MLflow unavailable (%r)", sweep.pk, trial.number, exc)
        return False
    except MlflowError as exc:
        logger.warning("Sweep %s trial %s: child run not closed (%r)", sweep.pk, trial.number, exc)
        run_end_quietly(trial.mlflow_run_id, "FAILED" if run_status != "KILLED" else run_status)
    if record:
        Trial.objects.filter(pk=trial.pk).update(run_closed=True)
    return True
