"""Computing a version's windows (1 h, 24 h, 7 d): drift per feature, alerts.

The beat task (``monitoring_drift_task``) computes every version that served predictions in
the last 7 days; "Recalcular" and ``POST .../monitoring/refresh/`` compute one version now.
Each computation replaces the version's ``DriftResult`` rows, raises the alerts it finds
(``alerts.alert_raise``: one alert per version, window, kind, feature and incident), resolves
the incidents whose condition it finds gone, on evidence (``alerts.alerts_resolve``: a feature
with rows in the window that is not flagged; an hour of at least 20 requests with few errors),
and, through ``publish``, logs the window to MLflow.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cauce.monitoring import alerts
from cauce.monitoring import sample as samples
from cauce.monitoring.drift import FeatureDrift, Thresholds, feature_drift
from cauce.monitoring.models import (
    DriftResult,
    FeatureCounts,
    MonitoredVersion,
    MonitoringSettings,
    PredictionRecord,
    ReferenceProfile,
    ReservoirSample,
    Window,
)
from cauce.monitoring.sample import RowSample

logger = logging.getLogger(__name__)

WINDOWS: dict[str, timedelta] = {
    Window.HOUR: timedelta(hours=1),
    Window.DAY: timedelta(hours=24),
    Window.WEEK: timedelta(days=7),
}
# An hour with at least this many requests and more than this share of them failed: an alert.
ERROR_ALERT_MIN_REQUESTS = 20
ERROR_ALERT_RATE = 0.05


def thresholds_for(project_id: int) -> Thresholds:
    own = MonitoringSettings.objects.filter(project_id=project_id).first()
    if own is None:
        return Thresholds(
            psi=settings.DRIFT_PSI_ALERT,
            p_value=settings.DRIFT_P_VALUE_ALERT,
            min_rows=settings.DRIFT_MIN_ROWS,
        )
    return Thresholds(psi=own.psi_alert, p_value=own.p_value_alert, min_rows=own.min_rows)


def window_start(window: str, now: datetime) -> datetime:
    return now - WINDOWS[window]


def window_sample(model_id: int, version: int, start: datetime) -> tuple[list[str], RowSample]:
    """(columns, rows) of the version's daily samples since ``start`` (rows sampled before it
    are left out). Days are sampled alike up to ``MONITOR_SAMPLE_ROWS`` each, so a busy day
    weighs no more than a quiet one in a week's sample: the tests ask whether the inputs
    moved, not how much each day sent."""
    since = start.timestamp()
    columns: list[str] = []
    parts: list[RowSample] = []
    stored = ReservoirSample.objects.filter(
        registered_model_id=model_id, version=version, day__gte=timezone.localdate(start)
    ).order_by("day")
    for sample in stored.iterator():
        if columns and sample.columns != columns:
            continue
        columns = sample.columns
        parts.append(samples.decoded(sample.table, sample.columns, sample.texts).since(since))
    if not parts:
        return columns, samples.empty(len(columns))
    return columns, samples.merged(parts, sum(len(part) for part in parts))


def window_counts(model_id: int, version: int, start: datetime) -> dict[str, dict[str, Any]]:
    """Per feature: summed bin counts, missing and rows of the hours from ``start``'s on."""
    hour = start.replace(minute=0, second=0, microsecond=0)
    totals: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"counts": None, "missing": 0, "rows": 0}
    )
    for row in FeatureCounts.objects.filter(
        registered_model_id=model_id, version=version, hour__gte=hour
    ).values("feature", "counts", "missing", "rows"):
        total = totals[row["feature"]]
        if total["counts"] is None:
            total["counts"] = list(row["counts"])
        elif len(total["counts"]) == len(row["counts"]):
            total["counts"] = [a + b for a, b in zip(total["counts"], row["counts"], strict=True)]
        total["missing"] += row["missing"]
        total["rows"] += row["rows"]
    return totals


def version_drift(
    *, profile: dict, model_id: int, version: int, window: str, now: datetime, thresholds
) -> list[FeatureDrift]:
    start = window_start(window, now)
    counts = window_counts(model_id, version, start)
    columns, rows = window_sample(model_id, version, start)
    results = []
    for feature in profile["features"]:
        name = feature["name"]
        total = counts.get(name, {"counts": None, "missing": 0, "rows": 0})
        sample = rows.values[columns.index(name)] if name in columns else []
        results.append(
            feature_drift(
                feature,
                counts=total["counts"],
                missing=total["missing"],
                rows=total["rows"],
                sample=sample,
                thresholds=thresholds,
            )
        )
    return results


def _error_rate(model_id: int, version: int, now: datetime) -> tuple[int, int]:
    records = PredictionRecord.objects.filter(
        registered_model_id=model_id, version=version, created_at__gte=now - timedelta(hours=1)
    )
    return records.count(), records.exclude(outcome=PredictionRecord.Outcome.OK).count()


def monitored_version_compute(monitored: MonitoredVersion, *, now: datetime | None = None) -> int:
    """Compute every window of one version; the number of features flagged in at least one
    window. A version whose experiment has no profile gets no drift (its requests are still
    counted)."""
    now = now or timezone.now()
    model = monitored.registered_model
    profile = (
        ReferenceProfile.objects.filter(experiment_id=monitored.experiment_id)
        .values_list("profile", flat=True)
        .first()
    )
    thresholds = thresholds_for(model.project_id)
    flagged: set[str] = set()
    computed: dict[str, list[FeatureDrift]] = {}
    with transaction.atomic():
        for window in WINDOWS:
            if profile is None:
                break
            results = version_drift(
                profile=profile,
                model_id=model.pk,
                version=monitored.version,
                window=window,
                now=now,
                thresholds=thresholds,
            )
            computed[window] = results
            DriftResult.objects.filter(
                registered_model=model, version=monitored.version, window=window
            ).delete()
            DriftResult.objects.bulk_create(
                DriftResult(
                    registered_model=model,
                    version=monitored.version,
                    window=window,
                    feature=result.feature,
                    computed_at=now,
                    rows=result.rows,
                    sample_rows=result.sample_rows,
                    psi=result.psi,
                    test=result.test,
                    p_value=result.p_value,
                    missing_rate=result.missing_rate,
                    missing_rate_change=result.missing_rate_change,
                    flagged=result.flagged,
                    reference=result.reference,
                    current=result.current,
                )
                for result in results
            )
            alerts.alerts_resolve(
                model=model,
                version=monitored.version,
                window=window,
                kind="drift",
                # On evidence only: a window without rows says nothing of the drift.
                features=[
                    result.feature for result in results if not result.flagged and result.rows
                ],
                now=now,
            )
            for result in results:
                if result.flagged:
                    flagged.add(result.feature)
                    alerts.alert_raise(
                        model=model,
                        version=monitored.version,
                        window=window,
                        kind="drift",
                        feature=result.feature,
                        detail={
                            "psi": result.psi,
                            "p_value": result.p_value,
                            "test": result.test,
                            "rows": result.rows,
                        },
                        now=now,
                    )
        requests, errors = _error_rate(model.pk, monitored.version, now)
        # Fewer requests say nothing either way: the incident neither starts nor ends.
        if requests >= ERROR_ALERT_MIN_REQUESTS and errors / requests > ERROR_ALERT_RATE:
            alerts.alert_raise(
                model=model,
                version=monitored.version,
                window=Window.HOUR,
                kind="errors",
                feature="",
                detail={"requests": requests, "errors": errors},
                now=now,
            )
        elif requests >= ERROR_ALERT_MIN_REQUESTS:
            alerts.alerts_resolve(
                model=model,
                version=monitored.version,
                window=Window.HOUR,
                kind="errors",
                features=[""],
                now=now,
            )
    if computed:
        from cauce.monitoring.publish import drift_publish_later

        drift_publish_later(model=model, version=monitored.version, now=now, computed=computed)
    return len(flagged)


def _flush_pending() -> None:
    """A refresh counts what this process served: its queued observations and the rows it
    sampled, which the background thread writes only every ``MONITOR_SAMPLE_FLUSH_SECONDS``
    (otherwise a refresh right after predictions has no sample, so no p-values)."""
    from cauce.monitoring import recording

    recording.observations_flush(samples_now=True)


def monitoring_refresh(*, model: Any, version: int, now: datetime | None = None) -> int:
    """Compute one version that served predictions now; 0 when it served none. First writes
    what this process served and has not written yet (``_flush_pending``)."""
    _flush_pending()
    monitored = (
        MonitoredVersion.objects.select_related("registered_model")
        .filter(registered_model=model, version=version)
        .first()
    )
    if monitored is None:
        return 0
    return monitored_version_compute(monitored, now=now)


def monitoring_version_refresh(
    *, model: Any, version: int, experiment: Any, now: datetime | None = None
) -> int:
    """Compute one version's windows now (the "Recalcular" button, the API), also before
    its first prediction (its windows are then empty); the number of features flagged. First
    writes what this process served and has not written yet (``_flush_pending``)."""
    _flush_pending()
    now = now or timezone.now()
    monitored, _created = MonitoredVersion.objects.get_or_create(
        registered_model=model,
        version=version,
        defaults={"experiment": experiment, "last_seen_at": now},
    )
    if monitored.experiment_id != experiment.pk:
        monitored.experiment = experiment
        monitored.save(update_fields=["experiment"])
    monitored.registered_model = model
    return monitored_version_compute(monitored, now=now)


def monitoring_compute_all(*, now: datetime | None = None) -> int:
    """Compute every version that served predictions in the last 7 days (the beat task)."""
    now = now or timezone.now()
    done = 0
    recent = MonitoredVersion.objects.select_related("registered_model").filter(
        last_seen_at__gte=now - WINDOWS[Window.WEEK]
    )
    for monitored in recent.iterator():
        try:
            monitored_version_compute(monitored, now=now)
            done += 1
        except Exception:
            logger.exception("Monitoring: drift of %s failed", monitored)
    return done
