"""Monitoring's reads: a version's usage and drift over a window, its profile, alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from cauce.core.exceptions import ApplicationError, ConflictError
from cauce.monitoring.models import Alert, DriftResult, PredictionRecord, ReferenceProfile
from cauce.monitoring.windows import WINDOWS, window_start

PROFILES_COMMAND = "manage.py monitoring_profiles"


def window_check(value: Any) -> str:
    """The window asked for; 400 with the choices otherwise."""
    if value in WINDOWS:
        return value
    raise ApplicationError(
        _("Ventana desconocida «%(window)s»: elija una de %(choices)s.")
        % {"window": str(value)[:20], "choices": ", ".join(WINDOWS)}
    )


def no_profile_message(version: int) -> str:
    return _(
        "La versión %(version)s no tiene perfil de referencia (se entrenó antes de que Cauce "
        "los hiciera): sin él no se calcula la deriva. Un administrador lo construye a partir "
        "de los datos del experimento con «%(command)s»."
    ) % {"version": version, "command": PROFILES_COMMAND}


def version_experiment(*, model: Any, info: Any) -> Any:
    """The Cauce experiment a version was registered from (None: not from this project)."""
    if not info.run_id:
        return None
    return model.project.experiments.filter(mlflow_run_id=info.run_id).first()


def version_profile(*, model: Any, info: Any) -> ReferenceProfile | None:
    experiment = version_experiment(model=model, info=info)
    if experiment is None:
        return None
    return ReferenceProfile.objects.filter(experiment=experiment).first()


def profile_required(*, model: Any, info: Any) -> ReferenceProfile:
    """The version's profile; a 409 naming the command that builds it otherwise."""
    profile = version_profile(model=model, info=info)
    if profile is None:
        raise ConflictError(no_profile_message(info.version))
    return profile


@dataclass
class VersionMonitoring:
    window: str
    requests: int = 0
    rows: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    drift: list[DriftResult] = field(default_factory=list)
    computed_at: datetime | None = None


def version_monitoring(
    *, model: Any, version: int, window: str, now: datetime | None = None
) -> VersionMonitoring:
    now = now or timezone.now()
    records = PredictionRecord.objects.filter(
        registered_model=model, version=version, created_at__gte=window_start(window, now)
    )
    summary = VersionMonitoring(window=window)
    by_outcome = dict(
        records.values_list("outcome").annotate(n=Count("pk")).values_list("outcome", "n")
    )
    summary.requests = sum(by_outcome.values())
    summary.rows = records.aggregate(rows=Sum("rows"))["rows"] or 0
    summary.errors = {
        kind: by_outcome.get(kind, 0)
        for kind in PredictionRecord.Outcome.values
        if kind != PredictionRecord.Outcome.OK
    }
    latencies = np.fromiter(records.values_list("latency_ms", flat=True), dtype=float)
    summary.latency_ms = {
        "p50": round(float(np.percentile(latencies, 50)), 3) if len(latencies) else None,
        "p95": round(float(np.percentile(latencies, 95)), 3) if len(latencies) else None,
    }
    summary.drift = list(
        DriftResult.objects.filter(registered_model=model, version=version, window=window).order_by(
            "-flagged", "feature"
        )
    )
    summary.computed_at = summary.drift[0].computed_at if summary.drift else None
    return summary


def project_alerts(*, project: Any, include_acknowledged: bool = False):
    alerts = Alert.objects.filter(project=project).select_related(
        "registered_model", "acknowledged_by"
    )
    if not include_acknowledged:
        alerts = alerts.filter(acknowledged_at__isnull=True)
    return alerts.order_by("-created_at")
