"""State of the parts Cauce depends on, each really reached and with a short timeout.

Each ``*_ok`` function is one check, usable on its own (``/health/`` runs them all; a readiness
probe may run a subset). Each answers True or False and never raises.
"""

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connections

from cauce.core.cache import cached
from cauce.integrations.mlflow import client as mlflow_client

logger = logging.getLogger(__name__)

# The folders kombu's file-system transport reads and writes (see CELERY_BROKER_TRANSPORT_OPTIONS).
FILESYSTEM_BROKER_FOLDERS = (
    "data_folder_in",
    "data_folder_out",
    "processed_folder",
    "control_folder",
)


def database_ok(alias: str = "default") -> bool:
    """A round trip to the database (opening the connection if it is closed)."""
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception as exc:  # any driver error means "down" here
        logger.warning("Health: database %s is down: %r", alias, exc)
        return False


def _check_writable(folder: Path) -> None:
    """Create and remove a file in the folder (what the transport does with every message);
    raises OSError when the folder is missing or not writable."""
    descriptor, name = tempfile.mkstemp(prefix=".health-", dir=folder)
    os.close(descriptor)
    os.remove(name)


def _filesystem_broker_ok(options: dict) -> bool:
    folders = {Path(options[key]) for key in FILESYSTEM_BROKER_FOLDERS if options.get(key)}
    if not folders:
        # kombu would fall back to folders relative to whatever the working directory is.
        logger.warning("Health: the file-system broker has no folders configured")
        return False
    for folder in sorted(folders):
        _check_writable(folder)
    return True


def _redis_ok(url: str, timeout: float) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return client.ping() is True
    finally:
        client.close()


def _amqp_ok(url: str, timeout: float) -> bool:
    from kombu import Connection

    # Opening a channel is a round trip after the AMQP handshake.
    with Connection(url, connect_timeout=timeout) as connection:
        connection.connect()
        connection.default_channel  # noqa: B018 - opening it is the check
        return connection.connected


BROKER_CHECKS: dict[str, Callable[[str, float], bool]] = {
    "redis": _redis_ok,
    "rediss": _redis_ok,
    "amqp": _amqp_ok,
    "amqps": _amqp_ok,
    "pyamqp": _amqp_ok,
}


def broker_ok(
    url: str | None = None,
    *,
    transport_options: dict | None = None,
    timeout: float | None = None,
) -> bool:
    """Reach the Celery broker: its folders writable, or a ping of Redis or AMQP.

    Defaults to the Celery app's broker; kombu's ``ensure_connection`` is not enough, since the
    file-system transport does no I/O on connect.
    """
    from config.celery import app

    # app.conf["broker_url"], not app.conf.broker_url: the property prefers the environment's
    # CELERY_BROKER_URL over the app's own setting (the same value, unless a test changes it).
    url = url if url is not None else app.conf["broker_url"]
    options = (
        transport_options if transport_options is not None else app.conf.broker_transport_options
    )
    timeout = timeout if timeout is not None else settings.HEALTH_CHECK_TIMEOUT
    scheme = urlsplit(url).scheme
    try:
        if scheme == "filesystem":
            return _filesystem_broker_ok(options)
        check = BROKER_CHECKS.get(scheme)
        if check is None:
            logger.warning("Health: no check for the broker scheme %r", scheme)
            return False
        return check(url, timeout)
    except Exception as exc:  # each transport raises its own errors
        logger.warning("Health: broker %s is down: %r", scheme, exc)
        return False


def mlflow_ok() -> bool:
    """MLflow's /health endpoint, with the web's timeouts and no retry."""
    return mlflow_client.ping()


def health_report() -> dict:
    checks = {
        "database": database_ok(),
        "broker": broker_ok(),
        "mlflow": mlflow_ok(),
    }
    return {
        "status": "ok" if all(checks.values()) else "degraded",
        "checks": {name: ("ok" if ok else "down") for name, ok in checks.items()},
    }


MLFLOW_STATUS_CACHE_KEY = "cauce:mlflow-available"
MLFLOW_STATUS_CACHE_SECONDS = 10


def mlflow_available() -> bool:
    """MLflow's health, remembered for a few seconds so pages don't ping it on every view."""
    return cached(MLFLOW_STATUS_CACHE_KEY, mlflow_ok, MLFLOW_STATUS_CACHE_SECONDS)
