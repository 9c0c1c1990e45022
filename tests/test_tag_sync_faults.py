"""Tag sync under faults: no change is lost when MLflow stops or a worker dies.

Real parts only: an MLflow server of this test's own (its own port and store, so the session's
server is never stopped), real Celery workers on a private queue (``CAUCE_TAG_SYNC_QUEUE``), and
the real outbox in the test database. Waits poll the database with a deadline; nothing asserts
on elapsed time.
"""

import time
import uuid

import pytest
from django.utils import timezone
from mlflow.tracking import MlflowClient

from cauce.experiments import services
from cauce.experiments.models import MLExperiment, TagSyncState
from cauce.experiments.runner import experiment_mlflow_tags, run_start
from cauce.experiments.tag_sync import tag_sync_sweep
from cauce.experiments.tests.web_support import create_experiment
from cauce.integrations.mlflow import client as mlflow_client
from cauce.integrations.mlflow import tracking
from tests.fixtures.mlflow_server import free_port, start_mlflow_server, stop_process, wait_healthy
from tests.fixtures.worker import start_worker, wait_ready

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 120


def _wait_for(condition, what: str, timeout: float = WAIT_SECONDS):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _state(experiment) -> TagSyncState:
    return TagSyncState.objects.get(pk=experiment.pk)


@pytest.fixture
def private_queue(settings) -> str:
    """A queue no other worker listens to; the tag pushes go there."""
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-tags-{uuid.uuid4().hex[:8]}"
    settings.TAG_SYNC_QUEUE = queue
    return queue


@pytest.fixture
def own_mlflow(tmp_path, settings):
    """An MLflow server for this test only: {"url", "root", "port", "process"}."""
    root, port = tmp_path / "own-mlflow", free_port()
    server = {"root": root, "port": port, "url": f"http://127.0.0.1:{port}"}
    server["process"] = start_mlflow_server(root, port)
    wait_healthy(server["url"], server["process"])
    settings.MLFLOW_TRACKING_URI = server["url"]
    mlflow_client.reset_availability()
    yield server
    stop_process(server["process"])
    mlflow_client.reset_availability()


@pytest.fixture
def workers(tmp_path, private_queue):
    started = []

    def start(mlflow_url: str, **env: str):
        log_path = tmp_path / f"worker-{len(started)}.log"
        process = start_worker(
            mlflow_url,
            log_path,
            queue=private_queue,
            extra_env={"CAUCE_TAG_SYNC_QUEUE": private_queue, **env},
        )
        started.append(process)
        wait_ready(process, log_path)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            stop_process(process)


def _experiment_with_run(project, dataset, user, tags) -> MLExperiment:
    experiment = create_experiment(
        project=project, dataset=dataset, user=user, tags=tags, description="Antes del corte"
    )
    mlflow_experiment_id = tracking.experiment_ensure(name=project.mlflow_experiment_name)
    run_start(experiment, mlflow_experiment_id=mlflow_experiment_id)
    experiment.refresh_from_db()
    return experiment


def test_every_change_made_while_mlflow_is_stopped_is_applied_after_its_restart(
    own_mlflow, workers, project, iris_dataset, editor
):
    experiment = _experiment_with_run(project, iris_dataset, editor, ["a", "b", "c", "d", "e", "f"])
    stop_process(own_mlflow["process"])

    # Several changes while MLflow is down: tags (six → three), then name and description.
    services.experiment_tags_set(experiment=experiment, tags=["a", "nueva", "Ñandú"])
    services.experiment_update(
        experiment=experiment, user=editor, name="Tras el corte", description="Después"
    )
    services.experiment_tags_set(experiment=experiment, tags=["nueva", "Ñandú", "z"])
    # Started after the changes were sent: kombu's file-system broker can hand a worker a
    # message file it is still writing (an empty read crashes the worker).
    workers(
        own_mlflow["url"],
        CAUCE_TAG_SYNC_RETRY_DELAY="1",
        CAUCE_TAG_SYNC_RETRY_MAX_DELAY="2",
        CAUCE_TAG_SYNC_RETRIES="1000",
        MLFLOW_WORKER_MAX_RETRIES="0",
        MLFLOW_WORKER_TIMEOUT="5",
    )
    _wait_for(lambda: _state(experiment).attempts >= 1, "a failed attempt while MLflow is down")
    assert _state(experiment).is_pending

    own_mlflow["process"] = start_mlflow_server(own_mlflow["root"], own_mlflow["port"])
    wait_healthy(own_mlflow["url"], own_mlflow["process"])
    _wait_for(lambda: not _state(experiment).is_pending, "the outbox to be applied")

    experiment.refresh_from_db()
    run = MlflowClient(tracking_uri=own_mlflow["url"]).get_run(experiment.mlflow_run_id)
    spec_keys = {
        key: value for key, value in run.data.tags.items() if not key.startswith("mlflow.")
    }
    expected = experiment_mlflow_tags(experiment)
    assert spec_keys == {k: v for k, v in expected.items() if not k.startswith("mlflow.")}
    assert spec_keys["all_tags"] == "nueva,z,Ñandú"
    assert "tag_3" not in spec_keys and "tag_5" not in spec_keys
    assert run.info.run_name == "Tras el corte"
    assert run.data.tags["mlflow.note.content"] == "Después"
    state = _state(experiment)
    assert state.last_error == "" and state.synced_at is not None


def test_a_worker_killed_between_the_change_and_the_sync_leaves_the_outbox_for_the_sweep(
    mlflow, mlflow_server, mlflow_silent, workers, project, iris_dataset, editor,
    settings,
):  # fmt: skip
    silent_url = mlflow_silent
    settings.MLFLOW_TRACKING_URI = mlflow_server
    mlflow_client.reset_availability()
    experiment = _experiment_with_run(project, iris_dataset, editor, ["antes"])
    services.experiment_tags_set(experiment=experiment, tags=["después", "del", "cambio"])
    # This worker's MLflow accepts connections and never answers: its push hangs mid-sync.
    worker = workers(silent_url, CAUCE_TAG_SYNC_LEASE_SECONDS="3", MLFLOW_WORKER_TIMEOUT="120")
    _wait_for(lambda: _state(experiment).lease_token, "the worker to start the push")
    worker.kill()
    worker.wait()

    state = _state(experiment)
    assert state.is_pending  # the outbox row survives the worker
    _wait_for(lambda: _state(experiment).lease_until < timezone.now(), "the lease to expire")
    result = tag_sync_sweep()
    assert (result.pushed, result.unavailable) == (1, False)
    tags = MlflowClient(tracking_uri=mlflow_server).get_run(experiment.mlflow_run_id).data.tags
    assert tags["all_tags"] == "cambio,del,después"
    assert tags["tag_count"] == "3"
    assert not _state(experiment).is_pending
    MlflowClient(tracking_uri=mlflow_server).set_terminated(experiment.mlflow_run_id)
