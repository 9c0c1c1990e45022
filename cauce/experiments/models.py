import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from taggit.managers import TaggableManager
from taggit.models import GenericUUIDTaggedItemBase, TaggedItemBase

from cauce.core.models import TimeStampedModel


class TaggedExperiment(GenericUUIDTaggedItemBase, TaggedItemBase):
    """django-taggit's through model for UUID primary keys."""

    @classmethod
    def tags_for(cls, model, instance=None, **extra_filters):
        """One experiment's tags, filtered on the object id alone: only experiments are tagged
        through this table, so taggit's two joins on content types change nothing. Building
        taggit's filter cost ~0.5 ms per experiment, paid for every row of a list even with
        the tags prefetched (Django builds each row's queryset to hold them): 20 ms of the
        list page of 50 under load (tests/production/load.py)."""
        if instance is None:
            return super().tags_for(model, instance, **extra_filters)
        lookups = {f"{cls.tag_relname()}__object_id": instance.pk, **extra_filters}
        return cls.tag_model().objects.filter(**lookups).distinct()

    class Meta:
        verbose_name = _("etiqueta de experimento")
        verbose_name_plural = _("etiquetas de experimentos")
        # Tag filters and the autocompletion look up "experiments with this tag": served
        # from the index alone (see bench/bench_experiment_list.py --explain).
        indexes = [models.Index(fields=["tag", "object_id"], name="experiment_tag_object")]


class MLExperiment(TimeStampedModel):
    class Status(models.TextChoices):
        DRAFT = "DRAFT", _("Borrador")
        QUEUED = "QUEUED", _("En cola")
        RUNNING = "RUNNING", _("En ejecución")
        FINISHED = "FINISHED", _("Finalizado")
        ERROR = "ERROR", _("Error")
        CANCELLED = "CANCELLED", _("Cancelado")

    class TaskType(models.TextChoices):
        CLASSIFICATION = "classification", _("Clasificación")
        REGRESSION = "regression", _("Regresión")

    class Stage(models.TextChoices):
        """What a queued or running experiment is doing now (shown live on its page)."""

        WAITING = "waiting", _("Esperando a un proceso de trabajo")
        PREPARING = "preparing", _("Preparando el run de MLflow")
        LOADING = "loading", _("Cargando los datos")
        TRAINING = "training", _("Entrenando el modelo")
        EVALUATING = "evaluating", _("Evaluando")
        LOGGING = "logging", _("Guardando artefactos y modelo en MLflow")
        RETRYING = "retrying", _("MLflow no disponible: reintentando")

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)
    # Ended without a result: "Ejecutar" runs them again (in a new MLflow run).
    RERUNNABLE_STATUSES = (Status.DRAFT, Status.ERROR, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="experiments"
    )
    dataset = models.ForeignKey(
        "datasets.Dataset",
        verbose_name=_("conjunto de datos"),
        on_delete=models.PROTECT,
        related_name="experiments",
    )
    # The version it trains on (the dataset's latest when it was created, or the one chosen).
    dataset_version = models.ForeignKey(
        "datasets.DatasetVersion",
        verbose_name=_("versión del conjunto de datos"),
        on_delete=models.PROTECT,
        related_name="experiments",
        null=True,
    )
    name = models.CharField(_("nombre"), max_length=200)
    description = models.TextField(_("descripción"), blank=True)
    target_column = models.CharField(_("columna objetivo"), max_length=255)
    feature_columns = models.JSONField(_("columnas de entrada"), default=list)
    task_type = models.CharField(_("tipo de tarea"), max_length=20, choices=TaskType.choices)
    algorithm = models.CharField(_("algoritmo"), max_length=100)
    hyperparameters = models.JSONField(_("hiperparámetros"), default=dict, blank=True)
    test_size = models.FloatField(_("proporción de prueba"), default=0.2)
    random_state = models.IntegerField(_("semilla aleatoria"), default=42)
    tags = TaggableManager(_("etiquetas"), through=TaggedExperiment, blank=True)

    status = models.CharField(
        _("estado"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    stage = models.CharField(_("etapa"), max_length=20, choices=Stage.choices, blank=True)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    # The Celery task id of the message that may claim the experiment (see runner._claim);
    # the last one sent, or the one that claimed it.
    task_id = models.CharField(max_length=64, blank=True)
    # When a worker should have claimed the queued experiment at the latest, queue aside: the
    # last dispatch, or the time a retry is due. ``dispatches`` counts the messages sent for
    # this queueing (see cauce.experiments.liveness.experiments_redispatch_lost).
    due_at = models.DateTimeField(null=True, blank=True)
    dispatches = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    mlflow_experiment_id = models.CharField(max_length=64, blank=True)
    mlflow_run_id = models.CharField(_("Run ID de MLflow"), max_length=64, blank=True)
    # MLflow 3 keeps the logged model outside the run: models:/m-<id>.
    mlflow_model_id = models.CharField(max_length=64, blank=True)
    mlflow_model_uri = models.CharField(max_length=255, blank=True)
    metrics = models.JSONField(_("métricas"), default=dict, blank=True)
    # The plots the run logged (paths like "plots/residuals.png"), recorded by the worker at
    # the end of the run so the page lists them without asking MLflow; None = not known yet
    # (runs from before this was recorded: the page looks them up once).
    plots = models.JSONField(_("gráficos"), null=True, blank=True, default=None)
    # Seconds per stage of the last run, e.g. {"load": 1.2, "fit": 8.4}; also logged to the
    # run as metrics cauce.time.<stage>_s.
    timings = models.JSONField(_("duración por etapa"), default=dict, blank=True)
    # When the current stage began: the page shows how long it has been going.
    stage_started_at = models.DateTimeField(null=True, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # Who ran it last: the run's ``mlflow.user`` ("Created by" in the MLflow UI).
    queued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("ejecutado por"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("experimento")
        verbose_name_plural = _("experimentos")
        indexes = [
            models.Index(fields=["project", "status"]),
            # A project's list, newest first: a page is read off the index, not sorted.
            models.Index(fields=["project", "-created_at"], name="experiment_project_newest"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def stage_elapsed(self) -> timedelta | None:
        """How long the current stage has been going (None unless queued or running)."""
        if not self.is_active or self.stage_started_at is None:
            return None
        return max(timezone.now() - self.stage_started_at, timedelta(0))

    @property
    def run_elapsed(self) -> timedelta | None:
        """Running: since this attempt started; queued: since it was queued."""
        since = self.started_at if self.status == self.Status.RUNNING else self.queued_at
        if not self.is_active or since is None:
            return None
        return max(timezone.now() - since, timedelta(0))

    @property
    def main_metric_name(self) -> str:
        return "f1_macro" if self.task_type == self.TaskType.CLASSIFICATION else "r2"

    @property
    def main_metric(self) -> float | None:
        return self.metrics.get(self.main_metric_name)


class TagSyncState(models.Model):
    """The outbox of one experiment's MLflow run: what Cauce wants there and what it has.

    ``version`` grows in the same transaction as every change of the experiment's tags, name
    or description; a worker writes the experiment's current state to its run and records the
    version it wrote in ``synced_version`` (compare-and-set, under ``lease_token``), so a
    pending change is simply ``version > synced_version`` and nothing is lost when MLflow or a
    worker is down. ``snapshot`` is what was last written to ``synced_run_id``: the stale keys
    to remove next time, and the base that MLflow-side edits are compared with.
    """

    experiment = models.OneToOneField(
        MLExperiment, primary_key=True, on_delete=models.CASCADE, related_name="tag_sync"
    )
    version = models.PositiveBigIntegerField(default=0)
    synced_version = models.PositiveBigIntegerField(default=0)
    synced_run_id = models.CharField(max_length=64, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    snapshot = models.JSONField(default=dict, blank=True)
    # Keys seen on the run that Cauce did not write there and will remove at the next push.
    stray_keys = models.JSONField(default=list, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # One writer per run at a time; a lease that outlives a dead worker expires.
    lease_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("sincronización de etiquetas")
        verbose_name_plural = _("sincronizaciones de etiquetas")

    def __str__(self) -> str:
        return f"{self.experiment_id} v{self.version}/{self.synced_version}"

    @property
    def is_pending(self) -> bool:
        return self.version > self.synced_version
