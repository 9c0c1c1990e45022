"""Large files: predicted by a real Celery worker, with progress, into a downloadable CSV."""

import io
import time
from datetime import timedelta

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from mlflow.pyfunc import load_model
from mlflow.tracking._tracking_service.utils import _use_tracking_uri

from cauce.integrations.mlflow import serving
from cauce.registry.models import PredictionJob

IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_done(job: PredictionJob, timeout: float = 90) -> PredictionJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if not job.is_active:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job still {job.status} after {timeout}s")


@pytest.fixture
def big_rows(trained_models):
    frame = trained_models["iris"].frame[IRIS]
    return pd.concat([frame] * 20, ignore_index=True)  # 3,000 rows


def test_a_file_over_the_threshold_is_predicted_by_a_worker(
    settings, celery_worker_process, viewer_client, served, big_rows
):
    settings.PREDICT_ASYNC_THRESHOLD_BYTES = 1000
    model, version = served("iris")
    content = big_rows.to_csv(index=False).encode()

    response = viewer_client.post(
        f"/models/{model.name}/predict/",
        {"version": version, "file": SimpleUploadedFile("grande.csv", content)},
    )

    job = PredictionJob.objects.get()
    assert response.status_code == 302
    assert serving.served_models_cached() == []  # the web process did not load the model
    live = viewer_client.get(
        f"/models/{model.name}/predictions/{job.pk}/status/", headers={"HX-Request": "true"}
    )
    assert live.status_code == 200
    job = _wait_done(job)
    assert job.status == PredictionJob.Status.FINISHED, job.error
    assert job.rows_done == job.rows_total == 3000
    ended = viewer_client.get(
        f"/models/{model.name}/predictions/{job.pk}/status/", headers={"HX-Request": "true"}
    )
    assert ended.headers["HX-Refresh"] == "true"
    download = viewer_client.get(f"/models/{model.name}/predictions/{job.pk}/download/")
    result = pd.read_csv(io.BytesIO(b"".join(download.streaming_content)))
    with _use_tracking_uri(serving.tracking_uri()):
        expected = load_model(f"models:/{model.name}/{version}").predict(big_rows).tolist()
    assert result["prediction"].tolist() == expected
    assert not job.input_file.name


def test_a_bad_value_deep_in_a_large_file_ends_the_job_with_its_row_and_no_result(
    settings, celery_worker_process, viewer_client, served, big_rows
):
    settings.PREDICT_ASYNC_THRESHOLD_BYTES = 1000
    model, version = served("iris")
    rows = big_rows.astype(object)
    rows.iloc[2500, 0] = "n/d"

    viewer_client.post(
        f"/models/{model.name}/predict/",
        {"version": version,
         "file": SimpleUploadedFile("grande.csv", rows.to_csv(index=False).encode())},
    )  # fmt: skip

    job = _wait_done(PredictionJob.objects.get())
    assert job.status == PredictionJob.Status.ERROR
    assert job.error == (
        "Hay valores que no se pueden convertir al tipo del modelo: "
        "columna «sepal_length», fila 2501: «n/d» no es un número."
    )
    # No partial result; the input is kept for a retry until the job expires.
    assert job.result_file.name == ""
    folder = settings.MEDIA_ROOT / PredictionJob.storage_dir(job)
    assert sorted(path.name for path in folder.iterdir()) == ["input"]
    page = viewer_client.get(f"/models/{model.name}/predictions/{job.pk}/").content.decode()
    assert "fila 2501" in page
    assert "Reintentar" in page
    assert (
        viewer_client.get(f"/models/{model.name}/predictions/{job.pk}/download/").status_code == 404
    )

    # The same input fails the same way on a retry: the worker ran it again.
    first_end = job.finished_at
    viewer_client.post(f"/models/{model.name}/predictions/{job.pk}/retry/")
    job = _wait_done(job)
    assert job.status == PredictionJob.Status.ERROR
    assert job.finished_at > first_end
    assert "fila 2501" in job.error


def test_a_failed_job_is_retried_by_the_worker_with_its_kept_input(
    settings, celery_worker_process, viewer_client, served, big_rows
):
    model, version = served("iris")
    job = PredictionJob.objects.create(
        registered_model=model,
        version=version,
        source=PredictionJob.Source.FILE,
        original_filename="grande.csv",
        status=PredictionJob.Status.ERROR,
        error="MLflow no disponible",
        finished_at=timezone.now(),
    )  # as the worker leaves a job whose retries ran out while MLflow was down
    folder = settings.MEDIA_ROOT / PredictionJob.storage_dir(job)
    folder.mkdir(parents=True)
    (folder / "input").write_bytes(big_rows.to_csv(index=False).encode())
    job.input_file.name = str(PredictionJob.storage_dir(job) / "input")
    job.save(update_fields=["input_file"])

    response = viewer_client.post(f"/models/{model.name}/predictions/{job.pk}/retry/")

    assert response.status_code == 302
    job = _wait_done(job)
    assert job.status == PredictionJob.Status.FINISHED, job.error
    assert (job.rows_done, job.error, job.input_file.name) == (3000, "", "")
    assert sorted(path.name for path in folder.iterdir()) == ["result.csv"]
    download = viewer_client.get(f"/models/{model.name}/predictions/{job.pk}/download/")
    result = pd.read_csv(io.BytesIO(b"".join(download.streaming_content)))
    with _use_tracking_uri(serving.tracking_uri()):
        expected = load_model(f"models:/{model.name}/{version}").predict(big_rows).tolist()
    assert result["prediction"].tolist() == expected


def test_the_beat_entry_runs_the_retention_sweep_on_the_worker(
    settings, celery_worker_process, served
):
    from config.celery import app

    model, version = served("iris")
    expired = PredictionJob.objects.create(
        registered_model=model,
        version=version,
        source=PredictionJob.Source.FILE,
        status=PredictionJob.Status.FINISHED,
        finished_at=timezone.now() - timedelta(days=settings.PREDICTION_RETENTION_DAYS + 1),
    )
    folder = settings.MEDIA_ROOT / PredictionJob.storage_dir(expired)
    folder.mkdir(parents=True)
    (folder / "result.csv").write_text("prediction\nsetosa\n")
    entry = settings.CELERY_BEAT_SCHEDULE["predictions-expire"]

    app.send_task(entry["task"], **entry.get("options", {}))

    deadline = time.monotonic() + 60
    while PredictionJob.objects.filter(pk=expired.pk).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not PredictionJob.objects.filter(pk=expired.pk).exists()
    assert not folder.exists()


def test_missing_columns_of_a_large_file_are_refused_before_queueing(
    settings, viewer_client, served, big_rows
):
    settings.PREDICT_ASYNC_THRESHOLD_BYTES = 1000
    model, version = served("iris")
    content = big_rows[IRIS[:3]].to_csv(index=False).encode()

    response = viewer_client.post(
        f"/models/{model.name}/predict/",
        {"version": version, "file": SimpleUploadedFile("grande.csv", content)},
    )

    assert response.status_code == 400
    assert "Falta la columna que el modelo necesita: petal_width." in response.content.decode()
    assert PredictionJob.objects.count() == 0
