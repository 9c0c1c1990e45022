"""The model registry: registering through Cauce against a bare ``register_model``, and the
MLflow calls of a model page as its versions grow.

1. Registration. Each repetition gets a fresh MLflow run with a logged model (made before the
   clock starts). Cauce: ``POST /api/experiments/<id>/register-model/`` through Django's whole
   stack (token auth, permission check, database row and lock, MLflow look-ups, the version,
   its READY state). Bare: ``mlflow.register_model("models:/<model_id>", name)`` in this
   process. Both register a new name each time; the medians and their ratio are printed
   (target: Cauce / bare <= 1.3).
2. Model page. The page of a model with 5 and with 50 versions is rendered through Django's
   test client while every HTTP request to MLflow is counted: the count must not grow with the
   versions (printed with the page's median time).

    .venv/bin/python bench/bench_registry.py [--repetitions N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.artifacts_support import Bench, api_token, bench_environment  # noqa: E402

MLMODEL = b"""artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
signature:
  inputs: '[{"type": "double", "name": "x", "required": true}]'
  outputs: '[{"type": "long", "required": true}]'
"""


def logged_model_run(client, experiment_id: str) -> tuple[str, str]:
    """A FINISHED run with a logged model (MLflow 3): (run id, model id)."""
    import tempfile

    from mlflow.entities import LoggedModelOutput

    run = client.create_run(experiment_id, run_name="bench")
    model = client.create_logged_model(
        experiment_id=experiment_id, name="model", source_run_id=run.info.run_id
    )
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "MLmodel").write_bytes(MLMODEL)
        client.log_model_artifacts(model.model_id, tmp)
    client.log_outputs(run.info.run_id, [LoggedModelOutput(model_id=model.model_id, step=0)])
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id, model.model_id


def setup_project():
    from django.contrib.auth import get_user_model

    from cauce.projects.models import Membership, Project, Role

    user, _created = get_user_model().objects.get_or_create(username="bench")
    project = Project.objects.create(name="Bench", created_by=user)
    Membership.objects.create(project=project, user=user, role=Role.EDITOR)
    return user, project


def cauce_experiment(project, experiment_id: str, run_id: str, model_id: str, name: str):
    from cauce.experiments.models import MLExperiment
    from tests.fixtures.artifacts import experiment_for_run

    return experiment_for_run(
        project=project,
        mlflow_experiment_id=experiment_id,
        run_id=run_id,
        name=name,
        status=MLExperiment.Status.FINISHED,
        model_id=model_id,
    )


def bench_registration(bench: Bench, repetitions: int) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient
    from rest_framework.test import APIClient

    client = MlflowClient(tracking_uri=bench.mlflow_url)
    mlflow.set_tracking_uri(bench.mlflow_url)  # the bare baseline's fluent call needs it
    experiment_id = client.create_experiment(f"bench-register-{uuid.uuid4().hex[:6]}")
    user, project = setup_project()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_token(user)}")

    def cauce_once(index: int) -> float:
        run_id, model_id = logged_model_run(client, experiment_id)
        experiment = cauce_experiment(project, experiment_id, run_id, model_id, f"e{index}")
        url = f"/api/experiments/{experiment.pk}/register-model/"
        started = time.perf_counter()
        response = api.post(url, {"name": f"cauce-{index}"}, format="json")
        elapsed = time.perf_counter() - started
        assert response.status_code == 201, response.content
        return elapsed

    def bare_once(index: int) -> float:
        _run_id, model_id = logged_model_run(client, experiment_id)
        started = time.perf_counter()
        version = mlflow.register_model(f"models:/{model_id}", f"bare-{index}")
        elapsed = time.perf_counter() - started
        assert version.status == "READY"
        return elapsed

    cauce_once(0)  # warm-up of both paths (imports, connections)
    bare_once(0)
    cauce_times, bare_times = [], []
    for index in range(1, repetitions + 1):
        # Alternate the order so neither side always runs on a warmer server.
        if index % 2:
            cauce_times.append(cauce_once(index))
            bare_times.append(bare_once(index))
        else:
            bare_times.append(bare_once(index))
            cauce_times.append(cauce_once(index))
    cauce, bare = statistics.median(cauce_times), statistics.median(bare_times)
    print(f"registration, {repetitions} repetitions (median):")
    print(f"  Cauce POST /api/experiments/<id>/register-model/  {cauce * 1000:7.1f} ms")
    print(f"  bare mlflow.register_model(models:/<id>)          {bare * 1000:7.1f} ms")
    print(f"  ratio Cauce / bare: {cauce / bare:.2f} (target <= 1.3)")


class CountingSession:
    """Counts the HTTP requests Cauce's MLflow adapter sends (its one requests.Session)."""

    def __init__(self, session):
        self.session = session
        self.calls = 0

    def __getattr__(self, name):
        attribute = getattr(self.session, name)
        if name in ("get", "post", "request"):

            def counted(*args, **kwargs):
                self.calls += 1
                return attribute(*args, **kwargs)

            return counted
        return attribute


def bench_model_page(bench: Bench, repetitions: int) -> None:
    from django.test import Client
    from django.test.utils import setup_test_environment
    from mlflow.tracking import MlflowClient

    from cauce.integrations.mlflow import client as adapter
    from cauce.registry import services

    client = MlflowClient(tracking_uri=bench.mlflow_url)
    experiment_id = client.create_experiment(f"bench-page-{uuid.uuid4().hex[:6]}")
    user, project = setup_project()
    setup_test_environment()  # the test client then keeps each response's context
    web = Client()
    web.force_login(user)
    counter = CountingSession(adapter._session())
    adapter._local.session = counter
    print("model page (GET /models/<name>/), MLflow HTTP calls per page:")
    for count in (5, 50):
        name = f"page-{count}-{uuid.uuid4().hex[:6]}"
        for index in range(count):
            run_id, model_id = logged_model_run(client, experiment_id)
            experiment = cauce_experiment(
                project, experiment_id, run_id, model_id, f"{name}-{index}"
            )
            experiment.metrics = {"f1_macro": 0.5 + index / 200}
            experiment.save(update_fields=["metrics"])
            services.model_version_register(experiment=experiment, user=user, name=name)
        web.get(f"/models/{name}/")  # warm
        times, calls = [], set()
        for _ in range(repetitions):
            counter.calls = 0
            started = time.perf_counter()
            response = web.get(f"/models/{name}/")
            times.append(time.perf_counter() - started)
            assert response.status_code == 200
            assert len(response.context["rows"]) == count
            calls.add(counter.calls)
        print(
            f"  {count:3d} versions: {sorted(calls)} MLflow calls, "
            f"page {statistics.median(times) * 1000:6.1f} ms (median of {repetitions})"
        )
    print("  (target: the same number of calls for 5 and 50 versions)")


def main() -> None:
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("--repetitions", type=int, default=15)
    args = parser.parse_args()
    with bench_environment() as bench:
        bench_registration(bench, args.repetitions)
        bench_model_page(bench, min(args.repetitions, 10))


if __name__ == "__main__":
    main()
