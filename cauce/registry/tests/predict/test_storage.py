"""Prediction files through the default storage, the data dir's or an S3 bucket's: inputs,
results, downloads, retries and expiry, each by name, never by a path under MEDIA_ROOT."""

import uuid
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from cauce.datasets.tests.conftest import stored_files
from cauce.registry.models import PredictionJob
from cauce.registry.predict import selectors, services
from cauce.registry.predict.retention import prediction_jobs_expire

pytestmark = pytest.mark.django_db

HEADER = "sepal_length,sepal_width,petal_length,petal_width\n"
ROWS = "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n" * 50


@pytest.fixture
def target(served):
    model, version = served("iris")
    return selectors.predict_target_resolve(model=model, version=version)


@pytest.fixture
def large_files(settings):
    """Files above 200 bytes are queued for a worker (run here by calling its service)."""
    settings.PREDICT_ASYNC_THRESHOLD_BYTES = 200
    settings.PREDICTION_RETENTION_DAYS = 7


def _queue(target, owner, content: str, django_capture_on_commit_callbacks) -> PredictionJob:
    with django_capture_on_commit_callbacks():  # the task is not sent: the test runs it
        job = services.prediction_job_create(
            target=target, user=owner, upload=SimpleUploadedFile("filas.csv", content.encode())
        )
    assert job.status == PredictionJob.Status.QUEUED
    return job


def test_a_small_file_is_predicted_now_and_its_result_read_back(
    any_storage, target, owner, settings
):
    job = services.prediction_job_create(
        target=target,
        user=owner,
        upload=SimpleUploadedFile("filas.csv", (HEADER + "5.1,3.5,1.4,0.2\n").encode()),
    )

    assert job.status == PredictionJob.Status.FINISHED
    assert default_storage.exists(job.result_file.name)
    page = selectors.prediction_result_page(job=job)
    assert page.columns[-1] == "prediction" and page.rows[0][-1] == "setosa"
    with selectors.prediction_result_open(job=job) as handle:
        assert handle.read().decode().splitlines()[1].endswith("setosa")
    assert bool(stored_files(settings.MEDIA_ROOT)) == (any_storage == "filesystem")


def test_a_queued_file_is_read_from_the_storage_and_its_input_deleted(
    any_storage, target, owner, large_files, settings, django_capture_on_commit_callbacks
):
    job = _queue(target, owner, HEADER + ROWS, django_capture_on_commit_callbacks)
    input_name = job.input_file.name
    assert default_storage.exists(input_name)

    services.prediction_job_execute(job_id=str(job.pk))

    job.refresh_from_db()
    assert job.status == PredictionJob.Status.FINISHED, job.error
    assert job.rows_done == job.rows_total == 100
    assert not default_storage.exists(input_name)
    assert selectors.prediction_result_page(job=job).total == 100
    assert bool(stored_files(settings.MEDIA_ROOT)) == (any_storage == "filesystem")


def test_a_failed_file_keeps_its_input_to_retry_until_expiry_deletes_everything(
    any_storage, target, owner, large_files, settings, django_capture_on_commit_callbacks
):
    job = _queue(
        target, owner, HEADER + ROWS + "no,es,un,numero\n", django_capture_on_commit_callbacks
    )

    services.prediction_job_execute(job_id=str(job.pk))

    job.refresh_from_db()
    assert job.status == PredictionJob.Status.ERROR
    assert default_storage.exists(job.input_file.name)
    assert not default_storage.exists(f"{PredictionJob.storage_dir(job)}/result.csv")
    with django_capture_on_commit_callbacks() as queued:
        assert services.prediction_job_retry(job=job).status == PredictionJob.Status.QUEUED
    assert len(queued) == 1
    services.prediction_job_execute(job_id=str(job.pk))
    job.refresh_from_db()
    assert job.status == PredictionJob.Status.ERROR

    result = prediction_jobs_expire(now=timezone.now() + timedelta(days=8))

    assert (result.jobs, result.folders) == (1, 1)
    assert not default_storage.exists(job.input_file.name)
    assert stored_files(settings.MEDIA_ROOT) == []


def test_a_retry_refuses_a_job_whose_input_is_gone_from_the_storage(
    any_storage, target, owner, large_files, django_capture_on_commit_callbacks
):
    job = _queue(
        target, owner, HEADER + ROWS + "no,es,un,numero\n", django_capture_on_commit_callbacks
    )
    services.prediction_job_execute(job_id=str(job.pk))
    job.refresh_from_db()
    default_storage.delete(job.input_file.name)

    with pytest.raises(selectors.PredictionGoneError):
        services.prediction_job_retry(job=job)


def test_a_folder_without_its_job_is_swept_by_its_files_names(any_storage, project, settings):
    settings.PREDICTION_RETENTION_DAYS = 7
    folder = f"predictions/{project.pk}/{uuid.uuid4()}"
    default_storage.save(f"{folder}/result.csv", ContentFile(b"a,prediction\n1,x\n"))
    default_storage.save(f"{folder}/input", ContentFile(b"a\n1\n"))

    assert prediction_jobs_expire().folders == 0  # not as old as the retention yet
    result = prediction_jobs_expire(now=timezone.now() + timedelta(days=8))

    assert result.folders == 1
    assert not default_storage.exists(f"{folder}/result.csv")
    assert not default_storage.exists(f"{folder}/input")
    assert stored_files(settings.MEDIA_ROOT) == []
