"""Sweeps keep a dataset version: chosen or the latest, read by the trials, kept by a re-run
and a promotion, listed in the version's lineage, protecting it from deletion."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cauce.core.exceptions import ConflictError
from cauce.datasets.services import dataset_version_create, dataset_version_delete
from cauce.sweeps import engine
from cauce.sweeps.models import Sweep
from cauce.sweeps.services import sweep_promote, sweep_rerun
from cauce.sweeps.tests.conftest import sweep_body
from cauce.sweeps.tests.test_views import _form_post

pytestmark = pytest.mark.django_db

V2_ROWS = 60


@pytest.fixture
def two_versions(iris_dataset, iris_csv_bytes, editor):
    """Iris as version 1 (150 rows) and its first 60 rows as version 2 (the latest)."""
    lines = iris_csv_bytes.splitlines(keepends=True)
    content = b"".join(lines[: V2_ROWS + 1])
    dataset_version_create(
        dataset=iris_dataset, user=editor, file=SimpleUploadedFile("iris-2.csv", content)
    )
    iris_dataset.refresh_from_db()
    return iris_dataset


def _create(api, project, dataset, callbacks, **changes):
    with callbacks(execute=False):
        return api.post("/api/sweeps/", sweep_body(project, dataset, **changes), format="json")


def test_the_api_trains_on_the_latest_by_default_or_the_version_chosen(
    editor_api, project, two_versions, django_capture_on_commit_callbacks
):
    latest = _create(editor_api, project, two_versions, django_capture_on_commit_callbacks)
    chosen = _create(
        editor_api, project, two_versions, django_capture_on_commit_callbacks, dataset_version=1
    )

    assert latest.status_code == chosen.status_code == 201, (latest.content, chosen.content)
    assert latest.json()["dataset_version"]["version"] == 2
    assert chosen.json()["dataset_version"]["version"] == 1
    assert chosen.json()["dataset_version"]["digest"] == two_versions.versions.get(version=1).digest
    detail = editor_api.get(f"/api/sweeps/{chosen.json()['id']}/").json()
    assert detail["dataset_version"]["version"] == 1


def test_an_unknown_version_is_a_400_that_creates_nothing(
    editor_api, project, two_versions, django_capture_on_commit_callbacks
):
    response = _create(
        editor_api, project, two_versions, django_capture_on_commit_callbacks, dataset_version=9
    )

    assert response.status_code == 400, response.content
    assert "dataset_version" in response.json()["errors"]
    assert "no tiene esa versión" in response.json()["message"]
    assert not Sweep.objects.exists()


def test_the_form_posts_the_version_chosen(
    editor_client, project, two_versions, django_capture_on_commit_callbacks
):
    url = reverse("sweeps:sweep_create", args=[project.pk])
    page = editor_client.get(url)
    assert 'name="dataset_version"' in page.content.decode()

    with django_capture_on_commit_callbacks(execute=False):
        response = editor_client.post(url, _form_post(project, two_versions, dataset_version="1"))

    assert response.status_code == 302
    assert Sweep.objects.get().dataset_version.version == 1


def test_trials_read_the_sweeps_version_and_the_parent_run_names_it(
    editor_api, project, two_versions, django_capture_on_commit_callbacks
):
    first = _create(
        editor_api, project, two_versions, django_capture_on_commit_callbacks, dataset_version=1
    )
    second = _create(editor_api, project, two_versions, django_capture_on_commit_callbacks)
    on_first = Sweep.objects.get(pk=first.json()["id"])
    on_second = Sweep.objects.get(pk=second.json()["id"])

    # One process reads both: its cache keys on the version, not on the dataset.
    assert len(engine._frame(on_first)) == 150
    assert len(engine._frame(on_second)) == V2_ROWS
    assert len(engine._frame(on_first)) == 150
    params = engine.sweep_mlflow_params(on_first)
    assert params["dataset_version"] == 1
    assert params["dataset_digest"] == on_first.dataset_version.digest


def test_a_rerun_and_a_promotion_keep_the_version(
    editor_api, project, two_versions, editor, django_capture_on_commit_callbacks
):
    created = _create(
        editor_api, project, two_versions, django_capture_on_commit_callbacks, dataset_version=1
    )
    Sweep.objects.filter(pk=created.json()["id"]).update(
        status=Sweep.Status.FINISHED, best_number=0, best_value=0.9, best_params={"max_depth": 2}
    )
    sweep = Sweep.objects.get(pk=created.json()["id"])

    with django_capture_on_commit_callbacks(execute=False):
        again = sweep_rerun(sweep=sweep, user=editor)
        experiment = sweep_promote(sweep=sweep, user=editor)

    assert again.dataset_version.version == 1
    assert experiment.dataset_version.version == 1


def test_a_version_a_sweep_uses_is_not_deleted(
    editor_api, project, two_versions, editor, django_capture_on_commit_callbacks
):
    _create(
        editor_api, project, two_versions, django_capture_on_commit_callbacks, dataset_version=1
    )
    version = two_versions.versions.get(version=1)

    with pytest.raises(ConflictError) as refused:
        dataset_version_delete(version=version, user=editor)

    assert "la usa 1 barrido" in str(refused.value.message)
    assert two_versions.versions.filter(version=1).exists()


def test_the_lineage_lists_the_versions_sweeps(
    editor_api, editor_client, project, two_versions, django_capture_on_commit_callbacks
):
    created = _create(
        editor_api, project, two_versions, django_capture_on_commit_callbacks, dataset_version=1
    )
    sweep_id = created.json()["id"]

    first = editor_api.get(f"/api/datasets/{two_versions.pk}/versions/1/lineage/").json()
    second = editor_api.get(f"/api/datasets/{two_versions.pk}/versions/2/lineage/").json()
    assert [item["id"] for item in first["sweeps"]] == [sweep_id]
    assert first["sweeps"][0]["name"] == "Barrido iris"
    assert second["sweeps"] == []

    page = editor_client.get(
        reverse("datasets:dataset_version_detail", args=[two_versions.pk, 1])
    ).content.decode()
    assert reverse("sweeps:sweep_detail", args=[sweep_id]) in page
    assert "La usan barridos: no se puede eliminar." in page
    other = editor_client.get(
        reverse("datasets:dataset_version_detail", args=[two_versions.pk, 2])
    ).content.decode()
    assert "Ningún barrido usa esta versión." in other


def test_the_migration_gives_older_sweeps_their_datasets_latest_version(sweep, two_versions):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("cauce.sweeps.migrations.0003_dataset_version")
    assert sweep.dataset_version is None  # created as before versions (the fixture)

    migration.existing_sweeps_latest_version(apps, None)

    sweep.refresh_from_db()
    assert sweep.dataset_version_id == two_versions.latest_version_id
    assert sweep.dataset_version.version == 2
