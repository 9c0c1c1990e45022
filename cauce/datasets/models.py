import uuid
from pathlib import PurePath

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from cauce.core.models import TimeStampedModel


def dataset_upload_to(instance: "Dataset", filename: str) -> str:
    # The user's file name is kept in original_filename; the stored name is ours.
    return f"datasets/{instance.project_id}/{uuid.uuid4().hex}{PurePath(filename).suffix.lower()}"


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

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("conjunto de datos")
        verbose_name_plural = _("conjuntos de datos")

    def __str__(self) -> str:
        return self.name

    @property
    def column_names(self) -> list[str]:
        return [column["name"] for column in self.schema]
