"""What ``manage.py cauce_doctor`` asks MLflow: which runs still exist, which runs carry a tag.

Plain REST (no ``mlflow`` import), in pages and chunks: a few requests however many runs.
A run counts as gone when MLflow no longer has it, when it was deleted (lifecycle "deleted",
restorable until ``mlflow gc``), or when its MLflow experiment was deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cauce.integrations.mlflow.client import rest_get, rest_post
from cauce.integrations.mlflow.errors import MlflowNotFound
from cauce.integrations.mlflow.search import filter_value, search_pages

_RUNS_SEARCH = "/api/2.0/mlflow/runs/search"
# An administrative command may wait longer than a page; still bounded.
_READ_TIMEOUT = 30.0
_PAGE = 1000
# Run ids per ``attributes.run_id IN (...)`` filter: keeps each request small.
_RUN_IDS_PER_SEARCH = 100
_EXPERIMENTS_PER_SEARCH = 50


@dataclass(frozen=True)
class TaggedRun:
    run_id: str
    experiment_id: str
    run_name: str
    tag_value: str


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _runs_search(*, experiment_ids: list[str], filter_string: str) -> Iterator[dict]:
    def page(token: str | None) -> tuple[list[dict], str | None]:
        body = {
            "experiment_ids": experiment_ids,
            "filter": filter_string,
            "run_view_type": "ACTIVE_ONLY",
            "max_results": _PAGE,
        }
        if token:
            body["page_token"] = token
        answer = rest_post(_RUNS_SEARCH, body=body, read_timeout=_READ_TIMEOUT)
        return answer.get("runs") or [], answer.get("next_page_token")

    return search_pages(page)


def experiment_is_active(*, experiment_id: str) -> bool:
    """False when the MLflow experiment is deleted or does not exist."""
    try:
        answer = rest_get(
            "/api/2.0/mlflow/experiments/get",
            params={"experiment_id": experiment_id},
            read_timeout=_READ_TIMEOUT,
        )
    except MlflowNotFound:
        return False
    return answer["experiment"].get("lifecycle_stage", "active") == "active"


def runs_active(*, runs: dict[str, str]) -> set[str]:
    """Of ``runs`` ({run id: MLflow experiment id}), the ids of the runs that still exist,
    are not deleted and whose experiment is not deleted."""
    by_experiment: dict[str, list[str]] = {}
    for run_id, experiment_id in runs.items():
        by_experiment.setdefault(experiment_id, []).append(run_id)
    active: set[str] = set()
    for experiment_id, run_ids in by_experiment.items():
        if not experiment_is_active(experiment_id=experiment_id):
            continue
        for chunk in _chunks(sorted(run_ids), _RUN_IDS_PER_SEARCH):
            quoted = ", ".join(filter_value(run_id) for run_id in chunk)
            for run in _runs_search(
                experiment_ids=[experiment_id],
                filter_string=f"attributes.run_id IN ({quoted})",
            ):
                active.add(run["info"]["run_id"])
    return active


def experiments_active_ids() -> list[str]:
    """Ids of every active MLflow experiment."""

    def page(token: str | None) -> tuple[list[dict], str | None]:
        params = {"max_results": _PAGE, "view_type": "ACTIVE_ONLY"}
        if token:
            params["page_token"] = token
        answer = rest_get(
            "/api/2.0/mlflow/experiments/search", params=params, read_timeout=_READ_TIMEOUT
        )
        return answer.get("experiments") or [], answer.get("next_page_token")

    return [experiment["experiment_id"] for experiment in search_pages(page)]


def runs_tagged(*, key: str, experiment_ids: Iterable[str] | None = None) -> list[TaggedRun]:
    """Every active run that has the tag ``key``, with its value."""
    ids = sorted(experiment_ids) if experiment_ids is not None else experiments_active_ids()
    found: list[TaggedRun] = []
    for chunk in _chunks(ids, _EXPERIMENTS_PER_SEARCH):
        for run in _runs_search(experiment_ids=chunk, filter_string=f"tags.`{key}` LIKE '%'"):
            tags = {tag["key"]: tag["value"] for tag in run.get("data", {}).get("tags") or []}
            info = run["info"]
            found.append(
                TaggedRun(
                    run_id=info["run_id"],
                    experiment_id=info["experiment_id"],
                    run_name=info.get("run_name", ""),
                    tag_value=tags.get(key, ""),
                )
            )
    return found


def run_delete(*, run_id: str) -> None:
    """Mark a run deleted (MLflow keeps it, restorable, until ``mlflow gc``)."""
    rest_post("/api/2.0/mlflow/runs/delete", body={"run_id": run_id}, read_timeout=_READ_TIMEOUT)
