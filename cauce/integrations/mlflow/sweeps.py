"""MLflow writes of hyperparameter sweeps: a parent run, one child run per trial."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from cauce.integrations.mlflow.client import get_client, translate_errors
from cauce.integrations.mlflow.tracking import (
    _MAX_PARAMS_PER_BATCH,
    _metrics,
    _params,
    run_create,
    run_log_params,
)

PARENT_RUN_TAG = "mlflow.parentRunId"


def child_run_create(
    *, experiment_id: str, parent_run_id: str, run_name: str, tags: Mapping[str, str]
) -> str:
    """A run nested under ``parent_run_id`` (MLflow's UI shows it inside the parent)."""
    return run_create(
        experiment_id=experiment_id,
        run_name=run_name,
        tags={**tags, PARENT_RUN_TAG: parent_run_id},
    )


def run_log_metrics(
    *, run_id: str, metrics: Mapping[str, float], tags: Mapping[str, str] | None = None
) -> None:
    """Finite values at step 0, and ``tags``, in one ``log_batch``."""
    from mlflow.entities import RunTag

    items = _metrics(metrics, int(time.time() * 1000))
    tag_items = [RunTag(key, value) for key, value in (tags or {}).items()]
    if not items and not tag_items:
        return
    with translate_errors(what="log_batch(metrics)"):
        get_client().log_batch(run_id, metrics=items, tags=tag_items)


def run_log_metric_steps(*, run_id: str, key: str, values: Sequence[float]) -> None:
    """One metric's history: ``values[i]`` at step ``i`` (e.g. a score per fold)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    items = [Metric(key, float(value), now, step) for step, value in enumerate(values)]
    if not items:
        return
    with translate_errors(what="log_batch(metric steps)"):
        get_client().log_batch(run_id, metrics=items)


def run_log_trial(
    *,
    run_id: str,
    timestamp_ms: int,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    steps: Mapping[str, Sequence[float]],
    tags: Mapping[str, str],
) -> None:
    """A trial's params and results in one ``log_batch`` (params beyond MLflow's 100 per
    batch go first, in their own): ``params`` as text, finite ``metrics`` at step 0, each of
    ``steps`` as a history (``values[i]`` at step ``i``) and ``tags``. Logged again (a
    retried close), the same params are accepted, and MLflow keeps each metric point (key,
    value, step, ``timestamp_ms``) once."""
    from mlflow.entities import Metric, RunTag

    now = timestamp_ms
    items = list(_metrics(metrics, now))
    for key, values in steps.items():
        items += [Metric(key, float(value), now, step) for step, value in enumerate(values)]
    texts = _params(params)
    extra, texts = texts[:-_MAX_PARAMS_PER_BATCH], texts[-_MAX_PARAMS_PER_BATCH:]
    if extra:
        run_log_params(run_id=run_id, params={param.key: param.value for param in extra})
    with translate_errors(what="log_batch(trial)"):
        get_client().log_batch(
            run_id,
            metrics=items,
            params=texts,
            tags=[RunTag(key, value) for key, value in tags.items()],
        )
