"""Dataset versions: upload, identical re-upload, delete, schema differences; pages and API."""

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cauce.core.exceptions import ApplicationError, ConflictError
from cauce.datasets.models import Dataset, DatasetVersion
from cauce.datasets.selectors import schema_diff
from cauce.datasets.services import dataset_version_create, dataset_version_delete
from cauce.datasets.tests.conftest import stored_files
from cauce.datasets.tests.samples import GOOD_PARQUET
from cauce.experiments import services as experiment_services

pytestmark = pytest.mark.django_db

# Iris's columns, 3 rows; then: one column retyped, one removed, one added, one row more.
V1 = (
    b"sepal_length,petal_length,code,species\n5.1,1.4,1,setosa\n7.0,4.7,2,versicolor\n"
    b"6.3,6.0,3,virginica\n"
)
V2 = (
    b"sepal_length,code,species,color\n5.1,a,setosa,red\n7.0,b,versicolor,blue\n"
    b"6.3,c,virginica,red\n5.9,d,setosa,blue\n"
)


def digest_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:32]


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


@pytest.fixture
def dataset(make_dataset, project, editor):
    return make_dataset(project, V1, "flores.csv", name="Flores", user=editor)


def new_version(dataset, editor, content=V2, name="flores-2.csv"):
    return dataset_version_create(dataset=dataset, user=editor, file=upload(name, content))


# --- services -------------------------------------------------------------------------------


def test_an_upload_is_version_1_with_the_digest_of_its_bytes(dataset, editor):
    [version] = dataset.versions.all()

    assert version.version == 1
    assert version.digest == digest_of(V1)
    assert version.created_by == editor
    assert (version.row_count, version.column_count) == (3, 4)
    assert dataset.latest_version == version
    assert version.file.name == dataset.file.name


def test_parquet_and_cp1252_files_get_their_bytes_digest(make_dataset, project):
    text = "ciudad;valor\nMálaga;1\nCórdoba;2\n".encode("cp1252")
    for content, name in ((GOOD_PARQUET, "p.parquet"), (text, "c.csv")):
        created = make_dataset(project, content, name)
        assert created.latest_version.digest == digest_of(content)


def test_a_new_file_is_the_next_version_and_the_datasets_latest(dataset, editor, media_root):
    result = new_version(dataset, editor)

    assert result.created
    assert result.version.version == 2
    assert result.version.digest == digest_of(V2)
    dataset.refresh_from_db()
    assert dataset.latest_version == result.version
    assert (dataset.row_count, dataset.column_count) == (4, 4)
    assert dataset.original_filename == "flores-2.csv"
    assert dataset.file.name == result.version.file.name
    assert len(stored_files(media_root)) == 2


def test_an_identical_file_creates_nothing_and_names_its_version(dataset, editor, media_root):
    new_version(dataset, editor)

    again = new_version(dataset, editor, content=V1, name="otra-copia.csv")

    assert not again.created
    assert again.version.version == 1
    assert dataset.versions.count() == 2
    assert len(stored_files(media_root)) == 2
    dataset.refresh_from_db()
    assert dataset.latest_version.version == 2


def test_a_bad_file_is_refused_and_nothing_changes(dataset, editor, media_root):
    with pytest.raises(ApplicationError, match="vacío"):
        new_version(dataset, editor, content=b"")

    assert dataset.versions.count() == 1
    assert len(stored_files(media_root)) == 1


def test_a_number_taken_meanwhile_is_a_conflict_that_stores_nothing(dataset, editor, media_root):
    # As when another upload took number 2 between this one's read and its write (SQLite).
    Dataset.objects.filter(pk=dataset.pk).update(versions_created=0)

    with pytest.raises(ConflictError, match="vuelva a intentarlo"):
        new_version(dataset, editor)

    assert dataset.versions.count() == 1
    assert len(stored_files(media_root)) == 1


def test_a_version_an_experiment_uses_is_not_deleted(dataset, editor, project):
    new_version(dataset, editor)
    first = dataset.versions.get(version=1)
    experiment_services.experiment_create(
        project=project,
        user=editor,
        name="Sobre v1",
        dataset=dataset,
        dataset_version=1,
        target_column="species",
        algorithm="LogisticRegression",
    )

    with pytest.raises(ConflictError, match="la versión 1 de «Flores»: la usa 1 experimento"):
        dataset_version_delete(version=first, user=editor)

    assert dataset.versions.count() == 2


def test_the_only_version_is_not_deleted(dataset, editor):
    with pytest.raises(ConflictError, match="única versión"):
        dataset_version_delete(version=dataset.latest_version, user=editor)


def test_deleting_the_latest_makes_the_previous_the_latest_again(
    dataset, editor, media_root, django_capture_on_commit_callbacks
):
    second = new_version(dataset, editor).version

    with django_capture_on_commit_callbacks(execute=True):
        dataset_version_delete(version=second, user=editor)

    dataset.refresh_from_db()
    assert dataset.latest_version.version == 1
    assert dataset.row_count == 3
    assert len(stored_files(media_root)) == 1
    # Numbers are never given twice: the next file is version 3.
    assert new_version(dataset, editor, content=V2 + b"6.0,e,setosa,red\n").version.version == 3


def test_deleting_the_dataset_deletes_every_versions_file(
    dataset, editor, media_root, django_capture_on_commit_callbacks
):
    from cauce.datasets.services import dataset_delete

    new_version(dataset, editor)
    with django_capture_on_commit_callbacks(execute=True):
        dataset_delete(dataset=dataset, user=editor)

    assert stored_files(media_root) == []
    assert not DatasetVersion.objects.exists()


def test_the_schema_diff_names_added_removed_and_retyped_columns(dataset, editor):
    second = new_version(dataset, editor).version

    diff = schema_diff(before=dataset.versions.get(version=1), after=second)

    # An added column is typed as in the new version, a removed one as in the old.
    assert [(c.name, c.dtype) for c in diff.added] == [("color", "str")]
    assert [(c.name, c.dtype) for c in diff.removed] == [("petal_length", "float64")]
    assert [(c.name, c.before, c.after) for c in diff.retyped] == [("code", "int64", "str")]
    assert (diff.rows_before, diff.rows_after, diff.rows_change) == (3, 4, 1)


# --- experiments keep their version ---------------------------------------------------------


def test_an_experiment_trains_on_the_latest_by_default_or_the_version_chosen(
    dataset, editor, project
):
    new_version(dataset, editor)
    arguments = {
        "project": project,
        "user": editor,
        "dataset": dataset,
        "target_column": "species",
        "algorithm": "LogisticRegression",
    }

    latest = experiment_services.experiment_create(name="Última", **arguments)
    chosen = experiment_services.experiment_create(
        name="Primera", dataset_version=1, feature_columns=["petal_length"], **arguments
    )

    assert latest.dataset_version.version == 2
    assert chosen.dataset_version.version == 1
    # A column of version 1 only is refused for the latest version.
    with pytest.raises(ApplicationError) as refused:
        experiment_services.experiment_create(
            name="No", feature_columns=["petal_length"], **arguments
        )
    assert refused.value.extra == {"feature_columns": str(refused.value.message)}


def test_an_unknown_version_is_refused(dataset, editor, project):
    with pytest.raises(ApplicationError) as refused:
        experiment_services.experiment_create(
            project=project,
            user=editor,
            name="X",
            dataset=dataset,
            dataset_version=7,
            target_column="species",
            algorithm="LogisticRegression",
        )

    assert "dataset_version" in refused.value.extra
    assert "no tiene esa versión" in str(refused.value.message)


# --- pages ----------------------------------------------------------------------------------


def test_the_new_version_page_uploads_and_shows_the_schema_diff(editor_client, dataset):
    url = f"/datasets/{dataset.pk}/versions/new/"
    response = editor_client.post(url, {"file": upload("flores-2.csv", V2)}, follow=True)

    assert response.redirect_chain[-1][0] == f"/datasets/{dataset.pk}/versions/2/"
    page = response.content.decode()
    assert "Versión 2 de «Flores» subida" in page
    assert 'data-change="added"><td class="mono">color' in page
    assert 'data-change="removed"><td class="mono">petal_length' in page
    added_row = page.split('data-change="added">')[1].split("</tr>")[0]
    removed_row = page.split('data-change="removed">')[1].split("</tr>")[0]
    assert '<td class="mono">str</td>' in added_row
    assert '<td class="mono">float64</td>' in removed_row
    assert "int64 → str" in page
    assert "Filas: 3 → 4 (+1)." in page


def test_an_identical_upload_on_the_page_says_which_version_it_is(editor_client, dataset):
    url = f"/datasets/{dataset.pk}/versions/new/"
    response = editor_client.post(url, {"file": upload("copia.csv", V1)}, follow=True)

    assert response.redirect_chain[-1][0] == f"/datasets/{dataset.pk}/versions/1/"
    assert "El archivo es idéntico a la versión 1" in response.content.decode()
    assert dataset.versions.count() == 1


def test_the_dataset_page_lists_its_versions(viewer_client, dataset, editor):
    new_version(dataset, editor)

    page = viewer_client.get(f"/datasets/{dataset.pk}/").content.decode()

    assert 'data-version="2"' in page and 'data-version="1"' in page
    assert digest_of(V2) in page
    assert "Nueva versión" not in page  # a viewer uploads nothing


def test_version_pages_are_404_for_outsiders(outsider_client, dataset):
    for url in (
        f"/datasets/{dataset.pk}/versions/1/",
        f"/datasets/{dataset.pk}/versions/new/",
        f"/datasets/{dataset.pk}/versions/1/download/",
    ):
        assert outsider_client.get(url).status_code == 404


def test_a_missing_version_is_404(viewer_client, dataset):
    assert viewer_client.get(f"/datasets/{dataset.pk}/versions/9/").status_code == 404


def test_deleting_a_used_version_on_the_page_says_why(editor_client, dataset, editor, project):
    new_version(dataset, editor)
    experiment_services.experiment_create(
        project=project,
        user=editor,
        name="Sobre v2",
        dataset=dataset,
        target_column="species",
        algorithm="LogisticRegression",
    )

    response = editor_client.post(f"/datasets/{dataset.pk}/versions/2/delete/", follow=True)

    assert "No se puede eliminar la versión 2 de «Flores»" in response.content.decode()
    assert dataset.versions.count() == 2


# --- API ------------------------------------------------------------------------------------


def versions_url(dataset) -> str:
    return f"/api/datasets/{dataset.pk}/versions/"


def test_the_api_uploads_a_version_201_and_an_identical_one_200(editor_api, dataset):
    created = editor_api.post(
        versions_url(dataset), {"file": upload("v2.csv", V2)}, format="multipart"
    )
    assert created.status_code == 201, created.content
    assert created.json()["version"] == 2
    assert created.json()["existing"] is False
    assert created.json()["digest"] == digest_of(V2)

    again = editor_api.post(
        versions_url(dataset), {"file": upload("v1.csv", V1)}, format="multipart"
    )
    assert again.status_code == 200
    assert (again.json()["version"], again.json()["existing"]) == (1, True)
    assert dataset.versions.count() == 2


def test_the_dataset_json_lists_its_versions(editor_api, dataset, editor):
    new_version(dataset, editor)

    body = editor_api.get(f"/api/datasets/{dataset.pk}/").json()

    assert body["latest_version"] == 2
    assert [(v["version"], v["digest"], v["rows"], v["columns"]) for v in body["versions"]] == [
        (2, digest_of(V2), 4, 4),
        (1, digest_of(V1), 3, 4),
    ]
    assert all(v["created"] for v in body["versions"])


def test_a_version_of_another_projects_dataset_is_404(
    outsider_api, dataset, make_dataset, other_project
):
    response = outsider_api.post(
        versions_url(dataset), {"file": upload("v2.csv", V2)}, format="multipart"
    )
    assert response.status_code == 404
    lineage = outsider_api.get(f"/api/datasets/{dataset.pk}/versions/1/lineage/")
    assert lineage.status_code == 404
    assert dataset.versions.count() == 1
    # Their own dataset answers, so the 404 is about the project.
    theirs = make_dataset(other_project, V1, "suyo.csv")
    assert outsider_api.get(f"/api/datasets/{theirs.pk}/versions/1/lineage/").status_code == 200


def test_viewers_upload_no_version(viewer_api_client, dataset):
    response = viewer_api_client.post(
        versions_url(dataset), {"file": upload("v2.csv", V2)}, format="multipart"
    )

    assert response.status_code == 403
    assert dataset.versions.count() == 1


def test_the_lineage_api_lists_the_versions_experiments(editor_api, dataset, editor, project):
    new_version(dataset, editor)
    on_first = experiment_services.experiment_create(
        project=project,
        user=editor,
        name="Sobre v1",
        dataset=dataset,
        dataset_version=1,
        target_column="species",
        algorithm="LogisticRegression",
    )

    first = editor_api.get(f"/api/datasets/{dataset.pk}/versions/1/lineage/").json()
    second = editor_api.get(f"/api/datasets/{dataset.pk}/versions/2/lineage/").json()

    assert [item["id"] for item in first["experiments"]] == [str(on_first.pk)]
    assert first["model_versions"] == []  # no run yet: MLflow is not asked
    assert first["digest"] == digest_of(V1)
    assert second["experiments"] == []
    experiment = editor_api.get(f"/api/experiments/{on_first.pk}/").json()
    assert experiment["dataset_version"]["version"] == 1
    assert experiment["dataset_version"]["digest"] == digest_of(V1)


@pytest.fixture
def viewer_api_client(api_client, viewer):
    api_client.force_authenticate(viewer)
    return api_client


def test_nothing_is_left_behind_by_a_refused_api_upload(editor_api, dataset, media_root):
    response = editor_api.post(
        versions_url(dataset), {"file": upload("x.csv", b"\x89PNG\r\n\x1a\nxx")}, format="multipart"
    )

    assert response.status_code == 400
    assert "message" in response.json()
    assert Dataset.objects.get().versions.count() == 1
    assert len(stored_files(media_root)) == 1
