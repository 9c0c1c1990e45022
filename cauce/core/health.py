"""State of the parts Cauce depends on, each checked with a short timeout."""

from django.core.cache import cache
from django.db import connection

from cauce.integrations.mlflow import client as mlflow_client


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:  # any driver error means "down" here
        return False


def broker_ok() -> bool:
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
        return True
    except Exception:  # kombu raises transport-specific errors
        return False


def health_report() -> dict:
    checks = {
        "database": database_ok(),
        "broker": broker_ok(),
        "mlflow": mlflow_client.ping(),
    }
    return {
        "status": "ok" if all(checks.values()) else "degraded",
        "checks": {name: ("ok" if ok else "down") for name, ok in checks.items()},
    }


MLFLOW_STATUS_CACHE_KEY = "cauce:mlflow-available"
MLFLOW_STATUS_CACHE_SECONDS = 10


def mlflow_available() -> bool:
    """MLflow's health, remembered for a few seconds so pages don't ping it on every view."""
    available = cache.get(MLFLOW_STATUS_CACHE_KEY)
    if available is None:
        available = mlflow_client.ping()
        cache.set(MLFLOW_STATUS_CACHE_KEY, available, MLFLOW_STATUS_CACHE_SECONDS)
    return available
