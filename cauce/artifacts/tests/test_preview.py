"""The preview panel, against a real MLflow server holding one file of each kind."""

import io
import json

import pytest
import requests
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import translation

from cauce.artifacts import previews
from cauce.datasets.inference import profile_file
from cauce.experiments.models import MLExperiment
from cauce.integrations.mlflow.client import reset_availability

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99"
    b"=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert("svg")</script><rect/></svg>'
CSV_ROWS = 120
CSV = ("id,double,name\n" + "".join(f"{i},{i * 2},fila {i}\n" for i in range(1, 121))).encode()
LOG = "".join(f"línea {i:04d} del entrenamiento\n" for i in range(400)).encode()
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
FILES = {
    "plots/plot.png": PNG,
    "plots/evil.svg": SVG,
    "logs/train.log": LOG,
    "metrics.json": b'{"f1": 0.91, "per_class": {"setosa": 1.0, "virginica": 0.87}}',
    "broken.json": b'{"f1": 0.91,,}',
    "config.yaml": b"alpha: 0.5\nlayers:\n  - 16\n  - 8\n",
    "data/table.csv": CSV,
    "data/table.tsv": b"name\tvalue\nuno\t1\ndos\t2\n",
    "data/scores.csv": b"id,score\n00123,0.8769642857142856\n",
    "README.md": b"# Informe\n\n<script>alert('md')</script>\n\nEs **importante**.\n",
    "report.html": b"<html><body><script>alert('html')</script><p>hola</p></body></html>",
    "report.pdf": PDF,
    "weights.bin": bytes(range(256)) * 8,
    "NOTES": b"sin extensi\xc3\xb3n pero texto\n",
}


@pytest.fixture
def experiment(make_run_experiment):
    return make_run_experiment(FILES, name="Vista previa")


def preview_url(experiment, path, **extra):
    query = "&".join(f"{key}={value}" for key, value in extra.items())
    url = previews.artifact_preview_url(experiment=experiment, path=path)
    return f"{url}&{query}" if query else url


def panel(client, experiment, path, **extra):
    response = client.get(preview_url(experiment, path, **extra), HTTP_HX_REQUEST="true")
    assert response.status_code == 200, response.content[:500]
    return response, response.content.decode()


def test_it_shows_a_png_through_the_inline_download_url(viewer_client, experiment):
    response, html = panel(viewer_client, experiment, "plots/plot.png")
    inline_url = response.context["preview"].inline_url
    assert "inline=1" in inline_url
    assert f'<img class="artifact-image" src="{inline_url.replace("&", "&amp;")}"' in html
    image = viewer_client.get(inline_url)
    assert image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content) == PNG


def test_it_shows_an_svg_as_an_image_never_inlined_and_sandboxed(viewer_client, experiment):
    response, html = panel(viewer_client, experiment, "plots/evil.svg")
    assert "<svg" not in html
    assert "alert" not in html
    assert "<img" in html
    inline = viewer_client.get(response.context["preview"].inline_url)
    assert inline["Content-Security-Policy"].startswith("sandbox")
    assert inline["X-Content-Type-Options"] == "nosniff"
    assert b"".join(inline.streaming_content) == SVG


def test_it_truncates_a_long_log_and_says_so_with_the_full_size(
    viewer_client, experiment, settings
):
    settings.ARTIFACT_TEXT_PREVIEW_BYTES = 1000
    response, html = panel(viewer_client, experiment, "logs/train.log")
    preview = response.context["preview"]
    assert preview.truncated
    assert len(preview.text.encode()) <= 1000
    assert preview.text.startswith("línea 0000 del entrenamiento\n")
    with translation.override("es"):
        assert f"de {filesizeformat(len(LOG))}" in html
    assert "Truncado" in html


def test_it_does_not_mark_a_short_text_as_truncated(viewer_client, experiment):
    response, html = panel(viewer_client, experiment, "logs/train.log")
    assert response.context["preview"].text == LOG.decode()
    assert "Truncado" not in html


def test_it_pretty_prints_json(viewer_client, experiment):
    response, html = panel(viewer_client, experiment, "metrics.json")
    expected = json.dumps(json.loads(FILES["metrics.json"]), indent=2)
    assert response.context["preview"].text == expected
    assert "&quot;per_class&quot;: {\n    &quot;setosa&quot;: 1.0," in html


def test_it_shows_invalid_json_as_text_with_a_note(viewer_client, experiment):
    response, html = panel(viewer_client, experiment, "broken.json")
    assert response.context["preview"].text == FILES["broken.json"].decode()
    assert "No es JSON válido" in html


def test_it_shows_yaml_as_text(viewer_client, experiment):
    _response, html = panel(viewer_client, experiment, "config.yaml")
    assert '<pre class="artifact-text">alpha: 0.5\nlayers:\n  - 16' in html


def test_it_pages_a_csv_fifty_rows_at_a_time(viewer_client, experiment):
    response, html = panel(viewer_client, experiment, "data/table.csv")
    table = response.context["preview"].table
    assert table.header == ["id", "double", "name"]
    assert [number for number, _cells in table.rows] == list(range(1, 51))
    assert table.rows[0][1] == ["1", "2", "fila 1"]
    assert "Página 1" in html
    assert "page=2" in response.context["next_url"]
    assert "previous_url" not in response.context

    response, html = panel(viewer_client, experiment, "data/table.csv", page=2)
    table = response.context["preview"].table
    assert [number for number, _cells in table.rows] == list(range(51, 101))
    assert table.rows[0][1] == ["51", "102", "fila 51"]
    assert "Página 2" in html
    assert "page=1" in response.context["previous_url"]

    response, _html = panel(viewer_client, experiment, "data/table.csv", page=3)
    assert len(response.context["preview"].table.rows) == CSV_ROWS - 100
    assert "next_url" not in response.context


def test_a_csv_s_decimals_read_in_the_page_s_format_with_the_full_value_on_hover(
    viewer_client, experiment
):
    _response, html = panel(viewer_client, experiment, "data/scores.csv")
    assert '<td class="num" title="0.8769642857142856">0,877</td>' in html
    assert "<td>00123</td>" in html  # a code is not a number


def test_page_one_of_a_csv_reads_only_the_start_of_the_stream():
    body = b"a,b\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(200_000))
    raw = io.BytesIO(body)
    response = requests.Response()
    response.raw = raw
    reader = previews.csv_reader(response, delimiter=None, cap=len(body))
    assert next(reader) == ["a", "b"]
    rows = [next(reader) for _ in range(previews.CSV_PAGE_ROWS)]
    assert rows[-1] == ["49", "49"]
    assert raw.tell() < len(body) // 10


@pytest.mark.parametrize(
    "body",
    [
        # A missing trailing value: the standard library's csv.Sniffer took this for commas.
        "ciudad;temp;lluvia\nMadrid;20\nSevilla;25\nBilbao;15;3\n",
        'precio;descripcion\n1,5;"caja, grande"\n2,5;"bolsa, roja"\n',
        "\ufeffid|nombre\n1|Ana\n2|Luis\n",
    ],
)
def test_a_csv_preview_splits_a_file_as_a_dataset_upload_does(body):
    data = body.encode()
    response = requests.Response()
    response.raw = io.BytesIO(data)

    header = next(previews.csv_reader(response, delimiter=None, cap=len(data)))

    uploaded = profile_file(io.BytesIO(data))
    assert header == [column.name for column in uploaded.columns]


def test_it_shows_a_tsv_as_a_table(viewer_client, experiment):
    response, html = panel(viewer_client, experiment, "data/table.tsv")
    table = response.context["preview"].table
    assert table.header == ["name", "value"]
    assert table.rows == [(1, ["uno", "1"]), (2, ["dos", "2"])]
    # A numeric column aligns right as a whole, header included; text stays left.
    assert '<th>name</th><th class="num">value</th>' in html
    assert '<td>dos</td><td class="num">2</td>' in html


def test_it_renders_markdown_without_its_scripts(viewer_client, experiment):
    _response, html = panel(viewer_client, experiment, "README.md")
    assert "<h1>Informe</h1>" in html
    assert "<strong>importante</strong>" in html
    assert "<script" not in html
    assert "alert('md')" not in html


def test_it_frames_html_in_a_sandbox_without_scripts(viewer_client, experiment):
    response, html = panel(viewer_client, experiment, "report.html")
    inline_url = response.context["preview"].inline_url
    assert (
        f'<iframe class="artifact-frame" sandbox src="{inline_url.replace("&", "&amp;")}"' in html
    )
    assert "allow-scripts" not in html
    assert "alert('html')" not in html
    inline = viewer_client.get(inline_url)
    assert inline["Content-Security-Policy"].startswith("sandbox")


def test_it_embeds_a_pdf(viewer_client, experiment):
    response, html = panel(viewer_client, experiment, "report.pdf")
    inline_url = response.context["preview"].inline_url
    assert f'data="{inline_url.replace("&", "&amp;")}" type="application/pdf"' in html
    assert b"".join(viewer_client.get(inline_url).streaming_content) == PDF


def test_it_offers_only_a_download_over_the_size_limit(viewer_client, experiment, settings):
    settings.ARTIFACT_PREVIEW_MAX_BYTES = 2000
    response, html = panel(viewer_client, experiment, "logs/train.log")
    preview = response.context["preview"]
    assert preview.too_large
    assert preview.text == ""
    assert "artifact-text" not in html
    assert "límite de la vista previa" in html
    assert f'href="{preview.download_url.replace("&", "&amp;")}" download' in html


def test_it_has_no_preview_for_an_unknown_binary(viewer_client, experiment):
    response, html = panel(viewer_client, experiment, "weights.bin")
    assert response.context["preview"].kind == "binary"
    assert "Sin vista previa" in html
    assert "Descargar" in html


def test_it_shows_a_text_file_without_extension_as_text(viewer_client, experiment):
    response, _html = panel(viewer_client, experiment, "NOTES")
    assert response.context["preview"].kind == "text"
    assert response.context["preview"].text == "sin extensión pero texto\n"


def test_without_htmx_it_is_a_full_page(viewer_client, experiment):
    response = viewer_client.get(preview_url(experiment, "config.yaml"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    assert "Vista previa del artefacto" in html
    assert reverse("artifacts:compare", args=[experiment.project.pk]) in html


def test_the_htmx_panel_is_a_fragment(viewer_client, experiment):
    _response, html = panel(viewer_client, experiment, "config.yaml")
    assert "<html" not in html
    assert "data-artifact-preview" in html


def test_the_panel_links_to_comparing_the_same_file(viewer_client, experiment):
    _response, html = panel(viewer_client, experiment, "data/table.csv")
    compare = reverse("artifacts:compare", args=[experiment.project.pk])
    assert f"{compare}?experiments={experiment.pk}&amp;path=data/table.csv" in html


@pytest.mark.parametrize("path", ["../secret", "%2e%2e/secret", "/etc/passwd", "a\\b", "a#b"])
def test_it_rejects_a_bad_path(viewer_client, experiment, path):
    response = viewer_client.get(reverse("artifacts:preview", args=[experiment.pk]), {"path": path})
    assert response.status_code == 400
    assert "ruta del artefacto" in response.content.decode()


def test_a_missing_file_is_404(viewer_client, experiment):
    response = viewer_client.get(preview_url(experiment, "plots/nope.png"))
    assert response.status_code == 404


def test_an_unknown_model_is_404(viewer_client, experiment):
    response = viewer_client.get(preview_url(experiment, "MLmodel", model="m-nope"))
    assert response.status_code == 404


def test_an_outsider_gets_404(outsider_client, experiment):
    response = outsider_client.get(preview_url(experiment, "metrics.json"))
    assert response.status_code == 404


def test_an_anonymous_user_is_sent_to_login(client, experiment):
    response = client.get(preview_url(experiment, "metrics.json"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_mlflow_down_shows_a_notice_in_the_panel(viewer_client, experiment, settings):
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"
    reset_availability()
    _response, html = panel(viewer_client, experiment, "metrics.json")
    assert "MLflow no disponible" in html


def test_it_summarizes_a_real_sklearn_mlmodel(viewer_client, make_run_experiment):
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from cauce.integrations.mlflow.tracking import run_log_sklearn_model

    experiment = make_run_experiment({"notes.txt": b"x"}, name="Con modelo")
    features = pd.DataFrame(
        {"sepal_length": [5.1, 6.2, 5.9, 4.8], "species_code": [0, 1, 1, 0]}, dtype="float64"
    )
    labels = pd.Series(["setosa", "virginica", "virginica", "setosa"])
    model = LogisticRegression().fit(features, labels)
    logged = run_log_sklearn_model(
        run_id=experiment.mlflow_run_id,
        experiment_id=experiment.mlflow_experiment_id,
        model=model,
        input_example=features.head(2),
        signature_input=features,
        signature_output=model.predict(features),
        pip_requirements=["scikit-learn"],
    )
    MLExperiment.objects.filter(pk=experiment.pk).update(mlflow_model_id=logged.model_id)

    response, html = panel(viewer_client, experiment, "MLmodel", model=logged.model_id)
    summary = response.context["preview"].mlmodel
    assert {"python_function", "sklearn"} <= {name for name, _details in summary.flavors}
    assert [(f.name, f.type) for f in summary.inputs] == [
        ("sepal_length", "double"),
        ("species_code", "double"),
    ]
    assert [f.type for f in summary.outputs] == ["tensor object [-1]"]
    assert summary.example.header == ["sepal_length", "species_code"]
    assert summary.example.rows == [(1, ["5.1", "0.0"]), (2, ["6.2", "1.0"])]
    assert '<td class="mono">sepal_length</td><td>double</td>' in html
    assert "<td>5.1</td>" in html
    assert "Archivo MLmodel" in html
