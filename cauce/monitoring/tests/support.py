"""Monitoring data as a version's predictions leave it, for the page and browser tests."""

from datetime import timedelta

from django.utils import timezone

from cauce.monitoring.profile import profile_build
from cauce.monitoring.recording import Observed
from cauce.monitoring.services import observations_write, reference_profile_store
from cauce.monitoring.tests.test_drift import _frame


def monitoring_data(*, model, experiment, version: int, columns=None, alias="champion") -> None:
    """A profile for ``experiment`` (three numbers and a category, renamed to ``columns``), and
    four 300-row predictions of the last hour by ``alias`` with ``b`` (the second) shifted by
    1.5 standard deviations, plus one refused for bad input."""
    names = columns or ["a", "b", "c", "city"]

    def frame(rows, seed, shift=0.0):
        data = _frame(rows, seed=seed, shift=shift)
        data.columns = names
        return data

    reference_profile_store(
        experiment=experiment,
        run_id=experiment.mlflow_run_id or "",
        profile=profile_build(frame(2000, 1)),
    )
    now = timezone.now()
    observations_write(
        [
            Observed(model_id=model.pk, version=version, alias=alias, experiment_id=experiment.pk,
                     at=now - timedelta(minutes=m), rows=300, latency_ms=4.0 + m,
                     frame=frame(300, m, shift=1.5))
            for m in range(4)
        ]
        + [Observed(model_id=model.pk, version=version, at=now, latency_ms=2.0,
                    outcome="bad_input")]
    )  # fmt: skip
