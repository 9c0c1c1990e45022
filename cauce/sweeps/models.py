"""A hyperparameter sweep (an Optuna study in Cauce's database) and its trials."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from cauce.core.models import TimeStampedModel


class Sweep(TimeStampedModel):
    class Status(models.TextChoices):
        QUEUED = "QUEUED", _("En cola")
        RUNNING = "RUNNING", _("En ejecución")
        FINISHED = "FINISHED", _("Finalizado")
        CANCELLED = "CANCELLED", _("Cancelado")
        ERROR = "ERROR", _("Error")

    class Sampler(models.TextChoices):
        TPE = "tpe", _("TPE (bayesiano)")
        RANDOM = "random", _("Aleatorio")
        GRID = "grid", _("Rejilla")

    class Direction(models.TextChoices):
        MAXIMIZE = "maximize", _("Maximizar")
        MINIMIZE = "minimize", _("Minimizar")

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="sweeps")
    dataset = models.ForeignKey(
        "datasets.Dataset",
        verbose_name=_("conjunto de datos"),
        on_delete=models.PROTECT,
        related_name="sweeps",
    )
    # The version its trials train on (the dataset's latest when it was created, or the one chosen).
    dataset_version = models.ForeignKey(
        "datasets.DatasetVersion",
        verbose_name=_("versión del conjunto de datos"),
        on_delete=models.PROTECT,
        related_name="sweeps",
        null=True,
    )
    name = models.CharField(_("nombre"), max_length=200)
    target_column = models.CharField(_("columna objetivo"), max_length=255)
    feature_columns = models.JSONField(_("columnas de entrada"), default=list)
    task_type = models.CharField(_("tipo de tarea"), max_length=20)
    algorithm = models.CharField(_("algoritmo"), max_length=100)
    # {name: {"type": "int"|"float"|"categorical", "low", "high", "log", "step", "choices"}}
    search_space = models.JSONField(_("espacio de búsqueda"), default=dict)
    fixed_hyperparameters = models.JSONField(_("hiperparámetros fijos"), default=dict, blank=True)
    metric = models.CharField(_("métrica"), max_length=50)
    direction = models.CharField(_("dirección"), max_length=10, choices=Direction.choices)
    n_trials = models.PositiveIntegerField(_("número de pruebas"))
    sampler = models.CharField(_("muestreador"), max_length=10, choices=Sampler.choices)
    # 0: one train/test split; 3..10: k-fold cross-validation with pruning between folds.
    cv_folds = models.PositiveSmallIntegerField(_("particiones de validación cruzada"), default=0)
    test_size = models.FloatField(_("proporción de prueba"), default=0.2)
    seed = models.IntegerField(_("semilla"), default=42)
    tags = models.JSONField(_("etiquetas"), default=list, blank=True)

    status = models.CharField(
        _("estado"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    error = models.TextField(_("error"), blank=True)
    mlflow_experiment_id = models.CharField(max_length=64, blank=True)
    mlflow_run_id = models.CharField(_("Run ID de MLflow"), max_length=64, blank=True)
    best_number = models.IntegerField(null=True, blank=True)
    best_value = models.FloatField(null=True, blank=True)
    best_params = models.JSONField(default=dict, blank=True)
    # Optuna's importance of each searched parameter, computed when the sweep ends.
    importances = models.JSONField(default=dict, blank=True)
    # One controller at a time asks the study for trials (see cauce.sweeps.engine); a kick
    # that finds it busy sets ``controller_wanted`` and the holder runs once more.
    controller_token = models.CharField(max_length=32, blank=True)
    controller_until = models.DateTimeField(null=True, blank=True)
    controller_wanted = models.BooleanField(default=False)
    # When the start task was last sent (or retried): the watch sends a lost one again.
    due_at = models.DateTimeField(null=True, blank=True)
    # Once ended: the parent run and every child run were seen ended in MLflow.
    mlflow_closed = models.BooleanField(default=False)
    # Promote the best trial when the sweep finishes and register its model as "candidate".
    auto_promote = models.BooleanField(_("promover el mejor al terminar"), default=False)
    promoted_trial_number = models.IntegerField(null=True, blank=True)
    rerun_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="reruns"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    promoted_experiment = models.ForeignKey(
        "experiments.MLExperiment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="promoted_from_sweeps",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("barrido")
        verbose_name_plural = _("barridos")
        indexes = [models.Index(fields=["project", "-created_at"], name="sweep_project_newest")]

    def __str__(self) -> str:
        return self.name

    @property
    def study_name(self) -> str:
        return f"cauce-sweep-{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES


class Trial(models.Model):
    """One Optuna trial as Cauce follows it; its status uses Optuna's names."""

    class Status(models.TextChoices):
        WAITING = "WAITING", _("En cola")
        RUNNING = "RUNNING", _("En ejecución")
        COMPLETE = "COMPLETE", _("Completada")
        PRUNED = "PRUNED", _("Podada")
        FAIL = "FAIL", _("Fallida")

    IN_FLIGHT = (Status.WAITING, Status.RUNNING)

    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="trials")
    number = models.PositiveIntegerField()
    optuna_trial_id = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    params = models.JSONField(default=dict)
    value = models.FloatField(null=True, blank=True)
    fold_scores = models.JSONField(default=list, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    # Sent to the queue (a lost message is sent again); a running trial's sign of life.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatches = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The child run was ended with the trial's results (MLflow down then: the task retries).
    run_closed = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["sweep", "number"]
        constraints = [
            models.UniqueConstraint(fields=["sweep", "number"], name="sweep_trial_number_unique")
        ]

    def __str__(self) -> str:
        return f"{self.sweep_id} #{self.number}"
