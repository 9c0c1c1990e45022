"""/health/live and /health/ready: answered for any Host header and over plain HTTP."""

import pytest

pytestmark = pytest.mark.django_db


def test_live_answers_without_touching_mlflow_the_database_or_the_host_check(
    client, settings, mlflow_down, django_assert_num_queries
):
    settings.ALLOWED_HOSTS = ["cauce.example.org"]
    settings.SECURE_SSL_REDIRECT = True
    with django_assert_num_queries(0):
        response = client.get("/health/live", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_ready_reports_every_part_up(client, settings, mlflow):
    settings.ALLOWED_HOSTS = ["cauce.example.org"]
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/health/ready", HTTP_HOST="web:8000")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok", "mlflow": "ok"},
    }


def test_ready_is_503_when_mlflow_is_down(client, mlflow_down):
    response = client.get("/health/ready/")
    assert response.status_code == 503
    assert response.json()["checks"]["mlflow"] == "down"


def test_ready_is_503_when_the_broker_is_down(client, mlflow):
    from config.celery import app

    configured = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:9/0"  # nothing listens on port 9
    try:
        response = client.get("/health/ready")
    finally:
        app.conf.broker_url = configured
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "down"


def test_other_paths_still_go_through_the_host_check(client, settings):
    settings.ALLOWED_HOSTS = ["cauce.example.org"]
    assert client.get("/health/liveness", HTTP_HOST="10.1.2.3:8000").status_code == 400
    assert client.post("/health/live", HTTP_HOST="10.1.2.3:8000").status_code == 400
