"""A run's status over plain REST, without importing the ``mlflow`` package.

For code that web processes also run (ending the run of an experiment whose worker died):
the web's short timeouts and cool-down apply, and a page does not pay for importing MLflow.
"""

from __future__ import annotations

import time

from cauce.integrations.mlflow.client import rest_get, rest_post

# A write may take the tracking server a little longer than a read; still bounded.
_READ_TIMEOUT = 2.0


def run_status(*, run_id: str) -> str:
    """RUNNING, SCHEDULED, FINISHED, FAILED or KILLED; ``MlflowNotFound`` for no such run."""
    body = rest_get(
        "/api/2.0/mlflow/runs/get", params={"run_id": run_id}, read_timeout=_READ_TIMEOUT
    )
    return body["run"]["info"]["status"]


def run_terminate(*, run_id: str, status: str = "FAILED") -> None:
    """End a run as FINISHED, FAILED or KILLED, with the current time as its end."""
    rest_post(
        "/api/2.0/mlflow/runs/update",
        body={"run_id": run_id, "status": status, "end_time": int(time.time() * 1000)},
        read_timeout=_READ_TIMEOUT,
    )


def runs_running_by_tag(
    *, experiment_ids: list[str], tag: str, max_results: int = 1000
) -> dict[str, str]:
    """The RUNNING runs of ``experiment_ids`` that carry ``tag``: run id -> the tag's value.
    One ``runs/search`` (at most ``max_results`` runs; a finished run is never read)."""
    if not experiment_ids:
        return {}
    body = rest_post(
        "/api/2.0/mlflow/runs/search",
        body={
            "experiment_ids": experiment_ids,
            "filter": f"attributes.status = 'RUNNING' and tags.`{tag}` LIKE '%'",
            "max_results": max_results,
        },
        read_timeout=_READ_TIMEOUT,
    )
    found = {}
    for run in body.get("runs", []):
        tags = {item["key"]: item.get("value", "") for item in run.get("data", {}).get("tags", [])}
        if tag in tags:
            found[run["info"]["run_id"]] = tags[tag]
    return found
