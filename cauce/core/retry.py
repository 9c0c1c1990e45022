"""The backoff of every Celery task that retries while a service is unreachable."""

from django.conf import settings


def backoff_delay(retries: int, *, base: float, cap: float) -> float:
    """Exponential backoff: ``base`` seconds, doubled on each retry, at most ``cap``."""
    return min(base * 2**retries, cap)


def mlflow_retry_delay(retries: int) -> float:
    """The wait before retry number ``retries + 1`` of a task that needs MLflow (a training,
    a prediction job, a discarded registration): ``EXPERIMENT_MLFLOW_RETRY_DELAY``, doubled
    each time, at most ``EXPERIMENT_MLFLOW_RETRY_MAX_DELAY``."""
    return backoff_delay(
        retries,
        base=settings.EXPERIMENT_MLFLOW_RETRY_DELAY,
        cap=settings.EXPERIMENT_MLFLOW_RETRY_MAX_DELAY,
    )
