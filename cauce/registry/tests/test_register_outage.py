"""MLflow gone in the middle of a registration: refused, and nothing half-registered.

The registration creates the registered model, then its version. A loopback proxy
(``mlflow_proxy``) in front of the session's real server lets the first call through and answers
503 to the version's, as a gateway does when MLflow goes away at that moment. The registration
is refused with a 503, and the empty registered model it left is removed by a real worker once
MLflow answers (the web process itself treats MLflow as down for its cool-down). What is left
is checked with MLflow's own client, against the server.
"""

import time

import pytest
from django.urls import reverse

from cauce.integrations.mlflow.client import reset_availability
from cauce.registry.models import RegisteredModel
from cauce.registry.services import PROJECT_TAG, registered_model_discard

NAME = "Iris_lab-Iris_base"
REGISTER = "api-experiment-register-model"


def _refuse_version_creation(method: str, path: str) -> bool:
    return path.startswith("/api/2.0/mlflow/model-versions/create")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_empty_model_left_by_an_outage_is_removed_once_mlflow_answers(
    editor_api, finished_experiment, mlflow_proxy, mlflow_client, celery_worker_process
):
    experiment = finished_experiment()
    mlflow_proxy.refuse = _refuse_version_creation

    response = editor_api.post(reverse(REGISTER, kwargs={"pk": experiment.pk}), {}, format="json")

    assert response.status_code == 503
    assert response.json() == {"message": "MLflow no disponible"}
    assert not RegisteredModel.objects.exists()
    deadline = time.monotonic() + 60
    while mlflow_client.search_registered_models() and time.monotonic() < deadline:
        time.sleep(0.25)
    assert mlflow_client.search_registered_models() == []
    assert mlflow_client.search_model_versions(f"run_id='{experiment.mlflow_run_id}'") == []

    # Once MLflow answers again the same registration goes through, READY.
    mlflow_proxy.refuse = None
    reset_availability()  # the web's cool-down after the outage is not this test's subject
    again = editor_api.post(reverse(REGISTER, kwargs={"pk": experiment.pk}), {}, format="json")
    assert again.status_code == 201, again.json()
    assert again.json()["status"] == "READY"
    [version] = mlflow_client.search_model_versions(f"name='{NAME}'")
    assert version.run_id == experiment.mlflow_run_id


@pytest.mark.django_db(transaction=True)
def test_a_model_a_registration_holds_is_never_discarded(
    editor_api, finished_experiment, mlflow, mlflow_client, project
):
    experiment = finished_experiment()
    response = editor_api.post(reverse(REGISTER, kwargs={"pk": experiment.pk}), {}, format="json")
    assert response.status_code == 201

    assert registered_model_discard(name=NAME, project_id=project.pk) is False

    [version] = mlflow_client.search_model_versions(f"name='{NAME}'")
    assert version.run_id == experiment.mlflow_run_id
    assert RegisteredModel.objects.filter(name=NAME, project=project).exists()


@pytest.mark.django_db(transaction=True)
def test_a_model_made_outside_the_project_is_never_discarded(mlflow, mlflow_client, project):
    mlflow_client.create_registered_model("ajeno", tags={PROJECT_TAG: str(project.pk + 1)})
    mlflow_client.create_registered_model("sin-etiqueta")

    assert registered_model_discard(name="ajeno", project_id=project.pk) is False
    assert registered_model_discard(name="sin-etiqueta", project_id=project.pk) is False

    assert {m.name for m in mlflow_client.search_registered_models()} == {"ajeno", "sin-etiqueta"}
    assert not RegisteredModel.objects.exists()
