"""What monitoring keeps: reference profiles, prediction records, per-feature binned counts,
daily reservoir samples, drift results, alerts and each project's thresholds.

Raw input rows are never stored: only the counts per reference bin (per version and hour) and
a bounded random sample of rows per version and day (``MONITOR_SAMPLE_ROWS``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ReferenceProfile(models.Model):
    """The profile of an experiment's training inputs (``monitoring.profile``), also logged
    to its MLflow run as ``monitoring/reference_profile.json``."""

    experiment = models.OneToOneField(
        "experiments.MLExperiment",
        verbose_name=_("experimento"),
        on_delete=models.CASCADE,
        related_name="reference_profile",
    )
    run_id = models.CharField(max_length=64, blank=True, db_index=True)
    profile = models.JSONField()
    created_at = models.DateTimeField(_("creado"), auto_now_add=True)

    class Meta:
        verbose_name = _("perfil de referencia")
        verbose_name_plural = _("perfiles de referencia")

    def __str__(self) -> str:
        return f"{self.experiment_id} ({self.run_id})"


class PredictionRecord(models.Model):
    """One prediction request: who, when, which version, how many rows, how long, outcome."""

    class Source(models.TextChoices):
        API = "api", _("API")
        PAGE = "page", _("Página")
        JOB = "job", _("Trabajo")

    class Outcome(models.TextChoices):
        OK = "ok", _("Correcta")
        BAD_INPUT = "bad_input", _("Entrada no válida")
        MLFLOW_DOWN = "mlflow_down", _("MLflow no disponible")
        ERROR = "error", _("Error")

    registered_model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.CASCADE, related_name="+"
    )
    # None when the request failed before a version was known (an unknown alias...).
    version = models.PositiveIntegerField(null=True)
    alias = models.CharField(max_length=255, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    source = models.CharField(max_length=8, choices=Source.choices)
    created_at = models.DateTimeField(db_index=True)
    rows = models.PositiveIntegerField(default=0)
    latency_ms = models.FloatField()
    outcome = models.CharField(max_length=12, choices=Outcome.choices)

    class Meta:
        indexes = [models.Index(fields=["registered_model", "version", "created_at"])]

    def __str__(self) -> str:
        return f"{self.registered_model_id} v{self.version} {self.outcome}"


class MonitoredVersion(models.Model):
    """A version that has served predictions, and the experiment whose profile is its
    reference: what the drift task goes through."""

    registered_model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.CASCADE, related_name="+"
    )
    version = models.PositiveIntegerField()
    experiment = models.ForeignKey(
        "experiments.MLExperiment", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    last_seen_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["registered_model", "version"], name="monitoring_version_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.registered_model_id} v{self.version}"


class FeatureCounts(models.Model):
    """Rows of one version in one hour, one feature: the count per reference bin."""

    registered_model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.CASCADE, related_name="+"
    )
    version = models.PositiveIntegerField()
    hour = models.DateTimeField(db_index=True)
    feature = models.CharField(max_length=255)
    counts = models.JSONField()
    missing = models.PositiveIntegerField(default=0)
    rows = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["registered_model", "version", "hour", "feature"],
                name="monitoring_counts_one_per_hour",
            )
        ]

    def __str__(self) -> str:
        return f"{self.registered_model_id} v{self.version} {self.feature} {self.hour}"


class ReservoirSample(models.Model):
    """A uniform random sample of one version's input rows of one day: the rows with the
    ``MONITOR_SAMPLE_ROWS`` smallest random keys (``monitoring.sample``). ``table`` holds them
    as float64, column after column: the key, the moment (epoch seconds), then the value of
    each feature of ``columns`` (NaN when missing; a text column as codes into its list of
    distinct values in ``texts``). ``seen`` counts every row offered that day."""

    registered_model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.CASCADE, related_name="+"
    )
    version = models.PositiveIntegerField()
    day = models.DateField(db_index=True)
    columns = models.JSONField(default=list)
    table = models.BinaryField(default=bytes)
    texts = models.JSONField(default=dict)
    seen = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["registered_model", "version", "day"], name="monitoring_sample_one_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.registered_model_id} v{self.version} {self.day}"


class Window(models.TextChoices):
    HOUR = "1h", _("1 hora")
    DAY = "24h", _("24 horas")
    WEEK = "7d", _("7 días")


class DriftResult(models.Model):
    """The drift of one feature of one version over a window, as last computed."""

    registered_model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.CASCADE, related_name="+"
    )
    version = models.PositiveIntegerField()
    window = models.CharField(max_length=4, choices=Window.choices)
    feature = models.CharField(max_length=255)
    computed_at = models.DateTimeField()
    rows = models.PositiveIntegerField(default=0)
    sample_rows = models.PositiveIntegerField(default=0)
    psi = models.FloatField(null=True)
    test = models.CharField(max_length=8, blank=True)  # "ks" or "chi2"
    p_value = models.FloatField(null=True)
    missing_rate = models.FloatField(null=True)
    missing_rate_change = models.FloatField(null=True)
    flagged = models.BooleanField(default=False)
    reference = models.JSONField(default=list)  # the reference's share per bin
    current = models.JSONField(default=list)  # the window's share per bin

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["registered_model", "version", "window", "feature"],
                name="monitoring_drift_one_per_window",
            )
        ]

    def __str__(self) -> str:
        return f"{self.registered_model_id} v{self.version} {self.window} {self.feature}"


class MonitoringSettings(models.Model):
    """A project's thresholds (the settings' values by default) and its alert webhook."""

    project = models.OneToOneField(
        "projects.Project", on_delete=models.CASCADE, related_name="monitoring_settings"
    )
    psi_alert = models.FloatField(_("PSI de alerta"))
    p_value_alert = models.FloatField(_("p-valor de alerta"))
    min_rows = models.PositiveIntegerField(_("filas mínimas para el test"))
    webhook_url = models.URLField(_("webhook"), blank=True)
    webhook_secret = models.CharField(_("secreto del webhook"), max_length=255, blank=True)

    def __str__(self) -> str:
        return str(self.project_id)


class Alert(models.Model):
    """A drifted feature, or too many errors in an hour: one per version, window, kind and
    feature and incident. The incident lasts until a computation of its window finds the
    condition gone (``resolved_at``); acknowledging it silences it meanwhile (a drift that
    persists raises nothing new), and only a condition found again after it was resolved
    raises a new alert."""

    class Kind(models.TextChoices):
        DRIFT = "drift", _("Deriva")
        ERRORS = "errors", _("Errores")

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="monitoring_alerts"
    )
    registered_model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.CASCADE, related_name="+"
    )
    version = models.PositiveIntegerField()
    window = models.CharField(max_length=4, choices=Window.choices)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    feature = models.CharField(max_length=255, blank=True)
    detail = models.JSONField(default=dict)
    created_at = models.DateTimeField(db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    webhook_sent_at = models.DateTimeField(null=True, blank=True)
    # When a computation of the window found the condition gone (None: it still holds).
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["registered_model", "version", "window", "kind", "feature"],
                condition=models.Q(acknowledged_at__isnull=True),
                name="monitoring_alert_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.feature} v{self.version} {self.window}"
