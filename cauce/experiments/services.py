"""Writes of experiments: every rule about what a valid experiment is lives here.

Each failure is an ApplicationError whose message (in Spanish, translated) names the field,
with ``extra={<field>: <message>}`` so that forms show it on that field and the API returns
it in ``errors``.
"""

import logging
import math
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cauce.core.exceptions import ApplicationError, ConflictError
from cauce.datasets.models import Dataset, DatasetVersion
from cauce.datasets.selectors import dataset_dataframe
from cauce.datasets.services import dataset_schema_complete
from cauce.experiments import transitions
from cauce.experiments.dispatch import experiment_dispatch
from cauce.experiments.liveness import run_end_if_running
from cauce.experiments.models import MLExperiment
from cauce.experiments.pipeline.algorithms import (
    MAX_CLASSES_FOR_INTEGER_TARGET,
    algorithm_get,
    hyperparameters_validate,
    task_type_infer,
)
from cauce.experiments.tag_sync import experiment_tags_set, tag_sync_record_change
from cauce.experiments.tags import tags_normalize
from cauce.projects.models import ROLE_RANK, Project, Role
from cauce.projects.selectors import membership_roles

# A dataset's latest file or one version of it: both carry the schema, rows and file.
DatasetData = Dataset | DatasetVersion

logger = logging.getLogger(__name__)

MAX_RANDOM_STATE = 2**32 - 1  # numpy's seed range
# Kinds of dataset column (see cauce.datasets.inference.column_kind) that hold classes.
CLASS_KINDS = ("categorical", "text", "boolean")


def _fail(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, extra={field: message})


# --- normalization and checks -------------------------------------------------------------


def _name_clean(name: Any) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise _fail("name", _("El nombre del experimento es obligatorio."))
    max_length = MLExperiment._meta.get_field("name").max_length
    if len(name) > max_length:
        raise _fail(
            "name", _("El nombre no puede superar los %(max)d caracteres.") % {"max": max_length}
        )
    return name


def _column(dataset: DatasetData, name: str) -> dict[str, Any] | None:
    return next((column for column in dataset.schema if column["name"] == name), None)


def _target_column_check(*, dataset: DatasetData, target_column: Any) -> dict[str, Any]:
    if not isinstance(target_column, str) or not target_column:
        raise _fail("target_column", _("Elija la columna objetivo."))
    column = _column(dataset, target_column)
    if column is None:
        raise _fail(
            "target_column",
            _("La columna objetivo «%(column)s» no existe en el conjunto de datos «%(dataset)s».")
            % {"column": target_column, "dataset": dataset.name},
        )
    if column.get("missing", 0) >= dataset.row_count:
        raise _fail(
            "target_column",
            _("La columna objetivo «%(column)s» no tiene ningún valor.")
            % {"column": target_column},
        )
    if column.get("kind") == "datetime":
        raise _fail(
            "target_column",
            _("La columna objetivo «%(column)s» es una fecha: elija una columna numérica o de "
              "categorías.") % {"column": target_column},
        )  # fmt: skip
    return column


def default_feature_columns(*, schema: list[dict[str, Any]], target_column: str) -> list[str]:
    """The inputs proposed by default: every column but the target and those that look like
    identifiers (``id_like`` in the dataset's profile). A user may still choose those; and
    when nothing else is left, they are all there is to propose."""
    inputs = [column for column in schema if column["name"] != target_column]
    proposed = [column["name"] for column in inputs if not column.get("id_like")]
    return proposed or [column["name"] for column in inputs]


# Words in a column's name that say it is what a table's rows are labelled with.
TARGET_NAME_WORDS = frozenset(
    {"target", "label", "class", "species", "outcome", "y",
     "objetivo", "etiqueta", "clase", "especie", "categoria", "categoría"}
)  # fmt: skip


@dataclass(frozen=True)
class TargetProposal:
    column: str
    reason: str


def target_column_propose(*, schema: list[dict[str, Any]]) -> TargetProposal | None:
    """The likeliest target with the reason to show next to it, or None (the user chooses).

    A column named like a label, else the last column of few categories; never a number: a
    numeric id, a year or a measurement is a regression only the user may ask for."""
    for column in reversed(schema):
        words = set(re.split(r"[^0-9a-zà-ÿ]+", column["name"].lower()))
        if words & TARGET_NAME_WORDS and not column.get("id_like"):
            return TargetProposal(
                column["name"],
                _("Propuesta por su nombre, que suele indicar la columna que se predice. "
                  "Compruébelo."),
            )  # fmt: skip
    for column in reversed(schema):
        unique = column.get("unique", 0)
        if (
            column.get("kind") in CLASS_KINDS
            and not column.get("id_like")
            and 2 <= unique <= MAX_CLASSES_FOR_INTEGER_TARGET
        ):
            return TargetProposal(
                column["name"],
                _("Propuesta por ser la última columna categórica con pocas clases (%(classes)d). "
                  "Compruébelo.") % {"classes": unique},
            )  # fmt: skip
    return None


def target_task_type(*, dataset: DatasetData, target_column: str) -> str | None:
    """The task a target implies, as the automatic task type decides it (None: no column)."""
    column = _column(dataset, target_column)
    return None if column is None else _task_type_infer_for(dataset=dataset, column=column)


def _feature_columns_check(
    *, dataset: DatasetData, target_column: str, feature_columns: Any
) -> list[str]:
    if feature_columns is None:
        dataset_schema_complete(dataset=dataset)
        features = default_feature_columns(schema=dataset.schema, target_column=target_column)
    else:
        if isinstance(feature_columns, str) or not isinstance(feature_columns, Iterable):
            raise _fail("feature_columns", _("Las columnas de entrada deben ser una lista."))
        features = []
        for name in feature_columns:
            if not isinstance(name, str):
                raise _fail("feature_columns", _("Cada columna de entrada debe ser un texto."))
            if name not in features:
                features.append(name)
        unknown = [name for name in features if _column(dataset, name) is None]
        if unknown:
            raise _fail(
                "feature_columns",
                _("Estas columnas de entrada no existen en el conjunto de datos: %(columns)s.")
                % {"columns": ", ".join(f"«{name}»" for name in unknown)},
            )
        if target_column in features:
            raise _fail(
                "feature_columns",
                _("La columna objetivo «%(column)s» no puede ser también columna de entrada.")
                % {"column": target_column},
            )
    if not features:
        raise _fail(
            "feature_columns", _("Hace falta al menos una columna de entrada además del objetivo.")
        )
    return features


def _task_type_infer_for(*, dataset: DatasetData, column: dict[str, Any]) -> str:
    """The schema decides, except for a float column with few values: then read that column.

    Text, categories and booleans are classes; integers with at most 20 distinct values are
    classes; a float column may hold integers (e.g. 0.0/1.0 with gaps), which only its values tell.
    """
    kind, dtype, unique = column.get("kind"), str(column.get("dtype", "")), column.get("unique", 0)
    if kind in CLASS_KINDS:
        return MLExperiment.TaskType.CLASSIFICATION
    if unique > MAX_CLASSES_FOR_INTEGER_TARGET:
        return MLExperiment.TaskType.REGRESSION
    if dtype.lower().startswith(("int", "uint")):
        return MLExperiment.TaskType.CLASSIFICATION
    try:
        frame = dataset_dataframe(dataset=dataset, columns=[column["name"]])
    except (OSError, ApplicationError):
        logger.warning("Could not read dataset %s to infer the task type", dataset.pk)
        raise _fail(
            "task_type",
            _("No se pudo leer el conjunto de datos para deducir el tipo de tarea: elíjalo."),
        ) from None
    return task_type_infer(frame[column["name"]])


def _task_type_check(
    *, dataset: DatasetData, target: dict[str, Any], task_type: Any, algorithm: str
) -> str:
    if task_type in (None, "", "auto"):
        task_type = _task_type_infer_for(dataset=dataset, column=target)
        inferred = True
    elif task_type in MLExperiment.TaskType.values:
        inferred = False
    else:
        raise _fail(
            "task_type",
            _("Tipo de tarea no válido: «%(value)s». Use «classification» o «regression».")
            % {"value": task_type},
        )
    task_label = MLExperiment.TaskType(task_type).label
    if task_type == MLExperiment.TaskType.REGRESSION and target.get("kind") != "numeric":
        raise _fail(
            "task_type",
            _("La regresión necesita una columna objetivo numérica y «%(column)s» no lo es.")
            % {"column": target["name"]},
        )
    if task_type == MLExperiment.TaskType.CLASSIFICATION and target.get("unique", 0) < 2:
        raise _fail(
            "target_column",
            _("La columna objetivo «%(column)s» tiene un solo valor: no hay clases que aprender.")
            % {"column": target["name"]},
        )
    spec = algorithm_get(algorithm)
    if spec.task_type != task_type:
        if inferred:
            message = _(
                "El algoritmo %(algorithm)s no sirve para %(task)s, que es lo que indica la "
                "columna objetivo «%(column)s». Elija otro algoritmo o fije el tipo de tarea."
            )
        else:
            message = _("El algoritmo %(algorithm)s no sirve para %(task)s.")
        raise _fail(
            "algorithm",
            message
            % {"algorithm": spec.name, "task": str(task_label).lower(), "column": target["name"]},
        )
    return task_type


def _algorithm_check(algorithm: Any) -> str:
    if not isinstance(algorithm, str) or not algorithm:
        raise _fail("algorithm", _("Elija un algoritmo."))
    try:
        return algorithm_get(algorithm).name
    except ApplicationError as error:
        raise _fail("algorithm", str(error.message)) from None


def _hyperparameters_check(*, algorithm: str, hyperparameters: Any) -> dict[str, Any]:
    try:
        return hyperparameters_validate(algorithm=algorithm, hyperparameters=hyperparameters)
    except ApplicationError as error:
        message = str(error.message)
        raise ApplicationError(message, extra={"hyperparameters": message, **error.extra}) from None


def _test_size_check(*, dataset: DatasetData, test_size: Any) -> float:
    if isinstance(test_size, bool) or not isinstance(test_size, int | float):
        raise _fail("test_size", _("La proporción de prueba debe ser un número, p. ej. 0.2."))
    test_size = float(test_size)
    if not 0 < test_size < 1 or math.isnan(test_size):
        raise _fail(
            "test_size",
            _("La proporción de prueba debe estar entre 0 y 1 sin incluirlos (p. ej. 0.2); "
              "se ha indicado %(value)s.") % {"value": test_size},
        )  # fmt: skip
    test_rows = math.ceil(test_size * dataset.row_count)
    if dataset.row_count - test_rows < 1:
        raise _fail(
            "test_size",
            _("Con %(rows)d filas y una proporción de prueba de %(value)s no queda ninguna fila "
              "para entrenar.") % {"rows": dataset.row_count, "value": test_size},
        )  # fmt: skip
    return test_size


def _dataset_version_check(
    *, dataset: Dataset, dataset_version: DatasetVersion | int | None
) -> DatasetVersion:
    """The chosen version of the dataset (a version or its number), else its latest."""
    if dataset_version is None or dataset_version == "":
        # Read now: the latest is the highest number (the caller's row may predate an upload).
        version = dataset.versions.order_by("-version").first()
    elif isinstance(dataset_version, DatasetVersion):
        version = dataset_version if dataset_version.dataset_id == dataset.pk else None
    elif isinstance(dataset_version, int) and not isinstance(dataset_version, bool):
        version = dataset.versions.filter(version=dataset_version).first()
    else:
        version = None
    if version is None:
        raise _fail(
            "dataset_version",
            _("El conjunto de datos «%(name)s» no tiene esa versión.") % {"name": dataset.name},
        )
    version.dataset = dataset
    return version


def _random_state_check(random_state: Any) -> int:
    if isinstance(random_state, bool) or not isinstance(random_state, int):
        raise _fail("random_state", _("La semilla aleatoria debe ser un número entero."))
    if not 0 <= random_state <= MAX_RANDOM_STATE:
        raise _fail(
            "random_state",
            _("La semilla aleatoria debe estar entre 0 y %(max)d.") % {"max": MAX_RANDOM_STATE},
        )
    return random_state


# --- services ------------------------------------------------------------------------------


def experiment_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    name: str,
    dataset: Dataset,
    target_column: str,
    dataset_version: DatasetVersion | int | None = None,
    feature_columns: list[str] | None = None,
    task_type: str | None = None,
    algorithm: str,
    hyperparameters: dict[str, Any] | None = None,
    test_size: float = 0.2,
    random_state: int = 42,
    tags: Iterable[str] = (),
    description: str = "",
) -> MLExperiment:
    """A DRAFT experiment, once every input is checked; run it with ``experiment_enqueue``."""
    name = _name_clean(name)
    if not isinstance(dataset, Dataset):
        raise _fail("dataset", _("Elija un conjunto de datos."))
    if dataset.project_id != project.pk:
        # Said without the dataset's name: it belongs to a project the user may not see.
        raise _fail("dataset", _("El conjunto de datos no pertenece a este proyecto."))
    # The columns are checked against the version it will train on (it reads like a dataset).
    version = _dataset_version_check(dataset=dataset, dataset_version=dataset_version)
    target = _target_column_check(dataset=version, target_column=target_column)
    features = _feature_columns_check(
        dataset=version, target_column=target_column, feature_columns=feature_columns
    )
    algorithm = _algorithm_check(algorithm)
    task_type = _task_type_check(
        dataset=version, target=target, task_type=task_type, algorithm=algorithm
    )
    hyperparameters = _hyperparameters_check(algorithm=algorithm, hyperparameters=hyperparameters)
    test_size = _test_size_check(dataset=version, test_size=test_size)
    random_state = _random_state_check(random_state)
    tags = tags_normalize(tags)

    experiment = MLExperiment(
        project=project,
        dataset=dataset,
        dataset_version=version,
        name=name,
        description=(description or "").strip(),
        target_column=target_column,
        feature_columns=features,
        task_type=task_type,
        algorithm=algorithm,
        hyperparameters=hyperparameters,
        test_size=test_size,
        random_state=random_state,
        created_by=user if user is not None and user.is_authenticated else None,
    )
    try:
        experiment.full_clean(exclude=["tags"])
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise _fail(field, " ".join(messages)) from error
    with transaction.atomic():
        experiment.save()
        experiment_tags_set(experiment=experiment, tags=tags)
    return experiment


@dataclass
class BulkTagResult:
    """What a bulk tag change did to each selected experiment."""

    tag: str
    action: str
    changed: list[MLExperiment] = field(default_factory=list)
    unchanged: list[MLExperiment] = field(default_factory=list)
    # (experiment, why): a project where the user may only read; a change the rules refuse.
    refused: list[tuple[MLExperiment, str]] = field(default_factory=list)
    failed: list[tuple[MLExperiment, str]] = field(default_factory=list)
    # Ids that are not experiments of the user's projects: not named, they may be others'.
    missing: int = 0


BULK_ACTIONS = ("add", "remove")
MAX_BULK_EXPERIMENTS = 1000  # each is its own transaction, all within one web request


def _tags_after(current: list[str], *, tag: str, action: str) -> list[str] | None:
    """The tags after the change, or None when it changes nothing."""
    has_tag = any(name.casefold() == tag.casefold() for name in current)
    if action == "add":
        return None if has_tag else [*current, tag]
    if not has_tag:
        return None
    return [name for name in current if name.casefold() != tag.casefold()]


def _tag_change_one(*, experiment_id: uuid.UUID, tag: str, action: str) -> bool:
    """One experiment's change in its own transaction; False when there was nothing to do."""
    with transaction.atomic():
        # Locked: a concurrent edit of the same experiment waits instead of being lost.
        locked = MLExperiment.objects.select_for_update().filter(pk=experiment_id).first()
        if locked is None:
            raise ApplicationError(_("el experimento ya no existe"))
        new_tags = _tags_after(list(locked.tags.names()), tag=tag, action=action)
        if new_tags is None:
            return False
        experiment_tags_set(experiment=locked, tags=new_tags)
    return True


def experiment_tags_bulk_change(
    *,
    user: AbstractBaseUser,
    experiment_ids: Iterable[uuid.UUID],
    tag: str,
    action: str,
) -> BulkTagResult:
    """Add or remove ``tag`` on each experiment, each in its own transaction.

    Only experiments of projects where the user is at least editor change; the others are
    reported, never touched. One experiment that fails (the rules refuse its new tags, or the
    database does) is reported and the rest still change.
    """
    if action not in BULK_ACTIONS:
        raise ApplicationError(_("Acción no válida: elija añadir o quitar."))
    try:
        normalized = tags_normalize([tag or ""])
    except ApplicationError as error:
        raise _fail("tag", str(error.message)) from None
    if not normalized:
        raise _fail("tag", _("Escriba la etiqueta que quiere añadir o quitar."))
    tag = normalized[0]
    ids = list(dict.fromkeys(experiment_ids))
    if len(ids) > MAX_BULK_EXPERIMENTS:
        message = _("Seleccione como mucho %(max)d experimentos a la vez.")
        raise ApplicationError(message % {"max": MAX_BULK_EXPERIMENTS})
    roles = membership_roles(user=user)
    experiments = list(
        MLExperiment.objects.filter(pk__in=ids, project_id__in=list(roles))
        .select_related("project")
        .order_by("name", "pk")
    )
    result = BulkTagResult(tag=tag, action=action, missing=len(ids) - len(experiments))
    for experiment in experiments:
        if ROLE_RANK[roles[experiment.project_id]] < ROLE_RANK[Role.EDITOR]:
            result.refused.append(
                (
                    experiment,
                    _("solo tiene permiso de lectura en el proyecto «%(project)s»")
                    % {"project": experiment.project.name},
                )
            )
            continue
        try:
            changed = _tag_change_one(experiment_id=experiment.pk, tag=tag, action=action)
        except ApplicationError as error:
            result.failed.append((experiment, str(error.message)))
        except DatabaseError:
            logger.exception("Bulk tag change failed on experiment %s", experiment.pk)
            result.failed.append((experiment, _("error al guardar en la base de datos")))
        else:
            (result.changed if changed else result.unchanged).append(experiment)
    logger.info(
        "Bulk tag %s %r by %s: %d changed, %d unchanged, %d refused, %d failed, %d missing",
        action,
        tag,
        getattr(user, "pk", None),
        len(result.changed),
        len(result.unchanged),
        len(result.refused),
        len(result.failed),
        result.missing,
    )
    return result


def experiment_update(
    *,
    experiment: MLExperiment,
    user: AbstractBaseUser | None,
    name: str | None = None,
    description: str | None = None,
    tags: Iterable[str] | str | None = None,
) -> MLExperiment:
    """Name, description and tags: editable in any status (the configuration is not)."""
    # Check everything before changing the instance: a refused edit leaves it as it was.
    name = _name_clean(name) if name is not None else None
    normalized = tags_normalize(tags) if tags is not None else None
    fields: list[str] = []
    if name is not None and name != experiment.name:
        experiment.name = name
        fields.append("name")
    if description is not None and description.strip() != experiment.description:
        experiment.description = description.strip()
        fields.append("description")
    with transaction.atomic():
        if fields:
            # Only these columns: the worker may be writing status and metrics meanwhile.
            experiment.save(update_fields=[*fields, "updated_at"])
            # The run's name and description follow, like its tags.
            tag_sync_record_change(experiment=experiment)
        if normalized is not None:
            experiment_tags_set(experiment=experiment, tags=normalized)
    logger.info("Experiment %s updated by %s", experiment.pk, getattr(user, "pk", None))
    return experiment


def experiment_plots_record(*, experiment: MLExperiment, plots: list[str]) -> None:
    """Remember the plots found in a finished run's artifacts (runs from before the worker
    recorded them), so the page does not ask MLflow again."""
    experiment.plots = list(plots)
    MLExperiment.objects.filter(
        pk=experiment.pk, status=MLExperiment.Status.FINISHED, plots__isnull=True
    ).update(plots=experiment.plots)


ENQUEUEABLE_STATUSES = transitions.ENQUEUE_FROM
CANCELLABLE_STATUSES = transitions.CANCEL_FROM


def experiment_enqueue(*, experiment: MLExperiment, user: AbstractBaseUser | None) -> MLExperiment:
    """Queue a DRAFT experiment, or re-run one that ended in ERROR or was CANCELLED (in a
    new MLflow run).

    A FINISHED experiment is not run again: its run, metrics and any model registered from
    it stay one consistent record. To try again, create a new experiment from its settings.
    """
    now = timezone.now()
    task_id = str(uuid.uuid4())
    with transaction.atomic():
        # One conditional UPDATE: of two concurrent clicks exactly one wins.
        claimed = transitions.to_queued(
            experiment_id=experiment.pk,
            task_id=task_id,
            queued_by=user if user is not None and user.is_authenticated else None,
            now=now,
        )
        if not claimed:
            experiment.refresh_from_db(fields=["status"])
            raise ConflictError(_enqueue_refusal(experiment.status))
        transaction.on_commit(
            lambda: experiment_dispatch(experiment_id=experiment.pk, task_id=task_id)
        )
    experiment.refresh_from_db()
    logger.info("Experiment %s queued by %s", experiment.pk, getattr(user, "pk", None))
    return experiment


def _enqueue_refusal(status: str) -> str:
    if status in MLExperiment.ACTIVE_STATUSES:
        return _("El experimento ya está en cola o en ejecución.")
    if status == MLExperiment.Status.FINISHED:
        return _(
            "El experimento ya ha finalizado y no se vuelve a ejecutar. Para probar de nuevo, "
            "cree un experimento a partir de este («Duplicar»)."
        )
    return _("El experimento no se puede ejecutar en su estado actual.")


def experiment_cancel(*, experiment: MLExperiment, user: AbstractBaseUser | None) -> MLExperiment:
    """Cancel a queued (or retrying) or running experiment: CANCELLED at once.

    A queued one never starts: the runner's claim finds it CANCELLED. A running one is
    stopped by its worker at the next step, or within ``EXPERIMENT_HEARTBEAT_SECONDS`` in
    the middle of a training, and the worker ends its MLflow run as KILLED. A queued one may
    hold the run of an attempt that MLflow's outage left RUNNING: it is ended KILLED here,
    best effort (a worker's start ends it otherwise). It can be run again, like ERROR.
    """
    Status = MLExperiment.Status
    now = timezone.now()
    cancelled, status_before, run_id = False, "", ""
    # Two tries: a worker may claim a queued experiment between the read and the conditional
    # write; it is then cancelled as RUNNING.
    for _try in range(2):
        row = (
            MLExperiment.objects.filter(pk=experiment.pk).values("status", "mlflow_run_id").first()
        )
        if row is None or row["status"] not in CANCELLABLE_STATUSES:
            break
        status_before, run_id = row["status"], row["mlflow_run_id"]
        if transitions.to_cancelled(
            experiment_id=experiment.pk, from_statuses=[status_before], now=now
        ):
            cancelled = True
            break
    if not cancelled:
        experiment.refresh_from_db(fields=["status"])
        raise ConflictError(_cancel_refusal(experiment.status))
    if status_before == Status.QUEUED and run_id:
        run_end_if_running(run_id=run_id, status="KILLED")
    experiment.refresh_from_db()
    logger.info(
        "Experiment %s cancelled (%s) by %s",
        experiment.pk,
        status_before,
        getattr(user, "pk", None),
    )
    return experiment


def _cancel_refusal(status: str) -> str:
    if status == MLExperiment.Status.CANCELLED:
        return _("El experimento ya está cancelado.")
    return _("Solo se puede cancelar un experimento en cola o en ejecución.")


@dataclass(frozen=True)
class TrainingSettings:
    """An experiment's data and algorithm settings, checked (see ``training_settings_check``)."""

    target_column: str
    feature_columns: list[str]
    task_type: str
    algorithm: str
    test_size: float
    random_state: int
    dataset_version: DatasetVersion


def training_settings_check(
    *,
    project: Project,
    dataset: Any,
    dataset_version: Any = None,
    target_column: Any,
    feature_columns: Any,
    task_type: Any,
    algorithm: Any,
    test_size: Any = 0.2,
    random_state: Any = 42,
) -> TrainingSettings:
    """The checks of ``experiment_create`` on what a training reads, for other trainings
    (a sweep's trials) to take the same rules and messages."""
    if not isinstance(dataset, Dataset):
        raise _fail("dataset", _("Elija un conjunto de datos."))
    if dataset.project_id != project.pk:
        raise _fail("dataset", _("El conjunto de datos no pertenece a este proyecto."))
    # The columns are checked against the version it will train on (it reads like a dataset).
    version = _dataset_version_check(dataset=dataset, dataset_version=dataset_version)
    target = _target_column_check(dataset=version, target_column=target_column)
    features = _feature_columns_check(
        dataset=version, target_column=target_column, feature_columns=feature_columns
    )
    algorithm = _algorithm_check(algorithm)
    task_type = _task_type_check(
        dataset=version, target=target, task_type=task_type, algorithm=algorithm
    )
    return TrainingSettings(
        target_column=target_column,
        feature_columns=features,
        task_type=task_type,
        algorithm=algorithm,
        test_size=_test_size_check(dataset=version, test_size=test_size),
        random_state=_random_state_check(random_state),
        dataset_version=version,
    )
