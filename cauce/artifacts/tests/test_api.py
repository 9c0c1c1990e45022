import io
import zipfile
from urllib.parse import quote

import pytest
from django.urls import reverse

from cauce.artifacts.tests.conftest import MODEL_FILES, RUN_FILES
from cauce.artifacts.tests.test_paths import REJECTED_PATHS
from tests.fixtures.core import assert_authentication_required


def api(name, experiment, **query):
    base = reverse(name, args=[experiment.pk])
    return base + "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())


LIST = "api-experiment-artifacts"
DOWNLOAD = "api-experiment-artifact-download"
ZIP = "api-experiment-artifacts-zip"


def test_it_lists_one_level(owner_api, run_experiment):
    response = owner_api.get(api(LIST, run_experiment, path=""))

    assert response.status_code == 200
    assert response.json() == [
        {"path": "data", "is_dir": True, "size": None},
        {"path": "plots", "is_dir": True, "size": None},
        {"path": "metrics.json", "is_dir": False, "size": len(RUN_FILES["metrics.json"])},
        {"path": "report.html", "is_dir": False, "size": len(RUN_FILES["report.html"])},
    ]
    nested = owner_api.get(api(LIST, run_experiment, path="data/deep")).json()
    assert nested == [{"path": "data/deep/nested", "is_dir": True, "size": None}]


def test_it_lists_the_logged_model(owner_api, run_experiment):
    response = owner_api.get(api(LIST, run_experiment, model=run_experiment.mlflow_model_id))

    assert {item["path"] for item in response.json()} == set(MODEL_FILES)


def test_it_streams_a_file(owner_api, run_experiment):
    response = owner_api.get(api(DOWNLOAD, run_experiment, path="data/résumé ñ.txt"))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == RUN_FILES["data/résumé ñ.txt"]
    assert response["Content-Disposition"].startswith("attachment; filename*=utf-8''r%C3%A9sum")


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("metrics.json", "application/json"),
        ("plots/confusion matrix.png", "image/png"),
        ("data/deep/nested/blob.bin", "application/octet-stream"),
    ],
)
def test_a_download_is_an_attachment_of_the_type_its_schema_declares(
    owner_api, run_experiment, path, content_type
):
    """Its real type (from its name, never sniffed), and the schema declares that type's body:
    schemathesis found metrics.json's JSON answer outside a body declared binary only."""
    response = owner_api.get(api(DOWNLOAD, run_experiment, path=path))

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    # Relayed as it comes by the proxy in front (deploy/web-proxy/), never held whole there.
    assert response["X-Accel-Buffering"] == "no"
    assert b"".join(response.streaming_content) == RUN_FILES[path]
    schema = owner_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    declared = schema["paths"]["/api/experiments/{id}/artifacts/download/"]["get"]
    body = declared["responses"]["200"]["content"]
    assert content_type in body or "*/*" in body
    assert body["application/json"]["schema"] == {}  # any JSON value, as stored
    assert body["*/*"]["schema"] == {}


def test_it_streams_a_zip_even_to_a_client_that_asks_for_one(owner_api, run_experiment):
    response = owner_api.get(api(ZIP, run_experiment, path="plots"), HTTP_ACCEPT="application/zip")

    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert {name: archive.read(name) for name in archive.namelist()} == {
        path: data for path, data in RUN_FILES.items() if path.startswith("plots/")
    }


@pytest.mark.parametrize("raw", REJECTED_PATHS)
def test_a_rejected_path_is_a_json_400(owner_api, run_experiment, raw):
    for name in (LIST, DOWNLOAD, ZIP):
        response = owner_api.get(api(name, run_experiment, path=raw))
        assert response.status_code == 400, (name, raw)
        assert "ruta" in response.json()["message"]


def test_a_missing_path_is_a_json_404(owner_api, run_experiment):
    for name in (LIST, DOWNLOAD, ZIP):
        response = owner_api.get(api(name, run_experiment, path="data/nope"))
        assert response.status_code == 404, name
        assert response.json()["message"]


def test_listing_a_file_or_downloading_a_folder_is_a_409(owner_api, run_experiment):
    listing = owner_api.get(api(LIST, run_experiment, path="metrics.json"))
    download = owner_api.get(api(DOWNLOAD, run_experiment, path="data"))

    assert (listing.status_code, listing.json()) == (
        409,
        {"message": "«metrics.json» no es una carpeta."},
    )
    assert (download.status_code, download.json()) == (
        409,
        {"message": "«data» es una carpeta: descárguela como ZIP."},
    )


def test_a_model_id_that_is_not_the_runs_is_a_404(owner_api, run_experiment):
    response = owner_api.get(api(LIST, run_experiment, model="m-0123456789abcdef"))

    assert (response.status_code, response.json()) == (
        404,
        {"message": "Este run no tiene ese modelo registrado."},
    )


@pytest.mark.parametrize("outage", ["mlflow_down", "mlflow_silent"])
def test_mlflow_out_is_a_json_503(request, owner_api, run_experiment, outage):
    request.getfixturevalue(outage)

    for name in (LIST, DOWNLOAD, ZIP):
        response = owner_api.get(api(name, run_experiment, path="metrics.json"))
        assert response.status_code == 503, name
        assert response.json() == {"message": "MLflow no disponible"}


def test_an_outsider_gets_a_json_404(outsider_api, run_experiment):
    for name in (LIST, DOWNLOAD, ZIP):
        response = outsider_api.get(api(name, run_experiment, path="metrics.json"))
        assert response.status_code == 404, name
        assert response.json()["message"]


def test_an_anonymous_client_is_refused(api_client, run_experiment):
    response = api_client.get(api(LIST, run_experiment))

    assert_authentication_required(response)
