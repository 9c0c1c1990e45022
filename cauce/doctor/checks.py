"""Drift between Cauce and MLflow: what ``manage.py cauce_doctor`` finds and repairs.

Four checks, each a function that returns ``Finding``s; a finding carries the repair that
``--fix`` applies (``None`` when Cauce must not repair it on its own, with the reason):

- experiments whose MLflow run is gone (deleted in MLflow, or its MLflow experiment was):
  the experiment is detached from the run and marked ERROR, so that it can be run again;
- runs tagged ``cauce.experiment_id`` whose experiment no longer exists in Cauce: the run is
  deleted in MLflow (restorable there until ``mlflow gc``);
- registry versions whose experiment no longer exists: the version is deleted, unless an
  alias still points at it (then it is only reported);
- tag syncs pending for longer than ``stale_after``: pushed to MLflow now.

Every MLflow call goes through ``cauce.integrations.mlflow``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from cauce.experiments import transitions
from cauce.experiments.models import MLExperiment, TagSyncState
from cauce.integrations.mlflow import MlflowNotFound, drift
from cauce.integrations.mlflow import registry as mlflow_registry

EXPERIMENT_TAG = "cauce.experiment_id"
# Experiments a worker may still be writing: the reaper (liveness) deals with those.
SETTLED = transitions.DETACH_RUN_FROM

Progress = Callable[[int, int], None]


def _no_progress(done: int, total: int) -> None:
    return None


@dataclass
class Finding:
    check: str
    subject: str
    detail: str
    repair: Callable[[], str] | None = None
    # Why ``--fix`` leaves it alone (when ``repair`` is None).
    not_repaired: str = ""


# --- experiments whose run is gone ------------------------------------------------------------


def experiment_detach_missing_run(*, experiment_id: str, run_id: str) -> str:
    """Forget a run MLflow no longer has; the experiment ends ERROR and may be run again."""
    message = _(
        "El run de MLflow %(run)s ya no existe (se eliminó en MLflow): "
        "los resultados guardados en Cauce se conservan; ejecute el experimento de nuevo "
        "para volver a tener run, artefactos y modelo."
    ) % {"run": run_id}
    updated = transitions.to_error_detached(
        experiment_id=experiment_id, run_id=run_id, message=message
    )
    if not updated:
        return _("sin cambios: el experimento ya no apunta a ese run")
    return _("desvinculado del run; marcado como error")


def experiments_with_missing_run(*, progress: Progress = _no_progress) -> list[Finding]:
    experiments = list(
        MLExperiment.objects.filter(status__in=SETTLED)
        .exclude(mlflow_run_id="")
        .select_related("project")
        .order_by("created_at", "pk")
    )
    runs = {e.mlflow_run_id: e.mlflow_experiment_id for e in experiments}
    progress(0, len(experiments))
    active = drift.runs_active(runs=runs)
    progress(len(experiments), len(experiments))
    findings = []
    for experiment in experiments:
        if experiment.mlflow_run_id in active:
            continue
        findings.append(
            Finding(
                check="missing_run",
                subject=_("Experimento «%(name)s» (%(id)s), proyecto «%(project)s»")
                % {
                    "name": experiment.name,
                    "id": experiment.pk,
                    "project": experiment.project.name,
                },
                detail=_("su run %(run)s ya no existe en MLflow")
                % {"run": experiment.mlflow_run_id},
                repair=_bind(
                    experiment_detach_missing_run,
                    experiment_id=str(experiment.pk),
                    run_id=experiment.mlflow_run_id,
                ),
            )
        )
    return findings


# --- runs whose experiment is gone ------------------------------------------------------------


def orphan_run_delete(*, run_id: str) -> str:
    try:
        drift.run_delete(run_id=run_id)
    except MlflowNotFound:
        return _("sin cambios: el run ya no existe")
    return _("run eliminado en MLflow (se puede restaurar hasta un «mlflow gc»)")


def runs_without_experiment(
    *, mlflow_experiment_ids: Iterable[str] | None = None, progress: Progress = _no_progress
) -> list[Finding]:
    progress(0, 1)
    tagged = drift.runs_tagged(key=EXPERIMENT_TAG, experiment_ids=mlflow_experiment_ids)
    progress(1, 1)
    values = {run.tag_value for run in tagged}
    existing = {str(pk) for pk in _experiment_ids_among(values)}
    return [
        Finding(
            check="orphan_run",
            subject=_("Run %(run)s «%(name)s» (experimento de MLflow %(mlflow_experiment)s)")
            % {"run": run.run_id, "name": run.run_name, "mlflow_experiment": run.experiment_id},
            detail=_("su etiqueta cauce.experiment_id=%(id)s no corresponde a ningún experimento")
            % {"id": run.tag_value},
            repair=_bind(orphan_run_delete, run_id=run.run_id),
        )
        for run in sorted(tagged, key=lambda run: (run.experiment_id, run.run_id))
        if run.tag_value not in existing
    ]


def _experiment_ids_among(values: Iterable[str]) -> list:
    import uuid

    valid = []
    for value in values:
        try:
            valid.append(uuid.UUID(value))
        except ValueError:
            continue  # not an id Cauce ever wrote: it matches no experiment
    return list(MLExperiment.objects.filter(pk__in=valid).values_list("pk", flat=True))


# --- registry versions whose experiment is gone ----------------------------------------------


def orphan_version_delete(*, model_name: str, version: int) -> str:
    from cauce.registry.models import RegisteredModel
    from cauce.registry.services import model_version_delete

    model = RegisteredModel.objects.filter(name=model_name).first()
    if model is None:
        return _("sin cambios: el modelo ya no está en Cauce")
    model_version_delete(model=model, version=version)
    return _("versión eliminada del registro de MLflow")


def versions_without_experiment(*, progress: Progress = _no_progress) -> list[Finding]:
    from cauce.registry.models import RegisteredModel

    models = list(RegisteredModel.objects.order_by("name"))
    versions = []
    for done, model in enumerate(models):
        progress(done, len(models))
        try:
            versions.extend(mlflow_registry.model_versions_list(name=model.name))
        except MlflowNotFound:
            continue  # the whole model is gone from MLflow: none of its versions to check
    progress(len(models), len(models))
    known_runs = set(
        MLExperiment.objects.exclude(mlflow_run_id="").values_list("mlflow_run_id", flat=True)
    )
    existing = {
        str(pk)
        for pk in _experiment_ids_among(
            version.tags.get(EXPERIMENT_TAG, "") for version in versions
        )
    }
    findings = []
    for version in versions:
        experiment_id = version.tags.get(EXPERIMENT_TAG, "")
        if experiment_id in existing or (not experiment_id and version.run_id in known_runs):
            continue
        subject = _("Modelo «%(name)s» versión %(version)s") % {
            "name": version.name,
            "version": version.version,
        }
        detail = _("su experimento %(id)s ya no existe en Cauce (run %(run)s)") % {
            "id": experiment_id or "—",
            "run": version.run_id or "—",
        }
        if version.aliases:
            findings.append(
                Finding(
                    check="orphan_version",
                    subject=subject,
                    detail=detail,
                    not_repaired=_("la usan los alias %(aliases)s: no se elimina")
                    % {"aliases": ", ".join(sorted(version.aliases))},
                )
            )
            continue
        findings.append(
            Finding(
                check="orphan_version",
                subject=subject,
                detail=detail,
                repair=_bind(
                    orphan_version_delete, model_name=version.name, version=version.version
                ),
            )
        )
    return findings


# --- tag syncs pending for too long -----------------------------------------------------------


def stale_tag_sync_push(*, experiment_id: str) -> str:
    from cauce.experiments.tag_sync import PushOutcome, tag_sync_push

    outcome = tag_sync_push(experiment_id=experiment_id)
    return {
        PushOutcome.SYNCED: _("etiquetas enviadas a MLflow"),
        PushOutcome.UP_TO_DATE: _("sin cambios: ya estaba al día"),
        PushOutcome.BUSY: _("sin cambios: otro proceso la está enviando ahora"),
        PushOutcome.FAILED: _("MLflow la rechazó; el error queda en la sincronización"),
    }[outcome]


def tag_syncs_stale(*, stale_after: timedelta, progress: Progress = _no_progress) -> list[Finding]:
    cutoff = timezone.now() - stale_after
    states = list(
        TagSyncState.objects.filter(version__gt=F("synced_version"), changed_at__lt=cutoff)
        .select_related("experiment")
        .order_by("changed_at")
    )
    progress(len(states), len(states))
    return [
        Finding(
            check="stale_tag_sync",
            subject=_("Experimento «%(name)s» (%(id)s)")
            % {"name": state.experiment.name, "id": state.experiment_id},
            detail=_(
                "cambio de etiquetas pendiente desde %(since)s (%(attempts)s intentos)%(error)s"
            )
            % {
                "since": timezone.localtime(state.changed_at).strftime("%Y-%m-%d %H:%M"),
                "attempts": state.attempts,
                "error": f": {state.last_error}" if state.last_error else "",
            },
            repair=_bind(stale_tag_sync_push, experiment_id=str(state.experiment_id)),
        )
        for state in states
    ]


def _bind(function: Callable[..., str], **kwargs) -> Callable[[], str]:
    def repair() -> str:
        return function(**kwargs)

    return repair
