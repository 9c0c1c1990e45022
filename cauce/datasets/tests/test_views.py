import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cauce.datasets.models import Dataset
from cauce.datasets.tests.conftest import stored_files
from cauce.datasets.tests.samples import BAD_FILE_IDS, BAD_FILES
from cauce.datasets.tests.test_services import make_experiment
from cauce.experiments.models import MLExperiment

pytestmark = pytest.mark.django_db


def upload_url(project) -> str:
    return reverse("datasets:dataset_create", args=[project.pk])


def detail_url(dataset) -> str:
    return reverse("datasets:dataset_detail", args=[dataset.pk])


def download_url(dataset) -> str:
    return reverse("datasets:dataset_download", args=[dataset.pk])


def delete_url(dataset) -> str:
    return reverse("datasets:dataset_delete", args=[dataset.pk])


def post_file(client, project, content: bytes, filename: str = "data.csv", name: str = ""):
    upload = SimpleUploadedFile(filename, content, content_type="text/csv")
    return client.post(upload_url(project), {"name": name, "description": "", "file": upload})


# --- upload ---------------------------------------------------------------------------------


@pytest.mark.parametrize("client_name", ["owner_client", "editor_client"])
def test_editors_and_owners_see_the_upload_form(request, client_name, project):
    client = request.getfixturevalue(client_name)

    response = client.get(upload_url(project))

    assert response.status_code == 200
    assert 'enctype="multipart/form-data"' in response.content.decode()


def test_the_upload_form_is_forbidden_to_viewers(viewer_client, project):
    assert viewer_client.get(upload_url(project)).status_code == 403
    assert post_file(viewer_client, project, b"a,b\n1,2\n").status_code == 403
    assert not Dataset.objects.exists()


def test_the_upload_form_is_404_for_outsiders(outsider_client, project, media_root):
    assert outsider_client.get(upload_url(project)).status_code == 404
    assert post_file(outsider_client, project, b"a,b\n1,2\n").status_code == 404
    assert not Dataset.objects.exists()
    assert stored_files(media_root) == []


def test_the_upload_form_requires_login(client, project):
    response = client.get(upload_url(project))

    assert response.status_code == 302
    assert reverse("login") in response.url


def test_an_editor_uploads_a_csv(editor_client, editor, project, iris_csv_bytes, media_root):
    response = post_file(editor_client, project, iris_csv_bytes, "iris.csv", name="Lirios")

    dataset = Dataset.objects.get()
    assert response.status_code == 302
    assert response.url == detail_url(dataset)
    assert dataset.project == project
    assert dataset.name == "Lirios"
    assert dataset.uploaded_by == editor
    assert dataset.row_count == 150
    assert len(stored_files(media_root)) == 1


def test_the_same_file_as_a_new_dataset_is_kept_and_named_identical(
    editor_client, project, other_project, make_dataset, iris_csv_bytes, media_root
):
    # Another project's copy (older) is none of this user's business: never named.
    make_dataset(other_project, iris_csv_bytes, "iris.csv", name="Ajeno")
    post_file(editor_client, project, iris_csv_bytes, "iris.csv", name="Lirios")
    first = Dataset.objects.get(project=project)

    response = post_file(editor_client, project, iris_csv_bytes, "copia.csv", name="Copia")
    page = editor_client.get(response.url).content.decode()

    copy = Dataset.objects.get(name="Copia")  # kept: a user may want a copy
    assert response.url == detail_url(copy)
    assert (
        "Su contenido es idéntico al de "
        f'<a href="/datasets/{first.pk}/versions/1/" data-identical-to>«Lirios» v1</a> '
        "de este proyecto (la misma huella SHA-256)."
    ) in page


def test_a_new_dataset_with_its_own_content_gets_no_identical_note(editor_client, project):
    post_file(editor_client, project, b"a,b\n1,2\n", "uno.csv")
    response = post_file(editor_client, project, b"a,b\n1,3\n", "dos.csv")
    assert "idéntico" not in editor_client.get(response.url).content.decode()


def test_the_name_defaults_to_the_file_name(editor_client, project):
    post_file(editor_client, project, b"a,b\n1,2\n", "clientes.csv")

    assert Dataset.objects.get().name == "clientes"


@pytest.mark.parametrize(("case", "filename", "content", "message"), BAD_FILES, ids=BAD_FILE_IDS)
def test_the_form_rejects_bad_files_and_stores_nothing(
    editor_client, project, media_root, case, filename, content, message
):
    response = post_file(editor_client, project, content, filename)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Dataset.objects.exists()
    assert stored_files(media_root) == []


def test_the_form_asks_for_a_file(editor_client, project):
    response = editor_client.post(upload_url(project), {"name": "x"})

    assert "Seleccione un archivo CSV o Parquet." in response.content.decode()
    assert not Dataset.objects.exists()


def test_the_form_rejects_a_file_over_the_size_limit_before_parsing_it(
    editor_client, project, media_root, settings
):
    settings.DATASET_MAX_UPLOAD_MB = 1
    # Not even a CSV: the size message must come first, without reading the content.
    content = b"\x89PNG\r\n\x1a\n" + b"\x00" * (1024 * 1024 + 1)

    response = post_file(editor_client, project, content, "big.csv")

    body = response.content.decode()
    assert "El archivo ocupa 1,0 MB y el máximo es 1 MB." in body
    assert "no es CSV ni Parquet" not in body
    assert not Dataset.objects.exists()
    assert stored_files(media_root) == []


def test_a_file_at_the_size_limit_is_accepted(editor_client, project, settings):
    settings.DATASET_MAX_UPLOAD_MB = 1
    header = b"a,b\n"
    row = b"1,2\n"
    content = header + row * ((1024 * 1024 - len(header)) // len(row))

    post_file(editor_client, project, content)

    assert Dataset.objects.get().size_bytes <= 1024 * 1024


# --- detail ---------------------------------------------------------------------------------


def test_a_viewer_sees_the_schema_and_the_preview(viewer_client, project, make_dataset):
    dataset = make_dataset(project, b"city,price\nMadrid,10\n,20\nBilbao,\nMadrid,5\n", "c.csv")

    response = viewer_client.get(detail_url(dataset))

    body = response.content.decode()
    assert response.status_code == 200
    assert "<h1>c</h1>" in body
    assert "float64" in body  # price has a gap: float
    assert "25,0 %" in body  # 1 of 4 missing, with the Spanish decimal comma
    assert "Bilbao" in body
    # The preview aligns the numeric column right as a whole, the text column left.
    preview = body.split("dataset-preview")[1].split("</table>")[0]
    assert '<th>city</th><th class="num">price</th>' in preview
    assert preview.count('<td class="num">') == 4
    assert download_url(dataset) in body
    assert delete_url(dataset) not in body  # viewers cannot delete


def test_the_detail_lists_the_experiments_that_use_the_dataset(editor_client, iris_dataset):
    experiment = make_experiment(iris_dataset)

    body = editor_client.get(detail_url(iris_dataset)).content.decode()

    assert "Bosque" in body
    assert "random_forest" in body
    assert reverse("experiments:ml_experiment_detail", args=[experiment.pk]) in body


def test_the_detail_shows_each_columns_statistics(viewer_client, iris_dataset):
    body = viewer_client.get(detail_url(iris_dataset)).content.decode()
    row = body[body.index('<tr data-column="petal_length">') :]
    row = row[: row.index("</tr>")]
    # min, max, mean and standard deviation, 4 significant digits without trailing zeros (a
    # minimum of 1.0 is data, not a measured 1,000), full value on hover
    assert '<span title="1,0">1</span>' in row
    assert '<span title="6,9">6,9</span>' in row
    assert ">3,758<" in row and ">1,765<" in row
    species = body[body.index('<tr data-column="species">') :]
    assert '<span class="tag">setosa<span class="count">50</span></span>' in species[:2000]
    # No experiment predicts a column yet: no class balance.
    assert "data-balance" not in body


def test_the_detail_draws_the_class_balance_of_a_classification_target(
    viewer_client, make_dataset, project, messy_csv_bytes
):
    dataset = make_dataset(project, messy_csv_bytes, "messy.csv")
    make_experiment(dataset)  # a classification of "species": not a column here, no chart
    MLExperiment.objects.create(
        project=project,
        dataset=dataset,
        name="Caro o barato",
        target_column="label",
        task_type=MLExperiment.TaskType.CLASSIFICATION,
        algorithm="LogisticRegression",
    )
    MLExperiment.objects.create(
        project=project,
        dataset=dataset,
        name="Precio",
        target_column="price",
        task_type=MLExperiment.TaskType.REGRESSION,
        algorithm="Ridge",
    )
    body = viewer_client.get(detail_url(dataset)).content.decode()
    charts = re.findall(r'<figure data-balance="([^"]+)"><svg class="balance-chart"', body)
    assert charts == ["label"]
    counts = dataset.statistics["label"]["top"]
    bars = re.findall(r'<rect class="bar"[^>]*width="([\d.]+)"[^>]*><title>([^<]+)</title>', body)
    assert [title for _width, title in bars] == [f"{value}: {count}" for value, count in counts]
    # The CSP allows no inline style: sizes are SVG attributes.
    chart = body[body.index('<svg class="balance-chart"') : body.index("</svg>")]
    assert "style=" not in chart


def _shortcut(dataset) -> str:
    create = reverse("experiments:ml_experiment_create", args=[dataset.project_id])
    return f'href="{create}?dataset={dataset.pk}"'


def test_viewers_get_no_shortcut_to_a_new_experiment(viewer_client, iris_dataset):
    assert (
        _shortcut(iris_dataset) not in viewer_client.get(detail_url(iris_dataset)).content.decode()
    )


def test_editors_get_a_shortcut_to_a_new_experiment_on_the_dataset(editor_client, iris_dataset):
    create = reverse("experiments:ml_experiment_create", args=[iris_dataset.project_id])
    assert _shortcut(iris_dataset) in editor_client.get(detail_url(iris_dataset)).content.decode()
    # The form opens with the dataset chosen.
    form = editor_client.get(f"{create}?dataset={iris_dataset.pk}").context["form"]
    assert str(form["dataset"].value()) == str(iris_dataset.pk)


def test_a_dataset_stored_before_statistics_says_how_to_get_them(viewer_client, iris_dataset):
    Dataset.objects.update(statistics={})
    body = viewer_client.get(detail_url(iris_dataset)).content.decode()
    assert "manage.py dataset_statistics" in body


def test_the_detail_says_when_no_experiment_uses_the_dataset(viewer_client, iris_dataset):
    body = viewer_client.get(detail_url(iris_dataset)).content.decode()
    assert "Ningún experimento usa este conjunto de datos." in body


def test_the_detail_is_404_for_outsiders(outsider_client, iris_dataset):
    assert outsider_client.get(detail_url(iris_dataset)).status_code == 404


def test_the_detail_is_404_for_an_unknown_dataset(viewer_client, project):
    assert viewer_client.get(reverse("datasets:dataset_detail", args=[999999])).status_code == 404


# --- download -------------------------------------------------------------------------------


def test_a_viewer_downloads_the_original_file_with_its_name(
    viewer_client, iris_dataset, iris_csv_bytes
):
    response = viewer_client.get(download_url(iris_dataset))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == iris_csv_bytes
    assert 'filename="iris.csv"' in response["Content-Disposition"]
    assert response["Content-Disposition"].startswith("attachment")


def test_the_download_is_404_for_outsiders(outsider_client, iris_dataset):
    assert outsider_client.get(download_url(iris_dataset)).status_code == 404


def test_the_download_is_404_when_the_stored_file_is_gone(viewer_client, iris_dataset):
    iris_dataset.file.storage.delete(iris_dataset.file.name)

    assert viewer_client.get(download_url(iris_dataset)).status_code == 404


# --- delete ---------------------------------------------------------------------------------


def test_an_editor_deletes_a_dataset(
    editor_client, project, iris_dataset, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(delete_url(iris_dataset))

    assert response.status_code == 302
    assert response.url == reverse("projects:project_detail", args=[project.pk])
    assert not Dataset.objects.exists()
    assert stored_files(media_root) == []


def test_a_dataset_in_use_is_not_deleted(editor_client, iris_dataset):
    make_experiment(iris_dataset)

    response = editor_client.post(delete_url(iris_dataset), follow=True)

    assert "No se puede eliminar «Iris»: lo usa 1 experimento." in response.content.decode()
    assert Dataset.objects.filter(pk=iris_dataset.pk).exists()


def test_viewers_cannot_delete(viewer_client, iris_dataset):
    assert viewer_client.post(delete_url(iris_dataset)).status_code == 403
    assert Dataset.objects.filter(pk=iris_dataset.pk).exists()


def test_delete_is_404_for_outsiders(outsider_client, iris_dataset):
    assert outsider_client.post(delete_url(iris_dataset)).status_code == 404
    assert Dataset.objects.filter(pk=iris_dataset.pk).exists()


def test_delete_rejects_get(editor_client, iris_dataset):
    assert editor_client.get(delete_url(iris_dataset)).status_code == 405
