"""Comparing 500 experiments with 50 params each through GET /api/experiments/compare/.

Starts its own MLflow server (temporary store), logs 500 finished runs with MLflow's client
(one ``log_batch`` of 50 params and 4 metrics each), creates the Cauce experiment rows pointing
at them, then times the API in-process (Django's test client, median of a few rounds) and
counts the HTTP requests made to MLflow per comparison, at the transport (``requests``).

Prints each figure with its target:
    the compare API's median time (target <= 1.5 s)
    MLflow requests per comparison (target <= 5 for 500 runs: one ``runs/search`` per 100)

    .venv/bin/python bench/bench_compare.py [--runs 500] [--params 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import requests
from artifacts_support import bench_environment

TARGET_SECONDS = 1.5


def log_runs(mlflow_url: str, *, runs: int, params: int) -> tuple[str, list[str]]:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_url)
    experiment_id = client.create_experiment(f"bench-compare-{time.time_ns()}")
    now = int(time.time() * 1000)
    run_ids = []
    for index in range(runs):
        run = client.create_run(experiment_id, run_name=f"run {index}")
        client.log_batch(
            run.info.run_id,
            params=[Param(f"param_{n:02d}", str(index % (n + 2))) for n in range(params)],
            metrics=[
                Metric("accuracy", 0.5 + index / (4 * runs), now, 0),
                Metric("f1_macro", 0.4 + index / (4 * runs), now, 0),
                Metric("cauce.time.fit_s", 0.01 * index, now, 0),
                Metric("cauce.time.log_s", 0.02, now, 0),
            ],
        )
        client.set_terminated(run.info.run_id)
        run_ids.append(run.info.run_id)
    return experiment_id, run_ids


def experiment_rows(experiment_id: str, run_ids: list[str]):
    from django.contrib.auth import get_user_model

    from cauce.experiments.models import MLExperiment
    from cauce.projects.models import Membership, Project, Role
    from tests.fixtures.artifacts import experiment_for_run

    user, _created = get_user_model().objects.get_or_create(username="bench-compare")
    project = Project.objects.create(name="Bench compare", created_by=user)
    Membership.objects.create(project=project, user=user, role=Role.VIEWER)
    first = experiment_for_run(
        project=project,
        mlflow_experiment_id=experiment_id,
        run_id=run_ids[0],
        name="run 0",
        status=MLExperiment.Status.FINISHED,
    )
    rows = [
        MLExperiment(
            project=project,
            dataset=first.dataset,
            name=f"run {index}",
            target_column="b",
            feature_columns=["a"],
            task_type="classification",
            algorithm="RandomForestClassifier",
            status=MLExperiment.Status.FINISHED,
            mlflow_experiment_id=experiment_id,
            mlflow_run_id=run_id,
        )
        for index, run_id in enumerate(run_ids[1:], start=1)
    ]
    return user, [first, *MLExperiment.objects.bulk_create(rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--params", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()

    with bench_environment() as bench:
        started = time.perf_counter()
        experiment_id, run_ids = log_runs(
            bench.mlflow_url, runs=arguments.runs, params=arguments.params
        )
        user, experiments = experiment_rows(experiment_id, run_ids)
        print(f"set-up: {arguments.runs} runs logged in {time.perf_counter() - started:.1f} s")

        from django.conf import settings
        from rest_framework.test import APIClient

        settings.ALLOWED_HOSTS = ["*"]
        client = APIClient()
        client.force_authenticate(user)
        ids = ",".join(str(experiment.pk) for experiment in experiments)

        calls: list[float] = []  # seconds each request to MLflow took
        real_send = requests.adapters.HTTPAdapter.send

        def counting_send(self, request, **kwargs):
            began = time.perf_counter()
            try:
                return real_send(self, request, **kwargs)
            finally:
                calls.append(time.perf_counter() - began)

        requests.adapters.HTTPAdapter.send = counting_send
        client.get("/api/experiments/compare/", {"ids": ids})  # warm-up (imports, connection)
        timings, counts, waits = [], [], []
        for _round in range(arguments.rounds):
            calls.clear()
            began = time.perf_counter()
            response = client.get("/api/experiments/compare/", {"ids": ids})
            timings.append(time.perf_counter() - began)
            counts.append(len(calls))
            waits.append(sum(calls))
            assert response.status_code == 200, response.content[:300]
        requests.adapters.HTTPAdapter.send = real_send

        body = response.json()
        params = len(body["experiments"][0]["params"])
        request_target = -(-arguments.runs // 100)
        print(
            f"compared: {len(body['experiments'])} experiments, {params} params each, "
            f"{len(body['varying'])} varying"
        )
        print(
            f"compare API median: {statistics.median(timings):.3f} s "
            f"(target <= {TARGET_SECONDS}) [rounds: {', '.join(f'{t:.3f}' for t in timings)}]"
        )
        print(
            f"  of which waiting for MLflow's answers: {statistics.median(waits):.3f} s; "
            f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        print(
            f"MLflow requests per comparison: {max(counts)} (target <= {request_target}, "
            f"one per 100 runs)"
        )


if __name__ == "__main__":
    main()
