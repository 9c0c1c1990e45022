"""Cauce → MLflow: every change of an experiment's tags, name or description reaches its run.

All against the session's real MLflow server (or a dead port for outages). The push that a
commit would send to the broker is captured and run here, so each test decides when it runs.
"""

import pytest
import requests
from django.db import OperationalError
from django.urls import reverse
from mlflow.tracking import MlflowClient

from cauce.experiments import services, tag_sync
from cauce.experiments.models import MLExperiment, TagSyncState
from cauce.experiments.runner import experiment_mlflow_tags, run_start
from cauce.experiments.selectors import ExperimentFilters, experiment_list
from cauce.experiments.tag_sync import PushOutcome, tag_sync_push, tag_sync_sweep
from cauce.experiments.tags import MAX_TAGS
from cauce.experiments.tasks import tag_sync_push_task
from cauce.experiments.tests.web_support import create_experiment
from cauce.integrations.mlflow import MlflowUnavailable, tracking
from cauce.integrations.mlflow import client as mlflow_client_module

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("end_runs")]

FIVE_TAGS = ["iris", "baseline", "rf", "v1", "producción"]


@pytest.fixture
def mlflow_client(mlflow) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow)


@pytest.fixture
def mlflow_requests(monkeypatch, settings) -> list[tuple[str, str]]:
    """(method, path) of every HTTP request Cauce makes to MLflow (a spy: the calls go out)."""
    made: list[tuple[str, str]] = []
    original = requests.Session.request

    def spy(self, method, url, *args, **kwargs):
        if str(url).startswith(settings.MLFLOW_TRACKING_URI):
            made.append((method, str(url)[len(settings.MLFLOW_TRACKING_URI) :]))
        return original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", spy)
    return made


def _with_run(experiment: MLExperiment) -> MLExperiment:
    """Start the experiment's run the way the runner does (tags in the create_run call)."""
    mlflow_experiment_id = tracking.experiment_ensure(
        name=experiment.project.mlflow_experiment_name
    )
    run_start(experiment, mlflow_experiment_id=mlflow_experiment_id)
    experiment.refresh_from_db()
    return experiment


@pytest.fixture
def running(mlflow, media_root, project, iris_dataset, editor) -> MLExperiment:
    """An experiment with five tags whose run exists in MLflow, still RUNNING there."""
    experiment = create_experiment(
        project=project, dataset=iris_dataset, user=editor, tags=FIVE_TAGS, description="Primera"
    )
    MLExperiment.objects.filter(pk=experiment.pk).update(status=MLExperiment.Status.RUNNING)
    return _with_run(experiment)


def _state(experiment) -> TagSyncState:
    return TagSyncState.objects.get(pk=experiment.pk)


def _run_tags(client: MlflowClient, experiment) -> dict[str, str]:
    return client.get_run(experiment.mlflow_run_id).data.tags


def _managed(tags: dict[str, str]) -> dict[str, str]:
    """The run tags that hold the experiment's tags (tag_i, all_tags, tag_count)."""
    return {key: value for key, value in tags.items() if key.startswith(("tag_", "all_tags"))}


# --- run start -------------------------------------------------------------------------------


def test_the_run_starts_with_every_tag_in_the_create_run_call(
    running, mlflow_client, mlflow_requests, editor
):
    tags = _run_tags(mlflow_client, running)
    assert _managed(tags) == {
        "tag_0": "baseline",
        "tag_1": "iris",
        "tag_2": "producción",
        "tag_3": "rf",
        "tag_4": "v1",
        "all_tags": "baseline,iris,producción,rf,v1",
        "tag_count": "5",
    }
    assert tags["mlflow.note.content"] == "Primera"
    assert tags["mlflow.user"] == "eduardo"
    state = _state(running)
    assert (state.synced_version, state.version) == (1, 1)
    assert state.synced_run_id == running.mlflow_run_id
    assert state.snapshot == experiment_mlflow_tags(running)


def test_a_run_with_more_than_100_tags_gets_them_in_batches_of_100(
    mlflow, media_root, project, iris_dataset, editor, mlflow_client, mlflow_requests
):
    names = [f"etiqueta-{index:03d}" for index in range(MAX_TAGS)]
    experiment = create_experiment(project=project, dataset=iris_dataset, user=editor, tags=names)
    experiment = _with_run(experiment)
    writes = [path for method, path in mlflow_requests if method == "POST"]
    # create_run carries 100 of the 209 run tags (100 tag_i, 100 cauce.tag.*, 9 more), two
    # log_batch the other 109.
    assert writes[-3:] == [
        "/api/2.0/mlflow/runs/create",
        "/api/2.0/mlflow/runs/log-batch",
        "/api/2.0/mlflow/runs/log-batch",
    ]
    tags = _run_tags(mlflow_client, experiment)
    assert [tags[f"tag_{index}"] for index in range(100)] == sorted(names)
    assert tags["tag_count"] == "100"
    assert tags["all_tags"] == ",".join(sorted(names))
    assert sorted(key for key in tags if key.startswith("cauce.tag.")) == [
        f"cauce.tag.{name}" for name in sorted(names)
    ]


# --- later edits -----------------------------------------------------------------------------


def test_an_edit_resyncs_the_run_and_removes_the_stale_keys(
    running, mlflow_client, mlflow_requests, editor, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as sent:
        services.experiment_update(
            experiment=running,
            user=editor,
            name="Bosque afinado",
            description="Con <b>menos</b> árboles",
            tags=["Iris", "v2"],
        )
    assert len(sent) == 2  # one push for the name and description, one for the tags
    state = _state(running)
    assert state.is_pending
    mlflow_requests.clear()

    assert tag_sync_push(experiment_id=running.pk) == PushOutcome.SYNCED
    # One batch for everything (the run name too), then one delete per stale key: tag_2..4
    # and the keys of baseline, producción, rf and v1 ("Iris" keeps iris's key: case is ignored).
    assert mlflow_requests == [
        ("POST", "/api/2.0/mlflow/runs/log-batch"),
        *[("POST", "/api/2.0/mlflow/runs/delete-tag")] * 7,
    ]

    tags = _run_tags(mlflow_client, running)
    assert _managed(tags) == {
        "tag_0": "Iris",
        "tag_1": "v2",
        "all_tags": "Iris,v2",
        "tag_count": "2",
    }
    assert tags["mlflow.note.content"] == "Con <b>menos</b> árboles"
    assert sorted(key for key in tags if key.startswith("cauce.tag.")) == [
        "cauce.tag.iris",
        "cauce.tag.v2",
    ]
    assert tags["mlflow.source.name"] == "Cauce · Bosque afinado"
    run = mlflow_client.get_run(running.mlflow_run_id)
    assert run.info.run_name == "Bosque afinado"
    assert run.info.status == "RUNNING"
    state = _state(running)
    assert not state.is_pending
    assert state.synced_version == state.version == 3
    assert state.synced_at is not None and state.last_error == ""

    # The second message finds nothing to do and makes no request.
    mlflow_requests.clear()
    assert tag_sync_push(experiment_id=running.pk) == PushOutcome.UP_TO_DATE
    assert mlflow_requests == []


def test_an_unchanged_edit_records_nothing(running, editor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as sent:
        services.experiment_update(
            experiment=running, user=editor, name=running.name, tags=list(reversed(FIVE_TAGS))
        )
    assert sent == []
    assert not _state(running).is_pending


def test_removing_the_description_removes_the_note(running, mlflow_client, editor):
    services.experiment_update(experiment=running, user=editor, description="")
    tag_sync_push(experiment_id=running.pk)
    assert "mlflow.note.content" not in _run_tags(mlflow_client, running)


def test_replays_and_late_messages_leave_the_latest_state(running, mlflow_client, editor):
    services.experiment_tags_set(experiment=running, tags=["a"])
    services.experiment_tags_set(experiment=running, tags=["b", "c"])
    assert tag_sync_push(experiment_id=running.pk) == PushOutcome.SYNCED
    # The message of the first change arrives late, and a replay is forced: same state.
    assert tag_sync_push(experiment_id=running.pk) == PushOutcome.UP_TO_DATE
    assert tag_sync_push(experiment_id=running.pk, force=True) == PushOutcome.SYNCED
    assert _managed(_run_tags(mlflow_client, running)) == {
        "tag_0": "b",
        "tag_1": "c",
        "all_tags": "b,c",
        "tag_count": "2",
    }


def test_a_second_writer_waits_while_the_first_holds_the_run(running, editor):
    services.experiment_tags_set(experiment=running, tags=["x"])
    TagSyncState.objects.filter(pk=running.pk).update(
        lease_token="other-worker", lease_until="2999-01-01T00:00:00Z"
    )
    assert tag_sync_push(experiment_id=running.pk) == PushOutcome.BUSY
    assert _state(running).is_pending


def test_a_change_while_the_run_starts_is_pushed_after_it(
    mlflow, media_root, project, iris_dataset, editor, mlflow_client, monkeypatch,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    """The runner reads the version, then the tags: a change in between is pushed later."""
    experiment = create_experiment(project=project, dataset=iris_dataset, user=editor, tags=["a"])
    from cauce.experiments import runner

    read_version = runner.tag_sync_version

    def version_then_change(**kwargs):
        version = read_version(**kwargs)
        services.experiment_tags_set(experiment=experiment, tags=["a", "b"])
        return version

    monkeypatch.setattr(runner, "tag_sync_version", version_then_change)
    with django_capture_on_commit_callbacks() as sent:
        experiment = _with_run(experiment)
    assert _state(experiment).is_pending
    assert len(sent) >= 1
    tag_sync_push(experiment_id=experiment.pk)
    assert _run_tags(mlflow_client, experiment)["all_tags"] == "a,b"
    assert not _state(experiment).is_pending


def test_an_experiment_without_a_run_is_synced_without_calling_mlflow(
    media_root, project, iris_dataset, editor, mlflow_requests
):
    experiment = create_experiment(project=project, dataset=iris_dataset, user=editor)
    assert _state(experiment).is_pending
    assert tag_sync_push(experiment_id=experiment.pk) == PushOutcome.SYNCED
    assert mlflow_requests == []
    assert not _state(experiment).is_pending


def test_a_run_deleted_in_mlflow_is_reported_on_the_page(
    running, mlflow_client, editor, editor_client
):
    mlflow_client.delete_run(running.mlflow_run_id)
    services.experiment_tags_set(experiment=running, tags=["otra"])
    assert tag_sync_push(experiment_id=running.pk) == PushOutcome.FAILED
    state = _state(running)
    assert not state.is_pending
    assert state.last_error.startswith("MLflow rechazó la sincronización")
    page = editor_client.get(reverse("experiments:ml_experiment_detail", args=[running.pk]))
    assert "No se pudo sincronizar con MLflow" in page.content.decode()


# --- MLflow down -----------------------------------------------------------------------------


def test_mlflow_down_keeps_the_change_pending_until_the_sweep_applies_it(
    running, mlflow, mlflow_client, editor, editor_client, editor_api, settings
):
    def editor_api_pending(experiment) -> bool:
        return editor_api.get(f"/api/experiments/{experiment.pk}/").json()["tag_sync_pending"]

    url = reverse("experiments:ml_experiment_detail", args=[running.pk])
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"
    mlflow_client_module.reset_availability()
    services.experiment_update(experiment=running, user=editor, name="Renombrado", tags=["solo"])
    with pytest.raises(MlflowUnavailable):
        tag_sync_push(experiment_id=running.pk)
    state = _state(running)
    assert state.is_pending and state.attempts == 1 and state.lease_token == ""
    page = editor_client.get(url).content.decode()
    assert "Etiquetas pendientes de sincronizar" in page
    assert "1 intento fallido; se reintentará." in page
    assert 'hx-trigger="every 2s"' in page
    assert [
        e.pk
        for e in experiment_list(
            project=running.project, filters=ExperimentFilters(sync_pending=True)
        )
    ] == [running.pk]
    assert editor_api_pending(running) is True
    # While MLflow is down the sweep stops at once and keeps everything pending.
    assert tag_sync_sweep().unavailable
    assert _state(running).is_pending

    settings.MLFLOW_TRACKING_URI = mlflow
    mlflow_client_module.reset_availability()
    result = tag_sync_sweep()
    assert (result.pushed, result.unavailable) == (1, False)
    assert _managed(_run_tags(mlflow_client, running)) == {
        "tag_0": "solo",
        "all_tags": "solo",
        "tag_count": "1",
    }
    assert mlflow_client.get_run(running.mlflow_run_id).info.run_name == "Renombrado"
    assert (
        list(experiment_list(project=running.project, filters=ExperimentFilters(sync_pending=True)))
        == []
    )
    assert editor_api_pending(running) is False
    fragment = editor_client.get(reverse("experiments:ml_experiment_tag_sync", args=[running.pk]))
    body = fragment.content.decode()
    assert "Sincronizado con MLflow hace un momento" in body
    assert "hx-trigger" not in body


def test_mlflow_down_at_run_start_loses_no_tag(
    mlflow, media_root, project, iris_dataset, editor, mlflow_client, settings
):
    from cauce.experiments.runner import experiment_execute

    experiment = create_experiment(project=project, dataset=iris_dataset, user=editor, tags=["a"])
    services.experiment_enqueue(experiment=experiment, user=editor)
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"
    mlflow_client_module.reset_availability()
    with pytest.raises(MlflowUnavailable):
        experiment_execute(experiment_id=str(experiment.pk), retry_on_unavailable=True)
    experiment.refresh_from_db()
    assert (experiment.status, experiment.mlflow_run_id) == (MLExperiment.Status.QUEUED, "")
    services.experiment_tags_set(experiment=experiment, tags=["a", "añadida durante el corte"])

    settings.MLFLOW_TRACKING_URI = mlflow
    mlflow_client_module.reset_availability()
    experiment_execute(experiment_id=str(experiment.pk), retry_on_unavailable=True)
    experiment.refresh_from_db()
    assert experiment.status == MLExperiment.Status.FINISHED, experiment.error
    assert _run_tags(mlflow_client, experiment)["all_tags"] == "a,añadida durante el corte"
    assert not _state(experiment).is_pending


# --- values over MLflow's limits ---------------------------------------------------------------


def test_values_over_mlflow_limits_are_kept_whole_and_the_page_says_what_mlflow_got(
    running, mlflow_client, editor, editor_client
):
    description = "d" * 9000
    long_tags = [f"{index:02d}" + "x" * 98 for index in range(100)]  # 100 tags of 100 chars
    services.experiment_update(
        experiment=running, user=editor, description=description, tags=long_tags
    )
    tag_sync_push(experiment_id=running.pk)
    running.refresh_from_db()
    assert running.description == description
    assert sorted(running.tags.names()) == long_tags
    tags = _run_tags(mlflow_client, running)
    assert tags["mlflow.note.content"] == "d" * 8000
    # all_tags holds the whole tags that fit in 8000 characters: 79 of 101 characters each.
    assert tags["all_tags"] == ",".join(long_tags[:79])
    assert [tags[f"tag_{index}"] for index in range(100)] == long_tags
    assert tags["tag_count"] == "100"
    page = editor_client.get(reverse("experiments:ml_experiment_detail", args=[running.pk]))
    text = page.content.decode()
    assert "MLflow recibió 79 de 100 etiquetas en <code>all_tags</code>" in text
    assert "MLflow recibió los primeros 8000 de 9000 caracteres de la descripción" in text
    assert not _state(running).is_pending


# --- the list filter ---------------------------------------------------------------------------


def test_the_list_filters_on_pending(running, media_root, project, iris_dataset, editor):
    # A draft's change is recorded too, but it has no run to be pending for.
    other = create_experiment(project=project, dataset=iris_dataset, user=editor, name="Otro")
    assert _state(other).is_pending
    assert (
        list(experiment_list(project=project, filters=ExperimentFilters(sync_pending=True))) == []
    )
    services.experiment_tags_set(experiment=running, tags=["cambio"])
    assert [
        e.pk for e in experiment_list(project=project, filters=ExperimentFilters(sync_pending=True))
    ] == [running.pk]
    assert [
        e.pk
        for e in experiment_list(project=project, filters=ExperimentFilters(sync_pending=False))
    ] == [other.pk]


# --- the push task and Cauce's database ------------------------------------------------------


def _database_down(monkeypatch, times: int) -> list[str]:
    """``tag_sync_push`` first raises what Django raises once PostgreSQL dropped the worker's
    connection (a restart), ``times`` times; then it pushes for real. The experiment ids asked."""
    asked: list[str] = []
    real = tag_sync.tag_sync_push

    def push(**kwargs):
        asked.append(kwargs["experiment_id"])
        if len(asked) <= times:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(tag_sync, "tag_sync_push", push)
    return asked


@pytest.fixture
def edited(running, editor, settings, django_capture_on_commit_callbacks):
    """``running`` with its tags edited; the push the commit sent is not run."""
    settings.TAG_SYNC_RETRY_DELAY = 0
    settings.TAG_SYNC_RETRIES = 2
    with django_capture_on_commit_callbacks():
        services.experiment_update(experiment=running, user=editor, tags=["tras-la-caída"])
    assert _state(running).is_pending
    return running


def test_the_push_task_retries_while_the_database_is_down(edited, mlflow_client, monkeypatch):
    asked = _database_down(monkeypatch, times=2)

    result = tag_sync_push_task.apply(args=[str(edited.pk)])

    assert result.successful(), result.traceback
    assert asked == [str(edited.pk)] * 3  # two refused, then the push
    assert _managed(_run_tags(mlflow_client, edited)) == {
        "tag_0": "tras-la-caída",
        "all_tags": "tras-la-caída",
        "tag_count": "1",
    }
    assert not _state(edited).is_pending


def test_the_push_task_leaves_the_change_to_the_sweep_when_the_database_stays_down(
    edited, mlflow_client, monkeypatch
):
    asked = _database_down(monkeypatch, times=100)

    result = tag_sync_push_task.apply(args=[str(edited.pk)])

    assert result.failed() and isinstance(result.result, OperationalError)
    assert len(asked) == 3  # the first try and TAG_SYNC_RETRIES retries
    assert _state(edited).is_pending
    monkeypatch.undo()  # the database is back: the periodic sweep pushes the change
    assert tag_sync_sweep().pushed == 1
    assert _managed(_run_tags(mlflow_client, edited))["all_tags"] == "tras-la-caída"


def test_the_push_task_does_not_retry_an_error_that_is_not_an_outage(edited, monkeypatch):
    asked: list[str] = []

    def push(**kwargs):
        asked.append(kwargs["experiment_id"])
        raise ValueError("a bug, not an outage")

    monkeypatch.setattr(tag_sync, "tag_sync_push", push)

    result = tag_sync_push_task.apply(args=[str(edited.pk)])

    assert result.failed() and isinstance(result.result, ValueError)
    assert len(asked) == 1
    assert _state(edited).is_pending
