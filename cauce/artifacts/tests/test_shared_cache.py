"""The artifact tab with a shared cache (compose's: Redis, ``CACHE_URL``).

A second view of an ended run is served from the cache in whatever web process answers it,
and a cache that is down is a miss: the page is read from MLflow, never an error. Real Redis:
the machine's (CI's) for the shared cache, a port where nothing listens for the outage.
"""

import logging
import socket
import uuid

import pytest
import redis

from cauce.artifacts.tests.test_views import HTMX, url, without_csrf
from cauce.core import cache as safe_cache

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_caches(location: str, prefix: str) -> dict:
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": location,
            "KEY_PREFIX": prefix,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


@pytest.fixture(autouse=True)
def _no_pause():
    safe_cache.reset_pause()
    yield
    safe_cache.reset_pause()


@pytest.fixture
def dead_redis_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again: nothing listens there


@pytest.fixture
def shared_cache(settings):
    """Django's cache on the machine's Redis, under a prefix of this test's own (its keys are
    deleted afterwards; the database is never flushed: the broker may live there)."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379 (CI has one)")
    prefix = f"cauce-test-{uuid.uuid4().hex}"
    settings.CACHES = _redis_caches(REDIS_URL, prefix)
    yield client
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)


def test_a_shared_cache_serves_a_second_view_without_mlflow(
    owner_client, run_experiment, settings, shared_cache
):
    first = owner_client.get(url("tab", run_experiment), **HTMX).content.decode()
    assert list(shared_cache.scan_iter(match=f"{settings.CACHES['default']['KEY_PREFIX']}:*"))
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"  # nothing listens there

    again = owner_client.get(url("tab", run_experiment), **HTMX).content.decode()

    assert "MLflow no disponible" not in again
    assert without_csrf(again) == without_csrf(first)


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "cauce.core.cache"]


def test_a_cache_that_is_down_is_a_miss_and_the_pages_still_answer(
    owner_client, run_experiment, settings, dead_redis_port, caplog
):
    settings.CACHES = _redis_caches(f"redis://127.0.0.1:{dead_redis_port}/0", "cauce-test")
    settings.CACHE_PAUSE_SECONDS = 0  # every read and write tries the cache

    with caplog.at_level(logging.WARNING, logger="cauce.core.cache"):
        tab = owner_client.get(url("tab", run_experiment), **HTMX)
        folder = owner_client.get(url("folder", run_experiment, path="data"), **HTMX)
        status = owner_client.get("/mlflow-status/")

    assert tab.status_code == folder.status_code == status.status_code == 200
    assert "metrics.json" in tab.content.decode()
    assert "数据.csv" in folder.content.decode()
    assert "MLflow no disponible" not in status.content.decode()
    messages = _warnings(caplog)
    assert any(m.startswith("Cache unavailable, read skipped") for m in messages), messages
    assert any(m.startswith("Cache unavailable, write skipped") for m in messages), messages


def test_a_cache_that_hangs_costs_one_timeout_per_pause_not_one_per_read(
    owner_client, run_experiment, settings, silent_port, caplog
):
    """A cache that accepts connections and never answers: the first read waits for its
    socket timeout, then the process leaves the cache alone; the pages are read from MLflow."""
    caches = _redis_caches(f"redis://127.0.0.1:{silent_port}/0", "cauce-test")
    caches["default"]["OPTIONS"]["socket_timeout"] = 0.2
    settings.CACHES = caches
    settings.CACHE_PAUSE_SECONDS = 60

    with caplog.at_level(logging.WARNING, logger="cauce.core.cache"):
        for _ in range(3):
            tab = owner_client.get(url("tab", run_experiment), **HTMX)
            assert tab.status_code == 200 and "metrics.json" in tab.content.decode()
        status = owner_client.get("/mlflow-status/")

    assert status.status_code == 200
    [message] = _warnings(caplog)  # one timeout; every later read and write was skipped
    assert message.startswith("Cache unavailable, read skipped (left alone for 60 s)")
    assert "Timeout" in message

    safe_cache.reset_pause()  # the pause over: the cache is tried again
    with caplog.at_level(logging.WARNING, logger="cauce.core.cache"):
        owner_client.get(url("tab", run_experiment), **HTMX)
    assert len(_warnings(caplog)) == 2
