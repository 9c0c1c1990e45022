"""Retrying a failed prediction job from its page: who may, when, and what it changes."""

import html
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from cauce.registry.models import PredictionJob

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

INPUT = "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n"


def failed_job(model, version, *, ended_days_ago=0.0, status="ERROR", keep_input=True):
    """A job as the worker leaves it after a failure: ERROR, with its input kept."""
    job = PredictionJob.objects.create(
        registered_model=model,
        version=version,
        source=PredictionJob.Source.FILE,
        original_filename="grande.csv",
        status=status,
        error="MLflow no disponible" if status == "ERROR" else "",
        finished_at=timezone.now() - timedelta(days=ended_days_ago),
    )
    if keep_input:
        folder = django_settings.MEDIA_ROOT / PredictionJob.storage_dir(job)
        folder.mkdir(parents=True)
        (folder / "input").write_text(INPUT)
        job.input_file.name = str(PredictionJob.storage_dir(job) / "input")
        job.save(update_fields=["input_file"])
    return job


def _retry_url(job):
    return f"/models/{job.registered_model.name}/predictions/{job.pk}/retry/"


def _page_url(job):
    return f"/models/{job.registered_model.name}/predictions/{job.pk}/"


def test_a_viewer_retries_a_failed_job_and_it_is_queued_again(
    viewer_client, served, django_capture_on_commit_callbacks
):
    model, version = served("iris")
    job = failed_job(model, version)
    page = viewer_client.get(_page_url(job)).content.decode()
    assert "Reintentar" in page
    assert "El archivo subido se guarda hasta el" in page

    with django_capture_on_commit_callbacks() as queued:
        response = viewer_client.post(_retry_url(job), follow=True)

    job.refresh_from_db()
    assert response.redirect_chain == [(_page_url(job), 302)]
    assert "Predicción en cola de nuevo con el mismo archivo." in response.content.decode()
    assert (job.status, job.error, job.finished_at, job.rows_done) == ("QUEUED", "", None, 0)
    assert job.input_file.name and (django_settings.MEDIA_ROOT / job.input_file.name).exists()
    assert len(queued) == 1  # the worker's task, sent once the row is committed


def test_a_second_retry_of_the_same_job_is_refused_with_a_message(viewer_client, served):
    model, version = served("iris")
    job = failed_job(model, version)
    viewer_client.post(_retry_url(job))

    response = viewer_client.post(_retry_url(job), follow=True)

    assert (
        "Solo se puede reintentar una predicción que terminó con error; esta está «En cola»."
        in response.content.decode()
    )
    job.refresh_from_db()
    assert job.status == "QUEUED"


@pytest.mark.parametrize(
    ("status", "label"), [("RUNNING", "Prediciendo"), ("FINISHED", "Terminada")]
)
def test_a_running_or_finished_job_cannot_be_retried(viewer_client, served, status, label):
    model, version = served("iris")
    job = failed_job(model, version, status=status)
    before = PredictionJob.objects.values().get(pk=job.pk)

    response = viewer_client.post(_retry_url(job), follow=True)

    page = response.content.decode()
    assert f"esta está «{label}»." in page
    assert 'action="' + _retry_url(job) not in page  # no button offered either
    assert PredictionJob.objects.values().get(pk=job.pk) == before


def test_an_expired_or_missing_input_cannot_be_retried(viewer_client, served):
    model, version = served("iris")
    expired = failed_job(model, version, ended_days_ago=8)
    lost = failed_job(model, version)
    (django_settings.MEDIA_ROOT / lost.input_file.name).unlink()

    for job in (expired, lost):
        response = viewer_client.post(_retry_url(job), follow=True)

        assert "El archivo de entrada de esta predicción ya no se guarda" in (
            response.content.decode()
        )
        job.refresh_from_db()
        assert job.status == "ERROR"
    assert "Reintentar" not in viewer_client.get(_page_url(expired)).content.decode()


def test_mlflow_down_refuses_the_retry_at_once_and_changes_nothing(settings, viewer_client, served):
    model, version = served("iris")
    job = failed_job(model, version)
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"

    response = viewer_client.post(_retry_url(job), follow=True)

    assert "MLflow no disponible" in response.content.decode()
    job.refresh_from_db()
    assert job.status == "ERROR"


def test_a_version_deleted_since_cannot_be_retried(viewer_client, served, mlflow_registry):
    model, version = served("iris")
    job = failed_job(model, version)
    mlflow_registry.delete_model_version(model.name, version)

    response = viewer_client.post(_retry_url(job), follow=True)

    text = html.unescape(response.content.decode())
    assert f"El modelo '{model.name}' no tiene la versión {version}." in text
    job.refresh_from_db()
    assert job.status == "ERROR"


def test_retry_is_post_only_with_csrf_and_members_only(viewer, outsider, served):
    model, version = served("iris")
    job = failed_job(model, version)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(viewer)
    assert strict.get(_retry_url(job)).status_code == 405
    assert strict.post(_retry_url(job)).status_code == 403  # no CSRF token
    stranger = Client()
    stranger.force_login(outsider)
    assert stranger.post(_retry_url(job)).status_code == 404
    anonymous = Client().post(_retry_url(job))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    job.refresh_from_db()
    assert job.status == "ERROR"


def test_a_queued_job_whose_input_is_gone_ends_in_error_with_nothing_to_retry(
    viewer_client, project
):
    from cauce.registry.models import RegisteredModel
    from cauce.registry.predict.services import prediction_job_execute

    model = RegisteredModel.objects.create(project=project, name="sin-entrada")
    job = failed_job(model, 1, status="QUEUED")
    (django_settings.MEDIA_ROOT / job.input_file.name).unlink()

    prediction_job_execute(job_id=str(job.pk))

    job.refresh_from_db()
    assert (job.status, job.input_file.name) == ("ERROR", "")
    assert job.error == (
        "El archivo de entrada de esta predicción ya no existe: súbalo de nuevo para predecir."
    )
    assert not job.can_retry
    assert "Reintentar" not in viewer_client.get(_page_url(job)).content.decode()
