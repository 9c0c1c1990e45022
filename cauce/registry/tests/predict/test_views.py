"""The predict page: a CSV or pasted rows for a version or alias, the result and its CSV."""

import io
import re

import pandas as pd
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from mlflow.pyfunc import load_model
from mlflow.tracking._tracking_service.utils import _use_tracking_uri

from cauce.core.numbers import decimal_text, fixed
from cauce.integrations.mlflow import serving
from cauce.registry.models import PredictionJob
from cauce.registry.predict import kept

IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _page(name, query=""):
    return f"/models/{name}/predict/" + (f"?{query}" if query else "")


def _csv(frame, name="filas.csv"):
    return SimpleUploadedFile(name, frame.to_csv(index=False).encode(), content_type="text/csv")


def _own_predictions(name, version, frame):
    with _use_tracking_uri(serving.tracking_uri()):
        return load_model(f"models:/{name}/{version}").predict(frame).tolist()


def _stored_files(media_root):
    return (
        sorted(p.name for p in media_root.rglob("*") if p.is_file()) if media_root.exists() else []
    )


@pytest.fixture
def iris_rows(trained_models):
    return trained_models["iris"].frame[IRIS].sample(60, random_state=5).reset_index(drop=True)


def test_the_page_shows_the_versions_aliases_and_expected_columns(
    viewer_client, served, mlflow_registry
):
    model, version = served("iris")
    mlflow_registry.set_registered_model_alias(model.name, "champion", version)

    response = viewer_client.get(_page(model.name))

    assert response.status_code == 200
    html = response.content.decode()
    assert f'<option value="{version}" selected>v{version} @champion</option>' in html
    assert f"@champion → v{version}" in html
    assert "<code>petal_width</code>" in html
    assert "El modelo espera 4 columnas" in html
    assert 'name="file"' in html


def test_a_viewer_predicts_an_uploaded_csv_and_reads_the_table(
    viewer_client, served, iris_rows, media_root
):
    model, version = served("iris")
    upload = iris_rows.assign(cliente=["=HYPERLINK(1)"] + [f"c{i}" for i in range(59)])

    response = viewer_client.post(
        _page(model.name),
        {"version": version, "file": _csv(upload), "probabilities": "on"},
    )

    job = PredictionJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/models/{model.name}/predictions/{job.pk}/"
    assert (job.status, job.rows_total, job.version, job.original_filename) == (
        PredictionJob.Status.FINISHED,
        60,
        version,
        "filas.csv",
    )
    # Stored language-neutral, worded in the reader's language.
    assert job.notes == [{"code": "ignored_columns", "names": ["cliente"]}]
    expected = _own_predictions(model.name, version, iris_rows)
    page = viewer_client.get(response["Location"])
    html = page.content.decode()
    assert "60 filas predichas" in html
    assert "Se ignoró la columna que el modelo no usa: cliente." in html
    # The result is on this page: no link to reload it (only the status block alone has one).
    assert "Recargar la página" not in html
    status = viewer_client.get(f"/models/{model.name}/predictions/{job.pk}/status/")
    assert "Recargar la página" in status.content.decode()
    # Headers in the page's language, the machine's name on hover (and in the CSV).
    assert '<th title="prediction">Predicción</th>' in html
    assert '<th title="probability_virginica" class="num">Probabilidad «virginica»</th>' in html
    # Numeric columns align right as a whole (integers and decimals alike), text to the left.
    assert '<th title="prediction">Predicción</th>' in html
    assert '<th title="cliente">' in html
    assert '<th title="sepal_length" class="num">' in html
    assert not re.search(r"<td(?: title=[^>]*)?>[-\d.,]+</td>", html)
    # Probabilities rounded in Spanish format, the full value on hover.
    cells = re.findall(r'<td class="num" title="([^"]+)">([^<]+)</td>', html)
    assert cells
    for full, shown in cells:
        assert shown == fixed(full, 3) or shown == decimal_text(full)
        assert "." not in shown
    assert re.search(r'<td class="num" title="[^"]+">[01],\d{3}</td>', html)
    assert "<td>=HYPERLINK(1)</td>" in html  # the page shows what the user sent
    assert html.count("<tr>") == 1 + 50  # header + one page of PREDICT_PAGE_ROWS
    assert "Página 1 de 2" in html
    second = viewer_client.get(response["Location"] + "?page=2").content.decode()
    assert second.count("<tr>") == 1 + 10
    viewer_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = viewer_client.get(response["Location"]).content.decode()
    assert "The column the model does not use was ignored: cliente." in english
    assert "Se ignoró" not in english

    download = viewer_client.get(f"/models/{model.name}/predictions/{job.pk}/download/")
    assert download.status_code == 200
    assert download["Content-Disposition"] == (
        f'attachment; filename="{model.name}-v{version}-predicciones.csv"'
    )
    result = pd.read_csv(io.BytesIO(b"".join(download.streaming_content)))
    assert list(result.columns) == [
        *IRIS, "cliente", "prediction",
        "probability_setosa", "probability_versicolor", "probability_virginica",
    ]  # fmt: skip
    assert result["prediction"].tolist() == expected
    assert result["cliente"][0] == "'=HYPERLINK(1)"


def test_pasted_json_rows_are_predicted_for_an_alias(
    viewer_client, served, mlflow_registry, iris_rows
):
    model, version = served("iris")
    mlflow_registry.set_registered_model_alias(model.name, "champion", version)

    response = viewer_client.post(
        _page(model.name),
        {"alias": "champion", "rows": iris_rows.head(3).to_json(orient="records")},
    )

    job = PredictionJob.objects.get()
    assert response.status_code == 302
    assert (job.alias, job.version, job.source, job.rows_total) == ("champion", version, "json", 3)
    page = viewer_client.get(response["Location"]).content.decode()
    for value in _own_predictions(model.name, version, iris_rows.head(3)):
        assert f"<td>{value}</td>" in page


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"sepal_length,petal_width\n1,2\n", "Faltan columnas que el modelo necesita: "
                                             "sepal_width, petal_length."),
        (b"", "El archivo está vacío."),
        (b"sepal_length,sepal_width,petal_length,petal_width\n",
         "El archivo no tiene filas de datos, solo la cabecera."),
        (b"sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4\n1,x,3,4\n",
         "columna «sepal_width», fila 2: «x» no es un número"),
    ],
    ids=["missing", "empty", "header-only", "mistyped"],
)  # fmt: skip
def test_bad_files_are_refused_with_a_clear_message_and_store_nothing(
    viewer_client, served, media_root, content, message
):
    model, version = served("iris")

    response = viewer_client.post(
        _page(model.name),
        {"version": version, "file": SimpleUploadedFile("malo.csv", content)},
    )

    assert response.status_code == 400
    assert message in response.content.decode()
    assert PredictionJob.objects.count() == 0
    # No job and no job file; at most the upload, kept for the next try.
    assert all(path.parent.name == "kept" for path in media_root.rglob("*") if path.is_file())


def test_a_file_over_the_limit_is_refused(settings, viewer_client, served, iris_rows, media_root):
    settings.PREDICT_MAX_UPLOAD_MB = 0
    model, version = served("iris")

    response = viewer_client.post(_page(model.name), {"version": version, "file": _csv(iris_rows)})

    assert response.status_code == 400
    assert "el máximo para predecir es 0 MB" in response.content.decode()
    assert PredictionJob.objects.count() == 0
    assert _stored_files(media_root) == []


def test_a_version_from_outside_cauce_is_shown_but_not_offered(viewer_client, served):
    model, version = served("iris", source_project=None)

    response = viewer_client.get(_page(model.name, f"version={version}"))

    assert response.status_code == 403
    html = response.content.decode()
    assert "no viene de un experimento de este proyecto en Cauce" in html
    assert 'name="file"' not in html
    assert serving.served_models_cached() == []


def test_mlflow_down_renders_the_page_with_the_notice(settings, viewer_client, served):
    model, _version = served("iris")
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"

    response = viewer_client.get(_page(model.name))

    assert response.status_code == 200
    assert "MLflow no disponible" in response.content.decode()


def test_outsiders_get_404_on_the_page_the_result_and_its_download(
    client, viewer, outsider, served, iris_rows
):
    model, version = served("iris")
    client.force_login(viewer)
    client.post(_page(model.name), {"version": version, "file": _csv(iris_rows)})
    job = PredictionJob.objects.get()
    client.force_login(outsider)

    for url in (
        _page(model.name),
        f"/models/{model.name}/predictions/{job.pk}/",
        f"/models/{model.name}/predictions/{job.pk}/status/",
        f"/models/{model.name}/predictions/{job.pk}/download/",
    ):
        assert client.get(url).status_code == 404, url


def test_a_job_is_only_found_under_its_own_model(viewer_client, served, iris_rows):
    model, version = served("iris")
    other, _other_version = served("iris")
    viewer_client.post(_page(model.name), {"version": version, "file": _csv(iris_rows)})
    job = PredictionJob.objects.get()

    response = viewer_client.get(f"/models/{other.name}/predictions/{job.pk}/download/")

    assert response.status_code == 404


def test_the_version_selector_shows_the_version_the_alias_resolves_to(
    viewer_client, served, mlflow_registry
):
    model, version = served("iris")
    mlflow_registry.set_registered_model_alias(model.name, "champion", version)

    html = viewer_client.get(_page(model.name, "alias=champion")).content.decode()

    assert f'<option value="{version}" selected>v{version} @champion</option>' in html
    assert html.count(" selected>") == 1


def test_after_a_refused_file_the_page_keeps_it_for_the_next_try(
    viewer_client, served, iris_rows, media_root
):
    model, version = served("iris")
    bad = iris_rows.drop(columns=["petal_width"])
    choice = {"version": version, "probabilities": ""}

    first = viewer_client.post(_page(model.name), {**choice, "file": _csv(bad, "mío.csv")})

    assert first.status_code == 400
    html = first.content.decode()
    assert "Se volverá a usar el archivo «mío.csv» si no elige otro." in html
    assert 'name="probabilities"' in html and 'name="probabilities" checked' not in html
    reference = first.context["form"].data["kept"]
    assert reference
    # Submitted again without choosing a file: the kept one is read (same refusal, not
    # "choose a file").
    second = viewer_client.post(_page(model.name), {**choice, "kept": reference})
    assert second.status_code == 400
    assert "Falta la columna que el modelo necesita: petal_width." in second.content.decode()
    assert "Se volverá a usar el archivo «mío.csv»" in second.content.decode()
    assert PredictionJob.objects.count() == 0


def test_a_kept_file_is_predicted_and_then_removed(viewer_client, viewer, served, iris_rows):
    model, version = served("iris")
    upload = _csv(iris_rows, "filas.csv")
    owner = {"user_id": viewer.pk, "model_id": model.pk}
    reference = kept.upload_keep(upload=upload, **owner)
    assert kept.kept_name(reference, user_id=viewer.pk + 1, model_id=model.pk) is None

    response = viewer_client.post(_page(model.name), {"version": version, "kept": reference})

    assert response.status_code == 302
    job = PredictionJob.objects.get()
    assert (job.rows_total, job.original_filename) == (60, "filas.csv")
    assert kept.kept_name(reference, **owner) == "filas.csv"  # the reference is signed...
    assert kept.upload_take(reference, **owner) is None  # ...but its file is gone


def test_the_page_starts_from_the_champion_not_the_newest_version(
    viewer_client, served, mlflow_registry
):
    model, first = served("iris")
    _model, newest = served("iris", name=model.name)
    assert newest > first
    html = viewer_client.get(_page(model.name)).content.decode()
    assert f'<option value="{newest}" selected>' in html  # no champion: the newest

    mlflow_registry.set_registered_model_alias(model.name, "champion", first)
    mlflow_registry.set_registered_model_alias(model.name, "challenger", newest)
    html = viewer_client.get(_page(model.name)).content.decode()

    assert f'<option value="{first}" selected>v{first} @champion</option>' in html
    assert 'class="tag alias active" href="?alias=champion"' in html
    assert '<input type="hidden" name="alias" value="champion">' in html
