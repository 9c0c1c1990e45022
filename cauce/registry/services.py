"""Writes of the model registry: registration, aliases, descriptions, version tags, deletion.

MLflow's registry is global and Cauce's permissions are per project: the first registration
of a name records its project (a ``RegisteredModel`` row, and the MLflow tag
``cauce.project_id``); a name that another project, or something outside Cauce, already
holds is refused, never merged.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cauce.core.exceptions import ApplicationError, ConflictError, NotFoundError
from cauce.experiments.models import MLExperiment
from cauce.integrations.mlflow import MlflowError, MlflowNotFound, MlflowUnavailable
from cauce.integrations.mlflow import registry as mlflow_registry
from cauce.integrations.mlflow.registry import ModelVersionInfo
from cauce.projects.models import Project
from cauce.registry.models import NAME_MAX_LENGTH, RegisteredModel

logger = logging.getLogger(__name__)

PROJECT_TAG = "cauce.project_id"
EXPERIMENT_TAG = "cauce.experiment_id"

# Names Cauce gives and accepts: MLflow's rules (no "/" or ":", nothing that reads as a
# path) made simple and safe in URLs and search filters.
_NAME_RE = re.compile(r"[\w\-][\w.\-]*")
_NAME_UNSAFE = re.compile(r"[^\w.\-]")
# MLflow's alias rules: ``^[\w\-]*$``, at most 255, ``latest`` and ``v<n>`` reserved.
_ALIAS_RE = re.compile(r"[\w\-]+")
_ALIAS_VERSION_RE = re.compile(r"[vV]\d+")
ALIAS_MAX_LENGTH = 255
# MLflow's limits for version tags. A key is MLflow's characters (``[/\w.\- :]``) in
# "/"-separated parts that do not start with "." or " " (so no "." or ".." part, nothing
# MLflow would read as another path), and ``mlflow.*`` and ``cauce.*`` are the system's.
TAG_KEY_MAX_LENGTH = 250
TAG_VALUE_MAX_LENGTH = 5000
_TAG_KEY_RE = re.compile(r"[\w\-:][\w.\- :]*(?:/[\w\-:][\w.\- :]*)*")
SYSTEM_TAG_PREFIXES = ("mlflow.", "cauce.")

# The same rules as the API's schema states them (JSON Schema's ECMA-262 patterns, where
# ``[\p{L}\p{N}_]`` is Python's ``\w`` and ``$`` is the end of the text, as ``fullmatch``).
NAME_RULES_MESSAGE = gettext_lazy(
    "El nombre del modelo solo puede tener letras, números, «_», «-» y «.», "
    "y no puede empezar por «.»."
)
NAME_PATTERN = r"^[\p{L}\p{N}_\-][\p{L}\p{N}_.\-]*$"
ALIAS_PATTERN = r"^(?![lL][aA][tT][eE][sS][tT]$)(?![vV]\p{Nd}+$)[\p{L}\p{N}_\-]+$"
TAG_KEY_PATTERN = (
    r"^(?!mlflow\.|cauce\.)[\p{L}\p{N}_\-:][\p{L}\p{N}_.\- :]*"
    r"(?:/[\p{L}\p{N}_\-:][\p{L}\p{N}_.\- :]*)*$"
)
DESCRIPTION_MAX_LENGTH = 5000


VERSION_MAX = 2**31 - 1


class NameTakenError(ApplicationError):
    """The name is held by another project, or by a model made outside Cauce."""

    status_code = 409


def _error(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, extra={field: message})


# --- names ------------------------------------------------------------------------------------


def registered_model_default_name(*, experiment: MLExperiment) -> str:
    """``"{project}-{experiment}"`` with spaces as ``_``, then made valid for MLflow."""
    name = f"{experiment.project.name}-{experiment.name}".replace(" ", "_")
    name = _NAME_UNSAFE.sub("_", name).lstrip(".")
    return name[:NAME_MAX_LENGTH] or "modelo"


def registered_model_name_check(name: object) -> str:
    """A name typed by a user, stripped; ``ApplicationError`` (field ``name``) when invalid."""
    text = str(name or "").strip()
    if not text:
        raise _error("name", _("Indique el nombre del modelo."))
    if len(text) > NAME_MAX_LENGTH:
        raise _error(
            "name",
            _("El nombre del modelo no puede tener más de %(max)d caracteres.")
            % {"max": NAME_MAX_LENGTH},
        )
    if not _NAME_RE.fullmatch(text):
        raise _error("name", str(NAME_RULES_MESSAGE))
    return text


# --- registration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    model: RegisteredModel
    version: ModelVersionInfo
    created: bool  # False: this run already was a version of this model

    @property
    def ready(self) -> bool:
        return self.version.status == mlflow_registry.READY


def _model_source(experiment: MLExperiment) -> tuple[str, str]:
    """The logged model to register: (``models:/<model_id>``, model id)."""
    if experiment.mlflow_model_uri:
        model_id = experiment.mlflow_model_id or experiment.mlflow_model_uri.removeprefix(
            "models:/"
        )
        return experiment.mlflow_model_uri, model_id
    if experiment.mlflow_model_id:
        return f"models:/{experiment.mlflow_model_id}", experiment.mlflow_model_id
    raise ConflictError(_("Este experimento no tiene un modelo guardado en MLflow."))


def _claim(
    *, name: str, project: Project, user: AbstractBaseUser | None, main_metric: str
) -> tuple[RegisteredModel, bool]:
    """The name's row, locked until the transaction ends, and whether this call made it.

    A concurrent registration of the same name waits here (on the row lock, or on the
    unique index while the first one's insert is uncommitted) until the first one is done.
    """
    claimed = False
    try:
        with transaction.atomic():
            RegisteredModel.objects.create(
                name=name,
                project=project,
                created_by=user if user and user.is_authenticated else None,
                main_metric=main_metric,
            )
            claimed = True
    except IntegrityError:
        pass
    model = RegisteredModel.objects.select_for_update().select_related("project").get(name=name)
    if model.project_id != project.pk:
        message = _(
            "El nombre «%(name)s» ya lo usa un modelo de otro proyecto. Elija otro nombre."
        ) % {"name": name}
        raise NameTakenError(message, extra={"name": message})
    return model, claimed


def _foreign_name(name: str) -> NameTakenError:
    message = _(
        "El nombre «%(name)s» ya existe en MLflow fuera de este proyecto. Elija otro nombre."
    ) % {"name": name}
    return NameTakenError(message, extra={"name": message})


def model_version_register(
    *, experiment: MLExperiment, user: AbstractBaseUser | None, name: str | None = None
) -> Registration:
    """Register the experiment's logged model as a new version of ``name`` (or its default).

    Idempotent: a run already registered under that name gives its existing version back
    (``created=False``). Concurrent calls for one name run one after the other: the name's
    row stays locked until the new version is READY (or still pending after
    ``REGISTRY_READY_TIMEOUT``). A version MLflow ends FAILED_REGISTRATION is deleted again,
    with the registered model when this call created it, and reported as
    ``RegistrationFailedError``: nothing is left half-registered.
    """
    if experiment.status != MLExperiment.Status.FINISHED:
        raise ApplicationError(_("Solo se pueden registrar modelos de experimentos finalizados."))
    if not experiment.mlflow_run_id:
        raise ApplicationError(_("Este experimento no tiene un Run ID de MLflow."))
    if name is None or not str(name).strip():
        name = registered_model_default_name(experiment=experiment)
    name = registered_model_name_check(name)
    source, model_id = _model_source(experiment)
    project = experiment.project
    created_remote = False
    try:
        with transaction.atomic():
            model, claimed = _claim(
                name=name, project=project, user=user, main_metric=experiment.main_metric_name
            )
            remote = mlflow_registry.registered_model_find(name=name)
            if remote is None:
                mlflow_registry.registered_model_create(
                    name=name, tags={PROJECT_TAG: str(project.pk)}
                )
                created_remote = True
            else:
                if claimed and remote.tags.get(PROJECT_TAG) != str(project.pk):
                    raise _foreign_name(name)
                existing = [
                    version
                    for version in mlflow_registry.model_versions_find(
                        name=name, run_id=experiment.mlflow_run_id
                    )
                    if version.status != mlflow_registry.FAILED
                ]
                if existing:
                    return Registration(model=model, version=existing[0], created=False)
            version = _version_create(
                name=name, source=source, model_id=model_id, experiment=experiment
            )
            version = _wait_ready(version)
            if version.status == mlflow_registry.FAILED:
                _version_failed(version, created_remote=created_remote)
    except ApplicationError as error:
        if created_remote:
            _registered_model_forget(name, project)
        if not isinstance(error, MlflowError) or isinstance(error, MlflowUnavailable):
            raise
        if error.error_code == "RESOURCE_ALREADY_EXISTS":
            # Created outside Cauce between our look-up and our create.
            raise _foreign_name(name) from error
        logger.exception("Registering %s of experiment %s failed", name, experiment.pk)
        raise ApplicationError(
            _("MLflow no pudo registrar el modelo. Inténtelo de nuevo más tarde.")
        ) from error
    return Registration(model=model, version=version, created=True)


def _version_create(
    *, name: str, source: str, model_id: str, experiment: MLExperiment
) -> ModelVersionInfo:
    """Create the version; a refusal because the logged model is gone says so."""
    try:
        return mlflow_registry.model_version_create(
            name=name,
            source=source,
            run_id=experiment.mlflow_run_id,
            model_id=model_id,
            tags={EXPERIMENT_TAG: str(experiment.pk)},
        )
    except MlflowUnavailable:
        raise
    except MlflowError as error:
        # MLflow answers a source whose logged model is missing with a bare INTERNAL_ERROR;
        # one look tells that case apart (only after a refusal, never on the way to success).
        if not mlflow_registry.logged_model_exists(model_id=model_id):
            raise ApplicationError(
                _("El modelo guardado de este experimento ya no existe en MLflow.")
            ) from error
        raise


def _wait_ready(version: ModelVersionInfo) -> ModelVersionInfo:
    """Poll until the version leaves PENDING_REGISTRATION, at most REGISTRY_READY_TIMEOUT.

    MLflow that cannot be followed leaves the version as last seen (PENDING: the page says
    it is registered but not ready yet)."""
    deadline = time.monotonic() + settings.REGISTRY_READY_TIMEOUT
    delay = 0.1
    try:
        while version.status == mlflow_registry.PENDING and time.monotonic() < deadline:
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
            version = mlflow_registry.model_version_get(name=version.name, version=version.version)
    except MlflowError:
        logger.warning("Could not follow version %s of %s to READY", version.version, version.name)
    return version


class RegistrationFailedError(ApplicationError):
    """MLflow ended the new version FAILED_REGISTRATION; it was deleted again."""

    status_code = 502


def _version_failed(version: ModelVersionInfo, *, created_remote: bool) -> None:
    """Remove a FAILED_REGISTRATION version (the caller removes a model it created) and raise."""
    logger.error(
        "Version %s of %s ended FAILED_REGISTRATION: %s",
        version.version,
        version.name,
        version.status_message,
    )
    if not created_remote:
        try:
            mlflow_registry.model_version_delete(name=version.name, version=version.version)
        except (MlflowNotFound, MlflowError):
            # Left behind, it is still never taken for this run's registration (not READY).
            logger.warning(
                "Could not delete failed version %s of %s", version.version, version.name
            )
    raise RegistrationFailedError(
        _(
            "MLflow no pudo completar el registro de '%(name)s' versión %(version)s "
            "(FAILED_REGISTRATION)."
        )
        % {"name": version.name, "version": version.version}
    )


def _registered_model_forget(name: str, project: Project) -> None:
    """Remove the registered model this call created before failing. When MLflow cannot be
    reached (the failure was an outage), a task removes it once MLflow answers: an outage
    between creating the model and its version never leaves an empty model behind."""
    try:
        registered_model_discard(name=name, project_id=project.pk)
    except MlflowUnavailable:
        from cauce.registry.tasks import registered_model_discard_task

        logger.warning("MLflow unavailable: the empty registered model %s is removed later", name)
        registered_model_discard_task.delay(name, project.pk)
    except MlflowError:
        logger.warning("Could not remove the empty registered model %s", name)


def registered_model_discard(*, name: str, project_id: int) -> bool:
    """Delete the MLflow registered model ``name`` that a failed registration of project
    ``project_id`` created, unless a registration holds the name by now; True when it is gone.

    Runs under the name's lock (its ``RegisteredModel`` row, inserted here and rolled back):
    no registration of the name runs meanwhile, and with no committed row every version under
    the name comes from failed calls. A model without this project's tag is never touched.
    ``MlflowUnavailable`` propagates (the task retries).
    """
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return False
    with transaction.atomic():
        try:
            with transaction.atomic():
                RegisteredModel.objects.create(name=name, project=project)
        except IntegrityError:
            logger.info("Registered model %s is held by a registration; kept", name)
            return False
        try:
            remote = mlflow_registry.registered_model_find(name=name)
            if remote is not None and remote.tags.get(PROJECT_TAG) != str(project_id):
                return False
            if remote is not None:
                mlflow_registry.registered_model_delete(name=name)
                logger.info("Removed registered model %s left by a failed registration", name)
            return True
        finally:
            # The row was only the lock.
            transaction.set_rollback(True)


# --- aliases ----------------------------------------------------------------------------------


def alias_check(alias: object) -> str:
    """An alias as given (the page strips what a user typed; the API takes its path as is)."""
    text = str(alias or "")
    if not text:
        raise _error("alias", _("Indique el alias."))
    if len(text) > ALIAS_MAX_LENGTH:
        raise _error(
            "alias",
            _("El alias no puede tener más de %(max)d caracteres.") % {"max": ALIAS_MAX_LENGTH},
        )
    if not _ALIAS_RE.fullmatch(text):
        raise _error("alias", _("El alias solo puede tener letras, números, «_» y «-»."))
    if text.lower() == "latest":
        raise _error("alias", _("«latest» es un alias reservado de MLflow."))
    if _ALIAS_VERSION_RE.fullmatch(text):
        raise _error(
            "alias",
            _("«%(alias)s» es un alias reservado de MLflow (v<número>).") % {"alias": text},
        )
    return text


def _version_check(version: object) -> int:
    try:
        number = int(str(version))
    except (TypeError, ValueError):
        number = 0
    if number < 1 or number > VERSION_MAX:
        raise _error("version", _("Indique un número de versión válido."))
    return number


def unknown_version_error(model: RegisteredModel, version: int) -> NotFoundError:
    message = _("El modelo «%(name)s» no tiene la versión %(version)s.") % {
        "name": model.name,
        "version": version,
    }
    return NotFoundError(message, extra={"version": message})


def _aliases_moved(model: RegisteredModel) -> None:
    """Cauce asked MLflow to move an alias or delete a version (done or not, when MLflow did
    not answer): every web process resolves this model's aliases and versions again at its
    next prediction (``predict.services``)."""
    RegisteredModel.objects.filter(pk=model.pk).update(alias_generation=F("alias_generation") + 1)


def alias_set(*, model: RegisteredModel, alias: object, version: object) -> tuple[str, int]:
    """Point an alias at a version (moving it when it pointed at another)."""
    alias = alias_check(alias)
    number = _version_check(version)
    try:
        mlflow_registry.alias_set(name=model.name, alias=alias, version=number)
    except MlflowNotFound as error:
        raise unknown_version_error(model, number) from error
    except MlflowUnavailable:
        raise
    except MlflowError as error:
        logger.warning("MLflow refused alias %s -> %s of %s: %s", alias, number, model.name, error)
        raise _error("alias", _("MLflow no aceptó el alias.")) from error
    finally:
        _aliases_moved(model)
    return alias, number


def alias_delete(*, model: RegisteredModel, alias: str) -> None:
    """Remove an alias; ``NotFoundError`` when the model has no such alias."""
    alias = alias_check(alias)
    current = mlflow_registry.registered_model_get(name=model.name)
    if alias not in current.aliases:
        raise NotFoundError(
            _("El modelo «%(name)s» no tiene el alias «%(alias)s».")
            % {"name": model.name, "alias": alias}
        )
    try:
        mlflow_registry.alias_delete(name=model.name, alias=alias)
    finally:
        _aliases_moved(model)


# --- descriptions, tags, deletion -------------------------------------------------------------


def _description_check(description: object) -> str:
    text = str(description or "").strip()
    if len(text) > DESCRIPTION_MAX_LENGTH:
        raise _error(
            "description",
            _("La descripción no puede tener más de %(max)d caracteres.")
            % {"max": DESCRIPTION_MAX_LENGTH},
        )
    return text


def registered_model_update(*, model: RegisteredModel, description: object) -> None:
    mlflow_registry.registered_model_update(
        name=model.name, description=_description_check(description)
    )


def version_tags_check(tags: object) -> dict[str, str]:
    """Version tags from a mapping; keys follow MLflow's rules, ``mlflow.*`` is MLflow's."""
    if not isinstance(tags, Mapping):
        raise _error("tags", _("Las etiquetas deben ser pares clave-valor."))
    checked: dict[str, str] = {}
    for raw_key, raw_value in tags.items():
        key = str(raw_key)
        value = "" if raw_value is None else str(raw_value)
        if not key or len(key) > TAG_KEY_MAX_LENGTH or not _TAG_KEY_RE.fullmatch(key):
            raise _error(
                "tags",
                _(
                    "La clave de etiqueta «%(key)s» no es válida: use letras, números, "
                    "espacios y «_ - . / :» (máximo %(max)d caracteres)."
                )
                % {"key": key, "max": TAG_KEY_MAX_LENGTH},
            )
        if key.startswith(SYSTEM_TAG_PREFIXES):
            raise _error(
                "tags",
                _("Las etiquetas «%(prefix)s…» son del sistema y no se pueden cambiar.")
                % {"prefix": key.split(".", 1)[0] + "."},
            )
        if len(value) > TAG_VALUE_MAX_LENGTH:
            raise _error(
                "tags",
                _("El valor de la etiqueta «%(key)s» es demasiado largo (máximo %(max)d).")
                % {"key": key, "max": TAG_VALUE_MAX_LENGTH},
            )
        checked[key] = value
    return checked


def model_version_update(
    *,
    model: RegisteredModel,
    version: object,
    description: object = None,
    tags: object = None,
) -> ModelVersionInfo:
    """Change a version's description and/or replace its tags (system tags are kept)."""
    number = _version_check(version)
    new_tags = None if tags is None else version_tags_check(tags)
    new_description = None if description is None else _description_check(description)
    try:
        current = mlflow_registry.model_version_get(name=model.name, version=number)
    except MlflowNotFound as error:
        raise unknown_version_error(model, number) from error
    if new_description is not None and new_description != current.description:
        mlflow_registry.model_version_update(
            name=model.name, version=number, description=new_description
        )
    if new_tags is not None:
        user_tags = {
            key: value
            for key, value in current.tags.items()
            if not key.startswith(("mlflow.", "cauce."))
        }
        changed = {key: value for key, value in new_tags.items() if user_tags.get(key) != value}
        removed = [key for key in user_tags if key not in new_tags]
        mlflow_registry.model_version_set_tags(
            name=model.name, version=number, tags=changed, delete=removed
        )
    return mlflow_registry.model_version_get(name=model.name, version=number)


def model_version_delete(*, model: RegisteredModel, version: object) -> None:
    number = _version_check(version)
    try:
        mlflow_registry.model_version_delete(name=model.name, version=number)
    except MlflowNotFound as error:
        raise unknown_version_error(model, number) from error
    finally:
        _aliases_moved(model)
