"""The monitoring run of a model version: one run per version in the MLflow experiment
``cauce-monitoring-<model>``, found by its tag ``cauce.monitoring.version``, carrying the
version's tags; each drift computation logs its metrics at one timestamp and step."""

from __future__ import annotations

from collections.abc import Mapping

from cauce.integrations.mlflow.client import get_client, translate_errors
from cauce.integrations.mlflow.search import filter_value
from cauce.integrations.mlflow.tracking import (
    _metrics_at,
    experiment_ensure,
    run_create,
    run_tags_sync,
)

VERSION_TAG = "cauce.monitoring.version"


def monitoring_experiment_name(model_name: str) -> str:
    return f"cauce-monitoring-{model_name}"


def monitoring_run_ensure(*, model_name: str, version: int, tags: Mapping[str, str]) -> str:
    """The id of the version's monitoring run (created on first use), with ``tags`` set."""
    experiment_id = experiment_ensure(name=monitoring_experiment_name(model_name))
    with translate_errors(what="search_runs(monitoring)"):
        found = get_client().search_runs(
            [experiment_id],
            filter_string=f"tags.`{VERSION_TAG}` = {filter_value(str(version))}",
            max_results=1,
        )
    all_tags = {**tags, VERSION_TAG: str(version), "cauce.model": model_name}
    if found:
        run_id = found[0].info.run_id
        run_tags_sync(run_id=run_id, desired=all_tags)
        return run_id
    return run_create(experiment_id=experiment_id, run_name=f"v{version}", tags=all_tags)


def monitoring_metrics_log(
    *, run_id: str, metrics: Mapping[str, float], timestamp_ms: int, step: int
) -> None:
    """Log one computation's metrics, then end the run as FINISHED: a monitoring run is never
    left RUNNING (MLflow's UI would show it hung); MLflow accepts metrics on a finished run,
    so the next computation logs to the same run and ends it again."""
    client = get_client()
    with translate_errors(what="log_batch(monitoring)"):
        client.log_batch(run_id, metrics=_metrics_at(metrics, timestamp_ms, step))
    with translate_errors(what="set_terminated(monitoring)"):
        client.set_terminated(run_id, status="FINISHED")
