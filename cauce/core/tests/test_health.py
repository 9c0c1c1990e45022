"""/health/ really reaches each part: every outage below is a real one, not a mock."""

import pytest
import redis

from cauce.core import health
from tests.fixtures.mlflow_server import HttpCall, free_port

pytestmark = pytest.mark.django_db

ALL_OK = {"database": "ok", "broker": "ok", "mlflow": "ok"}


def _assert_degraded(response, **down: str) -> None:
    assert response.status_code == 503
    assert response["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
    assert response.json() == {"status": "degraded", "checks": {**ALL_OK, **down}}


def test_it_reports_every_part_up(client, mlflow):
    response = client.get("/health/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": ALL_OK}


# --- MLflow ----------------------------------------------------------------------------------


@pytest.mark.parametrize("outage", ["mlflow_down", "mlflow_silent"])
def test_mlflow_out_is_degraded_after_one_bounded_attempt(
    request, client, outage, http_calls, settings
):
    mlflow_url = request.getfixturevalue(outage)

    _assert_degraded(client.get("/health/"), mlflow="down")

    # One GET with the web's connect and read timeouts and no retry (timings: bench/).
    timeout = (settings.MLFLOW_WEB_CONNECT_TIMEOUT, settings.MLFLOW_WEB_READ_TIMEOUT)
    assert http_calls == [HttpCall("GET", f"{mlflow_url}/health", timeout, 0)]


# --- broker ----------------------------------------------------------------------------------


@pytest.fixture
def broker(monkeypatch):
    """Point the Celery app (what the check reads) at another broker for one test."""
    from config.celery import app

    def use(url: str, transport_options: dict | None = None) -> None:
        monkeypatch.setitem(app.conf, "broker_url", url)
        monkeypatch.setitem(app.conf, "broker_transport_options", transport_options or {})

    return use


@pytest.fixture
def filesystem_broker(broker, tmp_path):
    """The embedded broker, in folders of this test's own."""
    options = {
        "data_folder_in": str(tmp_path / "queue"),
        "data_folder_out": str(tmp_path / "queue"),
        "processed_folder": str(tmp_path / "processed"),
        "control_folder": str(tmp_path / "control"),
    }
    for name in ("queue", "processed", "control"):
        (tmp_path / name).mkdir()
    broker("filesystem://", options)
    return tmp_path


def test_the_filesystem_broker_is_up_when_its_folders_are_writable(
    client, mlflow, filesystem_broker
):
    response = client.get("/health/")

    assert response.json() == {"status": "ok", "checks": ALL_OK}
    # The probe file is gone again: the check leaves nothing for a worker to read.
    assert sorted(path.name for path in filesystem_broker.rglob("*")) == [
        "control",
        "processed",
        "queue",
    ]


def test_a_missing_broker_folder_is_degraded(client, mlflow, filesystem_broker):
    (filesystem_broker / "processed").rmdir()

    _assert_degraded(client.get("/health/"), broker="down")


def test_a_broker_folder_that_cannot_be_written_is_degraded(client, mlflow, filesystem_broker):
    # A file where the folder should be: not writable even for root, unlike a chmod.
    (filesystem_broker / "queue").rmdir()
    (filesystem_broker / "queue").write_bytes(b"")

    _assert_degraded(client.get("/health/"), broker="down")


def test_a_filesystem_broker_without_folders_is_down(settings):
    assert health.broker_ok("filesystem://", transport_options={}) is False


@pytest.fixture
def redis_clients(monkeypatch) -> list[dict]:
    """The keyword arguments of every Redis client the check creates (a spy: it still runs)."""
    created: list[dict] = []
    real_from_url = redis.Redis.from_url

    def from_url(url, **kwargs):
        created.append({"url": url, **kwargs})
        return real_from_url(url, **kwargs)

    monkeypatch.setattr(redis.Redis, "from_url", staticmethod(from_url))
    return created


def test_redis_on_a_dead_port_is_degraded(client, mlflow, broker, redis_clients):
    broker(f"redis://127.0.0.1:{free_port()}/0")

    _assert_degraded(client.get("/health/"), broker="down")
    assert len(redis_clients) == 1


def test_a_redis_that_never_answers_is_down_within_the_health_timeout(
    client, mlflow, settings, broker, silent_port, redis_clients
):
    url = f"redis://127.0.0.1:{silent_port}/0"
    broker(url)
    settings.HEALTH_CHECK_TIMEOUT = 0.3

    _assert_degraded(client.get("/health/"), broker="down")
    assert redis_clients == [
        {
            "url": url,
            "socket_connect_timeout": 0.3,
            "socket_timeout": 0.3,
        }
    ]


@pytest.mark.parametrize("scheme", ["amqp", "pyamqp"])
def test_amqp_on_a_dead_port_is_down(scheme):
    assert (
        health.broker_ok(f"{scheme}://guest:guest@127.0.0.1:{free_port()}//", timeout=0.5) is False
    )


def test_an_amqp_that_never_answers_is_down(silent_port):
    url = f"amqp://guest:guest@127.0.0.1:{silent_port}//"
    assert health.broker_ok(url, timeout=0.3) is False


def test_an_unknown_broker_scheme_is_down():
    assert health.broker_ok("sqs://queue", transport_options={}) is False


# --- database --------------------------------------------------------------------------------


def test_a_database_that_refuses_is_degraded(client, mlflow, refusing_database):
    _assert_degraded(client.get("/health/"), database="down")
