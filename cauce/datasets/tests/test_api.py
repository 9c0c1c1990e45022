import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cauce.datasets.models import Dataset
from cauce.datasets.tests.conftest import stored_files
from cauce.datasets.tests.samples import BAD_FILE_IDS, BAD_FILES, GOOD_PARQUET
from cauce.datasets.tests.test_services import make_experiment
from tests.fixtures.core import assert_authentication_required

pytestmark = pytest.mark.django_db


def list_url(project) -> str:
    return f"/api/projects/{project.pk}/datasets/"


def detail_url(dataset) -> str:
    return f"/api/datasets/{dataset.pk}/"


def post_file(api, project, content: bytes, filename: str = "data.csv", **fields):
    upload = SimpleUploadedFile(filename, content)
    return api.post(list_url(project), {"file": upload, **fields}, format="multipart")


@pytest.fixture
def viewer_api(api_client, viewer):
    api_client.force_authenticate(viewer)
    return api_client


# --- list and upload ------------------------------------------------------------------------


def test_members_list_the_datasets_of_a_project(viewer_api, project, iris_dataset):
    response = viewer_api.get(list_url(project))

    assert response.status_code == 200
    [item] = response.json()["results"]
    assert item["id"] == iris_dataset.pk
    assert item["name"] == "Iris"
    assert item["row_count"] == 150
    assert "preview" not in item


def test_the_list_leaves_out_other_projects(owner_api, project, other_project, make_dataset):
    make_dataset(other_project, b"a,b\n1,2\n", name="Ajeno")

    assert owner_api.get(list_url(project)).json()["results"] == []


def test_the_list_is_404_for_outsiders(outsider_api, project, iris_dataset):
    response = outsider_api.get(list_url(project))

    assert response.status_code == 404
    assert "message" in response.json()


def test_the_api_requires_authentication(api_client, project):
    assert_authentication_required(api_client.get(list_url(project)))


@pytest.mark.parametrize("api_name", ["owner_api", "editor_api"])
def test_editors_and_owners_upload_a_csv(request, api_name, project, iris_csv_bytes, media_root):
    api = request.getfixturevalue(api_name)

    response = post_file(api, project, iris_csv_bytes, "iris.csv", name="Iris", description="x")

    assert response.status_code == 201
    body = response.json()
    dataset = Dataset.objects.get()
    assert body["id"] == dataset.pk
    assert body["name"] == "Iris"
    assert body["description"] == "x"
    assert body["file_format"] == "csv"
    assert body["row_count"] == 150
    assert body["column_count"] == 5
    assert [column["name"] for column in body["schema"]][-1] == "species"
    assert body["schema"][0]["kind"] == "numeric"
    assert body["preview"]["rows"][0] == [5.1, 3.5, 1.4, 0.2, "setosa"]
    assert body["created_at"]
    assert len(stored_files(media_root)) == 1


def test_the_same_file_as_a_new_dataset_answers_which_version_it_is_identical_to(
    editor_api, project, iris_csv_bytes, media_root
):
    first = post_file(editor_api, project, iris_csv_bytes, "iris.csv", name="Iris").json()
    assert first["identical_to"] is None

    response = post_file(editor_api, project, iris_csv_bytes, "copia.csv", name="Copia")

    assert response.status_code == 201
    assert response.json()["identical_to"] == {"dataset": first["id"], "name": "Iris", "version": 1}
    assert Dataset.objects.count() == 2


def test_an_upload_without_a_name_takes_the_file_name(editor_api, project):
    response = post_file(editor_api, project, GOOD_PARQUET, "medidas.parquet")

    assert response.status_code == 201
    assert response.json()["name"] == "medidas"
    assert response.json()["file_format"] == "parquet"


def test_viewers_cannot_upload(viewer_api, project, media_root):
    response = post_file(viewer_api, project, b"a,b\n1,2\n")

    assert response.status_code == 403
    assert not Dataset.objects.exists()
    assert stored_files(media_root) == []


def test_an_upload_is_404_for_outsiders(outsider_api, project, media_root):
    response = post_file(outsider_api, project, b"a,b\n1,2\n")

    assert response.status_code == 404
    assert not Dataset.objects.exists()
    assert stored_files(media_root) == []


@pytest.mark.parametrize(("case", "filename", "content", "message"), BAD_FILES, ids=BAD_FILE_IDS)
def test_the_api_rejects_bad_files_and_stores_nothing(
    editor_api, project, media_root, case, filename, content, message
):
    response = post_file(editor_api, project, content, filename)

    assert response.status_code == 400
    assert response.json()["message"].startswith(message)
    assert not Dataset.objects.exists()
    assert stored_files(media_root) == []


def test_the_api_rejects_a_file_over_the_size_limit(editor_api, project, media_root, settings):
    settings.DATASET_MAX_UPLOAD_MB = 1
    content = b"a,b\n" + b"1,2\n" * (300 * 1024)

    response = post_file(editor_api, project, content)

    assert response.status_code == 400
    assert response.json()["message"] == "El archivo ocupa 1,2 MB y el máximo es 1 MB."
    assert not Dataset.objects.exists()
    assert stored_files(media_root) == []


def test_the_api_asks_for_a_file(editor_api, project):
    response = editor_api.post(list_url(project), {"name": "x"}, format="multipart")

    assert response.status_code == 400
    assert response.json()["message"]
    assert not Dataset.objects.exists()


# --- one dataset ----------------------------------------------------------------------------


def test_members_read_a_dataset_with_its_preview(viewer_api, iris_dataset):
    response = viewer_api.get(detail_url(iris_dataset))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == iris_dataset.pk
    assert body["project"] == iris_dataset.project_id
    assert len(body["preview"]["rows"]) == 20
    assert body["schema"] == iris_dataset.schema
    statistics = body["statistics"]
    assert set(statistics) == set(iris_dataset.column_names)
    assert statistics["sepal_length"]["min"] == 4.3
    assert statistics["species"]["top"] == [["setosa", 50], ["versicolor", 50], ["virginica", 50]]


def test_a_dataset_is_404_for_outsiders(outsider_api, iris_dataset):
    assert outsider_api.get(detail_url(iris_dataset)).status_code == 404


def test_an_editor_deletes_a_dataset(
    editor_api, iris_dataset, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_api.delete(detail_url(iris_dataset))

    assert response.status_code == 204
    assert not Dataset.objects.exists()
    assert stored_files(media_root) == []


def test_a_dataset_in_use_cannot_be_deleted(editor_api, iris_dataset):
    make_experiment(iris_dataset)

    response = editor_api.delete(detail_url(iris_dataset))

    assert response.status_code == 409
    assert response.json()["message"].startswith("No se puede eliminar «Iris»")
    assert Dataset.objects.filter(pk=iris_dataset.pk).exists()


def test_viewers_cannot_delete(viewer_api, iris_dataset):
    assert viewer_api.delete(detail_url(iris_dataset)).status_code == 403
    assert Dataset.objects.filter(pk=iris_dataset.pk).exists()


def test_delete_is_404_for_outsiders(outsider_api, iris_dataset):
    assert outsider_api.delete(detail_url(iris_dataset)).status_code == 404
    assert Dataset.objects.filter(pk=iris_dataset.pk).exists()


def test_errors_follow_the_request_language(editor_api, project):
    upload = SimpleUploadedFile("empty.csv", b"")

    response = editor_api.post(
        list_url(project), {"file": upload}, format="multipart", HTTP_ACCEPT_LANGUAGE="en"
    )

    assert response.status_code == 400
    assert response.json()["message"] == "The file is empty."
