"""MLflow → Cauce: tags edited on a run come back, under the README's conflict rule.

Edits are made with MLflow's own client on the session's real server, as a user of the MLflow
UI or of a script would make them.
"""

import pytest
from django.core.management import call_command
from mlflow.tracking import MlflowClient

from cauce.experiments import services
from cauce.experiments.models import MLExperiment, TagSyncState
from cauce.experiments.runner import run_start
from cauce.experiments.tag_sync import tag_sync_pull, tag_sync_push, tags_merge
from cauce.experiments.tests.web_support import create_experiment
from cauce.integrations.mlflow import tracking

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("end_runs")]


@pytest.fixture
def client(mlflow) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow)


@pytest.fixture
def synced(mlflow, media_root, project, iris_dataset, editor) -> MLExperiment:
    """An experiment tagged "base, iris, v1" whose run Cauce has written."""
    experiment = create_experiment(
        project=project, dataset=iris_dataset, user=editor, tags=["v1", "iris", "base"]
    )
    mlflow_experiment_id = tracking.experiment_ensure(name=project.mlflow_experiment_name)
    run_start(experiment, mlflow_experiment_id=mlflow_experiment_id)
    experiment.refresh_from_db()
    return experiment


def _tags(experiment) -> list[str]:
    return sorted(MLExperiment.objects.get(pk=experiment.pk).tags.names())


def _spec_tags(client, experiment) -> dict[str, str]:
    tags = client.get_run(experiment.mlflow_run_id).data.tags
    return {key: value for key, value in tags.items() if not key.startswith(("mlflow.", "cauce."))}


def _push(experiment) -> None:
    tag_sync_push(experiment_id=experiment.pk)


# --- the merge rule, on its own ----------------------------------------------------------------

WRITTEN = {"tag_0": "base", "tag_1": "iris", "all_tags": "base,iris", "tag_count": "2"}


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        # Nothing edited.
        (WRITTEN, ["base", "iris"]),
        # A tag_i renamed, removed, or added past the end.
        ({**WRITTEN, "tag_1": "Iris"}, ["base", "Iris"]),
        ({k: v for k, v in WRITTEN.items() if k != "tag_0"}, ["iris"]),
        ({**WRITTEN, "tag_2": "nueva"}, ["base", "iris", "nueva"]),
        # all_tags rewritten.
        ({**WRITTEN, "all_tags": "base,iris,  dos   espacios "}, ["base", "dos espacios", "iris"]),
        ({**WRITTEN, "all_tags": "iris"}, ["iris"]),
        # A plain key, with and without a value; mlflow.* and cauce.* keys are never tags.
        ({**WRITTEN, "equipo": "visión"}, ["base", "equipo:visión", "iris"]),
        ({**WRITTEN, "revisar": ""}, ["base", "iris", "revisar"]),
        ({**WRITTEN, "mlflow.source.name": "x", "cauce.other": "y"}, ["base", "iris"]),
        # A case-insensitive duplicate is dropped, the first spelling kept.
        ({**WRITTEN, "tag_2": "BASE"}, ["base", "iris"]),
    ],
)
def test_the_merge_adopts_each_kind_of_edit(run, expected):
    result = tags_merge(base=["base", "iris"], snapshot=WRITTEN, run=run)
    assert sorted(result.tags) == sorted(expected)
    assert result.changed == (sorted(expected) != ["base", "iris"])


def test_the_merge_refuses_tags_that_break_the_rules():
    run = {**WRITTEN, "tag_2": "con,coma", "tag_3": "x" * 101}
    result = tags_merge(base=["base", "iris"], snapshot=WRITTEN, run=run)
    assert result.tags == ["base", "iris"]
    assert result.refused == ["con,coma", "x" * 101]
    # Those keys are not Cauce's: the next push removes them.
    assert result.stray_keys == ["tag_2", "tag_3"]


def test_the_merge_never_adopts_a_cauce_tag_key_and_drops_those_of_tags_it_lacks():
    written = {**WRITTEN, "cauce.tag.base": "true", "cauce.tag.iris": "true"}
    run = {**written, "cauce.tag.surf": "true", "mlflow.source.name": "x", "cauce.url": "u"}
    result = tags_merge(base=["base", "iris"], snapshot=written, run=run)
    assert (result.tags, result.changed) == (["base", "iris"], False)
    assert result.stray_keys == ["cauce.tag.surf"]
    assert not result.incomplete
    # A tag removed in MLflow (its tag_i) takes its key with it.
    edited = {k: v for k, v in run.items() if k != "tag_0"}
    assert tags_merge(base=["base", "iris"], snapshot=written, run=edited).stray_keys == [
        "cauce.tag.base",
        "cauce.tag.surf",
    ]


def test_the_merge_wants_missing_derived_keys_written_again():
    written = {**WRITTEN, "cauce.tag.base": "true", "cauce.tag.iris": "true"}
    complete = {**written, "mlflow.source.name": "Cauce · x", "cauce.url": "u"}
    assert not tags_merge(base=["base", "iris"], snapshot=written, run=complete).incomplete
    for key in ("cauce.tag.iris", "mlflow.source.name", "cauce.url"):
        run = {k: v for k, v in complete.items() if k != key}
        result = tags_merge(base=["base", "iris"], snapshot=written, run=run)
        assert result.incomplete and not result.changed and result.stray_keys == []


# --- against the real server -----------------------------------------------------------------


def test_cauce_tag_keys_edited_in_mlflow_are_not_tags_and_are_put_back(
    synced, client, django_capture_on_commit_callbacks
):
    run_id = synced.mlflow_run_id
    client.set_tag(run_id, "cauce.tag.surf", "true")  # would make a search find this run
    client.delete_tag(run_id, "cauce.tag.iris")  # would hide it from one

    with django_capture_on_commit_callbacks() as sent:
        result = tag_sync_pull()
    assert (result.adopted, result.overridden) == ([], 0)
    assert _tags(synced) == ["base", "iris", "v1"]
    assert len(sent) == 1  # a push, to put the run right

    _push(synced)
    run_tags = client.get_run(run_id).data.tags
    assert sorted(key for key in run_tags if key.startswith("cauce.tag.")) == [
        "cauce.tag.base",
        "cauce.tag.iris",
        "cauce.tag.v1",
    ]
    assert tag_sync_pull().adopted == []
    assert not TagSyncState.objects.get(pk=synced.pk).is_pending


def test_a_run_written_before_the_derived_keys_gets_them_from_the_pull(synced, client):
    run_id = synced.mlflow_run_id
    for key in ("cauce.tag.base", "cauce.tag.iris", "cauce.tag.v1", "cauce.url"):
        client.delete_tag(run_id, key)
    state = TagSyncState.objects.get(pk=synced.pk)
    state.snapshot = {k: v for k, v in state.snapshot.items() if not k.startswith("cauce.")}
    state.save(update_fields=["snapshot"])

    tag_sync_pull()
    _push(synced)
    run_tags = client.get_run(run_id).data.tags
    assert {"cauce.tag.base", "cauce.tag.iris", "cauce.tag.v1", "cauce.url"} <= set(run_tags)
    assert _tags(synced) == ["base", "iris", "v1"]


def test_an_mlflow_edit_with_nothing_pending_is_adopted_and_both_sides_converge(
    synced, client, django_capture_on_commit_callbacks
):
    run_id = synced.mlflow_run_id
    client.set_tag(run_id, "tag_1", "Iris-setosa")  # renamed in the MLflow UI
    client.set_tag(run_id, "prioridad", "alta")  # a plain key added with the client
    client.delete_tag(run_id, "tag_2")  # "v1" removed

    with django_capture_on_commit_callbacks() as sent:
        result = tag_sync_pull()
    adopted = ["Iris-setosa", "base", "prioridad:alta"]
    assert [change.after for change in result.adopted] == [adopted]
    assert _tags(synced) == adopted
    assert len(sent) == 1  # the adoption is itself a change: the run is rewritten

    _push(synced)
    assert _spec_tags(client, synced) == {
        "tag_0": "Iris-setosa",
        "tag_1": "base",
        "tag_2": "prioridad:alta",
        "all_tags": "Iris-setosa,base,prioridad:alta",
        "tag_count": "3",
    }
    # Converged: another pass finds nothing to adopt or to rewrite.
    again = tag_sync_pull()
    assert (again.adopted, again.overridden) == ([], 0)
    assert not TagSyncState.objects.get(pk=synced.pk).is_pending


def test_a_cauce_change_after_the_last_sync_wins_over_an_mlflow_edit_it_has_not_seen(
    synced, client, editor
):
    run_id = synced.mlflow_run_id
    client.set_tag(run_id, "tag_0", "cambiado-en-mlflow")
    client.set_tag(run_id, "de-mlflow", "")
    services.experiment_tags_set(experiment=synced, tags=["base", "iris", "v2"])  # pending

    result = tag_sync_pull()
    assert (result.adopted, result.overridden) == ([], 1)
    assert _tags(synced) == ["base", "iris", "v2"]

    _push(synced)
    assert _spec_tags(client, synced) == {
        "tag_0": "base",
        "tag_1": "iris",
        "tag_2": "v2",
        "all_tags": "base,iris,v2",
        "tag_count": "3",
    }
    assert tag_sync_pull().adopted == []
    assert _tags(synced) == ["base", "iris", "v2"]


def test_the_command_dry_run_says_what_would_change_and_changes_nothing(synced, client, capsys):
    client.set_tag(synced.mlflow_run_id, "all_tags", "base,iris,v1,desde-mlflow")
    version = TagSyncState.objects.get(pk=synced.pk).version

    call_command("sync_tags", "--dry-run", "--experiment", str(synced.pk))

    out, err = capsys.readouterr()
    assert "1 run(s) checked, 1 would adopt, 0 with a pending Cauce change" in out
    assert "base, iris, v1 → base, desde-mlflow, iris, v1" in out
    assert "] 1/1 runs" in err
    assert _tags(synced) == ["base", "iris", "v1"]
    assert TagSyncState.objects.get(pk=synced.pk).version == version

    call_command("sync_tags", "--experiment", str(synced.pk))
    out, _err = capsys.readouterr()
    assert "1 adopted" in out
    assert _tags(synced) == ["base", "desde-mlflow", "iris", "v1"]


def test_the_command_refuses_an_unknown_experiment(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No such experiment"):
        call_command("sync_tags", "--experiment", "00000000-0000-0000-0000-000000000000")


def test_the_periodic_pull_skips_quietly_while_mlflow_is_down(synced, settings):
    from cauce.experiments.tasks import tag_sync_pull_task
    from cauce.integrations.mlflow import client as mlflow_client

    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"
    mlflow_client.reset_availability()
    result = tag_sync_pull_task.apply()
    assert result.successful()
    assert _tags(synced) == ["base", "iris", "v1"]
    assert not TagSyncState.objects.get(pk=synced.pk).is_pending
    mlflow_client.reset_availability()
