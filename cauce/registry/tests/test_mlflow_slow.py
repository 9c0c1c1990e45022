"""MLflow answering slowly: the pages that read it answer with the notice, having waited only
the web's timeouts, once.

A loopback proxy (``mlflow_proxy``) in front of the session's real server holds every request
5 s before passing it on. What is asserted is what Cauce asks of the transport (each call's
timeouts and retries, and how many calls), not the wall clock; the production fault test
(``tests/production/test_fault_mlflow_slow.py``) prints the pages' times.
"""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

NOTICE = "MLflow no disponible"
SLOW_SECONDS = 5.0


def test_the_artifacts_tab_and_the_models_pages_wait_once_within_the_web_timeouts(
    editor_client, editor_api, finished_experiment, mlflow_proxy, http_calls, settings
):
    experiment = finished_experiment()
    register = reverse("api-experiment-register-model", kwargs={"pk": experiment.pk})
    name = editor_api.post(register, {}, format="json").json()["name"]
    mlflow_proxy.delay = SLOW_SECONDS
    http_calls.clear()

    pages = [
        reverse("artifacts:tab", kwargs={"pk": experiment.pk}),
        reverse("registry:experiment_registry", kwargs={"pk": experiment.pk}),
        reverse("registry:model_list"),
        reverse("registry:model_detail", kwargs={"name": name}),
        reverse("registry:project_models", kwargs={"project_pk": experiment.project_id}),
    ]
    for page in pages:
        response = editor_client.get(page)
        assert response.status_code == 200, page
        assert NOTICE in response.content.decode(), page

    to_mlflow = [call for call in http_calls if call.url.startswith(mlflow_proxy.url)]
    # The first page waited for one call, bounded by the web's timeouts and not retried; the
    # cool-down that call started spared the other pages any wait.
    assert len(to_mlflow) == 1, to_mlflow
    [call] = to_mlflow
    assert call.timeout == (settings.MLFLOW_WEB_CONNECT_TIMEOUT, settings.MLFLOW_WEB_READ_TIMEOUT)
    assert call.retries == 0
    assert settings.MLFLOW_WEB_CONNECT_TIMEOUT + settings.MLFLOW_WEB_READ_TIMEOUT < SLOW_SECONDS
