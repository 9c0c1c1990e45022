"""A run's status over plain REST, without importing the ``mlflow`` package.

The one implementation of reading a run's status, ending a run and finding RUNNING runs by
tag, whoever calls it: web processes (ending the run of an experiment whose worker died) get
the web's short timeouts and cool-down, and a page does not pay for importing MLflow; the
training worker passes ``worker=True`` for its longer waits and retries.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from cauce.integrations.mlflow.client import rest_get, rest_post
from cauce.integrations.mlflow.errors import MlflowNotFound
from cauce.integrations.mlflow.search import filter_value

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


def run_end(*, run_id: str, status: str = "FINISHED", worker: bool = False) -> None:
    """End a run as FINISHED, FAILED or KILLED, with the current time as its end.

    The web's short timeouts by default; ``worker`` for a worker's waits and retries
    (``client.rest_send``)."""
    rest_post(
        "/api/2.0/mlflow/runs/update",
        body={"run_id": run_id, "status": status, "end_time": int(time.time() * 1000)},
        read_timeout=_READ_TIMEOUT,
        worker=worker,
    )


def runs_running_by_tag(
    *,
    experiment_ids: list[str],
    tag: str,
    value: str | None = None,
    max_results: int = 1000,
    worker: bool = False,
) -> dict[str, str]:
    """The RUNNING runs of ``experiment_ids`` that carry ``tag`` (with ``value``, if given):
    run id -> the tag's value. One ``runs/search`` (at most ``max_results`` runs; a finished
    run is never read). ``worker`` as for ``run_end``."""
    if not experiment_ids:
        return {}
    condition = "LIKE '%'" if value is None else f"= {filter_value(value)}"
    body = rest_post(
        "/api/2.0/mlflow/runs/search",
        body={
            "experiment_ids": experiment_ids,
            "filter": f"attributes.status = 'RUNNING' and tags.`{tag}` {condition}",
            "max_results": max_results,
        },
        read_timeout=_READ_TIMEOUT,
        worker=worker,
    )
    found = {}
    for run in body.get("runs", []):
        tags = {item["key"]: item.get("value", "") for item in run.get("data", {}).get("tags", [])}
        if tag in tags:
            found[run["info"]["run_id"]] = tags[tag]
    return found


def runs_end_running(
    *,
    experiment_ids: list[str],
    tag: str,
    value: str,
    status: str = "FAILED",
    keep: Iterable[str] = (),
    limit: int = 100,
    worker: bool = False,
) -> list[str]:
    """End as ``status`` the RUNNING runs of ``experiment_ids`` whose ``tag`` is ``value``,
    except the runs in ``keep``; the ids it ended.

    One search (at most ``limit`` runs), then one ``run_end`` per run found: usually none. A
    run ended meanwhile by someone else is not an error. ``worker`` as for ``run_end``.
    """
    found = runs_running_by_tag(
        experiment_ids=experiment_ids, tag=tag, value=value, max_results=limit, worker=worker
    )
    skip = set(keep)
    ended = []
    for run_id in found:
        if run_id in skip:
            continue
        try:
            run_end(run_id=run_id, status=status, worker=worker)
        except MlflowNotFound:
            continue
        ended.append(run_id)
    return ended


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
