"""Shared set-up of the artifact benchmarks: a private MLflow server, database and web server.

Everything lives in a temporary directory and on free ports; nothing touches ./var.
Not a benchmark itself (``make bench`` runs ``bench/bench_*.py`` only).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from tests.fixtures.mlflow_server import (  # noqa: E402
    free_port,
    start_mlflow_server,
    stop_process,
    wait_healthy,
)

MB = 1024 * 1024


@dataclass
class Bench:
    root: Path
    mlflow_url: str
    mlflow_process: subprocess.Popen


@contextlib.contextmanager
def bench_environment() -> Iterator[Bench]:
    """A temporary data dir, a real MLflow server, and Django set up against both."""
    root = Path(tempfile.mkdtemp(prefix="cauce-bench-artifacts-"))
    port = free_port()
    process = start_mlflow_server(root / "mlflow", port)
    url = f"http://127.0.0.1:{port}"
    (root / "data").mkdir()
    os.environ.update(
        {
            "CAUCE_DATA_DIR": str(root / "data"),
            "MLFLOW_TRACKING_URI": url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "LOG_LEVEL": "WARNING",
        }
    )
    try:
        wait_healthy(url, process)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        yield Bench(root=root, mlflow_url=url, mlflow_process=process)
    finally:
        stop_process(process)
        shutil.rmtree(root, ignore_errors=True)


def start_bench_worker(bench: Bench, log_path: Path) -> subprocess.Popen:
    """A real Celery worker for a benchmark, ready when this returns.

    At INFO, not the bench's WARNING: the worker's " ready." line is what wait_ready waits for.
    """
    from tests.fixtures.worker import start_worker, wait_ready

    worker = start_worker(bench.mlflow_url, log_path, extra_env={"LOG_LEVEL": "INFO"})
    try:
        wait_ready(worker, log_path, timeout=600)
    except BaseException:
        stop_process(worker)
        raise
    return worker


def log_plain_model(
    client,
    mlflow_url: str,
    *,
    experiment_id: str,
    run_id: str,
    model,
    signature_input,
    signature_output,
    input_example,
) -> None:
    """The plain scripts' model logging: what Cauce's worker does, written out by hand."""
    from importlib.metadata import version

    import mlflow.sklearn
    from mlflow.models import infer_signature
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    requirements = [
        f"{name}=={version(name)}" for name in ("scikit-learn", "pandas", "numpy", "cloudpickle")
    ]
    with _use_tracking_uri(mlflow_url):
        logged = client.create_logged_model(
            experiment_id=experiment_id, name="model", source_run_id=run_id
        )
        mlflow.sklearn.log_model(
            model,
            name="model",
            run_id=run_id,
            model_id=logged.model_id,
            signature=infer_signature(signature_input, signature_output),
            input_example=input_example,
            pip_requirements=requirements,
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        )


def write_random_file(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        remaining = size
        block = os.urandom(4 * MB)
        while remaining > 0:
            handle.write(block[: min(remaining, len(block))])
            remaining -= len(block)


def make_experiment(bench: Bench, local_dir: Path):
    """A FINISHED experiment whose MLflow run holds the files of ``local_dir``; and its user."""
    from django.contrib.auth import get_user_model
    from mlflow.tracking import MlflowClient

    from cauce.experiments.models import MLExperiment
    from cauce.projects.models import Membership, Project, Role
    from tests.fixtures.artifacts import experiment_for_run

    client = MlflowClient(tracking_uri=bench.mlflow_url)
    experiment_id = client.create_experiment(f"bench-{time.time_ns()}")
    run = client.create_run(experiment_id, run_name="bench")
    client.log_artifacts(run.info.run_id, str(local_dir))
    client.set_terminated(run.info.run_id, "FINISHED")

    user, _created = get_user_model().objects.get_or_create(username="bench")
    project = Project.objects.create(name="Bench", created_by=user)
    Membership.objects.create(project=project, user=user, role=Role.VIEWER)
    experiment = experiment_for_run(
        project=project,
        mlflow_experiment_id=experiment_id,
        run_id=run.info.run_id,
        name="bench",
        status=MLExperiment.Status.FINISHED,
    )
    return experiment, user


def api_token(user) -> str:
    from rest_framework.authtoken.models import Token

    token, _created = Token.objects.get_or_create(user=user)
    return token.key


@dataclass
class WebServer:
    url: str
    master: subprocess.Popen
    worker_pid: int


# The image's own worker options (Dockerfile): threads, and connections kept alive.
PRODUCTION_WORKER = ("--worker-class", "gthread", "--threads", "4", "--keep-alive", "75")


@contextlib.contextmanager
def web_server(bench: Bench, worker: tuple[str, ...] = ()) -> Iterator[WebServer]:
    """Gunicorn with one worker on a free port: a sync worker, or ``worker``'s options
    (e.g. ``PRODUCTION_WORKER``)."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "config.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", *worker, "--timeout", "600",
        "--log-level", "warning",
    ]  # fmt: skip
    log = (bench.root / "gunicorn.log").open("wb")
    master = subprocess.Popen(command, cwd=BASE_DIR, env=os.environ.copy(), stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(url + "/health/", timeout=2)
                break
            except requests.RequestException:
                if time.monotonic() > deadline or master.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
        yield WebServer(url=url, master=master, worker_pid=int(children[0]))
    finally:
        master.terminate()
        try:
            master.wait(timeout=20)
        except subprocess.TimeoutExpired:
            master.kill()
        log.close()


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in kB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _sep, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def timed_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, float]:
    """Bytes received and seconds taken by a streamed GET, the body discarded."""
    started = time.perf_counter()
    received = 0
    with requests.get(url, headers=headers or {}, stream=True, timeout=(5, 120)) as response:
        response.raise_for_status()
        for chunk in response.iter_content(MB):
            received += len(chunk)
    return received, time.perf_counter() - started
