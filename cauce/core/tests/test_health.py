import time

import pytest

pytestmark = pytest.mark.django_db


def test_it_reports_every_part_up(client, mlflow):
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok", "mlflow": "ok"},
    }


def test_it_reports_mlflow_down_quickly(client, mlflow_down):
    started = time.monotonic()
    response = client.get("/health/")
    assert time.monotonic() - started < 1.5
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["mlflow"] == "down"
    assert body["checks"]["database"] == "ok"


def test_it_reports_a_silent_mlflow_as_down_within_its_timeout(client, mlflow_silent):
    started = time.monotonic()
    response = client.get("/health/")
    assert time.monotonic() - started < 2.0
    assert response.json()["checks"]["mlflow"] == "down"
