"""The drift of each computation, logged to MLflow as metrics of the version's monitoring run
(``cauce.integrations.mlflow.monitoring``): ``psi.<feature>`` and ``requests`` of the 24 h
window, plus ``psi_1h.<feature>``, ``psi_7d.<feature>``, ``requests_1h`` and ``requests_7d``,
at the computation's time (step: minutes since the epoch), so MLflow charts them over time.
Sent by a task after the computation's transaction commits; MLflow down delays it only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction

from cauce.monitoring.drift import FeatureDrift
from cauce.monitoring.models import PredictionRecord, Window

_PREFIX = {Window.DAY: ("psi", "requests"), Window.HOUR: ("psi_1h", "requests_1h"),
           Window.WEEK: ("psi_7d", "requests_7d")}  # fmt: skip


def drift_metrics(
    *, model_id: int, version: int, now: datetime, computed: dict[str, list[FeatureDrift]]
) -> dict[str, float]:
    from cauce.monitoring.windows import window_start

    metrics: dict[str, float] = {}
    for window, results in computed.items():
        psi_key, requests_key = _PREFIX[window]
        metrics[requests_key] = PredictionRecord.objects.filter(
            registered_model_id=model_id,
            version=version,
            created_at__gte=window_start(window, now),
            created_at__lte=now,
        ).count()
        for result in results:
            if result.psi is not None:
                metrics[f"{psi_key}.{result.feature}"] = round(result.psi, 6)
    return metrics


def drift_publish_later(
    *, model: Any, version: int, now: datetime, computed: dict[str, list[FeatureDrift]]
) -> None:
    from cauce.monitoring.tasks import drift_publish_task

    metrics = drift_metrics(model_id=model.pk, version=version, now=now, computed=computed)
    timestamp_ms = int(now.timestamp() * 1000)
    transaction.on_commit(
        lambda: drift_publish_task.delay(model.name, version, metrics, timestamp_ms)
    )


def drift_publish(*, model_name: str, version: int, metrics: dict, timestamp_ms: int) -> str:
    """Log one computation's metrics to the version's monitoring run; its id."""
    from cauce.integrations.mlflow import monitoring
    from cauce.integrations.mlflow import registry as mlflow_registry

    info = mlflow_registry.model_version_get(name=model_name, version=version)
    run_id = monitoring.monitoring_run_ensure(
        model_name=model_name, version=version, tags={**info.tags, "cauce.source_run": info.run_id}
    )
    monitoring.monitoring_metrics_log(
        run_id=run_id, metrics=metrics, timestamp_ms=timestamp_ms, step=timestamp_ms // 60_000
    )
    return run_id
