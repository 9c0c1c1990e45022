"""Upload, create and run an experiment through the API; a real worker trains it into MLflow."""

import time

import numpy as np
import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from mlflow.models import get_model_info
from mlflow.pyfunc import load_model
from mlflow.tracking import MlflowClient
from mlflow.tracking._tracking_service.utils import _use_tracking_uri

from tests.fixtures.data import IRIS_FEATURES

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FINISHED_WITHIN_SECONDS = 180


def _artifact_paths(client, run_id, path=None) -> set[str]:
    paths = set()
    for entry in client.list_artifacts(run_id, path):
        paths |= _artifact_paths(client, run_id, entry.path) if entry.is_dir else {entry.path}
    return paths


def _wait_until_done(api, experiment_id) -> dict:
    deadline = time.monotonic() + FINISHED_WITHIN_SECONDS
    seen = []
    while time.monotonic() < deadline:
        body = api.get(f"/api/experiments/{experiment_id}/").json()
        if not seen or seen[-1] != (body["status"], body["stage"]):
            seen.append((body["status"], body["stage"]))
        if body["status"] in ("FINISHED", "ERROR"):
            return body
        time.sleep(0.25)
    pytest.fail(f"experiment not done after {FINISHED_WITHIN_SECONDS} s; states: {seen}")


def test_an_experiment_run_through_the_api_ends_finished_in_mlflow(
    celery_worker_process, mlflow, editor_api, project, iris_csv_bytes
):
    upload = editor_api.post(
        f"/api/projects/{project.pk}/datasets/",
        {"name": "Iris", "file": SimpleUploadedFile("iris.csv", iris_csv_bytes)},
        format="multipart",
    )
    assert upload.status_code == 201, upload.content
    dataset_id = upload.json()["id"]

    created = editor_api.post(
        "/api/experiments/",
        {
            "project": project.pk,
            "name": "Iris de extremo a extremo",
            "dataset": dataset_id,
            "target_column": "species",
            "feature_columns": IRIS_FEATURES,
            "algorithm": "RandomForestClassifier",
            "hyperparameters": {"n_estimators": 30, "max_depth": 5},
            "test_size": 0.25,
            "random_state": 3,
            "tags": ["e2e", "iris"],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    experiment_id = created.json()["id"]

    queued = editor_api.post(f"/api/experiments/{experiment_id}/run/")
    assert queued.status_code == 202, queued.content
    # The worker may already hold it when the answer is read back, so the status is not
    # fixed here; what the call itself did is: this experiment, with its queueing time.
    assert queued.json()["id"] == experiment_id
    assert queued.json()["queued_at"] is not None
    assert queued.json()["error"] == ""

    body = _wait_until_done(editor_api, experiment_id)
    assert body["status"] == "FINISHED", body["error"]
    assert body["metrics"]["accuracy"] > 0.8
    assert body["main_metric"]["name"] == "f1_macro"

    client = MlflowClient(tracking_uri=mlflow)
    run = client.get_run(body["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.info.experiment_id == body["mlflow_experiment_id"]
    assert run.data.params["algorithm"] == "RandomForestClassifier"
    assert run.data.params["hp.n_estimators"] == "30"
    assert run.data.params["test_size"] == "0.25"
    assert run.data.params["dataset_id"] == str(dataset_id)
    run_metrics = dict(run.data.metrics)
    timings = {key: run_metrics.pop(key) for key in list(run_metrics) if key.startswith("cauce.")}
    assert run_metrics == pytest.approx(body["metrics"])
    assert timings == pytest.approx(
        {f"cauce.time.{stage}_s": seconds for stage, seconds in body["timings"].items()}
    )
    assert set(body["timings"]) == {"prepare", "load", "fit", "evaluate", "log", "total"}
    assert body["plots"] == ["plots/confusion_matrix.png", "plots/feature_importance.png"]
    assert run.data.tags["tag_0"] == "e2e"
    assert run.data.tags["tag_1"] == "iris"
    assert run.data.tags["all_tags"] == "e2e,iris"
    assert run.data.tags["tag_count"] == "2"
    assert {
        "metrics.json",
        "plots/confusion_matrix.png",
        "plots/feature_importance.png",
        "data/test_predictions.csv",
    } <= _artifact_paths(client, run.info.run_id)

    model_ids = [output.model_id for output in run.outputs.model_outputs]
    assert len(model_ids) == 1
    with _use_tracking_uri(mlflow):
        info = get_model_info(f"models:/{model_ids[0]}")
        model = load_model(f"models:/{model_ids[0]}")
    assert [spec.name for spec in info.signature.inputs] == IRIS_FEATURES
    rows = pd.DataFrame([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], columns=IRIS_FEATURES)
    assert list(np.asarray(model.predict(rows))) == ["setosa", "virginica"]
