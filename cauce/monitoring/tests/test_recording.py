"""What a web process writes of the predictions it served (database only, no MLflow): the
records at every flush, the counts, version and the day's sample every sample flush, the
sample bounded and its table rewritten only when a new row enters it."""

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from cauce.experiments.models import MLExperiment
from cauce.experiments.tests.runner_support import queued_experiment
from cauce.monitoring import sample as samples
from cauce.monitoring import services
from cauce.monitoring.models import (
    FeatureCounts,
    MonitoredVersion,
    PredictionRecord,
    ReservoirSample,
)
from cauce.monitoring.profile import profile_build
from cauce.monitoring.recording import Observed, frame_reduce
from cauce.monitoring.tests.test_drift import _frame
from cauce.registry.models import RegisteredModel


@pytest.fixture
def served(project, iris_dataset):
    model = RegisteredModel.objects.create(name="clima", project=project)
    experiment = queued_experiment(iris_dataset, status=MLExperiment.Status.FINISHED)
    services.reference_profile_store(
        experiment=experiment, run_id="", profile=profile_build(_frame(2000, seed=1))
    )
    return model, experiment


def _observed(model, experiment, rows, seed, at=None):
    return Observed(
        model_id=model.pk, version=2, experiment_id=experiment.pk, rows=rows,
        at=at or timezone.now(), latency_ms=3.0, frame=_frame(rows, seed=seed),
    )  # fmt: skip


def _stored():
    stored = ReservoirSample.objects.get()
    return stored, samples.decoded(stored.table, stored.columns, stored.texts)


def test_records_are_written_at_once_and_the_rest_with_the_samples(served, settings):
    settings.MONITOR_SAMPLE_ROWS = 100
    model, experiment = served

    services.observations_write([_observed(model, experiment, 300, 1)], samples_now=False)
    services.observations_write([_observed(model, experiment, 40, 2)], samples_now=False)

    assert PredictionRecord.objects.count() == 2
    assert not FeatureCounts.objects.exists() and not ReservoirSample.objects.exists()
    assert not MonitoredVersion.objects.exists()

    services.observations_write([_observed(model, experiment, 7, 3)], samples_now=True)

    assert PredictionRecord.objects.count() == 3
    assert MonitoredVersion.objects.get().experiment_id == experiment.pk
    counts = FeatureCounts.objects.filter(registered_model=model, version=2)
    assert counts.count() == 4 and all(sum(row.counts) + row.missing == 347 for row in counts)
    stored, kept = _stored()
    assert stored.seen == 347 and len(kept) == 100
    assert stored.columns == ["a", "b", "c", "city"] and set(stored.texts) == {"city"}
    assert set(kept.values[3].tolist()) <= {"Lima", "Quito", "Bogotá", "Cusco"}
    assert not services.samples_pending()


def _one_row_keyed(model, experiment, key):
    """A one-row observation reduced already (as a chunked file's are), its row's key set."""
    observed = _observed(model, experiment, 1, 9)
    profile = profile_build(_frame(2000, seed=1))
    observed.reduced = frame_reduce(
        profile, observed.frame, at=observed.at, limit=1, rng=np.random.default_rng(1)
    )
    observed.reduced.sample.keys[:] = key
    return observed


def test_the_day_s_sample_stays_bounded_and_is_rewritten_only_when_a_row_enters(served, settings):
    settings.MONITOR_SAMPLE_ROWS = 50
    model, experiment = served
    services.observations_write([_observed(model, experiment, 5000, 1)])
    stored, first = _stored()
    assert (stored.seen, len(first)) == (5000, 50)

    services.observations_write([_one_row_keyed(model, experiment, 0.999)])
    stored, second = _stored()
    assert stored.seen == 5001
    assert second.keys.tolist() == first.keys.tolist()  # over the bound: not written

    services.observations_write([_one_row_keyed(model, experiment, 0.0)])
    stored, third = _stored()
    assert stored.seen == 5002 and len(third) == 50
    assert 0.0 in third.keys.tolist() and first.keys.max() not in third.keys.tolist()

    for seed in range(3, 8):
        services.observations_write([_observed(model, experiment, 5000, seed)])
    stored, last = _stored()
    assert (stored.seen, len(last)) == (30_002, 50)
    assert last.keys.max() < third.keys.max()  # new rows entered: the bound went down
    assert len(set(last.keys.tolist())) == 50


def test_a_sample_of_yesterday_and_today_each_stay_their_own(served, settings):
    settings.MONITOR_SAMPLE_ROWS = 20
    model, experiment = served
    now = timezone.now()
    yesterday = now - timedelta(days=1)

    services.observations_write(
        [_observed(model, experiment, 30, 1, at=yesterday), _observed(model, experiment, 10, 2)]
    )

    days = dict(ReservoirSample.objects.values_list("day", "seen"))
    assert days == {timezone.localdate(yesterday): 30, timezone.localdate(now): 10}
    today = ReservoirSample.objects.get(day=timezone.localdate(now))
    kept = samples.decoded(today.table, today.columns, today.texts)
    assert len(kept) == 10 and np.all(kept.stamps >= yesterday.timestamp() + 3600)
