"""The monitoring API on real predictions (real MLflow server): a version's usage and drift
over a window, the refresh, the project's alerts and their acknowledgement, and the roles."""

import pytest

from cauce.monitoring import recording
from cauce.monitoring.models import Alert
from cauce.registry.models import RegisteredModel
from cauce.registry.tests.predict.test_monitoring import (
    SYNTHETIC,
    _profiled,
    _split,
    _synthetic,
    synthetic_model,  # noqa: F401 (a fixture)
)

IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _monitoring(name, version, query=""):
    return f"/api/models/{name}/versions/{version}/monitoring/" + (f"?{query}" if query else "")


def _refresh(name, version):
    return f"/api/models/{name}/versions/{version}/monitoring/refresh/"


@pytest.fixture(autouse=True)
def _no_profiles_remembered():
    recording.profiles_forget()
    yield
    recording.profiles_forget()


@pytest.fixture
def shifted(viewer_api, synthetic_model, register, experiment_of, project):  # noqa: F811
    """A version of the synthetic model with a profile, sent 1,000 rows with ``b`` shifted."""
    name, version = register(synthetic_model)
    experiment_of(synthetic_model, project)
    model = RegisteredModel.objects.create(
        name=name, project=project, created_by=project.created_by
    )
    _profiled(synthetic_model, project, SYNTHETIC)
    rows = _synthetic(1000, seed=2, shift=1.0)[SYNTHETIC]
    url = f"/api/models/{name}/predict/?version={version}"
    assert viewer_api.post(url, _split(rows), format="json").status_code == 200
    assert viewer_api.post(url, _split(rows[["a"]]), format="json").status_code == 400
    recording.observations_flush()
    return model, version


def test_a_version_s_usage_and_drift_over_a_window(shifted, editor_api):
    model, version = shifted

    refreshed = editor_api.post(_refresh(model.name, version))
    answer = editor_api.get(_monitoring(model.name, version, "window=1h"))

    assert refreshed.status_code == 200, refreshed.json()
    assert answer.status_code == 200
    body = answer.json()
    assert (body["window"], body["requests"], body["rows"]) == ("1h", 2, 1000)
    assert body["errors"] == {"bad_input": 1, "mlflow_down": 0, "error": 0}
    assert 0 < body["latency_ms"]["p50"] <= body["latency_ms"]["p95"]
    assert body["message"] == ""
    drift = {row["feature"]: row for row in body["drift"]}
    assert set(drift) == set(SYNTHETIC)
    assert drift["b"]["flagged"] and drift["b"]["psi"] > 0.2 and drift["b"]["p_value"] < 0.01
    assert drift["b"]["test"] == "ks" and not drift["a"]["flagged"]
    assert body["drift"][0]["feature"] == "b"  # flagged first


def test_a_refresh_right_after_predictions_counts_this_process_s_sample(
    viewer_api,
    editor_api,
    synthetic_model,  # noqa: F811
    register,
    experiment_of,
    project,
):
    """The background thread writes the row sample only every 30 s: the refresh writes it
    first, so the p-values of what was just served are there (nothing flushed here)."""
    name, version = register(synthetic_model)
    experiment_of(synthetic_model, project)
    RegisteredModel.objects.create(name=name, project=project, created_by=project.created_by)
    _profiled(synthetic_model, project, SYNTHETIC)
    rows = _synthetic(1000, seed=2, shift=1.0)[SYNTHETIC]
    url = f"/api/models/{name}/predict/?version={version}"
    assert viewer_api.post(url, _split(rows), format="json").status_code == 200

    refreshed = editor_api.post(_refresh(name, version))

    assert refreshed.status_code == 200, refreshed.json()
    drift = {row["feature"]: row for row in refreshed.json()["drift"]}
    assert drift["b"]["sample_rows"] >= 200 and drift["b"]["p_value"] < 0.01


def test_alerts_are_raised_once_listed_and_acknowledged(shifted, editor_api, project):
    model, version = shifted

    editor_api.post(_refresh(model.name, version))
    editor_api.post(_refresh(model.name, version))  # the same drift: no second alert
    listed = editor_api.get(f"/api/projects/{project.pk}/alerts/")

    assert listed.status_code == 200
    alerts = listed.json()["results"]
    assert sorted((a["feature"], a["window"]) for a in alerts) == [
        ("b", "1h"), ("b", "24h"), ("b", "7d"),
    ]  # fmt: skip
    assert {(a["model"], a["version"], a["kind"]) for a in alerts} == {
        (model.name, version, "drift")
    }
    first = alerts[0]["id"]
    done = editor_api.post(f"/api/projects/{project.pk}/alerts/{first}/acknowledge/")
    assert done.status_code == 200 and done.json()["acknowledged_by"] == "eduardo"
    assert len(editor_api.get(f"/api/projects/{project.pk}/alerts/").json()["results"]) == 2
    every = editor_api.get(f"/api/projects/{project.pk}/alerts/?all=true")
    assert len(every.json()["results"]) == 3
    assert editor_api.get(f"/api/projects/{project.pk}/alerts/?all=1").status_code == 400
    assert Alert.objects.count() == 3


def test_an_unknown_window_is_a_400(served, viewer_api):
    model, version = served("iris")

    answer = viewer_api.get(_monitoring(model.name, version, "window=2h"))

    assert answer.status_code == 400
    assert answer.json()["message"] == "Ventana desconocida «2h»: elija una de 1h, 24h, 7d."


def test_a_version_without_a_profile_names_the_command_that_builds_it(
    served, viewer_api, editor_api
):
    model, version = served("iris")

    shown = viewer_api.get(_monitoring(model.name, version))
    refreshed = editor_api.post(_refresh(model.name, version))

    assert shown.status_code == 200 and shown.json()["drift"] == []
    assert "manage.py monitoring_profiles" in shown.json()["message"]
    assert refreshed.status_code == 409
    assert "manage.py monitoring_profiles" in refreshed.json()["message"]


def test_the_model_s_roles_apply(served, outsider_api, viewer, api_client, project):
    model, version = served("iris")

    assert outsider_api.get(_monitoring(model.name, version)).status_code == 404
    assert outsider_api.post(_refresh(model.name, version)).status_code == 404
    assert outsider_api.get(f"/api/projects/{project.pk}/alerts/").status_code == 404
    api_client.force_authenticate(viewer)
    assert api_client.post(_refresh(model.name, version)).status_code == 403
    assert api_client.get(_monitoring(model.name, version, "window=7d")).status_code == 200
