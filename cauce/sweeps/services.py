"""Writes of sweeps: create (and start), cancel, promote the best trial.

Each refusal is an ApplicationError naming the field (``extra={field: message}``); a refused
sweep creates nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from cauce.core.exceptions import ApplicationError, ConflictError
from cauce.experiments.models import MLExperiment
from cauce.experiments.pipeline.algorithms import hyperparameters_validate
from cauce.experiments.services import (
    experiment_create,
    experiment_enqueue,
    training_settings_check,
)
from cauce.experiments.tags import tags_normalize
from cauce.projects.models import Project
from cauce.sweeps.models import Sweep, Trial
from cauce.sweeps.space import METRICS, search_space_validate

logger = logging.getLogger(__name__)

MAX_TRIALS = 500
CV_FOLDS = range(3, 11)


def _fail(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, extra={field: message})


def _name_clean(name: Any) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise _fail("name", _("El nombre del barrido es obligatorio."))
    max_length = Sweep._meta.get_field("name").max_length
    if len(name) > max_length:
        raise _fail(
            "name", _("El nombre no puede superar los %(max)d caracteres.") % {"max": max_length}
        )
    return name


def _metric_check(*, task_type: str, metric: Any, direction: Any) -> tuple[str, str]:
    known = METRICS[task_type]
    metric = metric or next(iter(known))
    if metric not in known:
        raise _fail(
            "metric",
            _("Métrica desconocida para %(task)s: «%(metric)s». Disponibles: %(names)s.")
            % {
                "task": str(MLExperiment.TaskType(task_type).label).lower(),
                "metric": metric,
                "names": ", ".join(known),
            },
        )
    direction = direction or known[metric]
    if direction not in Sweep.Direction.values:
        raise _fail(
            "direction",
            _("Dirección no válida: «%(value)s». Use maximize o minimize.") % {"value": direction},
        )
    return metric, direction


def _n_trials_check(n_trials: Any) -> int:
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise _fail("n_trials", _("El número de pruebas debe ser un entero positivo."))
    if n_trials > MAX_TRIALS:
        raise _fail(
            "n_trials",
            _("Un barrido admite como mucho %(max)d pruebas (ha indicado %(count)d).")
            % {"max": MAX_TRIALS, "count": n_trials},
        )
    return n_trials


def _cv_folds_check(cv_folds: Any) -> int:
    if cv_folds in (None, 0):
        return 0
    if isinstance(cv_folds, bool) or not isinstance(cv_folds, int) or cv_folds not in CV_FOLDS:
        raise _fail(
            "cv_folds",
            _("La validación cruzada usa de 3 a 10 particiones (o 0 para no usarla)."),
        )
    return cv_folds


def sweep_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    name: Any,
    dataset: Any,
    target_column: Any,
    algorithm: Any,
    search_space: Any,
    dataset_version: Any = None,
    feature_columns: Any = None,
    task_type: Any = None,
    fixed_hyperparameters: Any = None,
    metric: Any = None,
    direction: Any = None,
    n_trials: Any = 20,
    sampler: Any = Sweep.Sampler.TPE,
    cv_folds: Any = 0,
    test_size: Any = 0.2,
    seed: Any = 42,
    tags: Iterable[str] = (),
    auto_promote: Any = False,
    rerun_of: Sweep | None = None,
) -> Sweep:
    """A checked sweep, QUEUED; its start is sent to the workers once it commits.

    A grid sweep runs each configuration once: ``n_trials`` is cut to the grid's size.
    """
    name = _name_clean(name)
    training = training_settings_check(
        project=project,
        dataset=dataset,
        dataset_version=dataset_version,
        target_column=target_column,
        feature_columns=feature_columns,
        task_type=task_type,
        algorithm=algorithm,
        test_size=test_size,
        random_state=seed,
    )
    if sampler not in Sweep.Sampler.values:
        raise _fail(
            "sampler",
            _("Muestreador no válido: «%(value)s». Use tpe, random o grid.") % {"value": sampler},
        )
    try:
        fixed = hyperparameters_validate(
            algorithm=training.algorithm, hyperparameters=fixed_hyperparameters
        )
    except ApplicationError as error:
        message = str(error.message)
        raise ApplicationError(
            message, extra={"fixed_hyperparameters": message, **error.extra}
        ) from None
    space, grid_size = search_space_validate(
        algorithm=training.algorithm,
        search_space=search_space,
        fixed_hyperparameters=fixed,
        sampler=sampler,
    )
    metric, direction = _metric_check(
        task_type=training.task_type, metric=metric, direction=direction
    )
    n_trials = _n_trials_check(n_trials)
    if grid_size is not None:
        n_trials = min(n_trials, grid_size)
    cv_folds = _cv_folds_check(cv_folds)
    tags = tags_normalize(tags)

    sweep = Sweep(
        project=project,
        dataset=dataset,
        dataset_version=training.dataset_version,
        name=name,
        target_column=training.target_column,
        feature_columns=training.feature_columns,
        task_type=training.task_type,
        algorithm=training.algorithm,
        search_space=space,
        fixed_hyperparameters=fixed,
        metric=metric,
        direction=direction,
        n_trials=n_trials,
        sampler=sampler,
        cv_folds=cv_folds,
        test_size=training.test_size,
        seed=training.random_state,
        tags=tags,
        auto_promote=bool(auto_promote),
        rerun_of=rerun_of,
        due_at=timezone.now(),
        created_by=user if user is not None and user.is_authenticated else None,
    )
    with transaction.atomic():
        sweep.save()
        transaction.on_commit(lambda: _dispatch_start(sweep))
    logger.info("Sweep %s created by %s", sweep.pk, getattr(user, "pk", None))
    return sweep


def _dispatch_start(sweep: Sweep) -> None:
    from cauce.sweeps.tasks import sweep_start_task

    try:
        sweep_start_task.apply_async(args=[str(sweep.pk)])
    except Exception:
        logger.exception("Could not send sweep %s to the broker", sweep.pk)
        now = timezone.now()
        Sweep.objects.filter(pk=sweep.pk, status=Sweep.Status.QUEUED).update(
            status=Sweep.Status.ERROR,
            error=_("No se pudo poner el barrido en cola: la cola de tareas no responde."),
            finished_at=now,
        )


def sweep_cancel(*, sweep: Sweep, user: AbstractBaseUser | None) -> Sweep:
    """CANCELLED at once: queued trials never start, running ones stop at their next fold
    (their child runs end KILLED). The runs end children first, as at any end: here when no
    trial is running (best effort), else when the last running trial stops (it closes what
    is left, the parent last) or, failing that, by the watch."""
    from cauce.sweeps.liveness import sweep_runs_close

    now = timezone.now()
    if not Sweep.objects.filter(pk=sweep.pk, status__in=Sweep.ACTIVE_STATUSES).update(
        status=Sweep.Status.CANCELLED, finished_at=now, updated_at=now
    ):
        sweep.refresh_from_db(fields=["status"])
        raise ConflictError(_("Solo se puede cancelar un barrido en cola o en ejecución."))
    Trial.objects.filter(sweep=sweep, status=Trial.Status.WAITING).update(
        status=Trial.Status.FAIL, error=_("Barrido cancelado."), finished_at=now
    )
    sweep.refresh_from_db()
    if sweep.mlflow_run_id:
        sweep_runs_close(sweep_id=sweep.pk)
    logger.info("Sweep %s cancelled by %s", sweep.pk, getattr(user, "pk", None))
    return sweep


def sweep_rerun(*, sweep: Sweep, user: AbstractBaseUser | None) -> Sweep:
    """A new sweep with the same settings (and seed), started at once; it links back."""
    if sweep.is_active:
        raise ConflictError(_("El barrido aún está en marcha: cancélelo o espere a que termine."))
    return sweep_create(
        project=sweep.project,
        user=user,
        name=sweep.name,
        dataset=sweep.dataset,
        dataset_version=sweep.dataset_version,
        target_column=sweep.target_column,
        feature_columns=sweep.feature_columns,
        task_type=sweep.task_type,
        algorithm=sweep.algorithm,
        search_space=_space_input(sweep.search_space),
        fixed_hyperparameters=sweep.fixed_hyperparameters,
        metric=sweep.metric,
        direction=sweep.direction,
        n_trials=sweep.n_trials,
        sampler=sweep.sampler,
        cv_folds=sweep.cv_folds,
        test_size=sweep.test_size,
        seed=sweep.seed,
        tags=sweep.tags,
        auto_promote=sweep.auto_promote,
        rerun_of=sweep,
    )


def _space_input(space: dict) -> dict:
    return {name: dict(entry) for name, entry in space.items()}


class PromotionPending(Exception):
    """The promoted experiment has not finished yet."""


def sweep_promote(
    *, sweep: Sweep, user: AbstractBaseUser | None, register_alias: str = ""
) -> MLExperiment:
    """A normal experiment with the best trial's parameters, queued like any other: it trains
    on the full training split and logs its model, so it can be registered. The sweep keeps
    the experiment and the trial's number (the experiment's page links them); its description
    gives the trial's value. With ``register_alias``, its model is registered with that alias
    once it finished."""
    if sweep.best_number is None:
        raise ConflictError(_("El barrido aún no tiene ninguna prueba completada."))
    experiment = experiment_create(
        project=sweep.project,
        user=user,
        name=_("%(name)s · mejor prueba #%(number)d")
        % {"name": sweep.name[:150], "number": sweep.best_number},
        dataset=sweep.dataset,
        dataset_version=sweep.dataset_version,
        target_column=sweep.target_column,
        feature_columns=sweep.feature_columns,
        task_type=sweep.task_type,
        algorithm=sweep.algorithm,
        hyperparameters={**sweep.fixed_hyperparameters, **sweep.best_params},
        test_size=sweep.test_size,
        random_state=sweep.seed,
        tags=sweep.tags,
        # The experiment's page links the sweep and the trial (promoted_from_sweeps).
        description=_("Parámetros de la mejor prueba del barrido (%(metric)s = %(value)s).")
        % {
            "metric": sweep.metric,
            # Rounded as the sweep's page shows it (number_format alone cuts the digits).
            "value": formats.number_format(round(sweep.best_value, 4), decimal_pos=4),
        },
    )
    Sweep.objects.filter(pk=sweep.pk).update(
        promoted_experiment=experiment, promoted_trial_number=sweep.best_number
    )
    sweep.promoted_experiment = experiment
    sweep.promoted_trial_number = sweep.best_number
    experiment = experiment_enqueue(experiment=experiment, user=user)
    if register_alias:
        from cauce.sweeps.tasks import sweep_register_candidate_task

        transaction.on_commit(
            lambda: sweep_register_candidate_task.apply_async(args=[str(sweep.pk)], countdown=5)
        )
    return experiment


def sweep_register_candidate(*, sweep_id) -> None:
    """Register the promoted experiment's model and point the alias ``candidate`` at it;
    ``PromotionPending`` while the experiment is still queued or training."""
    from cauce.registry.services import alias_set, model_version_register

    sweep = Sweep.objects.select_related("promoted_experiment__project").get(pk=sweep_id)
    experiment = sweep.promoted_experiment
    if experiment is None:
        return
    if experiment.status in (MLExperiment.Status.QUEUED, MLExperiment.Status.RUNNING):
        raise PromotionPending(str(experiment.pk))
    if experiment.status != MLExperiment.Status.FINISHED:
        logger.warning("Sweep %s: the promoted experiment ended %s", sweep_id, experiment.status)
        return
    registration = model_version_register(experiment=experiment, user=sweep.created_by)
    alias_set(model=registration.model, alias="candidate", version=registration.version.version)
    logger.info("Sweep %s: best trial registered as %s@candidate", sweep_id, registration.model)
