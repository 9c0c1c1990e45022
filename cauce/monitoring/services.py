"""Monitoring's writes: observations, reference profiles, retention (drift is in ``drift``)."""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cauce.core.exceptions import ConflictError
from cauce.monitoring import recording
from cauce.monitoring import sample as samples
from cauce.monitoring.models import (
    FeatureCounts,
    MonitoredVersion,
    MonitoringSettings,
    PredictionRecord,
    ReferenceProfile,
    ReservoirSample,
)
from cauce.monitoring.profile import REFERENCE_PROFILE_ARTIFACT, profile_build

logger = logging.getLogger(__name__)


# --- reference profiles -----------------------------------------------------------------------


def reference_profile_store(*, experiment: Any, run_id: str, profile: dict) -> ReferenceProfile:
    """Keep ``profile`` as the experiment's (a new run's profile replaces an older one)."""
    stored, _created = ReferenceProfile.objects.update_or_create(
        experiment=experiment, defaults={"run_id": run_id, "profile": profile}
    )
    return stored


def training_frame(experiment: Any) -> pd.DataFrame:
    """The inputs ``experiment`` was trained on, read again from the dataset version it kept
    (for runs that predate profiles; the dataset's latest file only for an experiment with no
    version, as the runner reads it). The one place that says which data an experiment used."""
    from cauce.datasets.selectors import dataset_dataframe

    features = list(experiment.feature_columns)
    source = experiment.dataset_version or experiment.dataset
    return dataset_dataframe(dataset=source, columns=features or None)[features]


def reference_profile_build(*, experiment: Any) -> ReferenceProfile:
    """Build and keep the profile of an older experiment from its training data (all its
    rows: the runner profiles the training split, which this cannot know)."""
    profile = profile_build(training_frame(experiment), seed=experiment.random_state or 0)
    return reference_profile_store(
        experiment=experiment, run_id=experiment.mlflow_run_id or "", profile=profile
    )


def reference_profile_log(stored: ReferenceProfile) -> int:
    """Log a stored profile to its run as ``monitoring/reference_profile.json``; 1 when
    logged, 0 without a run."""
    if not stored.run_id:
        return 0
    from cauce.integrations.mlflow import tracking

    with tempfile.TemporaryDirectory(prefix="cauce-profile-") as tmp:
        path = Path(tmp) / REFERENCE_PROFILE_ARTIFACT
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(stored.profile), encoding="utf-8")
        tracking.run_log_artifacts(run_id=stored.run_id, local_dir=Path(tmp))
    return 1


# --- observations -----------------------------------------------------------------------------


def _hour(moment):
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass
class _Pending:
    """What this process reduced and has not written yet: the records are written at every
    flush (``MONITOR_FLUSH_SECONDS``), the rest every ``MONITOR_SAMPLE_FLUSH_SECONDS``, in
    one transaction: merging into the day's stored sample reads and writes it, and counts and
    versions are upserts that gain nothing from being written every second. Bounded: a few
    counts per (version, hour), at most ``MONITOR_SAMPLE_ROWS`` rows per (version, day)."""

    hours: dict[tuple, recording.Reduced] = field(
        default_factory=lambda: defaultdict(recording.Reduced)
    )
    days: dict[tuple, recording.Reduced] = field(
        default_factory=lambda: defaultdict(recording.Reduced)
    )
    versions: dict[tuple, recording.Observed] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.hours or self.days or self.versions)

    def clear(self) -> None:
        self.hours.clear()
        self.days.clear()
        self.versions.clear()

    def add(self, other: _Pending, *, limit: int) -> None:
        for key, reduced in other.hours.items():
            self.hours[key].add(reduced, limit=limit, sample=False)
        for key, reduced in other.days.items():
            self.days[key].add(reduced, limit=limit)
        self.versions.update(other.versions)


_pending = _Pending()
# Per (model, version, day): the largest key of the day's stored sample when it is full, as
# this process last wrote it (``sample.RowSample.bound``). The stored bound only goes down
# (other processes merge into it too), so rows at or above this one can never enter it.
_stored_bounds: dict[tuple, float] = {}


def samples_pending() -> bool:
    return bool(_pending)


def samples_discard() -> None:
    _pending.clear()
    _stored_bounds.clear()


def observations_reduce(batch: list[recording.Observed], *, limit: int, rng) -> _Pending:
    """The batch's rows reduced against their version's profile: the hour's counts, the
    rows that may join the day's sample (under the bound of the day's sample as known to
    this process), the latest observation of each version. No query but a profile's first
    read; each day's rows merged once, not request by request."""
    reduced_batch = _Pending()
    hours: dict[tuple, list[recording.Reduced]] = defaultdict(list)
    days: dict[tuple, list[recording.Reduced]] = defaultdict(list)
    bounds: dict[tuple, float] = {}
    for observed in batch:
        reduced = observed.reduced
        ok = observed.outcome == recording.OK and observed.version is not None
        day = (observed.model_id, observed.version, timezone.localdate(observed.at))
        if day not in bounds:
            bounds[day] = min(
                _stored_bounds.get(day, 1.0),
                _pending.days[day].bound(limit) if day in _pending.days else 1.0,
            )
        if ok and reduced is None and observed.frame is not None:
            profile = recording.profile_for(observed.experiment_id)
            if profile is not None:
                reduced = recording.frame_reduce(
                    profile, observed.frame, at=observed.at, limit=limit, rng=rng, below=bounds[day]
                )
        observed.frame = None
        if observed.version is not None and observed.experiment_id is not None:
            reduced_batch.versions[(observed.model_id, observed.version)] = observed
        if reduced is None or not ok:
            continue
        hours[(observed.model_id, observed.version, _hour(observed.at))].append(reduced)
        days[day].append(reduced)
        # A request that filled a sample on its own bounds the rest of the batch too.
        bounds[day] = min(bounds[day], reduced.bound(limit))
    for key, parts in hours.items():
        reduced_batch.hours[key].add_all(parts, limit=limit, sample=False)
    for key, parts in days.items():
        reduced_batch.days[key].add_all(parts, limit=limit)
    return reduced_batch


def observations_write(batch: list[recording.Observed], *, samples_now: bool = True) -> None:
    """Write queued observations: a record each, now; their counts, sample and version with
    this process's pending ones now (``samples_now``), or later (``_Pending``). When the
    write fails, the batch is lost (records and reductions alike) and what was pending
    stays pending."""
    rng = np.random.default_rng()
    limit = settings.MONITOR_SAMPLE_ROWS
    reduced = observations_reduce(batch, limit=limit, rng=rng)
    records = [
        PredictionRecord(
            registered_model_id=o.model_id,
            version=o.version,
            alias=o.alias[:255],
            user_id=o.user_id,
            source=o.source,
            created_at=o.at,
            rows=o.rows,
            latency_ms=o.latency_ms,
            outcome=o.outcome,
        )
        for o in batch
    ]
    if not samples_now:
        if records:
            PredictionRecord.objects.bulk_create(records)  # one statement: no transaction
        _pending.add(reduced, limit=limit)
        return
    everything = _Pending()
    everything.add(_pending, limit=limit)
    everything.add(reduced, limit=limit)
    bounds = {}
    with transaction.atomic():
        if records:
            PredictionRecord.objects.bulk_create(records)
        _versions_seen(everything.versions)
        for (model_id, version, hour), counted in everything.hours.items():
            _counts_add(model_id, version, hour, counted)
        for day, sampled in everything.days.items():
            bounds[day] = _sample_add(*day, sampled, limit=limit)
    _pending.clear()
    yesterday = timezone.localdate() - timedelta(days=1)
    for day in [day for day in _stored_bounds if day[2] < yesterday]:
        del _stored_bounds[day]
    _stored_bounds.update(bounds)


def _versions_seen(latest: dict[tuple, recording.Observed]) -> None:
    """One upsert for every version seen: its experiment and when it last served. Each row
    stays locked until the transaction ends: the counts and samples of a version are written
    by one process at a time (in the same order by all: no deadlock)."""
    if not latest:
        return
    latest = dict(sorted(latest.items()))
    MonitoredVersion.objects.bulk_create(
        [
            MonitoredVersion(
                registered_model_id=model_id,
                version=version,
                experiment_id=observed.experiment_id,
                last_seen_at=observed.at,
            )
            for (model_id, version), observed in latest.items()
        ],
        update_conflicts=True,
        unique_fields=["registered_model", "version"],
        update_fields=["experiment", "last_seen_at"],
    )


def _counts_add(model_id: int, version: int, hour, reduced: recording.Reduced) -> None:
    """Add an hour's counts to the stored ones: one read, one upsert for all the features.
    Written only after ``_versions_seen``'s upsert of the same version in the same
    transaction, whose row lock makes the processes that write one version take turns."""
    stored = {
        row["feature"]: row
        for row in FeatureCounts.objects.filter(
            registered_model_id=model_id, version=version, hour=hour
        ).values("feature", "counts", "missing", "rows")
    }
    rows = []
    for feature, counts in reduced.counts.items():
        row = stored.get(feature, {"counts": [0] * len(counts), "missing": 0, "rows": 0})
        if len(row["counts"]) == len(counts):
            counts = [a + b for a, b in zip(row["counts"], counts, strict=True)]
        else:
            counts = row["counts"]  # another profile's bins (a rebuilt profile): kept
        rows.append(
            FeatureCounts(
                registered_model_id=model_id,
                version=version,
                hour=hour,
                feature=feature,
                counts=counts,
                missing=row["missing"] + reduced.missing.get(feature, 0),
                rows=row["rows"] + reduced.rows,
            )
        )
    FeatureCounts.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["registered_model", "version", "hour", "feature"],
        update_fields=["counts", "missing", "rows"],
    )


def _sample_add(model_id: int, version: int, day, reduced: recording.Reduced, *, limit) -> float:
    """Merge the rows sampled by this process into the day's stored sample (the smallest
    keys of both: ``sample``), whose table is rewritten only when one of them entered; the
    stored sample's bound (``RowSample.bound``). Under the version's row lock, as
    ``_counts_add``."""
    stored, _created = ReservoirSample.objects.get_or_create(
        registered_model_id=model_id,
        version=version,
        day=day,
        defaults={"columns": reduced.columns},
    )
    if stored.columns != reduced.columns:
        return 1.0  # another profile's rows (a rebuilt profile): the day's sample keeps its own
    kept = samples.decoded(stored.table, stored.columns, stored.texts)
    fields = ["seen"]
    offered = reduced.sample
    if offered is not None and len(offered) and offered.keys.min() < kept.bound(limit):
        kept = samples.merged([kept, offered], limit)
        stored.table, stored.texts = samples.encoded(kept, stored.columns)
        fields += ["table", "texts"]
    stored.seen += reduced.rows
    stored.save(update_fields=fields)
    return kept.bound(limit)


# --- retention --------------------------------------------------------------------------------


def monitoring_retention_run(*, now=None) -> int:
    """Delete records, counts, samples and drift results older than ``MONITOR_RETENTION_DAYS``,
    ``MONITOR_RETENTION_BATCH`` rows per query (short transactions, however many there are);
    the number of rows deleted."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.MONITOR_RETENTION_DAYS)
    batch = settings.MONITOR_RETENTION_BATCH
    from cauce.monitoring.models import DriftResult

    sets = [
        PredictionRecord.objects.filter(created_at__lt=cutoff),
        FeatureCounts.objects.filter(hour__lt=cutoff),
        ReservoirSample.objects.filter(day__lt=timezone.localdate(cutoff)),
        DriftResult.objects.filter(computed_at__lt=cutoff),
    ]
    deleted = 0
    for old in sets:
        while True:
            ids = list(old.values_list("pk", flat=True)[:batch])
            if not ids:
                break
            count, _detail = old.model.objects.filter(pk__in=ids).delete()
            deleted += count
    return deleted


# --- a project's settings ---------------------------------------------------------------------


def monitoring_settings_get(*, project: Any) -> MonitoringSettings:
    """The project's settings, or unsaved ones with the site's defaults."""
    own = MonitoringSettings.objects.filter(project=project).first()
    if own is not None:
        return own
    return MonitoringSettings(
        project=project,
        psi_alert=settings.DRIFT_PSI_ALERT,
        p_value_alert=settings.DRIFT_P_VALUE_ALERT,
        min_rows=settings.DRIFT_MIN_ROWS,
    )


def monitoring_settings_update(
    *,
    project: Any,
    psi_alert: float,
    p_value_alert: float,
    min_rows: int,
    webhook_url: str,
    webhook_secret: str = "",
    secret_generate: bool = False,
) -> tuple[MonitoringSettings, str]:
    """Save the project's thresholds and webhook; (settings, the secret generated now or "").
    An empty ``webhook_secret`` keeps the stored one; a webhook without any secret gets one
    generated, so that every delivery is signed."""
    with transaction.atomic():
        own = monitoring_settings_get(project=project)
        if own.pk is not None:
            own = MonitoringSettings.objects.select_for_update().get(pk=own.pk)
        generated = ""
        if webhook_secret:
            own.webhook_secret = webhook_secret
        elif secret_generate or (webhook_url and not own.webhook_secret):
            generated = own.webhook_secret = secrets.token_urlsafe(32)
        own.psi_alert = psi_alert
        own.p_value_alert = p_value_alert
        own.min_rows = min_rows
        own.webhook_url = webhook_url
        own.full_clean(exclude=["project"])
        own.save()
    return own, generated


def webhook_test_queue(*, project: Any) -> None:
    """Queue a signed test delivery to the project's webhook (the alerts' task and signing)."""
    from cauce.monitoring.alerts import webhook_of
    from cauce.monitoring.tasks import alert_webhook_task

    if webhook_of(project.pk) is None:
        raise ConflictError(_("El proyecto no tiene webhook: guarda una dirección primero."))
    transaction.on_commit(lambda: alert_webhook_task.delay(None, test_project_id=project.pk))
