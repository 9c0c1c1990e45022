"""MLflow writes of hyperparameter sweeps: a parent run, one child run per trial."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cauce.integrations.mlflow.client import get_client, translate_errors
from cauce.integrations.mlflow.tracking import _metrics, run_create, run_log_params

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


# One thread per process that sends a trial's params while the trial trains (keyed by
# process id: a forked pool process never uses its parent's thread). Created before the
# first training, so its stack is not counted against a training's memory limit.
_senders: dict[int, ThreadPoolExecutor] = {}


def _sender() -> ThreadPoolExecutor:
    found = _senders.get(os.getpid())
    if found is None:
        _senders.clear()
        found = _senders[os.getpid()] = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="mlflow-params"
        )
    return found


def run_log_params_begin(*, run_id: str, params: Mapping[str, Any]) -> Callable[[], None]:
    """Send ``params`` now, from another thread, and return a function that waits for
    MLflow's answer and raises what ``run_log_params`` would (``MlflowUnavailable``,
    ``MlflowError``): the caller trains meanwhile, instead of waiting for the round trip."""
    future = _sender().submit(run_log_params, run_id=run_id, params=dict(params))
    return future.result


def run_log_metrics(*, run_id: str, metrics: Mapping[str, float]) -> None:
    """Finite values at step 0, in one ``log_batch``."""
    items = _metrics(metrics, int(time.time() * 1000))
    if not items:
        return
    with translate_errors(what="log_batch(metrics)"):
        get_client().log_batch(run_id, metrics=items)


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
    metrics: Mapping[str, float],
    steps: Mapping[str, Sequence[float]],
    tags: Mapping[str, str],
) -> None:
    """A trial's results in one ``log_batch``: finite ``metrics`` at step 0, each of
    ``steps`` as a history (``values[i]`` at step ``i``) and ``tags``."""
    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    items = list(_metrics(metrics, now))
    for key, values in steps.items():
        items += [Metric(key, float(value), now, step) for step, value in enumerate(values)]
    with translate_errors(what="log_batch(trial)"):
        get_client().log_batch(
            run_id, metrics=items, tags=[RunTag(key, value) for key, value in tags.items()]
        )
