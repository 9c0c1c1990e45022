"""Monitoring's retention: what is older than MONITOR_RETENTION_DAYS goes, in batches."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cauce.monitoring.models import FeatureCounts, PredictionRecord, ReservoirSample
from cauce.monitoring.services import monitoring_retention_run
from cauce.registry.models import RegisteredModel


@pytest.fixture
def model(project):
    return RegisteredModel.objects.create(name="iris", project=project)


def _record(model, at):
    return PredictionRecord.objects.create(
        registered_model=model, version=1, source="api", created_at=at, rows=1,
        latency_ms=3.0, outcome="ok",
    )  # fmt: skip


def test_records_counts_and_samples_older_than_the_retention_are_deleted_in_batches(
    model, settings
):
    settings.MONITOR_RETENTION_DAYS = 90
    settings.MONITOR_RETENTION_BATCH = 2
    now = timezone.now()
    old, recent = now - timedelta(days=91), now - timedelta(days=89)
    for _ in range(5):
        _record(model, old)
    kept = _record(model, recent)
    for at, feature in ((old, "a"), (recent, "a")):
        FeatureCounts.objects.create(
            registered_model=model, version=1, hour=at, feature=feature, counts=[1], rows=1
        )
    for at in (old, recent):
        ReservoirSample.objects.create(registered_model=model, version=1, day=at.date())

    deleted = monitoring_retention_run(now=now)

    assert deleted == 7
    assert list(PredictionRecord.objects.all()) == [kept]
    assert FeatureCounts.objects.get().hour == recent
    assert ReservoirSample.objects.get().day == recent.date()


def test_nothing_recent_is_deleted(model):
    _record(model, timezone.now())

    assert monitoring_retention_run() == 0
    assert PredictionRecord.objects.count() == 1
