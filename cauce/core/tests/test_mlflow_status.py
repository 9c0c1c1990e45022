import pytest
from django.core.cache import cache

from tests.fixtures.mlflow_server import HttpCall

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _one_health_ping(uri: str, settings) -> list[HttpCall]:
    """A single GET of MLflow's /health with the web's timeouts and no retry."""
    timeout = (settings.MLFLOW_WEB_CONNECT_TIMEOUT, settings.MLFLOW_WEB_READ_TIMEOUT)
    return [HttpCall("GET", f"{uri}/health", timeout, 0)]


def test_it_warns_after_one_bounded_attempt_when_mlflow_is_down(
    owner_client, mlflow_down, http_calls, settings
):
    response = owner_client.get("/mlflow-status/")
    assert response.status_code == 200
    assert "MLflow no disponible" in response.content.decode()
    assert http_calls == _one_health_ping(mlflow_down, settings)


def test_it_warns_after_one_bounded_attempt_when_mlflow_never_answers(
    owner_client, mlflow_silent, http_calls, settings
):
    response = owner_client.get("/mlflow-status/")
    assert "MLflow no disponible" in response.content.decode()
    assert http_calls == _one_health_ping(mlflow_silent, settings)


def test_it_says_nothing_when_mlflow_answers(owner_client, mlflow):
    response = owner_client.get("/mlflow-status/")
    assert response.status_code == 200
    assert "MLflow no disponible" not in response.content.decode()


def test_it_remembers_the_answer_for_a_few_seconds(owner_client, mlflow, settings, http_calls):
    assert "MLflow no disponible" not in owner_client.get("/mlflow-status/").content.decode()
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"
    # Still the remembered answer: no new ping on every page view.
    assert "MLflow no disponible" not in owner_client.get("/mlflow-status/").content.decode()
    assert len(http_calls) == 1


def test_it_speaks_english_when_asked(owner_client, mlflow_down):
    owner_client.post("/i18n/setlang/", {"language": "en"})
    assert "MLflow unavailable" in owner_client.get("/mlflow-status/").content.decode()


def test_it_requires_login(client):
    response = client.get("/mlflow-status/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/mlflow-status/"


def test_every_page_loads_the_notice_after_rendering(
    owner_client, project, mlflow_down, http_calls
):
    response = owner_client.get(f"/projects/{project.pk}/")
    assert response.status_code == 200
    assert 'hx-get="/mlflow-status/"' in response.content.decode()
    assert http_calls == []  # the page itself never waits for MLflow
