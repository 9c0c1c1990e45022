"""Monitoring's reads: a version's usage and drift over a window, its profile, alerts."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from cauce.core.exceptions import ApplicationError, ConflictError
from cauce.monitoring.models import (
    Alert,
    DriftResult,
    PredictionRecord,
    ReferenceProfile,
    Window,
)
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


@dataclass
class AlertGroup:
    """The alerts of one version's feature (or of its errors) in its windows: one line.

    Acknowledged alerts group by the moment they were acknowledged (a line acknowledged at
    once stays one line), open ones all together.
    """

    alerts: list[Alert]

    @property
    def first(self) -> Alert:
        """The newest: its model, version, kind and feature are the group's."""
        return self.alerts[0]

    @property
    def windows(self) -> list[str]:
        """The windows flagged, shortest first, as the page names them."""
        chosen = {alert.window for alert in self.alerts}
        return [str(label) for value, label in Window.choices if value in chosen]

    @property
    def resolved(self) -> bool:
        """Every window's condition was found gone since (the drift or errors stopped)."""
        return all(alert.resolved_at is not None for alert in self.alerts)

    @property
    def worst(self) -> Alert:
        """The window with the highest PSI (drift) or error rate (errors)."""

        def badness(alert: Alert) -> float:
            detail = alert.detail or {}
            if alert.kind == Alert.Kind.DRIFT:
                return detail.get("psi") if detail.get("psi") is not None else -1.0
            return (detail.get("errors") or 0) / max(detail.get("requests") or 0, 1)

        return max(self.alerts, key=badness)


def alert_groups(alerts: Any) -> list[AlertGroup]:
    """``alerts`` (newest first) as lines: one per model, version, kind, feature and
    acknowledgement, in the order of their newest alert."""
    groups: dict[tuple, AlertGroup] = {}
    for alert in alerts:
        key = (
            alert.registered_model_id,
            alert.version,
            alert.kind,
            alert.feature,
            alert.acknowledged_at,
        )
        groups.setdefault(key, AlertGroup(alerts=[])).alerts.append(alert)
    return list(groups.values())


def usage_series(
    *, model: Any, version: int, window: str, now: datetime | None = None
) -> list[tuple[datetime, int, int]]:
    """(start, requests, rows) per hour (1 h and 24 h windows) or per day (7 d), oldest first,
    empty periods included."""
    from datetime import timedelta

    now = now or timezone.now()
    start = window_start(window, now)
    by_day = window == "7d"
    step = timedelta(days=1) if by_day else timedelta(hours=1)

    def period(moment: datetime) -> datetime:
        local = timezone.localtime(moment)
        local = local.replace(minute=0, second=0, microsecond=0)
        return local.replace(hour=0) if by_day else local

    periods: dict[datetime, list[int]] = {}
    cursor = period(start)
    while cursor <= now:
        periods[cursor] = [0, 0]
        cursor = period(cursor + step + timedelta(minutes=90) if by_day else cursor + step)
    for created_at, rows in PredictionRecord.objects.filter(
        registered_model=model, version=version, created_at__gte=start
    ).values_list("created_at", "rows"):
        counts = periods.setdefault(period(created_at), [0, 0])
        counts[0] += 1
        counts[1] += rows
    return [(moment, counts[0], counts[1]) for moment, counts in sorted(periods.items())]


def alias_shares(*, model: Any, window: str, now: datetime | None = None) -> dict[str, list]:
    """Per alias: [(version, requests, share)] of the predictions asked by that alias."""
    now = now or timezone.now()
    counts = (
        PredictionRecord.objects.filter(
            registered_model=model, created_at__gte=window_start(window, now), version__isnull=False
        )
        .exclude(alias="")
        .values_list("alias", "version")
        .annotate(n=Count("pk"))
        .order_by("alias", "version")
    )
    shares: dict[str, list] = {}
    for alias, version, n in counts:
        shares.setdefault(alias, []).append([version, n, 0.0])
    for served in shares.values():
        total = sum(n for _version, n, _share in served)
        for entry in served:
            entry[2] = entry[1] / total
    return shares


def model_versions_usage(*, model: Any, window: str, now: datetime | None = None) -> list[dict]:
    """The versions that served predictions in the window: requests, rows, errors, flags."""
    now = now or timezone.now()
    records = PredictionRecord.objects.filter(
        registered_model=model, created_at__gte=window_start(window, now), version__isnull=False
    )
    rows = (
        records.values("version")
        .annotate(requests=Count("pk"), rows=Sum("rows"))
        .order_by("-version")
    )
    errors = dict(
        records.exclude(outcome=PredictionRecord.Outcome.OK)
        .values_list("version")
        .annotate(n=Count("pk"))
        .values_list("version", "n")
    )
    flagged = dict(
        DriftResult.objects.filter(registered_model=model, window=window, flagged=True)
        .values_list("version")
        .annotate(n=Count("pk"))
        .values_list("version", "n")
    )
    return [
        {**row, "errors": errors.get(row["version"], 0), "flagged": flagged.get(row["version"], 0)}
        for row in rows
    ]


def version_reference(*, model: Any, version: int) -> ReferenceProfile | None:
    """The profile of the experiment a version that served predictions came from."""
    from cauce.monitoring.models import MonitoredVersion

    monitored = (
        MonitoredVersion.objects.filter(registered_model=model, version=version)
        .values_list("experiment_id", flat=True)
        .first()
    )
    if monitored is None:
        return None
    return ReferenceProfile.objects.filter(experiment_id=monitored).first()


def bin_labels(feature: dict[str, Any]) -> list[str]:
    """What each of a profile feature's bins holds, to label a histogram."""
    from cauce.core.numbers import significant

    if feature["kind"] != "numeric":
        return [*feature["categories"], _("otras")]
    edges = [significant(edge) for edge in feature["edges"]]
    if not edges:
        return ["—"]
    middle = [f"{low} a {high}" for low, high in itertools.pairwise(edges)]
    return [f"< {edges[0]}", *middle, f"≥ {edges[-1]}"]
