"""Online prediction through Cauce's JSON endpoint, against MLflow's own scoring server.

Set-up (a temporary data dir, a real MLflow server and gunicorn with one worker as the
image runs it, threads and kept-alive connections, keeping its database connection between
requests, as in production): an iris RandomForest (100
trees) trained by Cauce's pipeline and logged by the worker's code, registered as a version
with the alias ``champion`` and owned by a project. Then ``mlflow models serve`` of
``models:/<name>@champion`` (``--env-manager local``), the anchor a user would pick instead.

For 1 row and for 10,000 rows, the same ``dataframe_split`` body (encoded before timing):

- Cauce: ``POST /api/models/<name>/predict/?alias=champion`` by token, warm model;
- the scoring server: ``POST /invocations`` (the same body, the same connection reuse);
- direct: ``model.predict(frame)`` with the pyfunc model loaded in this process.

The three are timed one after the other, N times each (so that all see the same load on a
shared machine), and their medians compared. The cold first call (the web worker loads the
model) is reported too, beside ``load_model`` in this process. It prints, never asserts.

    .venv/bin/python bench/bench_predict.py [--repetitions N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

import requests  # noqa: E402

from bench.artifacts_support import (  # noqa: E402
    api_token,
    bench_environment,
    web_server,
)
from tests.fixtures.mlflow_server import stop_process  # noqa: E402

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
TARGET = "species"
ROW_COUNTS = (1, 10_000)
# Cauce's median over the scoring server's, per row count.
TARGETS = {1: 1.0, 10_000: 0.8}
SCORING_PORTS = range(5180, 5190)
# gunicorn as the image runs it: Cauce's gthread worker, threads, kept-alive connections.
PRODUCTION_WORKER = (
    "--worker-class", "config.web_worker.ThreadWorker", "--threads", "4", "--keep-alive", "75",
)  # fmt: skip


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
    from cauce.integrations.mlflow import runs, tracking
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
    runs.run_end(run_id=run_id)

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


@contextlib.contextmanager
def scoring_server(bench, model_uri: str) -> Iterator[str]:
    """``mlflow models serve`` of ``model_uri`` on a port of 5190-5199, ready when yielded."""
    port = next(port for port in SCORING_PORTS if _port_free(port))
    # It starts ``uvicorn`` by name: the virtualenv's scripts must be on the PATH.
    scripts = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": bench.mlflow_url,
        "PATH": scripts + os.pathsep + os.environ.get("PATH", ""),
    }
    command = [
        sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri,
        "--env-manager", "local", "--host", "127.0.0.1", "-p", str(port),
    ]  # fmt: skip
    log = (bench.root / "scoring.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if requests.get(url + "/ping", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                tail = (bench.root / "scoring.log").read_text()[-3000:]
                raise RuntimeError(f"mlflow models serve did not start:\n{tail}")
            time.sleep(0.2)
        yield url
    finally:
        stop_process(process)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=30)
    args = parser.parse_args()

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
        # The web worker keeps its database connection between requests, as production does
        # (CONN_MAX_AGE 60 there); the development default opens one per request, which with
        # SQLite costs about 2 ms of each call.
        os.environ["CAUCE_DATABASE_CONN_MAX_AGE"] = "60"
        load_before = os.getloadavg()[0]
        results = {}
        with (
            web_server(bench, PRODUCTION_WORKER) as web,
            scoring_server(bench, f"models:/{name}@champion") as serve,
        ):
            cauce_url = f"{web.url}/api/models/{name}/predict/?alias=champion"
            cauce_headers = {
                "Authorization": f"Token {api_token(user)}",
                "Content-Type": "application/json",
            }
            serve_url = f"{serve}/invocations"
            serve_headers = {"Content-Type": "application/json"}
            cauce_session, serve_session = requests.Session(), requests.Session()

            def post(session, url, headers, body) -> tuple[float, list]:
                started = time.perf_counter()
                response = session.post(url, data=body, headers=headers, timeout=120)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise SystemExit(f"{url}: {response.status_code} {response.text[:2000]}")
                return elapsed, response.json()["predictions"]

            def get(session, url) -> float:
                started = time.perf_counter()
                response = session.get(url, timeout=10)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise SystemExit(f"{url}: {response.status_code}")
                return elapsed

            # The floor: the HTTP stack alone, a GET answered without a model on each side.
            floors: dict[str, list[float]] = {"cauce": [], "serve": []}
            for _ in range(args.repetitions):
                floors["cauce"].append(get(cauce_session, f"{web.url}/health/live"))
                floors["serve"].append(get(serve_session, f"{serve}/ping"))
            floor = {key: statistics.median(value) * 1000 for key, value in floors.items()}

            for rows in ROW_COUNTS:
                frame = rows_to_predict(rows)
                body = json.dumps(
                    {"dataframe_split": {"columns": FEATURES, "data": frame.to_numpy().tolist()}}
                ).encode()
                cold, first = post(cauce_session, cauce_url, cauce_headers, body)
                post(serve_session, serve_url, serve_headers, body)
                model.predict(frame)
                times: dict[str, list[float]] = {"cauce": [], "serve": [], "direct": []}
                for _ in range(args.repetitions):
                    elapsed, predictions = post(cauce_session, cauce_url, cauce_headers, body)
                    times["cauce"].append(elapsed)
                    elapsed, served = post(serve_session, serve_url, serve_headers, body)
                    times["serve"].append(elapsed)
                    started = time.perf_counter()
                    expected = model.predict(frame)
                    times["direct"].append(time.perf_counter() - started)
                same = predictions == first == served == expected.tolist()
                medians = {key: statistics.median(value) * 1000 for key, value in times.items()}
                results[rows] = (medians, same, cold)
        load_after = os.getloadavg()[0]

    print(
        f"online prediction (iris RandomForest, 100 trees), median of {args.repetitions}, "
        f"one call of each in turn; load average {load_before:.1f} before, {load_after:.1f} after"
    )
    labels = {
        "cauce": "Cauce POST /api/models/<name>/predict/?alias=champion",
        "serve": "mlflow models serve POST /invocations",
        "direct": "pyfunc model.predict in-process",
    }
    print(
        f"  HTTP stack alone: Cauce GET /health/live {floor['cauce']:.2f} ms, "
        f"scoring server GET /ping {floor['serve']:.2f} ms"
    )
    for rows, (medians, same, cold) in results.items():
        target = TARGETS[rows]
        ratio = medians["cauce"] / medians["serve"]
        print(f"  {rows:,} row{'s' if rows > 1 else ''}:")
        for key, label in labels.items():
            print(f"    {label:<56} {medians[key]:7.1f} ms")
        print(
            f"    ratio Cauce / scoring server: {ratio:.2f}  (target <= {target})"
            f"   Cauce / in-process: {medians['cauce'] / medians['direct']:.2f}"
            f"   predictions identical: {same}"
        )
        print(f"    Cauce's cold first call with this body: {cold * 1000:.1f} ms")
    print(f"  load_model in this process: {load_seconds * 1000:.1f} ms")


if __name__ == "__main__":
    main()
