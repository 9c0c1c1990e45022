"""Writes of datasets: validate and profile first, then store the file and the row together."""

import logging
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.template.defaultfilters import floatformat
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from cauce.core.exceptions import ApplicationError, ConflictError
from cauce.datasets.column_statistics import dataset_statistics
from cauce.datasets.inference import (
    ID_ROW_NUMBER,
    id_like_from_counts,
    is_row_number,
    is_row_number_candidate,
    profile_file,
)
from cauce.datasets.models import Dataset, DatasetVersion
from cauce.datasets.selectors import dataset_dataframe
from cauce.projects.models import Project

logger = logging.getLogger(__name__)


def dataset_upload_validate_size(*, file: UploadedFile) -> None:
    """Reject a file above the limit before reading it (the limit is in MB)."""
    limit_mb = settings.DATASET_MAX_UPLOAD_MB
    if file.size is not None and file.size > limit_mb * 1024 * 1024:
        raise ApplicationError(
            _("El archivo ocupa %(size)s MB y el máximo es %(limit)d MB.")
            % {"size": floatformat(file.size / (1024 * 1024), 1), "limit": limit_mb}
        )


# The description of a file that a version keeps and its dataset mirrors for the latest.
_FILE_FIELDS = (
    "original_filename",
    "file_format",
    "encoding",
    "delimiter",
    "size_bytes",
    "row_count",
    "column_count",
    "schema",
    "preview",
    "statistics",
)


def _upload_profile(file: UploadedFile | None) -> dict:
    """Validate and describe an uploaded file: a version's fields (``_FILE_FIELDS`` and the
    digest); nothing is stored. ApplicationError with a readable message when it is not usable."""
    if file is None:
        raise ApplicationError(_("Seleccione un archivo CSV o Parquet."))
    if not file.size:
        raise ApplicationError(_("El archivo está vacío."))
    dataset_upload_validate_size(file=file)
    profile = profile_file(file)
    try:
        statistics = dataset_statistics_compute(
            file,
            file_format=profile.file_format,
            encoding=profile.encoding,
            delimiter=profile.delimiter,
            schema=profile.schema,
        )
    except ValueError:
        # The profile read this file: the statistics are not worth refusing it for.
        logger.warning("Could not compute the statistics of %s", file.name, exc_info=True)
        statistics = {}
    return {
        "original_filename": PurePath(file.name or "").name[:255],
        "file_format": profile.file_format,
        "encoding": profile.encoding,
        "delimiter": profile.delimiter,
        "size_bytes": file.size,
        "row_count": profile.row_count,
        "column_count": profile.column_count,
        "schema": profile.schema,
        "preview": profile.preview,
        "statistics": statistics,
        "digest": profile.digest,
    }


def _mirror_version(dataset: Dataset, version: DatasetVersion) -> None:
    """Make the dataset's own file fields the version's (it is now the latest)."""
    for name in _FILE_FIELDS:
        setattr(dataset, name, getattr(version, name))
    dataset.file.name = version.file.name
    dataset.latest_version = version


def dataset_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    name: str,
    file: UploadedFile,
    description: str = "",
) -> Dataset:
    """A new dataset whose version 1 is the file."""
    upload = _upload_profile(file)
    user = user if user is not None and user.is_authenticated else None
    original_filename = upload["original_filename"]
    name = (name or "").strip() or PurePath(original_filename).stem or _("Conjunto de datos")
    file_fields = {key: upload[key] for key in _FILE_FIELDS}
    dataset = Dataset(
        project=project,
        name=name[:200],
        description=(description or "").strip(),
        uploaded_by=user,
        versions_created=1,
        **file_fields,
    )
    try:
        dataset.full_clean(exclude=["file", "latest_version"])
    except ValidationError as error:
        raise ApplicationError(" ".join(error.messages)) from error

    version = DatasetVersion(
        dataset=dataset, version=1, created_by=user, digest=upload["digest"], **file_fields
    )
    stored_name = ""
    try:
        with transaction.atomic():
            # The stored name's suffix follows the detected format, not the user's name.
            version.file.save(f"data.{upload['file_format']}", file, save=False)
            stored_name = version.file.name
            dataset.file.name = stored_name
            dataset.save()
            version.dataset = dataset
            version.save()
            dataset.latest_version = version
            dataset.save(update_fields=["latest_version"])
    except Exception:
        # The rows were not written: the file must not stay behind.
        if stored_name:
            version.file.storage.delete(stored_name)
        raise
    return dataset


@dataclass(frozen=True)
class VersionUpload:
    version: DatasetVersion
    # False when the file's digest equals an existing version's: nothing was stored.
    created: bool


def dataset_version_create(
    *, dataset: Dataset, user: AbstractBaseUser | None, file: UploadedFile
) -> VersionUpload:
    """Version n+1 of the dataset from a new file, which becomes the dataset's latest; or,
    when a version holds the same bytes (same digest), that version and nothing new."""
    upload = _upload_profile(file)
    digest = upload["digest"]
    existing = dataset.versions.filter(digest=digest).first() if digest else None
    if existing is not None:
        return VersionUpload(version=existing, created=False)
    user = user if user is not None and user.is_authenticated else None
    stored_name = ""
    storage = DatasetVersion._meta.get_field("file").storage
    try:
        with transaction.atomic():
            # Locked: two uploads at once get different numbers, and the same file once.
            locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
            existing = locked.versions.filter(digest=digest).first() if digest else None
            if existing is not None:
                return VersionUpload(version=existing, created=False)
            version = DatasetVersion(
                dataset=locked,
                version=locked.versions_created + 1,
                created_by=user,
                **upload,
            )
            version.file.save(f"data.{upload['file_format']}", file, save=False)
            stored_name = version.file.name
            version.save()
            locked.versions_created = version.version
            _mirror_version(locked, version)
            locked.save()
    except IntegrityError as error:
        # SQLite has no row lock: an upload at the same moment took the number or the file.
        if stored_name:
            storage.delete(stored_name)
        existing = dataset.versions.filter(digest=digest).first() if digest else None
        if existing is not None:
            return VersionUpload(version=existing, created=False)
        raise ConflictError(
            _("Otra versión se estaba subiendo a la vez: vuelva a intentarlo.")
        ) from error
    except Exception:
        if stored_name:
            storage.delete(stored_name)
        raise
    logger.info("Dataset %s: version %s uploaded", dataset.pk, version.version)
    return VersionUpload(version=version, created=True)


def dataset_version_delete(
    *, version: DatasetVersion, user: AbstractBaseUser | None = None
) -> None:
    """Delete a version no experiment or sweep uses; the dataset's only version is deleted
    with it."""
    dataset = version.dataset
    label = _("la versión %(version)d de «%(name)s»") % {
        "version": version.version,
        "name": dataset.name,
    }
    in_use = version.experiments.count()
    if in_use:
        raise ConflictError(
            ngettext(
                "No se puede eliminar %(label)s: la usa %(count)d experimento.",
                "No se puede eliminar %(label)s: la usan %(count)d experimentos.",
                in_use,
            )
            % {"label": label, "count": in_use}
        )
    # A sweep's trials (and re-runs) read it too (the relation's name: no import of sweeps).
    swept = version.sweeps.count()
    if swept:
        raise ConflictError(
            ngettext(
                "No se puede eliminar %(label)s: la usa %(count)d barrido.",
                "No se puede eliminar %(label)s: la usan %(count)d barridos.",
                swept,
            )
            % {"label": label, "count": swept}
        )
    try:
        with transaction.atomic():
            locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
            if locked.versions.count() <= 1:
                raise ConflictError(
                    _(
                        "No se puede eliminar la única versión de «%(name)s»: elimine el "
                        "conjunto de datos."
                    )
                    % {"name": dataset.name}
                )
            stored_name, deleted_pk = version.file.name, version.pk
            version.delete()
            if locked.latest_version_id in (None, deleted_pk):
                _mirror_version(locked, locked.versions.order_by("-version").first())
                locked.save()
    except ProtectedError as error:
        # An experiment or a sweep chose it between the check and the delete.
        raise ConflictError(
            _("No se puede eliminar %(label)s: la usan experimentos o barridos.") % {"label": label}
        ) from error
    storage = DatasetVersion._meta.get_field("file").storage
    if stored_name:
        transaction.on_commit(lambda: _delete_stored_file(storage, stored_name))
    logger.info(
        "Dataset %s: version %s deleted by %s",
        dataset.pk,
        version.version,
        getattr(user, "pk", None),
    )


def dataset_statistics_compute(
    source, *, file_format: str, encoding: str, delimiter: str, schema: list[dict]
) -> dict:
    """Each column's statistics, reading the file once more in chunks (bounded memory)."""
    return dataset_statistics(
        source, file_format=file_format, encoding=encoding, delimiter=delimiter, schema=schema
    )


def dataset_statistics_fill(*, dataset: Dataset) -> bool:
    """Compute and save the statistics of a dataset stored before they existed; False when its
    file cannot be read (it keeps none)."""
    try:
        with dataset.file.open("rb") as handle:
            statistics = dataset_statistics_compute(
                handle,
                file_format=dataset.file_format,
                encoding=dataset.encoding,
                delimiter=dataset.delimiter,
                schema=dataset.schema,
            )
    except (OSError, ValueError, ApplicationError):
        logger.warning("Could not read dataset %s to compute its statistics", dataset.pk)
        return False
    dataset.statistics = statistics
    Dataset.objects.filter(pk=dataset.pk).update(statistics=statistics)
    DatasetVersion.objects.filter(pk=dataset.latest_version_id, statistics={}).update(
        statistics=statistics
    )
    return True


def dataset_delete(*, dataset: Dataset, user: AbstractBaseUser | None = None) -> None:
    in_use = dataset.experiments.count()
    if in_use:
        raise ConflictError(
            ngettext(
                "No se puede eliminar «%(name)s»: lo usa %(count)d experimento. "
                "Elimine antes ese experimento.",
                "No se puede eliminar «%(name)s»: lo usan %(count)d experimentos. "
                "Elimine antes esos experimentos.",
                in_use,
            )
            % {"name": dataset.name, "count": in_use}
        )
    stored_names = {dataset.file.name, *dataset.versions.values_list("file", flat=True)} - {""}
    storage = dataset.file.storage
    try:
        with transaction.atomic():
            dataset.delete()
    except ProtectedError as error:
        # An experiment was created between the check and the delete.
        raise ConflictError(
            _("No se puede eliminar «%(name)s»: lo usan experimentos.") % {"name": dataset.name}
        ) from error
    for stored_name in sorted(stored_names):
        transaction.on_commit(lambda name=stored_name: _delete_stored_file(storage, name))
    logger.info("Dataset %s deleted by %s", dataset.name, getattr(user, "pk", None))


def _delete_stored_file(storage, name: str) -> None:
    try:
        storage.delete(name)
    except OSError:
        logger.warning("Could not delete the stored dataset file %s", name, exc_info=True)


def dataset_schema_complete(*, dataset: Dataset | DatasetVersion) -> Dataset | DatasetVersion:
    """Add what the upload's profile computes today to a schema stored before it did.

    Today: ``id_like`` per column. Text columns are decided from the stored counts; integer
    columns that could count the rows are read from the file (those columns only), once:
    the completed schema is saved. A file that cannot be read leaves them ordinary columns.
    """
    if all("id_like" in column for column in dataset.schema):
        return dataset
    schema = [dict(column) for column in dataset.schema]
    candidates = []
    for column in schema:
        if "id_like" in column:
            continue
        counts = {
            "rows": dataset.row_count,
            "missing": int(column.get("missing", 0)),
            "unique": int(column.get("unique", 0)),
        }
        column["id_like"] = id_like_from_counts(kind=str(column.get("kind", "")), **counts)
        if not column["id_like"] and is_row_number_candidate(
            dtype=str(column.get("dtype", "")), **counts
        ):
            candidates.append(column)
    if candidates:
        try:
            frame = dataset_dataframe(
                dataset=dataset, columns=[column["name"] for column in candidates]
            )
        except (OSError, ApplicationError):
            logger.warning("Could not read dataset %s to complete its schema", dataset.pk)
        else:
            for column in candidates:
                if is_row_number(frame[column["name"]]):
                    column["id_like"] = ID_ROW_NUMBER
    dataset.schema = schema
    type(dataset).objects.filter(pk=dataset.pk).update(schema=schema)
    if isinstance(dataset, Dataset) and dataset.latest_version_id:
        DatasetVersion.objects.filter(pk=dataset.latest_version_id).update(schema=schema)
    return dataset
