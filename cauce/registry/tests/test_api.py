"""The registry's REST API against a real MLflow server: statuses, bodies, permissions."""

import pytest
from django.urls import reverse

from cauce.registry import services
from cauce.registry.models import RegisteredModel

pytestmark = pytest.mark.django_db

NAME = "Iris_lab-Iris_base"


def _register_url(experiment) -> str:
    return reverse("api-experiment-register-model", kwargs={"pk": experiment.pk})


@pytest.fixture
def registered(finished_experiment, editor):
    first = finished_experiment(metrics={"f1_macro": 0.8})
    second = finished_experiment(metrics={"f1_macro": 0.9})
    services.model_version_register(experiment=first, user=editor)
    services.model_version_register(experiment=second, user=editor)
    return first, second


@pytest.fixture
def viewer_api(api_client, viewer):
    api_client.force_authenticate(viewer)
    return api_client


def test_registering_answers_201_then_200_for_the_same_run(
    editor_api, finished_experiment, mlflow_client
):
    experiment = finished_experiment()
    response = editor_api.post(_register_url(experiment), {}, format="json")
    assert response.status_code == 201
    assert response.json() == {"name": NAME, "version": 1, "created": True, "status": "READY"}
    assert mlflow_client.get_model_version(NAME, "1").run_id == experiment.mlflow_run_id
    again = editor_api.post(_register_url(experiment), {}, format="json")
    assert again.status_code == 200
    assert again.json() == {"name": NAME, "version": 1, "created": False, "status": "READY"}


def test_registering_under_a_given_name(editor_api, finished_experiment):
    experiment = finished_experiment()
    response = editor_api.post(_register_url(experiment), {"name": "iris-api"}, format="json")
    assert (response.status_code, response.json()["name"]) == (201, "iris-api")


def test_registering_an_unfinished_experiment_is_a_400(editor_api, finished_experiment):
    experiment = finished_experiment()
    experiment.status = "RUNNING"
    experiment.save(update_fields=["status"])
    response = editor_api.post(_register_url(experiment), {}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "message": "Solo se pueden registrar modelos de experimentos finalizados."
    }


def test_a_name_taken_outside_cauce_is_a_409(editor_api, finished_experiment, mlflow_client):
    mlflow_client.create_registered_model("foreign")
    response = editor_api.post(
        _register_url(finished_experiment()), {"name": "foreign"}, format="json"
    )
    assert response.status_code == 409
    assert "fuera de este proyecto" in response.json()["message"]


def test_registering_with_mlflow_down_is_a_503_and_changes_nothing(
    editor_api, finished_experiment, mlflow_down
):
    response = editor_api.post(_register_url(finished_experiment()), {}, format="json")
    assert response.status_code == 503
    assert response.json() == {"message": "MLflow no disponible"}
    assert not RegisteredModel.objects.exists()


def test_registering_with_mlflow_silent_is_a_503_within_the_web_timeouts(
    editor_api, finished_experiment, mlflow_silent, settings
):
    # The web's timeouts bound the wait (connect 0.5 s + read 0.8 s by default).
    assert settings.MLFLOW_WEB_CONNECT_TIMEOUT + settings.MLFLOW_WEB_READ_TIMEOUT <= 1.5
    response = editor_api.post(_register_url(finished_experiment()), {}, format="json")
    assert response.status_code == 503
    assert not RegisteredModel.objects.exists()


def test_the_list_shows_the_users_models(viewer_api, registered, mlflow_client):
    mlflow_client.set_registered_model_alias(NAME, "champion", "2")
    response = viewer_api.get(reverse("api-model-list"))
    assert response.status_code == 200
    [model] = response.json()
    assert model["name"] == NAME
    assert model["latest_version"] == 2
    assert model["aliases"] == {"champion": 2}
    assert (model["main_metric"], model["main_metric_value"]) == ("f1_macro", 0.9)


def test_the_detail_lists_versions_with_their_experiments(viewer_api, registered):
    first, second = registered
    response = viewer_api.get(reverse("api-model-detail", kwargs={"name": NAME}))
    assert response.status_code == 200
    versions = response.json()["versions"]
    assert [(v["version"], v["experiment"], v["run_id"]) for v in versions] == [
        (2, str(second.pk), second.mlflow_run_id),
        (1, str(first.pk), first.mlflow_run_id),
    ]


def test_aliases_are_set_moved_and_deleted(editor_api, registered, mlflow_client):
    url = reverse("api-model-alias", kwargs={"name": NAME, "alias": "champion"})
    response = editor_api.put(url, {"version": 1}, format="json")
    assert (response.status_code, response.json()) == (200, {"alias": "champion", "version": 1})
    assert mlflow_client.get_model_version_by_alias(NAME, "champion").version == "1"
    editor_api.put(url, {"version": 2}, format="json")
    assert mlflow_client.get_model_version_by_alias(NAME, "champion").version == "2"
    assert editor_api.delete(url).status_code == 204
    assert mlflow_client.get_registered_model(NAME).aliases == {}
    assert editor_api.delete(url).status_code == 404


def test_reserved_aliases_and_unknown_versions_are_refused(editor_api, registered):
    latest = reverse("api-model-alias", kwargs={"name": NAME, "alias": "latest"})
    assert editor_api.put(latest, {"version": 1}, format="json").status_code == 400
    url = reverse("api-model-alias", kwargs={"name": NAME, "alias": "champion"})
    assert editor_api.put(url, {"version": 7}, format="json").status_code == 404


def test_a_version_is_patched_and_deleted(editor_api, registered, mlflow_client):
    url = reverse("api-model-version", kwargs={"name": NAME, "version": 1})
    response = editor_api.patch(
        url, {"description": "la primera", "tags": {"equipo": "ml"}}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["description"] == "la primera"
    version = mlflow_client.get_model_version(NAME, "1")
    assert version.description == "la primera"
    assert version.tags["equipo"] == "ml"
    bad = editor_api.patch(url, {"tags": {"mlflow.x": "1"}}, format="json")
    assert bad.status_code == 400
    assert editor_api.delete(url).status_code == 204
    assert [v.version for v in mlflow_client.search_model_versions(f"name='{NAME}'")] == ["2"]
    assert editor_api.get(url).status_code == 404


ENDPOINTS = [
    ("get", "api-model-detail", {}, None),
    ("put", "api-model-alias", {"alias": "champion"}, {"version": 1}),
    ("delete", "api-model-alias", {"alias": "champion"}, None),
    ("get", "api-model-version", {"version": 1}, None),
    ("patch", "api-model-version", {"version": 1}, {"description": "x"}),
    ("delete", "api-model-version", {"version": 1}, None),
]


@pytest.mark.parametrize(("method", "route", "kwargs", "body"), ENDPOINTS)
def test_an_outsider_gets_404_everywhere(outsider_api, registered, method, route, kwargs, body):
    url = reverse(route, kwargs={"name": NAME, **kwargs})
    assert getattr(outsider_api, method)(url, body, format="json").status_code == 404


@pytest.mark.parametrize(
    ("method", "route", "kwargs", "body"), [e for e in ENDPOINTS if e[0] != "get"]
)
def test_a_viewer_gets_403_on_every_change(viewer_api, registered, method, route, kwargs, body):
    url = reverse(route, kwargs={"name": NAME, **kwargs})
    assert getattr(viewer_api, method)(url, body, format="json").status_code == 403


def test_register_permissions(outsider_api, finished_experiment, viewer, api_client):
    experiment = finished_experiment()
    assert outsider_api.post(_register_url(experiment), {}, format="json").status_code == 404
    api_client.force_authenticate(viewer)
    assert api_client.post(_register_url(experiment), {}, format="json").status_code == 403
    assert not RegisteredModel.objects.exists()


def test_the_outsiders_list_is_empty(outsider_api, registered):
    assert outsider_api.get(reverse("api-model-list")).json() == []


def test_the_endpoints_are_in_the_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    register = paths["/api/experiments/{id}/register-model/"]["post"]["responses"]
    assert {"200", "201", "400", "403", "404", "409", "503"} <= set(register)
    assert {"put", "delete"} <= set(paths["/api/models/{name}/aliases/{alias}/"])
    assert {"get", "patch", "delete"} <= set(paths["/api/models/{name}/versions/{version}/"])
    assert "get" in paths["/api/models/"] and "get" in paths["/api/models/{name}/"]


@pytest.mark.parametrize("name", ["nul\x00name", "n" * 300])
def test_impossible_names_are_404(viewer_api, name):
    url = reverse("api-model-detail", kwargs={"name": "placeholder"}).replace("placeholder", name)
    assert viewer_api.get(url).status_code == 404
