"""10,000 rows predicted through Cauce's JSON endpoint, against the loaded pyfunc model itself.

Set-up (a temporary data dir, a real MLflow server and gunicorn with one sync worker keeping
its database connection between requests, as in production): an iris RandomForest (100
trees) trained by Cauce's pipeline and logged by the worker's code, registered as a version
with the alias ``champion`` and owned by a project.

- Cauce: ``POST /api/models/<name>/predict/?alias=champion`` with a ``dataframe_split``
  body of 10,000 rows (encoded before timing), warm model: the alias resolved in MLflow,
  the source checked, the rows checked against the signature, predicted, answered as JSON.
- Baseline: ``model.predict(frame)`` on the same rows, the pyfunc model already loaded in
  this process (what ``mlflow models serve`` does per request, minus its HTTP).

The two are timed one after the other, N times each (so that both see the same load on a
shared machine), and their medians compared. The cold first call (the web worker loads the
model) is reported too, beside ``load_model`` in this process. It prints, never asserts.

    .venv/bin/python bench/bench_predict.py [--repetitions N] [--rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.artifacts_support import api_token, bench_environment, web_server  # noqa: E402

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
TARGET = "species"
TARGET_RATIO = 1.5


def iris_frame():
    import pandas as pd
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    frame = iris.data.copy()
    frame.columns = FEATURES
    frame[TARGET] = pd.Series(iris.target).map(dict(enumerate(iris.target_names)))
    return frame


def rows_to_predict(count: int):
    """``count`` iris-like rows: the real rows, repeated, with a little noise."""
    import numpy as np

    frame = iris_frame()[FEATURES]
    rng = np.random.default_rng(7)
    picked = frame.sample(count, replace=True, random_state=7).reset_index(drop=True)
    noise = rng.normal(0, 0.05, size=picked.shape).round(3)
    return (picked + noise).round(3)


def registered_champion(bench):
    """Train, log, register as v1 with alias champion; the user (a viewer) and the name."""
    from django.contrib.auth import get_user_model
    from mlflow.tracking import MlflowClient

    from cauce.experiments.models import MLExperiment
    from cauce.experiments.pipeline.training import TrainingSpec, training_run
    from cauce.integrations.mlflow import tracking
    from cauce.projects.models import Membership, Project, Role
    from cauce.registry.models import RegisteredModel
    from tests.fixtures.artifacts import experiment_for_run

    spec = TrainingSpec(
        TARGET, FEATURES, "classification", "RandomForestClassifier", {"n_estimators": 100}
    )
    with tempfile.TemporaryDirectory() as tmp:
        result = training_run(iris_frame(), spec=spec, output_dir=Path(tmp))
    experiment_id = tracking.experiment_ensure(name="bench-predict")
    run_id = tracking.run_create(experiment_id=experiment_id, run_name="bench", tags={})
    x_train = result.split.x_train
    logged = tracking.run_log_sklearn_model(
        run_id=run_id,
        experiment_id=experiment_id,
        model=result.model,
        input_example=x_train.head(5),
        signature_input=x_train,
        signature_output=result.predictions,
        pip_requirements=["scikit-learn", "pandas"],
    )
    tracking.run_end(run_id=run_id)

    name = "bench-iris"
    client = MlflowClient(tracking_uri=bench.mlflow_url)
    client.create_registered_model(name)
    version = client.create_model_version(
        name, logged.model_uri, run_id=run_id, model_id=logged.model_id
    )
    client.set_registered_model_alias(name, "champion", version.version)

    user, _created = get_user_model().objects.get_or_create(username="bench")
    project = Project.objects.create(name="Bench", created_by=user)
    Membership.objects.create(project=project, user=user, role=Role.VIEWER)
    experiment_for_run(
        project=project,
        mlflow_experiment_id=experiment_id,
        run_id=run_id,
        name="bench",
        status=MLExperiment.Status.FINISHED,
        model_id=logged.model_id,
    )
    RegisteredModel.objects.create(project=project, name=name, created_by=user)
    return user, name, int(version.version)


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by a process and its reaped children (/proc, clock ticks), and
    by its live children: MLflow's server answers in worker processes of its own."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = sum(int(value) for value in fields[11:15]) / ticks
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return total + sum(cpu_seconds(int(child)) for child in children)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=15)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()

    import requests

    with bench_environment() as bench:
        import mlflow.pyfunc
        from mlflow.tracking._tracking_service.utils import _use_tracking_uri

        user, name, version = registered_champion(bench)
        with _use_tracking_uri(bench.mlflow_url):
            started = time.perf_counter()
            model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
            load_seconds = time.perf_counter() - started
        # Leaving mlflow's _use_tracking_uri unsets MLFLOW_TRACKING_URI in this process's
        # environment; gunicorn inherits it, so it is put back.
        os.environ["MLFLOW_TRACKING_URI"] = bench.mlflow_url
        frame = rows_to_predict(args.rows)
        body = json.dumps(
            {"dataframe_split": {"columns": FEATURES, "data": frame.to_numpy().tolist()}}
        ).encode()
        # The web worker keeps its database connection between requests, as production does
        # (CONN_MAX_AGE 60 there); the development default opens one per request, which with
        # SQLite costs about 2 ms of each call.
        os.environ["CAUCE_DATABASE_CONN_MAX_AGE"] = "60"
        load_before = os.getloadavg()[0]
        with web_server(bench) as web:
            url = f"{web.url}/api/models/{name}/predict/?alias=champion"
            headers = {
                "Authorization": f"Token {api_token(user)}",
                "Content-Type": "application/json",
            }

            def post() -> tuple[float, list]:
                started = time.perf_counter()
                response = requests.post(url, data=body, headers=headers, timeout=120)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    log = (bench.root / "gunicorn.log").read_text()[-3000:]
                    raise SystemExit(f"{response.status_code} {response.text}\n{log}")
                return elapsed, response.json()["predictions"]

            def direct() -> tuple[float, Any]:
                started = time.perf_counter()
                predicted = model.predict(frame)
                return time.perf_counter() - started, predicted

            processes = {"web worker": web.worker_pid, "MLflow server": bench.mlflow_process.pid}

            cold, first = post()
            direct()  # the first call warms caches, as the endpoint's cold call did
            # One after the other, so that both see the same load on a shared machine.
            warm, direct_times = [], []
            cpu = dict.fromkeys([*processes, "direct"], 0.0)
            for _ in range(args.repetitions):
                before = {key: cpu_seconds(pid) for key, pid in processes.items()}
                elapsed, predictions = post()
                warm.append(elapsed)
                for key, pid in processes.items():
                    cpu[key] += cpu_seconds(pid) - before[key]
                started_cpu = time.process_time()
                elapsed, expected = direct()
                cpu["direct"] += time.process_time() - started_cpu
                direct_times.append(elapsed)
        load_after = os.getloadavg()[0]

    same = predictions == first == expected.tolist()
    cauce_ms = statistics.median(warm) * 1000
    direct_ms = statistics.median(direct_times) * 1000
    print(
        f"predict {args.rows:,} rows (iris RandomForest, 100 trees), median of {args.repetitions}"
        f" (each endpoint call followed by a direct call; web worker keeping its database"
        f" connection as in production; load average {load_before:.1f} before,"
        f" {load_after:.1f} after)"
    )
    print(f"  Cauce JSON endpoint, warm (alias resolved each call): {cauce_ms:8.1f} ms")
    print(f"  loaded pyfunc model.predict(frame), same process:     {direct_ms:8.1f} ms")
    print(
        f"  ratio Cauce / direct: {cauce_ms / direct_ms:.2f} (target <= {TARGET_RATIO})"
        f"   predictions identical: {same}"
    )
    per_call = {key: value * 1000 / args.repetitions for key, value in cpu.items()}
    print(
        "  CPU per call (less sensitive to load): web worker {:.1f} ms + MLflow server {:.1f} ms"
        " (its whole tree), direct {:.1f} ms".format(
            per_call["web worker"], per_call["MLflow server"], per_call["direct"]
        )
    )
    print(
        f"  cold first call through Cauce (web worker loads the model): {cold * 1000:.1f} ms"
        f"   (load_model in this process: {load_seconds * 1000:.1f} ms)"
    )


if __name__ == "__main__":
    main()
