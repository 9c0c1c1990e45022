"""A run's status over plain REST, without importing the ``mlflow`` package.

For code that web processes also run (ending the run of an experiment whose worker died):
the web's short timeouts and cool-down apply, and a page does not pay for importing MLflow.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from cauce.integrations.mlflow.client import rest_get, rest_post

# A write may take the tracking server a little longer than a read; still bounded.
_READ_TIMEOUT = 2.0
# MLflow's run ids are hex uuids; anything else never reaches a filter string.
_RUN_ID = re.compile(r"[0-9a-fA-F]{1,64}")


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


# ``runs/search`` answers at most this many runs per page; a chunk of ids fits in one page.
MAX_RUN_IDS_PER_SEARCH = 100
# A search over 100 runs with their params and metrics is one larger read.
_SEARCH_READ_TIMEOUT = 10.0


@dataclass(frozen=True)
class RunData:
    run_id: str
    status: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]


def _run_data(run: dict) -> RunData:
    data = run.get("data", {})
    return RunData(
        run_id=run["info"]["run_id"],
        status=run["info"].get("status", ""),
        params={item["key"]: item.get("value", "") for item in data.get("params", [])},
        metrics={item["key"]: float(item["value"]) for item in data.get("metrics", [])},
        tags={item["key"]: item.get("value", "") for item in data.get("tags", [])},
    )


def runs_data(*, experiment_ids: list[str], run_ids: list[str]) -> dict[str, RunData]:
    """Params, latest metrics and tags of many runs: one ``runs/search`` per 100 run ids
    (``attributes.run_id IN (...)``), never one request per run. Runs that no longer exist
    are absent from the answer."""
    found: dict[str, RunData] = {}
    run_ids = list(dict.fromkeys(run_ids))
    if not run_ids or not experiment_ids:
        return found
    for start in range(0, len(run_ids), MAX_RUN_IDS_PER_SEARCH):
        chunk = run_ids[start : start + MAX_RUN_IDS_PER_SEARCH]
        if any(not _RUN_ID.fullmatch(run_id) for run_id in chunk):
            raise ValueError("Not a run id")
        quoted = ", ".join(f"'{run_id}'" for run_id in chunk)
        page_token = ""
        while True:
            body: dict = {
                "experiment_ids": experiment_ids,
                "filter": f"attributes.run_id IN ({quoted})",
                "max_results": MAX_RUN_IDS_PER_SEARCH,
            }
            if page_token:
                body["page_token"] = page_token
            answer = rest_post(
                "/api/2.0/mlflow/runs/search", body=body, read_timeout=_SEARCH_READ_TIMEOUT
            )
            for run in answer.get("runs", []):
                data = _run_data(run)
                found[data.run_id] = data
            page_token = answer.get("next_page_token", "")
            if not page_token:
                break
    return found
