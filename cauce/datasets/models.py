import uuid
from pathlib import PurePath

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from cauce.core.models import TimeStampedModel


def _stored_name(project_id: int, filename: str) -> str:
    # The user's file name is kept in original_filename; the stored name is ours.
    return f"datasets/{project_id}/{uuid.uuid4().hex}{PurePath(filename).suffix.lower()}"


def dataset_upload_to(instance: "Dataset", filename: str) -> str:
    return _stored_name(instance.project_id, filename)


class Dataset(TimeStampedModel):
    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        PARQUET = "parquet", "Parquet"

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="datasets"
    )
    name = models.CharField(_("nombre"), max_length=200)
    description = models.TextField(_("descripción"), blank=True)
    file = models.FileField(_("archivo"), upload_to=dataset_upload_to, max_length=255)
    original_filename = models.CharField(_("nombre del archivo"), max_length=255)
    file_format = models.CharField(_("formato"), max_length=10, choices=Format.choices)
    encoding = models.CharField(_("codificación"), max_length=32, blank=True)
    delimiter = models.CharField(_("separador"), max_length=4, blank=True)
    size_bytes = models.BigIntegerField(_("tamaño (bytes)"))
    row_count = models.PositiveIntegerField(_("filas"))
    column_count = models.PositiveIntegerField(_("columnas"))
    # [{"name": str, "dtype": str, "missing": int, "unique": int, "kind": "numeric"|...}]
    schema = models.JSONField(_("esquema"), default=list)
    # {"columns": [...], "rows": [[...], ...]} — the first rows, as displayed.
    preview = models.JSONField(_("vista previa"), default=dict)
    # Per column, computed once at upload (cauce.datasets.column_statistics): {"min", "max", "mean",
    # "std"} for numbers, {"top": [[value, count], ...], "distinct": n} for few-valued columns.
    # {} until computed (datasets from before: manage.py dataset_statistics).
    statistics = models.JSONField(_("estadísticas"), default=dict, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # The file and its description above are the latest version's (copied by the services
    # that create and delete versions, the only writers), so every reader of "the dataset"
    # reads its latest version without a join.
    latest_version = models.ForeignKey(
        "datasets.DatasetVersion",
        verbose_name=_("última versión"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Versions are numbered 1, 2, ... and a number is never given twice, even after a delete.
    versions_created = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("conjunto de datos")
        verbose_name_plural = _("conjuntos de datos")

    def __str__(self) -> str:
        return self.name

    @property
    def column_names(self) -> list[str]:
        return [column["name"] for column in self.schema]


def dataset_version_upload_to(instance: "DatasetVersion", filename: str) -> str:
    return _stored_name(instance.dataset.project_id, filename)


class DatasetVersion(models.Model):
    """One uploaded file of a dataset: its content digest, schema, statistics and uploader.

    Versions are never edited; a new file is a new version (unless its digest equals an
    existing version's) and experiments keep the version they trained on.
    """

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField(_("versión"))
    file = models.FileField(_("archivo"), upload_to=dataset_version_upload_to, max_length=255)
    original_filename = models.CharField(_("nombre del archivo"), max_length=255)
    file_format = models.CharField(_("formato"), max_length=10, choices=Dataset.Format.choices)
    encoding = models.CharField(_("codificación"), max_length=32, blank=True)
    delimiter = models.CharField(_("separador"), max_length=4, blank=True)
    size_bytes = models.BigIntegerField(_("tamaño (bytes)"))
    # cauce.datasets.digests: SHA-256 of the bytes as stored, hex, cut to MLflow's 36 characters
    # for a dataset digest. "" when a migrated version's file could not be read.
    digest = models.CharField(_("huella"), max_length=36, blank=True)
    row_count = models.PositiveIntegerField(_("filas"))
    column_count = models.PositiveIntegerField(_("columnas"))
    schema = models.JSONField(_("esquema"), default=list)
    preview = models.JSONField(_("vista previa"), default=dict)
    statistics = models.JSONField(_("estadísticas"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("subida por"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("creada"), auto_now_add=True)

    class Meta:
        ordering = ["dataset", "-version"]
        verbose_name = _("versión del conjunto de datos")
        verbose_name_plural = _("versiones del conjunto de datos")
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "version"], name="datasets_version_unique_number"
            ),
            # An identical file is never stored twice: the upload answers with the version.
            models.UniqueConstraint(
                fields=["dataset", "digest"],
                condition=~models.Q(digest=""),
                name="datasets_version_unique_digest",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.name} v{self.version}"

    @property
    def name(self) -> str:
        """The dataset's name: a version reads like its dataset wherever one is checked."""
        return self.dataset.name

    @property
    def column_names(self) -> list[str]:
        return [column["name"] for column in self.schema]
