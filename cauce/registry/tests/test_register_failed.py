"""A version MLflow ends FAILED_REGISTRATION: reported as such, and nothing half-registered.

A real MLflow server never ends a version FAILED_REGISTRATION with a local artifact store, so
Cauce talks to it through a loopback proxy (``mlflow_proxy``) that changes one field of its
answers: the new version is PENDING_REGISTRATION when created, then FAILED_REGISTRATION when
Cauce asks again. Everything else (the version itself, its deletion, the registered model) is
the real server's; what is left is checked with MLflow's own client, against the server.
"""

import html

import pytest
from django.urls import reverse

from cauce.registry.models import RegisteredModel

pytestmark = pytest.mark.django_db

NAME = "Iris_lab-Iris_base"


def _fail_new_versions(method: str, path: str, body: dict) -> dict:
    version = body.get("model_version")
    if path.startswith("/api/2.0/mlflow/model-versions/create"):
        version["status"] = "PENDING_REGISTRATION"
    elif path.startswith("/api/2.0/mlflow/model-versions/get?") and method == "GET":
        version["status"] = "FAILED_REGISTRATION"
        version["status_message"] = "Copying the model files failed (the test's proxy)"
    return body


def _failed_message(version: int) -> str:
    return (
        f"MLflow no pudo completar el registro de '{NAME}' versión {version} (FAILED_REGISTRATION)."
    )


def test_the_page_reports_it_and_removes_the_model_it_created(
    editor_client, finished_experiment, mlflow_proxy, mlflow_client
):
    experiment = finished_experiment()
    mlflow_proxy.rewrite = _fail_new_versions
    url = reverse("experiments:register_model", kwargs={"pk": experiment.pk})
    response = editor_client.post(url, follow=True)
    messages = [html.unescape(str(message)) for message in response.context["messages"]]
    assert messages == [_failed_message(1)]
    assert mlflow_client.search_registered_models() == []
    assert mlflow_client.search_model_versions(f"run_id='{experiment.mlflow_run_id}'") == []
    assert not RegisteredModel.objects.exists()


def test_the_api_reports_it_and_keeps_only_the_model_s_earlier_versions(
    editor_api, finished_experiment, mlflow_proxy, mlflow_client
):
    first = finished_experiment()
    second = finished_experiment()
    register = "api-experiment-register-model"
    assert editor_api.post(reverse(register, kwargs={"pk": first.pk}), {}).status_code == 201

    mlflow_proxy.rewrite = _fail_new_versions
    response = editor_api.post(reverse(register, kwargs={"pk": second.pk}), {}, format="json")
    assert response.status_code == 502
    assert response.json() == {"message": _failed_message(2)}
    versions = mlflow_client.search_model_versions(f"name='{NAME}'")
    assert [(v.version, v.run_id) for v in versions] == [("1", first.mlflow_run_id)]
    assert RegisteredModel.objects.filter(name=NAME).count() == 1

    # Nothing of the failed attempt stands in the way: registering the run again works.
    mlflow_proxy.rewrite = None
    again = editor_api.post(reverse(register, kwargs={"pk": second.pk}), {}, format="json")
    assert again.status_code == 201
    assert again.json()["status"] == "READY"
    version = mlflow_client.get_model_version(NAME, str(again.json()["version"]))
    assert version.run_id == second.mlflow_run_id
