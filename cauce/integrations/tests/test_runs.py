"""One implementation of "end a run" and "find RUNNING runs by tag" (``runs.py``), with the
web's waits by default and a worker's waits and retries with ``worker=True``: a real MLflow
server, then a dead port. ``http_calls`` spies on what the transport sends."""

import uuid

import pytest
from mlflow.tracking import MlflowClient

from cauce.integrations.mlflow import MlflowUnavailable, runs
from cauce.integrations.mlflow import client as mlflow_client

TAG = "cauce.test_owner"


def _worker_timeout(settings):
    return (settings.MLFLOW_WORKER_TIMEOUT, settings.MLFLOW_WORKER_TIMEOUT)


@pytest.mark.parametrize("worker", [False, True])
def test_running_runs_are_found_by_tag_and_ended_on_a_real_server(
    mlflow, http_calls, settings, worker
):
    client = MlflowClient(tracking_uri=mlflow)
    experiment_id = client.create_experiment(f"runs-{uuid.uuid4().hex}")
    owner = uuid.uuid4().hex
    mine = client.create_run(experiment_id, tags={TAG: owner}).info.run_id
    other = client.create_run(experiment_id, tags={TAG: "someone else"}).info.run_id
    client.create_run(experiment_id)  # no tag
    http_calls.clear()

    found = runs.runs_running_by_tag(experiment_ids=[experiment_id], tag=TAG, worker=worker)
    assert found == {mine: owner, other: "someone else"}
    assert runs.runs_running_by_tag(
        experiment_ids=[experiment_id], tag=TAG, value=owner, worker=worker
    ) == {mine: owner}
    ended = runs.runs_end_running(
        experiment_ids=[experiment_id], tag=TAG, value=owner, status="KILLED", worker=worker
    )
    assert ended == [mine]
    assert client.get_run(mine).info.status == "KILLED"
    assert client.get_run(mine).info.end_time
    assert client.get_run(other).info.status == "RUNNING"
    runs.run_end(run_id=other, worker=worker)
    assert client.get_run(other).info.status == "FINISHED"

    expected = (
        _worker_timeout(settings)
        if worker
        else (settings.MLFLOW_WEB_CONNECT_TIMEOUT, pytest.approx(2.0))
    )
    ours = [call for call in http_calls if call.url.endswith(("/runs/search", "/runs/update"))]
    # 2 searches, then the end's search and its update, then one more update.
    assert len(ours) == 5
    assert all(call.timeout == expected for call in ours)


def test_with_mlflow_down_the_web_tries_once_and_a_worker_retries(
    mlflow_down, http_calls, settings, monkeypatch
):
    settings.MLFLOW_WORKER_MAX_RETRIES = 2
    monkeypatch.setattr(mlflow_client, "WORKER_BACKOFF_SECONDS", 0.0)

    with pytest.raises(MlflowUnavailable):
        runs.run_end(run_id="0" * 32)
    assert len(http_calls) == 1

    mlflow_client.reset_availability()
    http_calls.clear()
    with pytest.raises(MlflowUnavailable):
        runs.runs_running_by_tag(experiment_ids=["0"], tag=TAG, worker=True)
    assert len(http_calls) == 3
    assert all(call.timeout == _worker_timeout(settings) for call in http_calls)

    # The outage started the cool-down once the retries were spent: the next call waits.
    http_calls.clear()
    with pytest.raises(MlflowUnavailable):
        runs.run_end(run_id="0" * 32, worker=True)
    assert http_calls == []
