"""JSON logs: each line of a request carries its request id; a worker's lines carry the task id,
the experiment id and the id of the request that enqueued the task."""

import io
import json
import logging
import time
import uuid
from logging.config import dictConfig

import pytest
from django.conf import settings
from django_guid import clear_guid, set_guid

from tests.fixtures.mlflow_server import stop_process
from tests.fixtures.worker import start_worker, wait_ready


@pytest.fixture
def json_log():
    """The production handler (JSON formatter and both filters), writing to a buffer."""
    stream = io.StringIO()
    config = {
        **settings.LOGGING,
        "handlers": {
            "buffer": {
                **settings.LOGGING["handlers"]["console"],
                "formatter": "json",
                "stream": stream,
            }
        },
        "root": {"handlers": ["buffer"], "level": "INFO"},
    }
    dictConfig(config)
    try:
        yield stream
    finally:
        dictConfig(settings.LOGGING)


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.django_db
def test_a_request_logs_json_with_its_request_id(client, json_log):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32

    [line] = [entry for entry in _lines(json_log) if entry["logger"] == "django.request"]
    assert line["level"] == "WARNING"
    assert line["message"] == "Not Found: /no-such-page/"
    assert line["request_id"] == request_id
    assert line["task_id"] is None and line["experiment_id"] is None
    assert line["timestamp"].endswith("+00:00")


@pytest.mark.django_db
def test_a_proxy_supplied_request_id_is_kept(client, json_log):
    given = uuid.uuid4().hex
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID=given)
    assert response["X-Request-ID"] == given
    assert {entry["request_id"] for entry in _lines(json_log)} == {given}


@pytest.mark.django_db
def test_each_request_is_logged_once_as_json_and_probes_are_not(client, owner, json_log):
    client.force_login(owner)
    response = client.get("/projects/")
    assert client.get("/health/live").status_code == 200

    [line] = [entry for entry in _lines(json_log) if entry["logger"] == "cauce.request"]
    assert line["message"] == "GET /projects/ 200"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/projects/", 200)
    assert line["user_id"] == owner.pk
    assert line["request_id"] == response["X-Request-ID"]
    assert isinstance(line["duration_ms"], float)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_logs_json_with_task_id_experiment_id_and_the_enqueuing_request_id(tmp_path):
    from cauce.experiments.tasks import run_full_experiment_pipeline_task

    queue = f"json-logs-{uuid.uuid4().hex[:8]}"
    log_path = tmp_path / "worker.log"
    worker = start_worker(
        "http://127.0.0.1:9", log_path, queue=queue, extra_env={"CAUCE_LOG_FORMAT": "json"}
    )
    try:
        wait_ready(worker, log_path)
        experiment_id = str(uuid.uuid4())  # no such experiment: the runner logs and returns
        request_id = uuid.uuid4().hex
        set_guid(request_id)
        try:
            result = run_full_experiment_pipeline_task.apply_async(
                args=[experiment_id], queue=queue
            )
        finally:
            clear_guid()

        expected = f"Experiment {experiment_id} no longer exists; nothing to run"
        deadline = time.monotonic() + 60
        found = []
        while not found and time.monotonic() < deadline:
            found = [entry for entry in _json_lines(log_path) if entry["message"] == expected]
            time.sleep(0.2)
    finally:
        stop_process(worker)

    assert found, log_path.read_text()[-3000:]
    [line] = found
    assert line["logger"] == "cauce.experiments.runner"
    assert line["level"] == "WARNING"
    assert line["task_id"] == result.id
    assert line["experiment_id"] == experiment_id
    assert line["request_id"] == request_id
    # Celery's own lines are JSON too (its "ready." line among them).
    assert any(entry["message"].endswith(" ready.") for entry in _json_lines(log_path))


def _json_lines(path) -> list[dict]:
    # Python warnings printed before logging is set up (e.g. Celery's warning about running
    # as root, which the test machine does and the image does not) are not log lines.
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_the_experiment_id_is_found_as_a_positional_or_keyword_argument():
    from cauce.core.logging import experiment_id_of
    from cauce.experiments.tasks import run_full_experiment_pipeline_task as task

    assert experiment_id_of(task, ("e1",), {}) == "e1"
    assert experiment_id_of(task, (), {"experiment_id": "e2"}) == "e2"
    assert experiment_id_of(task, ("a", "b", "c"), {}) is None
    logging.getLogger(__name__).debug("no context outside a task")
