import time

import pytest
from django.core.cache import cache

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def test_it_warns_quickly_when_mlflow_is_down(owner_client, mlflow_down):
    started = time.monotonic()
    response = owner_client.get("/mlflow-status/")
    assert time.monotonic() - started < 1.0
    assert response.status_code == 200
    assert "MLflow no disponible" in response.content.decode()


def test_it_warns_within_the_timeout_when_mlflow_never_answers(owner_client, mlflow_silent):
    started = time.monotonic()
    response = owner_client.get("/mlflow-status/")
    assert time.monotonic() - started < 1.5
    assert "MLflow no disponible" in response.content.decode()


def test_it_says_nothing_when_mlflow_answers(owner_client, mlflow):
    response = owner_client.get("/mlflow-status/")
    assert response.status_code == 200
    assert "MLflow no disponible" not in response.content.decode()


def test_it_remembers_the_answer_for_a_few_seconds(owner_client, mlflow, settings):
    assert "MLflow no disponible" not in owner_client.get("/mlflow-status/").content.decode()
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"
    # Still the remembered answer: no new ping on every page view.
    assert "MLflow no disponible" not in owner_client.get("/mlflow-status/").content.decode()


def test_it_speaks_english_when_asked(owner_client, mlflow_down):
    owner_client.post("/i18n/setlang/", {"language": "en"})
    assert "MLflow unavailable" in owner_client.get("/mlflow-status/").content.decode()


def test_it_requires_login(client):
    response = client.get("/mlflow-status/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_every_page_loads_the_notice_after_rendering(owner_client, project, mlflow_down):
    started = time.monotonic()
    response = owner_client.get(f"/projects/{project.pk}/")
    assert time.monotonic() - started < 1.0
    assert 'hx-get="/mlflow-status/"' in response.content.decode()
