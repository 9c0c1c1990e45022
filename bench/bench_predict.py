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

The two servers are called in rounds, one call of each per round, each side first in every
other round (so that both meet the same load on a shared machine), then ``model.predict``;
300 rounds for 1 row and 40 for 10,000 by default. Printed: the medians, their ratio (the
target), the median of each round's own ratio, and a second figure that the load hardly
moves: the CPU time each server's processes spend per request (the scheduler's run time of
their threads, from /proc, read around every call). The HTTP stacks alone are compared the
same way (``GET /health/live`` and ``GET /ping``). The cold first call (the web worker
loads the model) is reported too, beside ``load_model`` in this process. It prints, never
asserts.

    .venv/bin/python bench/bench_predict.py [--repetitions N] [--large-repetitions N]
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
from dataclasses import dataclass
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


@dataclass
class ScoringServer:
    url: str
    process: subprocess.Popen


@contextlib.contextmanager
def scoring_server(bench, model_uri: str) -> Iterator[ScoringServer]:
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
        yield ScoringServer(url=url, process=process)
    finally:
        stop_process(process)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def process_tree_cpu(pid: int) -> float:
    """CPU seconds used so far by the threads of a process and of all its descendants, from
    /proc (the scheduler's run time of each thread, in nanoseconds): a figure of the work done
    that the other processes on the machine hardly move, where wall-clock times on a shared
    two-core machine swing by a third between runs. Taken around each request, while both
    servers' threads (gunicorn's pool, the scoring server's executor) all stay alive."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    total += int((task / "schedstat").read_text().split()[0])
                    pending.extend(int(c) for c in (task / "children").read_text().split())
    return total / 1e9


@dataclass
class Timings:
    """One row count's figures: each side's times (s) and CPU seconds per request."""

    wall: dict[str, list[float]]
    cpu: dict[str, float]
    same: bool
    cold: float

    def median_ms(self, key: str) -> float:
        return statistics.median(self.wall[key]) * 1000

    def pair_ratio(self) -> float:
        """The median of each round's Cauce / scoring-server ratio: the two calls of a round,
        one right after the other, saw the same load."""
        pairs = zip(self.wall["cauce"], self.wall["serve"], strict=True)
        return statistics.median(cauce / serve for cauce, serve in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repetitions", type=int, default=300, help="rounds for 1 row (default 300)"
    )
    parser.add_argument(
        "--large-repetitions", type=int, default=40, help="rounds for 10,000 rows (default 40)"
    )
    args = parser.parse_args()
    rounds = {1: args.repetitions, 10_000: args.large_repetitions}

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
        results: dict[int, Timings] = {}
        with (
            web_server(bench, PRODUCTION_WORKER) as web,
            scoring_server(bench, f"models:/{name}@champion") as serve,
        ):
            pids = {"cauce": web.master.pid, "serve": serve.process.pid}
            urls = {
                "cauce": f"{web.url}/api/models/{name}/predict/?alias=champion",
                "serve": f"{serve.url}/invocations",
            }
            headers = {
                "cauce": {
                    "Authorization": f"Token {api_token(user)}",
                    "Content-Type": "application/json",
                },
                "serve": {"Content-Type": "application/json"},
            }
            sessions = {"cauce": requests.Session(), "serve": requests.Session()}

            def post(key: str, body: bytes) -> tuple[float, list]:
                started = time.perf_counter()
                response = sessions[key].post(
                    urls[key], data=body, headers=headers[key], timeout=120
                )
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise SystemExit(f"{urls[key]}: {response.status_code} {response.text[:2000]}")
                return elapsed, response.json()["predictions"]

            def get(session, url) -> float:
                started = time.perf_counter()
                response = session.get(url, timeout=10)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise SystemExit(f"{url}: {response.status_code}")
                return elapsed

            # The floor: the HTTP stack alone, a GET answered without a model on each side.
            floor_urls = {"cauce": f"{web.url}/health/live", "serve": f"{serve.url}/ping"}
            floors: dict[str, list[float]] = {"cauce": [], "serve": []}
            floor_cpu = dict.fromkeys(pids, 0.0)
            for _ in range(args.repetitions):
                for key, url in floor_urls.items():
                    before = process_tree_cpu(pids[key])
                    floors[key].append(get(sessions[key], url))
                    floor_cpu[key] += process_tree_cpu(pids[key]) - before
            floor = {key: statistics.median(value) * 1000 for key, value in floors.items()}
            floor_cpu = {key: value / args.repetitions * 1000 for key, value in floor_cpu.items()}

            for rows in ROW_COUNTS:
                frame = rows_to_predict(rows)
                body = json.dumps(
                    {"dataframe_split": {"columns": FEATURES, "data": frame.to_numpy().tolist()}}
                ).encode()
                cold, first = post("cauce", body)
                for _ in range(3):  # warm both sides: connections, caches, lazy imports
                    post("cauce", body)
                    post("serve", body)
                    model.predict(frame)
                wall: dict[str, list[float]] = {"cauce": [], "serve": [], "direct": []}
                cpu = dict.fromkeys(pids, 0.0)
                answers = {}
                for round_ in range(rounds[rows]):
                    # Interleaved, each side first in every other round: neither always meets
                    # the machine in the state the other left it.
                    order = ("cauce", "serve") if round_ % 2 == 0 else ("serve", "cauce")
                    for key in order:
                        before = process_tree_cpu(pids[key])
                        elapsed, answers[key] = post(key, body)
                        cpu[key] += process_tree_cpu(pids[key]) - before
                        wall[key].append(elapsed)
                    started = time.perf_counter()
                    expected = model.predict(frame)
                    wall["direct"].append(time.perf_counter() - started)
                same = answers["cauce"] == first == answers["serve"] == expected.tolist()
                per_request = {key: value / rounds[rows] for key, value in cpu.items()}
                results[rows] = Timings(wall=wall, cpu=per_request, same=same, cold=cold)
        load_after = os.getloadavg()[0]

    print(
        f"online prediction (iris RandomForest, 100 trees), medians of {args.repetitions} "
        f"rounds (1 row) and {args.large_repetitions} (10,000 rows), the two servers' calls "
        f"interleaved; load average {load_before:.1f} before, {load_after:.1f} after"
    )
    labels = {
        "cauce": "Cauce POST /api/models/<name>/predict/?alias=champion",
        "serve": "mlflow models serve POST /invocations",
        "direct": "pyfunc model.predict in-process",
    }
    print(
        f"  HTTP stack alone: Cauce GET /health/live {floor['cauce']:.2f} ms, "
        f"scoring server GET /ping {floor['serve']:.2f} ms; CPU per request "
        f"{floor_cpu['cauce']:.2f} ms and {floor_cpu['serve']:.2f} ms"
    )
    for rows, timings in results.items():
        target = TARGETS[rows]
        medians = {key: timings.median_ms(key) for key in labels}
        ratio = medians["cauce"] / medians["serve"]
        print(f"  {rows:,} row{'s' if rows > 1 else ''}:")
        for key, label in labels.items():
            print(f"    {label:<56} {medians[key]:7.2f} ms")
        print(
            f"    ratio Cauce / scoring server: {ratio:.2f}  (target <= {target})"
            f"   median of each round's ratio: {timings.pair_ratio():.2f}"
            f"   Cauce / in-process: {medians['cauce'] / medians['direct']:.2f}"
            f"   predictions identical: {timings.same}"
        )
        cpu = {key: value * 1000 for key, value in timings.cpu.items()}
        print(
            f"    CPU per request (server processes, /proc): Cauce {cpu['cauce']:.2f} ms, "
            f"scoring server {cpu['serve']:.2f} ms, ratio {cpu['cauce'] / cpu['serve']:.2f}"
            f"  (target <= {target})"
        )
        print(f"    Cauce's cold first call with this body: {timings.cold * 1000:.1f} ms")
    print(f"  load_model in this process: {load_seconds * 1000:.1f} ms")


if __name__ == "__main__":
    main()
