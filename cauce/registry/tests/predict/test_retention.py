"""Retention of prediction jobs: expired jobs lose their files and rows; pages say so."""

import os
import uuid
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from cauce.registry.models import PredictionJob, RegisteredModel
from cauce.registry.predict.retention import prediction_jobs_expire

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

RESULT = "sepal_length,prediction\n5.1,setosa\n"


@pytest.fixture
def model(project):
    return RegisteredModel.objects.create(project=project, name="retencion-iris")


def _folder(job):
    return django_settings.MEDIA_ROOT / PredictionJob.storage_dir(job)


def make_job(model, *, status="FINISHED", ended_days_ago=1.0, silent_days=None):
    """A job as the services leave it, with its real files, ended that many days ago."""
    job = PredictionJob.objects.create(
        registered_model=model,
        version=1,
        source=PredictionJob.Source.FILE,
        original_filename="filas.csv",
        status=status,
        rows_total=1,
        rows_done=1,
    )
    folder = _folder(job)
    folder.mkdir(parents=True)
    fields = {}
    if status == "FINISHED":
        (folder / "result.csv").write_text(RESULT)
        fields["result_file"] = str(PredictionJob.storage_dir(job) / "result.csv")
    else:
        (folder / "input").write_text("sepal_length\n5.1\n")
        fields["input_file"] = str(PredictionJob.storage_dir(job) / "input")
    now = timezone.now()
    if status in ("FINISHED", "ERROR"):
        fields["finished_at"] = now - timedelta(days=ended_days_ago)
    fields["updated_at"] = now - timedelta(days=silent_days if silent_days else ended_days_ago)
    PredictionJob.objects.filter(pk=job.pk).update(**fields)
    job.refresh_from_db()
    return job


def _age(path, days):
    stamp = (timezone.now() - timedelta(days=days)).timestamp()
    os.utime(path, (stamp, stamp))


def test_an_expired_job_loses_its_files_and_row_and_a_recent_one_stays(model):
    old = make_job(model, ended_days_ago=8)
    failed = make_job(model, status="ERROR", ended_days_ago=7.5)
    recent = make_job(model, ended_days_ago=6)

    result = prediction_jobs_expire()

    assert (result.jobs, result.folders, result.remaining) == (2, 2, 0)
    assert list(PredictionJob.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not _folder(old).exists()
    assert not _folder(failed).exists()
    assert (_folder(recent) / "result.csv").read_text() == RESULT


def test_running_jobs_stay_unless_silent_for_the_whole_retention(model):
    running = make_job(model, status="RUNNING", silent_days=0.1)
    abandoned = make_job(model, status="QUEUED", silent_days=9)

    result = prediction_jobs_expire()

    assert result.jobs == 1
    assert list(PredictionJob.objects.values_list("pk", flat=True)) == [running.pk]
    assert _folder(running).exists()
    assert not _folder(abandoned).exists()


def test_one_run_deletes_at_most_its_batch_and_the_next_run_goes_on(settings, model):
    settings.PREDICTION_RETENTION_BATCH = 2
    jobs = [make_job(model, ended_days_ago=8 + n) for n in range(5)]

    first = prediction_jobs_expire()

    assert (first.jobs, first.remaining) == (2, 3)
    # The oldest go first.
    assert not PredictionJob.objects.filter(pk__in=[jobs[4].pk, jobs[3].pk]).exists()
    assert (prediction_jobs_expire().jobs, prediction_jobs_expire().jobs) == (2, 1)
    assert PredictionJob.objects.count() == 0
    assert not any(_folder(job).exists() for job in jobs)


def test_a_folder_left_without_its_row_is_removed_once_as_old(media_root, model, project):
    kept = make_job(model, ended_days_ago=2)
    _age(_folder(kept) / "result.csv", 30)  # an old file of a job that has not expired stays
    orphan = media_root / "predictions" / str(project.pk) / str(uuid.uuid4())
    orphan.mkdir(parents=True)
    (orphan / "result.csv").write_text(RESULT)
    _age(orphan / "result.csv", 8)  # a folder is as old as its newest file
    young_orphan = media_root / "predictions" / "999" / str(uuid.uuid4())
    young_orphan.mkdir(parents=True)
    (young_orphan / ".result-tmp").write_text("")

    result = prediction_jobs_expire()

    assert (result.jobs, result.folders) == (0, 1)
    assert not orphan.exists()
    assert young_orphan.exists()
    assert (_folder(kept) / "result.csv").exists()


def test_deleting_a_project_leaves_files_that_the_sweep_removes_later(media_root, model, project):
    folder = _folder(make_job(model, ended_days_ago=1))
    project.delete()
    assert folder.exists()

    assert prediction_jobs_expire().folders == 0
    _age(folder / "result.csv", 8)
    assert prediction_jobs_expire().folders == 1
    assert not (media_root / "predictions" / str(project.pk)).exists()


def test_zero_days_keeps_everything(settings, model):
    settings.PREDICTION_RETENTION_DAYS = 0
    job = make_job(model, ended_days_ago=400)

    assert prediction_jobs_expire().jobs == 0
    job.refresh_from_db()
    assert job.expires_at is None
    assert (_folder(job) / "result.csv").exists()


def test_the_command_reports_a_dry_run_then_deletes(capsys, model):
    old = make_job(model, ended_days_ago=10)
    make_job(model, ended_days_ago=1)

    call_command("expire_predictions", "--dry-run")
    dry = capsys.readouterr().out
    assert PredictionJob.objects.count() == 2
    assert "1 job(s) would be deleted" in dry

    call_command("expire_predictions", "--limit", "5")
    out = capsys.readouterr().out
    assert "1 job(s) deleted, 1 folder(s) of files deleted" in out
    assert "0 expired job(s) left" in out
    assert not PredictionJob.objects.filter(pk=old.pk).exists()
    assert not _folder(old).exists()


def test_the_beat_schedule_runs_the_registered_sweep_task(model):
    from config.celery import app

    app.loader.import_default_modules()  # what a worker does at start: autodiscovery
    entry = django_settings.CELERY_BEAT_SCHEDULE["predictions-expire"]
    task = app.tasks[entry["task"]]
    old = make_job(model, ended_days_ago=8)

    task.apply()

    assert not PredictionJob.objects.filter(pk=old.pk).exists()
    assert not _folder(old).exists()


# --- what the pages show ---------------------------------------------------------------------


def _urls(job):
    base = f"/models/{job.registered_model.name}/predictions/{job.pk}/"
    return base, base + "download/"


def test_the_page_shows_when_the_result_expires(viewer_client, model):
    job = make_job(model, ended_days_ago=1)
    page, download = _urls(job)

    html = viewer_client.get(page).content.decode()

    assert "El resultado se guarda hasta el" in html
    assert job.expires_at.date() == (job.finished_at + timedelta(days=7)).date()
    response = viewer_client.get(download)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode() == RESULT


def test_an_expired_result_not_yet_swept_answers_410_in_spanish(viewer_client, model):
    job = make_job(model, ended_days_ago=8)
    page, download = _urls(job)

    response = viewer_client.get(download)

    assert response.status_code == 410
    html = response.content.decode()
    assert "El resultado de esta predicción caducó el" in html
    assert "(los resultados se guardan 7 días). Vuelva a predecir para obtenerlo." in html
    detail = viewer_client.get(page)
    assert detail.status_code == 200
    assert "caducó" in detail.content.decode()


def test_a_result_file_gone_from_disk_answers_410_not_500(viewer_client, model):
    job = make_job(model, ended_days_ago=1)
    (_folder(job) / "result.csv").unlink()
    page, download = _urls(job)

    response = viewer_client.get(download)

    assert response.status_code == 410
    assert "ya no existe. Vuelva a predecir." in response.content.decode()
    assert viewer_client.get(page).status_code == 200


def test_the_expired_message_follows_the_users_language(viewer_client, model):
    job = make_job(model, ended_days_ago=8)
    _page, download = _urls(job)

    viewer_client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"  # the page's switch

    response = viewer_client.get(download)

    assert response.status_code == 410
    assert "results are kept for 7 days). Predict again to get it." in response.content.decode()


def test_a_swept_job_answers_a_clear_404_to_members_and_a_plain_one_to_outsiders(
    viewer_client, outsider, model
):
    job = make_job(model, ended_days_ago=8)
    page, download = _urls(job)
    prediction_jobs_expire()

    for url in (page, download):
        response = viewer_client.get(url)
        assert response.status_code == 404
        assert "Esta predicción no existe o ya caducó" in response.content.decode()
    stranger = Client()
    stranger.force_login(outsider)
    response = stranger.get(download)
    assert response.status_code == 404
    assert "caducó" not in response.content.decode()
