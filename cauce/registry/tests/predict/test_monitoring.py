"""Prediction monitoring on the real prediction path (real MLflow server, real models):
every prediction recorded, its rows binned and sampled against the training profile, drift
computed from them; a database that fails the write never fails the prediction."""

import logging
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from cauce.experiments.models import MLExperiment
from cauce.experiments.pipeline.training import TrainingSpec
from cauce.integrations.mlflow import tracking
from cauce.monitoring import recording
from cauce.monitoring import sample as samples
from cauce.monitoring.models import (
    DriftResult,
    FeatureCounts,
    PredictionRecord,
    ReservoirSample,
)
from cauce.monitoring.profile import profile_build
from cauce.monitoring.services import reference_profile_store
from cauce.monitoring.windows import monitoring_refresh
from cauce.registry.predict.services import prediction_job_create
from cauce.registry.tests.predict.conftest import _train_and_log
from tests.fixtures.core import database_refusing

IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SYNTHETIC = ["a", "b", "c"]


def _url(name, query=""):
    return f"/api/models/{name}/predict/" + (f"?{query}" if query else "")


def _split(frame):
    return {"dataframe_split": {"columns": list(frame.columns), "data": frame.values.tolist()}}


def _profiled(trained, project, features):
    experiment = MLExperiment.objects.get(project=project, mlflow_run_id=trained.run_id)
    profile = profile_build(trained.frame[features])
    return reference_profile_store(experiment=experiment, run_id=trained.run_id, profile=profile)


@pytest.fixture(autouse=True)
def _no_profiles_remembered():
    recording.profiles_forget()
    yield
    recording.profiles_forget()


def _recorded() -> int:
    """Write what the predictions queued (the background thread's job in a web process)."""
    return recording.observations_flush()


def _synthetic(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(10, 2, rows).round(4),
            "b": (rng.normal(0, 1, rows) + shift).round(4),
            "c": rng.exponential(3, rows).round(4),
        }
    )
    frame["y"] = 2 * frame["a"] - frame["b"] + 0.5 * frame["c"] + rng.normal(0, 0.1, rows)
    return frame


@pytest.fixture(scope="session")
def synthetic_model(trained_models, mlflow_server):
    """A Ridge on three numeric features (normal, normal, exponential), 2,000 rows."""
    from django.test import override_settings

    with override_settings(MLFLOW_TRACKING_URI=mlflow_server):
        experiment_id = tracking.experiment_ensure(name="cauce-predict-tests")
        spec = TrainingSpec("y", SYNTHETIC, "regression", "Ridge")
        return _train_and_log(_synthetic(2000, seed=1), spec, experiment_id)


def test_an_api_prediction_is_recorded_with_its_rows_binned_and_sampled(
    viewer_api, viewer, served, trained_models, project
):
    model, version = served("iris")
    _profiled(trained_models["iris"], project, IRIS)
    rows = trained_models["iris"].frame[IRIS].sample(40, random_state=3)

    response = viewer_api.post(_url(model.name, f"version={version}"), _split(rows), format="json")

    assert response.status_code == 200, response.json()
    assert not PredictionRecord.objects.exists()  # nothing written in the request
    assert _recorded() == 1
    record = PredictionRecord.objects.get()
    assert (record.registered_model, record.version, record.user, record.source) == (
        model, version, viewer, "api",
    )  # fmt: skip
    assert (record.rows, record.outcome) == (40, "ok") and record.latency_ms > 0
    counts = FeatureCounts.objects.filter(registered_model=model, version=version)
    assert sorted(counts.values_list("feature", flat=True)) == sorted(IRIS)
    assert all(sum(row.counts) == 40 and row.rows == 40 for row in counts)
    sample = ReservoirSample.objects.get(registered_model=model, version=version)
    kept = samples.decoded(sample.table, sample.columns, sample.texts)
    assert sample.columns == IRIS and sample.seen == 40 and len(kept) == 40
    assert sorted(kept.values[2].tolist()) == sorted(rows["petal_length"].tolist())


def test_failed_predictions_are_recorded_with_their_outcome(viewer_api, served, trained_models):
    model, version = served("iris")
    rows = trained_models["iris"].frame[IRIS].head(3)

    missing = viewer_api.post(
        _url(model.name, f"version={version}"), _split(rows[IRIS[:2]]), format="json"
    )
    unknown = viewer_api.post(_url(model.name, "version=99"), _split(rows), format="json")
    alias = viewer_api.post(_url(model.name, "alias=nadie"), _split(rows), format="json")

    assert (missing.status_code, unknown.status_code, alias.status_code) == (400, 404, 404)
    assert _recorded() == 3
    outcomes = PredictionRecord.objects.order_by("pk").values_list("version", "alias", "outcome")
    assert list(outcomes) == [
        (version, "", "bad_input"), (99, "", "bad_input"), (None, "nadie", "bad_input"),
    ]  # fmt: skip
    assert not FeatureCounts.objects.exists()


def test_a_page_prediction_is_recorded_too(editor, served, trained_models, project, media_root):
    from cauce.registry.predict.selectors import predict_target_resolve

    model, version = served("iris")
    _profiled(trained_models["iris"], project, IRIS)
    rows = trained_models["iris"].frame[IRIS].head(12)
    target = predict_target_resolve(model=model, version=version)

    prediction_job_create(target=target, user=editor, pasted=rows.to_json(orient="records"))
    _recorded()

    record = PredictionRecord.objects.get()
    assert (record.source, record.rows, record.outcome, record.user) == ("page", 12, "ok", editor)
    assert ReservoirSample.objects.get().seen == 12


@pytest.mark.django_db(transaction=True)
def test_a_database_that_fails_the_write_never_fails_the_prediction(
    viewer_api, served, trained_models, settings, tmp_path, caplog
):
    model, version = served("iris")
    rows = trained_models["iris"].frame[IRIS].head(5)

    response = viewer_api.post(_url(model.name, f"version={version}"), _split(rows), format="json")
    assert response.status_code == 200 and len(response.json()["predictions"]) == 5
    with caplog.at_level(logging.ERROR, "cauce.monitoring"), database_refusing(tmp_path):
        written = recording.observations_flush()

    assert written == 0
    assert "1 predictions could not be recorded" in caplog.text
    assert not PredictionRecord.objects.exists()  # dropped, and the database answers again


def test_one_feature_shifted_one_sd_in_1000_predicted_rows_is_flagged(
    viewer_api, served, synthetic_model, register, experiment_of, project
):
    """The acceptance test: 1,000 rows through the API, ``b`` moved by its standard deviation."""
    from cauce.registry.models import RegisteredModel

    name, version = register(synthetic_model)
    experiment_of(synthetic_model, project)
    model = RegisteredModel.objects.create(
        name=name, project=project, created_by=project.created_by
    )
    _profiled(synthetic_model, project, SYNTHETIC)
    rows = _synthetic(1000, seed=2, shift=1.0)[SYNTHETIC]

    response = viewer_api.post(_url(name, f"version={version}"), _split(rows), format="json")
    assert response.status_code == 200
    _recorded()
    flagged = monitoring_refresh(model=model, version=version)

    drift = {r.feature: r for r in DriftResult.objects.filter(registered_model=model, window="24h")}
    assert drift["b"].flagged and drift["b"].psi > 0.2 and drift["b"].p_value < 0.01
    assert drift["a"].psi < 0.1 and drift["c"].psi < 0.1
    assert not drift["a"].flagged and not drift["c"].flagged
    assert flagged == 1  # ``b`` (in each window: 1 h, 24 h and 7 d)


def test_each_computation_is_logged_to_the_version_s_monitoring_run_in_mlflow(
    viewer_api, synthetic_model, register, experiment_of, project, mlflow_registry
):
    from cauce.monitoring.publish import drift_metrics, drift_publish
    from cauce.monitoring.windows import WINDOWS, version_drift
    from cauce.registry.models import RegisteredModel

    name, version = register(synthetic_model)
    mlflow_registry.set_model_version_tag(name, str(version), "equipo", "hidrologia")
    experiment_of(synthetic_model, project)
    model = RegisteredModel.objects.create(
        name=name, project=project, created_by=project.created_by
    )
    stored = _profiled(synthetic_model, project, SYNTHETIC)
    rows = _synthetic(300, seed=2, shift=1.0)[SYNTHETIC]
    viewer_api.post(f"/api/models/{name}/predict/?version={version}", _split(rows), format="json")
    _recorded()

    from django.utils import timezone

    from cauce.monitoring.drift import Thresholds

    runs = set()
    for minutes in (0, 15):
        now = timezone.now() + timedelta(minutes=minutes)
        computed = {
            window: version_drift(
                profile=stored.profile, model_id=model.pk, version=version, window=window,
                now=now, thresholds=Thresholds(),
            )
            for window in WINDOWS
        }  # fmt: skip
        metrics = drift_metrics(model_id=model.pk, version=version, now=now, computed=computed)
        runs.add(
            drift_publish(
                model_name=name, version=version, metrics=metrics,
                timestamp_ms=int(now.timestamp() * 1000),
            )
        )  # fmt: skip

    assert len(runs) == 1
    run = mlflow_registry.get_run(runs.pop())
    experiment = mlflow_registry.get_experiment(run.info.experiment_id)
    assert experiment.name == f"cauce-monitoring-{name}"
    assert run.data.tags["equipo"] == "hidrologia"
    assert run.data.tags["cauce.monitoring.version"] == str(version)
    assert run.info.status == "FINISHED"  # never left RUNNING (looks hung in MLflow's UI)
    assert run.data.metrics["requests"] == 1 and run.data.metrics["psi.b"] > 0.2
    history = mlflow_registry.get_metric_history(run.info.run_id, "psi.b")
    assert len(history) == 2 and history[0].step < history[1].step
    assert {"psi_1h.b", "psi_7d.a", "requests_7d"} <= set(run.data.metrics)


def test_the_demo_s_predictions_flag_one_feature(
    served, trained_models, project, mlflow_registry, owner
):
    from cauce.monitoring.demo import demo_predictions

    model, version = served("iris")
    mlflow_registry.set_registered_model_alias(model.name, "champion", str(version))
    _profiled(trained_models["iris"], project, IRIS)

    sent = demo_predictions(
        model=model, user=owner, alias="champion", iris=trained_models["iris"].frame
    )
    again = demo_predictions(
        model=model, user=owner, alias="champion", iris=trained_models["iris"].frame
    )

    assert (sent, again) == (8, 0)
    assert PredictionRecord.objects.filter(registered_model=model, outcome="ok").count() == 8
    flagged = DriftResult.objects.filter(registered_model=model, window="24h", flagged=True)
    assert list(flagged.values_list("feature", flat=True)) == ["petal_length"]
