"""Reads of predictions: jobs scoped through the registered model's project, which version
an alias or number means (asked of MLflow, or remembered by this process: see
``resolution_fresh``), whether a version may be loaded, and a finished job's result.

Which version an alias (or a number) means is asked of MLflow, then remembered by each
process for ``REGISTRY_ALIAS_TTL_SECONDS``: a prediction within that time makes no MLflow
call. The bounds an alias keeps (see ``resolution_fresh``): one moved through Cauce is
followed by the next prediction on every process; one moved in MLflow directly within the
TTL.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import pandas as pd
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.storage import default_storage
from django.http import Http404
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cauce.core.csv import csv_unescape
from cauce.core.exceptions import ApplicationError
from cauce.experiments.models import MLExperiment
from cauce.integrations.mlflow import MlflowNotFound
from cauce.integrations.mlflow import registry as mlflow_registry
from cauce.integrations.mlflow.registry import READY, ModelSignature, ModelVersionInfo
from cauce.registry.models import PredictionJob, RegisteredModel
from cauce.registry.selectors import registered_model_get_for_user


def prediction_job_get_for_user(*, user: AbstractBaseUser, name: str, job_id: Any) -> PredictionJob:
    """A job of the named model; 404 for outsiders, unknown jobs, or another model's job."""
    model, _membership = registered_model_get_for_user(user=user, name=name)
    job = prediction_job_of_model(model=model, job_id=job_id)
    if job is None:
        raise Http404
    return job


def prediction_job_of_model(*, model: RegisteredModel, job_id: Any) -> PredictionJob | None:
    """The model's job, or None (never made, another model's, or deleted when it expired)."""
    return (
        PredictionJob.objects.select_related("registered_model__project", "created_by")
        .filter(pk=job_id, registered_model=model)
        .first()
    )


def prediction_jobs_recent(*, model: RegisteredModel, limit: int) -> list[PredictionJob]:
    return list(
        PredictionJob.objects.filter(registered_model=model).select_related("created_by")[:limit]
    )


def prediction_versions(*, model: RegisteredModel) -> list[ModelVersionInfo]:
    """The model's versions in MLflow, newest first, with their aliases (the page's choices)."""
    return mlflow_registry.model_versions_list(name=model.name)


def prediction_signature(*, version: ModelVersionInfo) -> ModelSignature | None:
    """The input and output columns of the version's MLmodel; None when it has none."""
    return mlflow_registry.model_signature_get(source=version.source)


class UntrustedVersionError(ApplicationError):
    """The version's source is not an experiment of the model's project: never loaded."""

    status_code = 403


class VersionNotReadyError(ApplicationError):
    status_code = 409


class PredictionGoneError(ApplicationError):
    """A job's kept file (its result, or a failed job's input) expired or is missing."""

    status_code = 410


@dataclass(frozen=True)
class PredictTarget:
    """A version to predict with, resolved now, and the experiment that trained it."""

    model: RegisteredModel
    version: ModelVersionInfo
    alias: str
    experiment: MLExperiment


# --- which version ---------------------------------------------------------------------------


def _version_number(value: Any) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise ApplicationError(
            _("La versión debe ser un número entero positivo (se recibió «%(value)s»).")
            % {"value": value}
        )
    return number


def version_request(*, version: Any, alias: Any) -> tuple[str, int | None]:
    """(alias, None) or ("", number): exactly one of the two, well formed."""
    has_version = version not in (None, "")
    has_alias = alias not in (None, "")
    if has_version == has_alias:
        raise ApplicationError(_("Indique una versión o un alias del modelo (uno de los dos)."))
    if has_alias:
        return str(alias).strip(), None
    return "", _version_number(version)


def _version_fetch(*, name: str, alias: str, number: int | None) -> ModelVersionInfo:
    """The version from MLflow: one REST call."""
    if alias:
        return mlflow_registry.model_version_get_by_alias(name=name, alias=alias)
    return mlflow_registry.model_version_get(name=name, version=number)


def version_not_found(*, name: str, alias: str, number: int | None) -> MlflowNotFound:
    if alias:
        return MlflowNotFound(
            _("El modelo '%(name)s' no tiene el alias «%(alias)s».")
            % {"name": name, "alias": alias}
        )
    return MlflowNotFound(
        _("El modelo '%(name)s' no tiene la versión %(version)s.")
        % {"name": name, "version": number}
    )


# --- what each process remembers of a resolution ----------------------------------------------


@dataclass(frozen=True)
class _Resolution:
    """A version MLflow named for (model, alias or number), checked loadable, and when."""

    version: ModelVersionInfo
    experiment: MLExperiment
    generation: int  # the model's ``alias_generation`` when it was asked
    asked_at: float  # time.monotonic()


# Keyed by (model pk, alias, number); the least recently used is dropped past the limit.
_resolutions: OrderedDict[tuple[int, str, int | None], _Resolution] = OrderedDict()
_resolutions_lock = threading.Lock()
_RESOLUTIONS_MAX = 512


def resolution_last(model: RegisteredModel, alias: str, number: int | None) -> _Resolution | None:
    """What this process was last told, however old."""
    with _resolutions_lock:
        return _resolutions.get((model.pk, alias, number))


def resolution_fresh(model: RegisteredModel, alias: str, number: int | None) -> _Resolution | None:
    """What this process was last told, if it still holds: asked of MLflow less than
    ``REGISTRY_ALIAS_TTL_SECONDS`` ago (a move in MLflow directly is followed after that),
    and since Cauce last moved an alias or deleted a version of the model (its
    ``alias_generation``, read with the model in the same request: such a move is followed
    at once, by every process)."""
    last = resolution_last(model, alias, number)
    if last is None or last.generation != model.alias_generation:
        return None
    if time.monotonic() - last.asked_at >= settings.REGISTRY_ALIAS_TTL_SECONDS:
        return None
    return last


def resolution_remember(
    model: RegisteredModel, alias: str, number: int | None, target: PredictTarget
) -> None:
    key = (model.pk, alias, number)
    resolution = _Resolution(
        version=target.version,
        experiment=target.experiment,
        generation=model.alias_generation,
        asked_at=time.monotonic(),
    )
    with _resolutions_lock:
        _resolutions[key] = resolution
        _resolutions.move_to_end(key)
        while len(_resolutions) > _RESOLUTIONS_MAX:
            _resolutions.popitem(last=False)


def resolutions_forget() -> None:
    """Forget every remembered resolution (tests: another web process starts empty)."""
    with _resolutions_lock:
        _resolutions.clear()


def remembered_target(model: RegisteredModel, alias: str, resolution: _Resolution) -> PredictTarget:
    return PredictTarget(
        model=model, version=resolution.version, alias=alias, experiment=resolution.experiment
    )


def predict_target_resolve(
    *, model: RegisteredModel, version: Any = None, alias: Any = None
) -> PredictTarget:
    """The version asked for (by number or by alias, exactly one), checked loadable.

    Asked of MLflow, unless this process resolved the same recently (``resolution_fresh``).
    ``MlflowNotFound`` (a 404) for an unknown version or alias; ``UntrustedVersionError`` for
    a version whose run is not an experiment of this model's project.
    """
    alias, number = version_request(version=version, alias=alias)
    fresh = resolution_fresh(model, alias, number)
    if fresh is not None:
        return remembered_target(model, alias, fresh)
    try:
        info = _version_fetch(name=model.name, alias=alias, number=number)
    except MlflowNotFound:
        raise version_not_found(name=model.name, alias=alias, number=number) from None
    target = PredictTarget(
        model=model, version=info, alias=alias, experiment=trusted_source(model, info)
    )
    resolution_remember(model, alias, number, target)
    return target


def trusted_source(model: RegisteredModel, info: ModelVersionInfo) -> MLExperiment:
    if info.status != READY:
        raise VersionNotReadyError(
            _("La versión %(version)s no está lista para predecir (estado: %(status)s).")
            % {"version": info.version, "status": info.status}
        )
    experiment = (
        MLExperiment.objects.filter(project_id=model.project_id, mlflow_run_id=info.run_id)
        .only("pk", "name", "project_id", "mlflow_run_id", "task_type")
        .first()
        if info.run_id
        else None
    )
    if experiment is None:
        raise UntrustedVersionError(
            _(
                "La versión %(version)s no viene de un experimento de este proyecto en Cauce: "
                "se muestra, pero no se carga para predecir (un archivo de modelo es código "
                "que se ejecuta al cargarlo)."
            )
            % {"version": info.version}
        )
    return experiment


def version_is_trusted(*, model: RegisteredModel, info: ModelVersionInfo) -> bool:
    """Whether predictions may load this version (for pages that list versions)."""
    try:
        trusted_source(model, info)
    except ApplicationError:
        return False
    return True


# --- reading a result ------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultPage:
    columns: list[str]
    rows: list[list[Any]]
    number: int
    pages: int
    total: int


def prediction_result_page(*, job: PredictionJob, page: Any = 1) -> ResultPage | None:
    """One page of a finished job's result, as the user reads it (formula guards removed)."""
    name = _result_name(job)
    if name is None:
        return None
    size = settings.PREDICT_PAGE_ROWS
    pages = max(1, -(-job.rows_total // size))
    try:
        number = min(max(int(page), 1), pages)
    except (TypeError, ValueError):
        number = 1
    start = (number - 1) * size
    with _result_open(name) as handle:
        frame = pd.read_csv(
            handle,
            skiprows=range(1, start + 1),
            nrows=size,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8",
        )
    rows = [[csv_unescape(value) for value in row] for row in frame.to_numpy().tolist()]
    return ResultPage(
        columns=[csv_unescape(str(name)) for name in frame.columns],
        rows=rows,
        number=number,
        pages=pages,
        total=job.rows_total,
    )


RESULT_MISSING = gettext_lazy(
    "El archivo con el resultado de esta predicción ya no existe. Vuelva a predecir."
)


def _result_name(job: PredictionJob) -> str | None:
    """A finished job's result file, by its storage name; None while there is none
    (running, failed). ``PredictionGoneError`` once it expired (even before the sweep
    deleted it); opening it says whether it is missing from the storage.
    """
    if job.status != PredictionJob.Status.FINISHED or not job.result_file.name:
        return None
    if job.is_expired:
        raise PredictionGoneError(
            _(
                "El resultado de esta predicción caducó el %(date)s (los resultados se "
                "guardan %(days)d días). Vuelva a predecir para obtenerlo."
            )
            % {
                "date": formats.date_format(timezone.localtime(job.expires_at), "DATETIME_FORMAT"),
                "days": settings.PREDICTION_RETENTION_DAYS,
            }
        )
    return job.result_file.name


def _result_open(name: str) -> File:
    try:
        return default_storage.open(name, "rb")
    except FileNotFoundError:
        raise PredictionGoneError(str(RESULT_MISSING)) from None


def prediction_result_open(*, job: PredictionJob) -> File | None:
    """The finished job's result CSV, opened from the storage for a download; None when
    there is none, ``PredictionGoneError`` when it expired or is missing."""
    name = _result_name(job)
    return None if name is None else _result_open(name)
