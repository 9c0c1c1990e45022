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


def test_a_cache_that_is_down_is_a_miss_and_the_pages_still_answer(
    owner_client, run_experiment, settings, dead_redis_port, caplog
):
    settings.CACHES = _redis_caches(f"redis://127.0.0.1:{dead_redis_port}/0", "cauce-test")

    with caplog.at_level(logging.WARNING, logger="cauce.core.cache"):
        tab = owner_client.get(url("tab", run_experiment), **HTMX)
        folder = owner_client.get(url("folder", run_experiment, path="data"), **HTMX)
        status = owner_client.get("/mlflow-status/")

    assert tab.status_code == folder.status_code == status.status_code == 200
    assert "metrics.json" in tab.content.decode()
    assert "数据.csv" in folder.content.decode()
    assert "MLflow no disponible" not in status.content.decode()
    assert "Cache unavailable, read skipped" in caplog.text
    assert "Cache unavailable, write skipped" in caplog.text
