"""The runner's MLflow calls carry the worker's profile; tests give the web's back after."""

import pytest
import requests
from django.utils import timezone

from cauce.experiments.models import MLExperiment
from cauce.experiments.runner import experiment_execute
from cauce.experiments.tests.runner_support import queued_experiment
from cauce.integrations.mlflow import client as mlflow_client

WEB_PROFILE = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "2",
}


@pytest.mark.usefixtures("worker_profile")
@pytest.mark.django_db
def test_every_mlflow_call_of_the_runner_gets_the_worker_timeout_and_retries(
    mlflow, iris_dataset, settings, monkeypatch
):
    seen: list[tuple[str, object, int]] = []
    real_request = requests.Session.request

    def recording_request(session, method, url, *args, **kwargs):
        retries = session.get_adapter(url).max_retries
        seen.append((url, kwargs.get("timeout"), retries.total))
        return real_request(session, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", recording_request)
    # No heartbeat thread: its own connection does not see this test's uncommitted rows.
    settings.EXPERIMENT_HEARTBEAT_SECONDS = 3600
    experiment = queued_experiment(iris_dataset, queued_at=timezone.now())

    experiment_execute(experiment_id=str(experiment.pk))

    experiment.refresh_from_db()
    assert experiment.status == MLExperiment.Status.FINISHED, experiment.error
    calls = [(timeout, retries) for url, timeout, retries in seen if url.startswith(mlflow)]
    # get/create experiment, create run, params (twice), metrics, artifacts, model, end run.
    assert len(calls) >= 8
    # MLflow's client: the worker's timeout, its adapter retrying twice. Cauce's own REST calls
    # (ending the run, runs.py) wait the same per connect and read and retry in rest_send.
    assert set(calls) == {(60, 2), ((60, 60), 0)}
    assert (settings.MLFLOW_WORKER_TIMEOUT, settings.MLFLOW_WORKER_MAX_RETRIES) == (60, 2)


def test_the_worker_profile_is_undone_for_the_web_s_tests(settings):
    settings.MLFLOW_WORKER_TIMEOUT = 45
    settings.MLFLOW_WORKER_MAX_RETRIES = 3

    mlflow_client.use_worker_profile()
    worker = mlflow_client.profile_values()
    mlflow_client.use_web_profile()

    assert worker == {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "45",
    }
    assert mlflow_client.profile_values() == WEB_PROFILE


def test_the_web_s_tests_run_under_the_web_profile():
    assert mlflow_client.profile_values() == WEB_PROFILE
