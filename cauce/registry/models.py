import uuid
from datetime import datetime, timedelta
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cauce.core.models import TimeStampedModel

# MLflow's registry column for names is 256 characters long.
NAME_MAX_LENGTH = 256
# Prediction files' names in the default storage: <project id>/<job id>/ inside.
PREDICTIONS_DIR = PurePosixPath("predictions")
# A job's files in its folder: the queued input (kept after a failure, for a retry), the result.
PREDICTION_INPUT_NAME = "input"
PREDICTION_RESULT_NAME = "result.csv"


class RegisteredModel(TimeStampedModel):
    """A model of MLflow's (global) registry that belongs to one Cauce project.

    MLflow holds the versions, aliases, tags and descriptions; this row records which
    project owns the name, so that pages, API and predictions follow that project's roles.
    The MLflow registered model carries the tag ``cauce.project_id`` too.
    """

    project = models.ForeignKey(
        "projects.Project",
        verbose_name=_("proyecto"),
        on_delete=models.CASCADE,
        related_name="registered_models",
    )
    name = models.CharField(_("nombre"), max_length=NAME_MAX_LENGTH, unique=True)
    # The metric the list and the charts show first: the task's main metric.
    main_metric = models.CharField(_("métrica principal"), max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("creado por"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    # Bumped whenever Cauce moves or removes an alias, or deletes a version: every web
    # process then resolves the model's aliases and versions in MLflow again at its next
    # prediction instead of using what it remembers (``predict.services``).
    alias_generation = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("modelo registrado")
        verbose_name_plural = _("modelos registrados")

    def __str__(self) -> str:
        return self.name


class PredictionJob(TimeStampedModel):
    """Predictions of one registered model version for an uploaded file or pasted rows.

    Small inputs are predicted in the request and stored FINISHED; large files are queued
    for a worker, which reports progress here. The result is a CSV in the data dir, under
    the project's folder, downloaded only through Cauce after a permission check.
    """

    class Status(models.TextChoices):
        QUEUED = "QUEUED", _("En cola")
        RUNNING = "RUNNING", _("Prediciendo")
        FINISHED = "FINISHED", _("Terminada")
        ERROR = "ERROR", _("Error")

    class Source(models.TextChoices):
        FILE = "file", _("Archivo")
        JSON = "json", _("JSON pegado")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    registered_model = models.ForeignKey(
        RegisteredModel,
        verbose_name=_("modelo registrado"),
        on_delete=models.CASCADE,
        related_name="prediction_jobs",
    )
    version = models.PositiveIntegerField(_("versión"))
    # The alias the user asked for, resolved to ``version`` when the job was made.
    alias = models.CharField(_("alias"), max_length=255, blank=True)
    source = models.CharField(_("origen"), max_length=10, choices=Source.choices)
    original_filename = models.CharField(_("archivo"), max_length=255, blank=True)
    probabilities = models.BooleanField(_("con probabilidades"), default=False)
    status = models.CharField(
        _("estado"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    error = models.TextField(_("error"), blank=True)
    notes = models.JSONField(default=list, blank=True)
    columns = models.JSONField(default=list, blank=True)
    input_file = models.FileField(max_length=500, blank=True)
    result_file = models.FileField(max_length=500, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("predicción")
        verbose_name_plural = _("predicciones")
        # The retention sweep reads the oldest ended jobs first.
        indexes = [models.Index(fields=["finished_at"], name="registry_prediction_ended_idx")]

    def __str__(self) -> str:
        return f"{self.registered_model.name} v{self.version} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def percent(self) -> int:
        if self.status == self.Status.FINISHED:
            return 100
        if not self.rows_total:
            return 0
        return min(99, int(self.rows_done * 100 / self.rows_total))

    @property
    def expires_at(self) -> datetime | None:
        """When the retention sweep deletes this ended job (result, kept input and row);
        None while it runs, or when results are kept forever."""
        days = settings.PREDICTION_RETENTION_DAYS
        if not days or self.is_active or self.finished_at is None:
            return None
        return self.finished_at + timedelta(days=days)

    @property
    def is_expired(self) -> bool:
        expires = self.expires_at
        return expires is not None and expires <= timezone.now()

    @property
    def can_retry(self) -> bool:
        """A failed file whose input is still kept (see ``prediction_job_retry``)."""
        return (
            self.status == self.Status.ERROR and bool(self.input_file.name) and not self.is_expired
        )

    @staticmethod
    def storage_dir(job: "PredictionJob") -> PurePosixPath:
        """The job's names in the default storage: one folder per job, in its project's."""
        return PREDICTIONS_DIR / str(job.registered_model.project_id) / str(job.pk)
