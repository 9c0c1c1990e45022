"""Runs an experiment in a worker: the whole life of its MLflow run.

``experiment_execute`` is what the Celery task calls. Choices, in one place:

- Claiming. The experiment moves QUEUED → RUNNING under ``select_for_update`` and
  ``attempts`` grows by one; only the worker that made that move runs it, and its task id
  is stored in ``task_id``. DRAFT, FINISHED, ERROR and CANCELLED experiments are left alone,
  so a duplicated or late task does nothing (a cancelled queued experiment never starts).
- Redelivery. ``acks_late`` makes the broker hand a killed worker's task to another worker;
  that task (the same task id) finds the experiment RUNNING. It starts over (a new MLflow
  run; the old one is ended FAILED) while ``attempts`` < ``MAX_ATTEMPTS``, else the
  experiment is ERROR. A RUNNING experiment found by a task with another id is left alone:
  that message is a second dispatch of a queued experiment that was thought lost (see
  ``cauce.experiments.liveness``) and the first one arrived after all. Two live workers
  never get one task at once on the embedded broker; on Redis that can happen only after
  the visibility timeout (one hour), longer than any run Cauce expects.
- Cancel. ``experiment_cancel`` sets CANCELLED. The runner sees it at its next step (each
  stage change is a conditional write) and the heartbeat thread sees it within
  ``EXPERIMENT_HEARTBEAT_SECONDS`` and interrupts the training in the worker's main thread
  (an asynchronous ``ExperimentStopped``, delivered at the next Python instruction: between
  trees, boosting iterations or solver steps). The run is then ended KILLED in MLflow. The
  same path stops an experiment the reaper set to ERROR meanwhile (its run ends FAILED).
- Previous runs. An experiment that already has an ``mlflow_run_id`` when a new attempt
  starts (a redelivery, or a retry after MLflow went away) gets that run ended as FAILED
  before a new one is created. Only when that succeeds is the id replaced, so a run is never
  forgotten while still RUNNING; a missing or already ended run is not an error. Then one
  ``search_runs`` by the ``cauce.experiment_id`` tag ends (FAILED) any other RUNNING run of
  the experiment: one an attempt created but whose id never reached the database (it was
  down) and that it could not end either (MLflow shared that database). The same search runs
  when the runner gives up. Best effort: MLflow failing it does not stop the attempt.
- MLflow down. ``MlflowUnavailable`` either sends the experiment back to QUEUED with stage
  RETRYING (``retry_on_unavailable=True``, the task then retries with backoff) or ends it
  as ERROR "MLflow no disponible: ...".
- Memory. The training runs under ``training_memory_limit`` (``TRAINING_MEMORY_MB`` more
  than the process had; see ``cauce.experiments.limits``): beyond it, ERROR "El
  entrenamiento superó el límite de memoria de N MB..." and the worker lives on.
- Database out. A query that finds the database unreachable (a restart, a dropped
  connection) ends this attempt's run FAILED in MLflow and is raised again for the task to
  retry with backoff; the experiment goes back to QUEUED (stage RETRYING) when the database
  already answers again, else the retry finds it RUNNING under its own task id and starts
  it over. Nothing is marked ERROR for an outage that outlives no retry.
- Any other failure: ERROR with a readable message (an ApplicationError's own; otherwise a
  generic one naming the exception class, never a traceback, which goes to the log), and the
  MLflow run ended FAILED, best effort.
- Liveness. ``heartbeat_at`` is written at each step and, while the work goes on, by a
  background thread every ``EXPERIMENT_HEARTBEAT_SECONDS``. ``experiments_fail_stale``
  (in ``cauce.experiments.liveness``, light enough for web processes) turns RUNNING
  experiments without a recent heartbeat into ERROR at worker start, before each task and
  when a page or the API shows one, so none stays RUNNING forever.
"""

from __future__ import annotations

import ctypes
import json
import logging
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from cauce.core.db import DATABASE_UNAVAILABLE_ERRORS, database_unavailable
from cauce.core.exceptions import ApplicationError
from cauce.datasets.selectors import dataset_dataframe
from cauce.experiments import transitions
from cauce.experiments.limits import training_memory_limit
from cauce.experiments.metric_names import TIMING_PREFIX
from cauce.experiments.models import MLExperiment
from cauce.experiments.pipeline.data import training_columns_check
from cauce.experiments.pipeline.training import TrainingResult, TrainingSpec, training_run
from cauce.experiments.tag_sync import (
    EXPERIMENT_ID_TAG,
    mlflow_tags_desired,
    tag_sync_run_started,
    tag_sync_version,
)
from cauce.integrations.mlflow import (
    MlflowError,
    MlflowNotFound,
    MlflowUnavailable,
    datasets,
    runs,
    tracking,
)
from cauce.integrations.mlflow.client import tracking_uri as mlflow_tracking_uri
from cauce.monitoring.profile import REFERENCE_PROFILE_ARTIFACT, profile_build
from cauce.monitoring.services import reference_profile_store
from cauce.projects.services import project_mlflow_experiment_ensure

logger = logging.getLogger(__name__)

Status = MLExperiment.Status
Stage = MLExperiment.Stage

# A task redelivered after its worker died starts the experiment over at most this often.
MAX_ATTEMPTS = 3
MODEL_REQUIREMENTS = ("scikit-learn", "pandas", "numpy", "cloudpickle")
INPUT_EXAMPLE_ROWS = 5
SIGNATURE_SAMPLE_ROWS = 1000


def experiment_mlflow_tags(experiment: MLExperiment) -> dict[str, str]:
    """The run's tags at start: the tags as ``tag_i``, ``all_tags`` and ``tag_count``, name,
    description, user and Cauce's ids.

    ``tag_0``..``tag_{n-1}`` (sorted by name, stable keys), ``all_tags`` (comma-joined) and
    ``tag_count`` (a string), present even with no tags; see ``tag_sync.mlflow_tags_desired``,
    which every later sync writes too.
    """
    return mlflow_tags_desired(experiment).tags


def experiment_mlflow_params(experiment: MLExperiment) -> dict[str, Any]:
    params: dict[str, Any] = {
        "algorithm": experiment.algorithm,
        "task_type": experiment.task_type,
        "target": experiment.target_column,
        "features": ",".join(experiment.feature_columns),
        "test_size": experiment.test_size,
        "random_state": experiment.random_state,
        "dataset_id": experiment.dataset_id,
        "dataset_name": experiment.dataset.name,
    }
    if experiment.dataset_version is not None:
        params["dataset_version"] = experiment.dataset_version.version
        params["dataset_digest"] = experiment.dataset_version.digest
    for name, value in (experiment.hyperparameters or {}).items():
        params[f"hp.{name}"] = value
    return params


def model_pip_requirements() -> list[str]:
    """Pinned to what this worker has installed (MLflow's own inference takes seconds)."""
    return [f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS]


def worker_preload() -> None:
    """Import what trainings need (the algorithms, the plots, the MLflow client) once, in
    the worker's main process before its pool forks: pool processes share it, their first
    experiment does not pay for it, and the memory limit counts the training alone."""
    from cauce.experiments.pipeline import reports  # noqa: F401
    from cauce.experiments.pipeline.algorithms import ALGORITHMS
    from cauce.integrations.mlflow.client import preload

    for algorithm in ALGORITHMS.values():
        algorithm.estimator_class()
    preload()


# --- state changes -------------------------------------------------------------------------


class ExperimentStopped(BaseException):
    """The experiment is no longer RUNNING for this worker (cancelled, or reaped as ERROR).

    A BaseException, like KeyboardInterrupt: the pipeline's ``except Exception`` blocks must
    not turn a cancel into a training error.
    """


# The fields a transition writes, read back into the runner's copy of the experiment.
_CLAIMED_FIELDS = [
    "status",
    "stage",
    "attempts",
    "started_at",
    "stage_started_at",
    "heartbeat_at",
    "finished_at",
    "error",
    "task_id",
    "updated_at",
]
_ENDED_FIELDS = [
    "status",
    "stage",
    "stage_started_at",
    "error",
    "timings",
    "plots",
    "finished_at",
    "heartbeat_at",
    "due_at",
    "updated_at",
]


def _mine(experiment: MLExperiment):
    """The experiment's row while this attempt still owns it: RUNNING under the task id that
    claimed it. A cancel, the reaper or a new run (which gets a new task id) end that."""
    return MLExperiment.objects.filter(
        pk=experiment.pk, status=Status.RUNNING, task_id=experiment.task_id
    )


def _touch(experiment: MLExperiment, stage: str) -> None:
    """Record the stage (and a heartbeat); stop here if the experiment was cancelled."""
    now = timezone.now()
    stage_started_at = (
        now
        if experiment.stage != stage or experiment.stage_started_at is None
        else experiment.stage_started_at
    )
    if not _mine(experiment).update(
        stage=stage, stage_started_at=stage_started_at, heartbeat_at=now, updated_at=now
    ):
        raise ExperimentStopped
    experiment.stage = stage
    experiment.stage_started_at = stage_started_at
    experiment.heartbeat_at = now


# The run's stages as they are named in the timing metrics (cauce.time.<name>_s).
STAGE_TIMING_NAMES = {
    Stage.PREPARING: "prepare",
    Stage.LOADING: "load",
    Stage.TRAINING: "fit",
    Stage.EVALUATING: "evaluate",
    Stage.LOGGING: "log",
}


class _StageClock:
    """How long each stage of one run took: a stage ends when the next one starts."""

    def __init__(self, experiment: MLExperiment) -> None:
        self.experiment = experiment
        self.seconds: dict[str, float] = {}
        self._started = time.perf_counter()
        self._stage = ""
        self._stage_started = self._started

    def enter(self, stage: str) -> None:
        self._close()
        self._stage = stage
        self._stage_started = time.perf_counter()
        _touch(self.experiment, stage)

    def finish(self) -> dict[str, float]:
        """Close the last stage; the durations, with the whole run as ``total``."""
        self._close()
        self._stage = ""
        self.seconds["total"] = round(time.perf_counter() - self._started, 3)
        return dict(self.seconds)

    def _close(self) -> None:
        if not self._stage:
            return
        name = STAGE_TIMING_NAMES.get(self._stage, self._stage)
        elapsed = time.perf_counter() - self._stage_started
        self.seconds[name] = round(self.seconds.get(name, 0.0) + elapsed, 3)
        logger.info("Experiment %s: %s took %.2f s", self.experiment.pk, name, elapsed)


def timing_metrics(seconds: dict[str, float]) -> dict[str, float]:
    return {f"{TIMING_PREFIX}{name}_s": value for name, value in seconds.items()}


def _heartbeat(experiment: MLExperiment) -> bool:
    """Write a heartbeat; False when this attempt no longer owns the experiment."""
    return bool(_mine(experiment).update(heartbeat_at=timezone.now()))


def _finished_here(experiment: MLExperiment) -> bool:
    """Whether this attempt has set the experiment FINISHED (its run already ended FINISHED):
    a heartbeat or a stop that comes after that has nothing left to stop."""
    return MLExperiment.objects.filter(
        pk=experiment.pk, status=Status.FINISHED, task_id=experiment.task_id
    ).exists()


def _set_async_exception(thread_id: int, exception: type[BaseException] | None) -> None:
    """Raise ``exception`` in the thread at its next Python instruction (None: clear it)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception else None
    )


class _HeartbeatThread(threading.Thread):
    """Refreshes ``heartbeat_at`` every ``EXPERIMENT_HEARTBEAT_SECONDS`` until stopped.

    When the experiment is no longer RUNNING (cancelled or reaped), it interrupts the thread
    running the experiment with ``ExperimentStopped``, once. ``stop()`` disarms it and clears
    an interruption not yet delivered, so it never lands outside the experiment's code.
    """

    def __init__(self, experiment: MLExperiment, *, interrupt: int | None = None) -> None:
        super().__init__(name=f"heartbeat-{experiment.pk}", daemon=True)
        self.experiment = experiment
        self.experiment_id = experiment.pk
        self.interval = settings.EXPERIMENT_HEARTBEAT_SECONDS
        self.stopped = threading.Event()
        self.interrupt = interrupt
        self.interrupted = False
        self._armed = threading.Lock()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    alive = _heartbeat(self.experiment)
                except Exception:
                    logger.warning("Heartbeat of experiment %s failed", self.experiment_id)
                    # A connection the database dropped (e.g. on a restart) stays broken:
                    # the next beat opens a new one.
                    _close_quietly()
                    continue
                if not alive:
                    # The beat between ``_finish`` and ``stop()`` finds the experiment
                    # FINISHED by this very attempt: nothing to interrupt (an interruption
                    # then ended the FINISHED experiment's run as FAILED).
                    if not _finished_here(self.experiment):
                        self._interrupt()
                    return
        finally:
            connection.close()

    def _interrupt(self) -> None:
        with self._armed:
            if self.interrupt is None or self.stopped.is_set():
                return
            logger.warning(
                "Experiment %s is no longer RUNNING: interrupting it", self.experiment_id
            )
            self.interrupted = True
            _set_async_exception(self.interrupt, ExperimentStopped)

    def stop(self) -> None:
        with self._armed:
            self.stopped.set()
            if self.interrupted and self.interrupt is not None:
                _set_async_exception(self.interrupt, None)
        if threading.current_thread() is not self:
            self.join(timeout=5)


def _close_quietly() -> None:
    try:
        connection.close()
    except Exception:
        logger.debug("Closing a broken database connection failed", exc_info=True)


@dataclass(frozen=True)
class _Claim:
    experiment: MLExperiment
    # The run of an earlier attempt that may still be RUNNING in MLflow.
    previous_run_id: str
    # True when the experiment was interrupted too often and has just been set to ERROR.
    gave_up: bool = False


def _claim(experiment_id: str, task_id: str | None = None) -> _Claim | None:
    """Move the experiment to RUNNING for this worker; None when there is nothing to do.

    ``task_id`` is the Celery task's id (None when called outside a task): a RUNNING
    experiment is started over only by a redelivery of the message that claimed it.
    """
    now = timezone.now()
    with transaction.atomic():
        experiment = (
            MLExperiment.objects.select_for_update()
            # Not the nullable dataset_version: PostgreSQL locks no outer join's side (read later).
            .select_related("project", "dataset")
            .filter(pk=experiment_id)
            .first()
        )
        if experiment is None:
            logger.warning("Experiment %s no longer exists; nothing to run", experiment_id)
            return None
        if experiment.status == Status.RUNNING:
            if task_id and experiment.task_id and task_id != experiment.task_id:
                logger.info(
                    "Experiment %s is already running (task %s); duplicate task %s ignored",
                    experiment_id,
                    experiment.task_id,
                    task_id,
                )
                return None
            if experiment.attempts >= MAX_ATTEMPTS:
                logger.warning(
                    "Experiment %s was interrupted %s times; giving up",
                    experiment_id,
                    experiment.attempts,
                )
                _fail(
                    experiment,
                    _(
                        "El experimento se interrumpió %(attempts)d veces (el proceso de "
                        "trabajo se detuvo); no se volverá a intentar."
                    )
                    % {"attempts": experiment.attempts},
                )
                return _Claim(experiment, experiment.mlflow_run_id, gave_up=True)
            logger.warning(
                "Experiment %s found RUNNING: its worker died; starting over", experiment_id
            )
        elif experiment.status != Status.QUEUED:
            logger.info("Experiment %s is %s; nothing to run", experiment_id, experiment.status)
            return None
        # Conditional on the status read: SQLite has no row locks, and a cancel meanwhile wins.
        if not transitions.to_running(
            experiment_id=experiment.pk, task_id=task_id, from_statuses=[experiment.status], now=now
        ):
            logger.info("Experiment %s changed while being claimed; nothing to run", experiment_id)
            return None
        experiment.refresh_from_db(fields=_CLAIMED_FIELDS)
    return _Claim(experiment=experiment, previous_run_id=experiment.mlflow_run_id)


def _fail(experiment: MLExperiment, message: str) -> None:
    """ERROR for an experiment this attempt gave up on (it holds the row's lock)."""
    transitions.to_error(experiment_id=experiment.pk, message=message)
    experiment.refresh_from_db(fields=_ENDED_FIELDS)


def _fail_mine(experiment: MLExperiment, message: str) -> None:
    """Set ERROR unless another path already ended the experiment (or took it over)."""
    transitions.to_error(experiment_id=experiment.pk, message=message, task_id=experiment.task_id)


def _requeue_for_retry(experiment: MLExperiment, countdown: float) -> bool:
    """Back to QUEUED (stage RETRYING), due once the retry's countdown has passed; False
    when it was cancelled or reaped meanwhile."""
    return transitions.to_queued_for_retry(
        experiment_id=experiment.pk, task_id=experiment.task_id, countdown=countdown
    )


def _run_end_status(experiment: MLExperiment) -> str:
    """How this attempt's run ends after a failure or a stop: KILLED when the experiment was
    cancelled (or cancelled and queued again: a new task id), else FAILED."""
    row = MLExperiment.objects.filter(pk=experiment.pk).values("status", "task_id").first()
    if row is None:
        return "FAILED"
    taken_over = row["task_id"] != experiment.task_id
    return "KILLED" if row["status"] == Status.CANCELLED or taken_over else "FAILED"


def _end_run_after_failure(experiment: MLExperiment) -> None:
    _end_run_quietly(experiment.mlflow_run_id, _run_end_status(experiment))


def _stopped(experiment: MLExperiment) -> None:
    """The experiment stopped being this worker's to run: end its run to match. A stop that
    arrives once this attempt has finished the experiment changes nothing."""
    if _finished_here(experiment):
        logger.info("Experiment %s had finished before it was stopped", experiment.pk)
        return
    status = _run_end_status(experiment)
    logger.warning("Experiment %s stopped; its MLflow run ends %s", experiment.pk, status)
    _end_run_quietly(experiment.mlflow_run_id, status)


def _end_run_quietly(run_id: str, status: str = "FAILED") -> None:
    """End an MLflow run, best effort: a failure here must not hide the first one."""
    if not run_id:
        return
    try:
        runs.run_end(run_id=run_id, status=status, worker=True)
    except Exception as exc:
        logger.warning("Could not end MLflow run %s as %s: %s", run_id, status, exc)


def _end_previous_run(run_id: str) -> None:
    """End an earlier attempt's run as FAILED; MlflowUnavailable propagates (retry later)."""
    try:
        if tracking.run_get(run_id=run_id).status == "RUNNING":
            runs.run_end(run_id=run_id, status="FAILED", worker=True)
    except MlflowNotFound:
        pass
    except MlflowUnavailable:
        raise
    except MlflowError as exc:
        logger.warning("Could not end the earlier MLflow run %s: %s", run_id, exc)


def _end_orphan_runs(experiment: MLExperiment) -> None:
    """End as FAILED the runs of this experiment's earlier attempts still RUNNING in MLflow,
    found by the ``cauce.experiment_id`` tag every run gets: also a run whose id never
    reached the database (it was down) and could not be ended then. One search; best effort:
    MLflow down or refusing is logged and the next attempt (or give-up) searches again;
    the experiment ended ERROR, ``experiments_close_orphan_runs`` searches at worker start."""
    mlflow_experiment_ids = sorted(
        {experiment.mlflow_experiment_id, experiment.project.mlflow_experiment_id} - {""}
    )
    if not mlflow_experiment_ids:
        return  # No run of this experiment's project was ever recorded.
    try:
        ended = runs.runs_end_running(
            experiment_ids=mlflow_experiment_ids,
            tag=EXPERIMENT_ID_TAG,
            value=str(experiment.pk),
            status="FAILED",
            worker=True,
        )
    except (MlflowError, MlflowNotFound) as exc:
        logger.warning(
            "Could not look for orphan MLflow runs of experiment %s: %s", experiment.pk, exc
        )
        return
    for run_id in ended:
        logger.warning(
            "MLflow run %s of an earlier attempt of experiment %s was still RUNNING: ended FAILED",
            run_id,
            experiment.pk,
        )


# --- the run -------------------------------------------------------------------------------


def experiment_execute(
    *,
    experiment_id: str,
    retry_on_unavailable: bool = False,
    retry_countdown: float = 0,
    task_id: str | None = None,
) -> None:
    """Run a queued experiment to FINISHED or ERROR (see the module docstring).

    With ``retry_on_unavailable`` an ``MlflowUnavailable`` puts the experiment back in the
    queue (QUEUED, stage RETRYING, due in ``retry_countdown`` s) and is raised again for the
    task to retry; without it the
    experiment ends as ERROR "MLflow no disponible: ...". A cancel (or the reaper) stops it
    at its next step; its run ends KILLED (FAILED when reaped).
    """
    claim = _claim(experiment_id, task_id)
    if claim is None:
        return
    if claim.gave_up:
        _end_run_quietly(claim.previous_run_id)
        _end_orphan_runs(claim.experiment)
        return
    experiment = claim.experiment
    # In memory, from here on, the id of this attempt's own run (set once it is created);
    # the database keeps the earlier one until then, so it is never lost.
    experiment.mlflow_run_id = ""
    heartbeat = _HeartbeatThread(experiment, interrupt=threading.get_ident())
    heartbeat.start()
    try:
        try:
            if claim.previous_run_id:
                _end_previous_run(claim.previous_run_id)
            # Before this attempt creates its own run: any RUNNING run of it is an orphan.
            _end_orphan_runs(experiment)
            with training_memory_limit():
                _execute(experiment)
        finally:
            # Disarms the interruption before any handler below runs.
            heartbeat.stop()
    except ExperimentStopped:
        _stopped(experiment)
    except MlflowUnavailable as exc:
        _end_run_after_failure(experiment)
        if retry_on_unavailable and _requeue_for_retry(experiment, retry_countdown):
            logger.warning(
                "MLflow unavailable running experiment %s (%r); will retry",
                experiment.pk,
                exc.__cause__,
            )
            raise
        if retry_on_unavailable:
            logger.info("Experiment %s was cancelled while MLflow was down", experiment.pk)
            return
        logger.warning(
            "MLflow unavailable running experiment %s (%r); giving up",
            experiment.pk,
            exc.__cause__,
        )
        _fail_mine(experiment, mlflow_unavailable_message())
    except DATABASE_UNAVAILABLE_ERRORS as exc:
        _database_lost(experiment, exc, retry_countdown)
        raise
    except ApplicationError as exc:
        logger.info("Experiment %s failed: %s", experiment.pk, exc)
        _fail_mine(experiment, _application_error_message(exc))
        _end_run_after_failure(experiment)
    except Exception as exc:
        if database_unavailable(exc):
            _database_lost(experiment, exc, retry_countdown)
            raise
        logger.exception("Experiment %s failed unexpectedly", experiment.pk)
        _fail_mine(
            experiment,
            _(
                "Error inesperado durante el entrenamiento (%(kind)s). El detalle está en el "
                "registro del proceso de trabajo."
            )
            % {"kind": type(exc).__name__},
        )
        _end_run_after_failure(experiment)
    finally:
        heartbeat.stop()


def _database_lost(experiment: MLExperiment, exc: BaseException, countdown: float) -> None:
    """The database went away during the run: end the run (it cannot be finished), and put
    the experiment back in the queue if the database answers again already (a new
    connection). Otherwise the task's retry finds it RUNNING and starts it over."""
    logger.warning(
        "Database unavailable running experiment %s (%r); the task will retry",
        experiment.pk,
        exc,
    )
    _end_run_quietly(experiment.mlflow_run_id, "FAILED")
    close_old_connections()
    try:
        _requeue_for_retry(experiment, countdown)
    except DATABASE_UNAVAILABLE_ERRORS:
        _close_quietly()


def mlflow_unavailable_message() -> str:
    """Names the server that did not answer; the cause's details go to the log."""
    return _(
        "MLflow no disponible: el servidor %(uri)s no respondió. No se pudo completar el "
        "experimento; vuelva a ejecutarlo cuando MLflow esté en marcha."
    ) % {"uri": mlflow_tracking_uri()}


def _application_error_message(exc: ApplicationError) -> str:
    if isinstance(exc, MlflowError) and not isinstance(exc, MlflowUnavailable):
        return _("MLflow rechazó la operación: %(message)s") % {"message": exc.message}
    return str(exc.message)


def run_start(experiment: MLExperiment, *, mlflow_experiment_id: str) -> str:
    """Create the experiment's run with all its tags, record it, and return its id.

    The tag sync version is read before the tags, so the run holds at least that version;
    a change made meanwhile is pushed once the run is recorded (``tag_sync_run_started``).
    """
    version = tag_sync_version(experiment_id=experiment.pk)
    experiment.refresh_from_db(fields=["name", "description", "queued_by"])
    tags = experiment_mlflow_tags(experiment)
    run_id = tracking.run_create(
        experiment_id=mlflow_experiment_id, run_name=experiment.name, tags=tags
    )
    logger.info(
        "Run %s of experiment %s started with %s experiment tags (%d run tags)",
        run_id,
        experiment.pk,
        tags["tag_count"],
        len(tags),
    )
    # Stored at once: whatever happens next, this run can be found and ended.
    experiment.mlflow_experiment_id = mlflow_experiment_id
    experiment.mlflow_run_id = run_id
    experiment.save(update_fields=["mlflow_experiment_id", "mlflow_run_id", "updated_at"])
    tag_sync_run_started(experiment_id=experiment.pk, run_id=run_id, version=version, written=tags)
    return run_id


def _execute(experiment: MLExperiment) -> None:
    project = experiment.project
    # The version it was created with (experiments always have one since versions exist).
    dataset = experiment.dataset_version or experiment.dataset
    clock = _StageClock(experiment)

    clock.enter(Stage.PREPARING)
    mlflow_experiment_id = project_mlflow_experiment_ensure(project=project)
    run_id = run_start(experiment, mlflow_experiment_id=mlflow_experiment_id)
    tracking.run_log_params(run_id=run_id, params=experiment_mlflow_params(experiment))

    clock.enter(Stage.LOADING)
    features = list(experiment.feature_columns)
    if dataset.schema:
        training_columns_check(
            columns=dataset.column_names, target=experiment.target_column, features=features
        )
    wanted = [experiment.target_column, *features] if features else None
    frame = dataset_dataframe(dataset=dataset, columns=wanted)

    spec = TrainingSpec(
        target=experiment.target_column,
        features=features,
        task_type=experiment.task_type,
        algorithm=experiment.algorithm,
        hyperparameters=dict(experiment.hyperparameters or {}),
        test_size=experiment.test_size,
        random_state=experiment.random_state,
        column_kinds={
            column["name"]: column["kind"] for column in dataset.schema if column.get("kind")
        },
    )
    with tempfile.TemporaryDirectory(prefix="cauce-run-") as tmp:
        output_dir = Path(tmp)
        result = training_run(
            frame,
            spec=spec,
            output_dir=output_dir,
            on_stage=clock.enter,
        )
        clock.enter(Stage.LOGGING)
        _log_dataset_inputs(experiment, run_id, result)
        _log_result(experiment, run_id, mlflow_experiment_id, result, output_dir)
    timings = clock.finish()
    tracking.run_log_results(
        run_id=run_id,
        model_id=experiment.mlflow_model_id,
        model_metrics=result.all_metrics,
        metrics=timing_metrics(timings),
        params=_split_params(result.summary),
    )

    # The run ends first: if MLflow fails here, the experiment is not FINISHED yet and the
    # failure paths (retry or ERROR) still apply.
    runs.run_end(run_id=run_id, status="FINISHED", worker=True)
    _finish(experiment, timings=timings, plots=result.plots)


def _finish(experiment: MLExperiment, *, timings: dict[str, float], plots: list[str]) -> None:
    """RUNNING → FINISHED, unless a cancel came in the last instant: then the run is KILLED."""
    finished = transitions.to_finished(
        experiment_id=experiment.pk, task_id=experiment.task_id, timings=timings, plots=plots
    )
    if not finished:
        raise ExperimentStopped
    experiment.refresh_from_db(fields=_ENDED_FIELDS)


def _split_params(summary: dict) -> dict[str, object]:
    return {
        "rows_total": summary["rows_total"],
        "rows_dropped_missing_target": summary["rows_dropped_missing_target"],
        "rows_train": summary["rows_train"],
        "rows_test": summary["rows_test"],
        "stratified_split": summary["stratified_split"],
        "dropped_columns": ",".join(summary["dropped_columns"]),
    }


def dataset_version_url(experiment: MLExperiment) -> str:
    """The version's page in Cauce, as people reach it (``CAUCE_BASE_URL``); of a sweep's
    version too (the same ``dataset_id`` and ``dataset_version``)."""
    path = reverse(
        "datasets:dataset_version_detail",
        kwargs={"pk": experiment.dataset_id, "version": experiment.dataset_version.version},
    )
    # The base URL includes any sub-path Cauce is served at (as ``experiment_cauce_url``).
    path = "/" + path.removeprefix(get_script_prefix())
    return settings.CAUCE_BASE_URL.rstrip("/") + path


def _log_dataset_inputs(experiment: MLExperiment, run_id: str, result: TrainingResult) -> None:
    dataset_inputs_log(trained=experiment, run_id=run_id, split=result.split)


def dataset_inputs_log(*, trained, run_id: str, split) -> None:
    """The training and test splits as the run's MLflow dataset inputs (one request), for
    an experiment or a sweep (``trained``: its ``dataset``, ``dataset_version`` and
    ``target_column``); nothing for one from before versions."""
    version = trained.dataset_version
    if version is None:
        return
    datasets.run_log_dataset_inputs(
        run_id=run_id,
        name=f"{trained.dataset.name} v{version.version}",
        digest=version.digest,
        source_url=dataset_version_url(trained),
        target=trained.target_column,
        splits={
            datasets.CONTEXT_TRAINING: datasets.DatasetSplit(split.x_train, split.y_train),
            datasets.CONTEXT_EVALUATION: datasets.DatasetSplit(split.x_test, split.y_test),
        },
    )


def _log_result(
    experiment: MLExperiment,
    run_id: str,
    mlflow_experiment_id: str,
    result: TrainingResult,
    output_dir: Path,
) -> None:
    # The metrics and the split's params follow the model, in one batch (``_execute``): logged
    # before it, MLflow would copy each metric to the model with a request of its own.
    x_train = result.split.x_train
    # The inputs' profile, for drift monitoring: logged with the other files, kept in Cauce.
    profile = profile_build(x_train, seed=experiment.random_state or 0)
    profile_path = output_dir / REFERENCE_PROFILE_ARTIFACT
    profile_path.parent.mkdir(parents=True, exist_ok=True)
    profile_path.write_text(json.dumps(profile), encoding="utf-8")
    tracking.run_log_artifacts(run_id=run_id, local_dir=output_dir)
    reference_profile_store(experiment=experiment, run_id=run_id, profile=profile)
    # MLflow infers the signature value by value: a sample gives the same column types
    # (pandas dtypes decide them) in milliseconds instead of seconds on a large table.
    logged = tracking.run_log_sklearn_model(
        run_id=run_id,
        experiment_id=mlflow_experiment_id,
        model=result.model,
        input_example=x_train.head(INPUT_EXAMPLE_ROWS),
        signature_input=x_train.head(SIGNATURE_SAMPLE_ROWS),
        signature_output=result.predictions[:SIGNATURE_SAMPLE_ROWS],
        pip_requirements=model_pip_requirements(),
    )
    experiment.metrics = result.all_metrics
    experiment.mlflow_model_id = logged.model_id
    experiment.mlflow_model_uri = logged.model_uri
    experiment.save(update_fields=["metrics", "mlflow_model_id", "mlflow_model_uri", "updated_at"])
