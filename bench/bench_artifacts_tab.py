"""Benchmark (a): the artifacts tab for a finished run with 200 files in 20 folders.

Prints the tab's render time ÷ the time of the MLflow REST calls it needs, cold and warm,
in the same run; the warm view must make no call to MLflow at all (listings are cached).
Usage: .venv/bin/python bench/bench_artifacts_tab.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import requests
from artifacts_support import bench_environment, make_experiment

FOLDERS, FILES_PER_FOLDER, ROUNDS = 20, 10, 5


class CountingRest:
    """Wraps the adapter's REST reads to count them and time them (measurement only)."""

    def __init__(self, module):
        self.module, self.original = module, module.rest_get
        self.calls, self.seconds = 0, 0.0

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self.original(*args, **kwargs)
        finally:
            self.calls += 1
            self.seconds += time.perf_counter() - started

    def reset(self):
        self.calls, self.seconds = 0, 0.0


def straight_listing_seconds(mlflow_url: str, root: str) -> tuple[int, float]:
    """The same listings done by hand with requests: the floor any tab has to pay."""
    session = requests.Session()
    started = time.perf_counter()
    calls = 0

    def walk(path: str) -> None:
        nonlocal calls
        full = f"{root}/{path}" if path else root
        body = session.get(
            f"{mlflow_url}/api/2.0/mlflow-artifacts/artifacts", params={"path": full}, timeout=5
        ).json()
        calls += 1
        for item in body.get("files", []):
            if item.get("is_dir"):
                walk(f"{path}/{item['path']}" if path else item["path"])

    session.get(f"{mlflow_url}/api/2.0/mlflow/runs/get", params={"run_id": RUN_ID}, timeout=5)
    calls += 1
    walk("")
    return calls, time.perf_counter() - started


RUN_ID = ""


def main() -> None:
    global RUN_ID
    with bench_environment() as bench, tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp)
        for folder in range(FOLDERS):
            for index in range(FILES_PER_FOLDER):
                path = local / f"folder_{folder:02d}" / f"file_{index:02d}.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"x" * 1024)
        experiment, user = make_experiment(bench, local)
        RUN_ID = experiment.mlflow_run_id

        from django.core.cache import cache
        from django.test import Client
        from django.urls import reverse

        from cauce.integrations.mlflow import artifacts as adapter
        from cauce.integrations.mlflow.artifacts import run_artifacts_info

        counter = CountingRest(adapter)
        adapter.rest_get = counter
        client = Client()
        client.force_login(user)
        tab = reverse("artifacts:tab", args=[experiment.pk])
        root = run_artifacts_info(run_id=RUN_ID).root
        client.get(tab, HTTP_HX_REQUEST="true")  # imports, templates, connections: not measured

        cold, cold_rest, cold_calls, straight, warm, warm_calls = [], [], [], [], [], []
        for _round in range(ROUNDS):
            cache.clear()
            counter.reset()
            started = time.perf_counter()
            response = client.get(tab, HTTP_HX_REQUEST="true")
            cold.append(time.perf_counter() - started)
            assert response.status_code == 200 and b"200 archivos" in response.content
            cold_rest.append(counter.seconds)
            cold_calls.append(counter.calls)
            straight.append(straight_listing_seconds(bench.mlflow_url, root)[1])

            counter.reset()
            started = time.perf_counter()
            client.get(tab, HTTP_HX_REQUEST="true")
            warm.append(time.perf_counter() - started)
            warm_calls.append(counter.calls)

        med = statistics.median
        print("bench_artifacts_tab: finished run, 200 files in 20 folders, median of", ROUNDS)
        print(
            f"  cold tab render           {med(cold) * 1000:8.1f} ms, {cold_calls[0]} MLflow calls"
        )
        print(f"  of which MLflow REST time {med(cold_rest) * 1000:8.1f} ms")
        print(f"  same listings by hand     {med(straight) * 1000:8.1f} ms (requests, no Django)")
        warm_ms = med(warm) * 1000
        print(f"  warm tab render           {warm_ms:8.1f} ms, {max(warm_calls)} MLflow calls")
        print(f"  ratio cold render / REST calls inside it   {med(cold) / med(cold_rest):6.2f}")
        print(
            f"  ratio cold render / same listings by hand  {med(cold) / med(straight):6.2f}"
            "  (target <= 1.3)"
        )
        print(f"  ratio warm render / same listings by hand  {med(warm) / med(straight):6.2f}")


if __name__ == "__main__":
    main()
