import io
import re
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest
from django.urls import reverse
from mlflow.tracking import MlflowClient

from cauce.artifacts.selectors import experiment_artifacts
from cauce.artifacts.tests.conftest import MODEL_FILES, RUN_FILES
from cauce.artifacts.tests.test_paths import REJECTED_PATHS
from cauce.experiments.models import MLExperiment

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name, experiment, **query):
    base = reverse(f"artifacts:{name}", args=[experiment.pk])
    if not query:
        return base
    return base + "?" + "&".join(f"{key}={quote(value, safe='')}" for key, value in query.items())


def without_csrf(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def mlflow_bytes(mlflow, experiment, path, tmp_path) -> bytes:
    client = MlflowClient(tracking_uri=mlflow)
    local = client.download_artifacts(experiment.mlflow_run_id, path, str(tmp_path))
    return Path(local).read_bytes()


# --- the tab ---------------------------------------------------------------------------------


def test_the_tab_shows_the_root_level_the_model_and_the_totals(owner_client, run_experiment):
    response = owner_client.get(url("tab", run_experiment), **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html  # an htmx partial
    assert "metrics.json" in html and "report.html" in html
    assert "data/" in html and "plots/" in html
    assert "résumé" not in html  # nested files load when their folder is opened
    assert "Modelo guardado con el run (MLflow 3)" in html
    assert "MLmodel" in html and "requirements.txt" in html
    total_files = len(RUN_FILES) + len(MODEL_FILES)
    assert f"{total_files} archivos" in html
    assert "Descargar todo (ZIP)" in html and "Descargar selección" in html
    run = run_experiment
    assert f"/#/experiments/{run.mlflow_experiment_id}/runs/{run.mlflow_run_id}/artifacts" in html
    assert f"model={run.mlflow_model_id}" in html


def test_the_tab_has_no_mlflow_link_without_a_public_url(owner_client, run_experiment, settings):
    settings.MLFLOW_PUBLIC_URL = ""

    response = owner_client.get(url("tab", run_experiment), **HTMX)

    html = response.content.decode()
    assert "metrics.json" in html
    assert "Abrir en MLflow" not in html
    assert "#/experiments/" not in html


def test_the_tab_renders_as_a_full_page_without_htmx(owner_client, run_experiment):
    response = owner_client.get(url("tab", run_experiment))

    assert response.status_code == 200
    assert b"<html" in response.content and b"metrics.json" in response.content


def test_a_folder_opens_one_level_on_demand(owner_client, run_experiment):
    response = owner_client.get(url("folder", run_experiment, path="data"), **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "résumé ñ.txt" in html and "数据.csv" in html and "deep/" in html
    assert "blob.bin" not in html
    assert "text/csv" in html and "text/plain" in html
    assert "8\xa0bytes" in html  # 数据.csv, human-readable


def test_a_folder_of_the_logged_model_opens_with_its_model_id(owner_client, make_run_experiment):
    experiment = make_run_experiment(
        {"a.txt": b"a"}, model_files={"MLmodel": b"x: 1\n", "code/util.py": b"pass\n"}
    )

    response = owner_client.get(
        url("folder", experiment, path="code", model=experiment.mlflow_model_id), **HTMX
    )

    assert response.status_code == 200
    assert "util.py" in response.content.decode()


def test_an_experiment_without_a_run_says_so(owner_client, project, make_run_experiment):
    experiment = make_run_experiment({"a.txt": b"a"})
    MLExperiment.objects.filter(pk=experiment.pk).update(mlflow_run_id="")

    response = owner_client.get(url("tab", experiment), **HTMX)

    assert response.status_code == 200
    assert "Este experimento todavía no tiene un run de MLflow." in response.content.decode()


def test_an_empty_folder_lists_as_a_folder_with_nothing_inside(
    owner_client, run_experiment, mlflow_artifacts_dir
):
    info = experiment_artifacts(experiment=run_experiment)
    (mlflow_artifacts_dir / info.root / "empty").mkdir()

    tab = owner_client.get(url("tab", run_experiment), **HTMX).content.decode()
    inside = owner_client.get(url("folder", run_experiment, path="empty"), **HTMX)

    assert "empty/" in tab
    assert inside.status_code == 200
    assert "Carpeta vacía." in inside.content.decode()


def test_a_second_view_of_a_finished_run_asks_mlflow_nothing(
    owner_client, run_experiment, settings
):
    first = owner_client.get(url("tab", run_experiment), **HTMX).content.decode()
    owner_client.get(url("folder", run_experiment, path="data"), **HTMX)
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"  # nothing listens there

    again = owner_client.get(url("tab", run_experiment), **HTMX).content.decode()
    folder = owner_client.get(url("folder", run_experiment, path="data"), **HTMX)

    assert "MLflow no disponible" not in again
    assert without_csrf(again) == without_csrf(first)
    assert "数据.csv" in folder.content.decode()


def test_a_running_run_is_read_fresh_every_time(owner_client, make_run_experiment, settings):
    experiment = make_run_experiment({"a.txt": b"a"}, status=MLExperiment.Status.RUNNING)
    owner_client.get(url("tab", experiment), **HTMX)
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"

    again = owner_client.get(url("tab", experiment), **HTMX).content.decode()

    assert "MLflow no disponible" in again


@pytest.mark.parametrize("outage", ["mlflow_down", "mlflow_silent"])
def test_the_tab_gives_up_after_one_bounded_call_when_mlflow_is_out(
    request, owner_client, run_experiment, outage, http_calls, settings
):
    mlflow_url = request.getfixturevalue(outage)

    response = owner_client.get(url("tab", run_experiment), **HTMX)
    again = owner_client.get(url("tab", run_experiment), **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "MLflow no disponible" in html
    assert 'hx-get="' + url("tab", run_experiment) + '?retry=1"' in html
    assert 'hx-target="#artifacts-tab"' in html
    assert "MLflow no disponible" in again.content.decode()
    # One attempt with the web's timeouts and no retry; the second view waits for nothing
    # (MLflow is remembered as down). The timings are in bench/bench_mlflow_down.py.
    [call] = http_calls
    assert call.url.startswith(mlflow_url + "/")
    assert call.timeout == (settings.MLFLOW_WEB_CONNECT_TIMEOUT, settings.MLFLOW_WEB_READ_TIMEOUT)
    assert call.retries == 0


@pytest.mark.parametrize("outage", ["mlflow_down", "mlflow_silent"])
def test_the_experiment_page_never_waits_for_mlflow(
    request, owner_client, run_experiment, outage, http_calls
):
    request.getfixturevalue(outage)

    response = owner_client.get(
        reverse("experiments:ml_experiment_detail", args=[run_experiment.pk])
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert run_experiment.name in page
    assert f'hx-get="{url("tab", run_experiment)}" hx-trigger="click once"' in page
    assert http_calls == []


def test_the_retry_link_reloads_the_tab_once_mlflow_is_back(
    owner_client, run_experiment, mlflow, settings
):
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"
    down = owner_client.get(url("tab", run_experiment), **HTMX).content.decode()
    settings.MLFLOW_TRACKING_URI = mlflow

    back = owner_client.get(url("tab", run_experiment) + "?retry=1", **HTMX).content.decode()

    assert "MLflow no disponible" in down
    assert "metrics.json" in back


# --- downloads -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(RUN_FILES))
def test_downloaded_bytes_equal_mlflows(owner_client, run_experiment, mlflow, tmp_path, path):
    response = owner_client.get(url("download", run_experiment, path=path))

    assert response.status_code == 200
    assert response.streaming
    assert body(response) == mlflow_bytes(mlflow, run_experiment, path, tmp_path)
    assert response["Content-Length"] == str(len(RUN_FILES[path]))
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("sandbox; default-src 'none'")


def test_a_download_has_the_files_name_and_type(owner_client, run_experiment):
    response = owner_client.get(url("download", run_experiment, path="data/数据.csv"))

    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == (
        "attachment; filename*=utf-8''%E6%95%B0%E6%8D%AE.csv"
    )
    spaced = owner_client.get(url("download", run_experiment, path="plots/confusion matrix.png"))
    assert spaced["Content-Disposition"] == 'attachment; filename="confusion matrix.png"'
    assert spaced["Content-Type"] == "image/png"
    body(spaced)


def test_a_file_of_the_logged_model_downloads(owner_client, run_experiment):
    response = owner_client.get(
        url("download", run_experiment, path="MLmodel", model=run_experiment.mlflow_model_id)
    )

    assert response.status_code == 200
    assert body(response) == MODEL_FILES["MLmodel"]


def test_inline_is_allowed_for_images_and_framed_only_by_cauce(owner_client, run_experiment):
    svg = owner_client.get(url("download", run_experiment, path="plots/roc.svg", inline="1"))
    html = owner_client.get(url("download", run_experiment, path="report.html", inline="1"))
    json_file = owner_client.get(url("download", run_experiment, path="metrics.json", inline="1"))

    assert svg.status_code == 200
    assert svg["Content-Type"] == "image/svg+xml"
    assert svg["Content-Disposition"] == 'inline; filename="roc.svg"'
    assert svg["X-Frame-Options"] == "SAMEORIGIN"
    assert "sandbox" in svg["Content-Security-Policy"]
    assert html.status_code == 200 and "sandbox" in html["Content-Security-Policy"]
    assert json_file.status_code == 400
    body(svg), body(html)


def test_an_attachment_may_not_be_framed(owner_client, run_experiment):
    response = owner_client.get(url("download", run_experiment, path="report.html"))

    assert response["X-Frame-Options"] == "DENY"
    body(response)


def test_a_missing_file_is_404_and_a_folder_is_409(owner_client, run_experiment):
    missing = owner_client.get(url("download", run_experiment, path="data/nope.txt"))
    folder = owner_client.get(url("download", run_experiment, path="data"))

    assert missing.status_code == 404
    assert folder.status_code == 409
    assert "ZIP" in folder.content.decode()


@pytest.mark.parametrize("raw", REJECTED_PATHS)
def test_a_rejected_path_is_400_before_mlflow_is_asked(owner_client, run_experiment, raw, settings):
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"  # would answer 200 "unavailable" if asked
    for name in ("download", "folder", "zip"):
        response = owner_client.get(url(name, run_experiment, path=raw))
        assert response.status_code == 400, (name, raw)
        assert "ruta" in response.content.decode()


def test_a_model_id_that_is_not_the_runs_is_404(owner_client, run_experiment, make_run_experiment):
    other = make_run_experiment({"x.txt": b"x"}, model_files={"MLmodel": b"secret: 1\n"})

    for name in ("download", "zip"):
        response = owner_client.get(
            url(name, run_experiment, path="MLmodel", model=other.mlflow_model_id)
        )
        assert response.status_code == 404, name


# --- ZIP -------------------------------------------------------------------------------------


def unzip(response) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(body(response)))
    assert archive.testzip() is None
    return {name: archive.read(name) for name in archive.namelist()}


def test_the_whole_run_zips_with_its_logged_model(owner_client, run_experiment):
    response = owner_client.get(url("zip", run_experiment, path=""))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "rbol_de_pruebas-artifacts.zip" in response["Content-Disposition"]
    expected = dict(RUN_FILES) | {f"model/{path}": data for path, data in MODEL_FILES.items()}
    assert unzip(response) == expected


def test_a_folder_zips_alone(owner_client, run_experiment):
    response = owner_client.get(url("zip", run_experiment, path="data"))

    assert unzip(response) == {p: d for p, d in RUN_FILES.items() if p.startswith("data/")}


def test_a_selection_zips_what_was_ticked(owner_client, run_experiment):
    response = owner_client.post(
        url("zip", run_experiment),
        {
            "paths": ["metrics.json", "data/数据.csv"],
            "model_paths": [f"{run_experiment.mlflow_model_id}/MLmodel"],
        },
    )

    assert unzip(response) == {
        "metrics.json": RUN_FILES["metrics.json"],
        "data/数据.csv": RUN_FILES["data/数据.csv"],
        "model/MLmodel": MODEL_FILES["MLmodel"],
    }


def test_an_empty_selection_is_400_with_a_message(owner_client, run_experiment):
    response = owner_client.post(url("zip", run_experiment), {})

    assert response.status_code == 400
    assert "Seleccione al menos un archivo" in response.content.decode()


# --- who may see what ------------------------------------------------------------------------


def all_urls(experiment):
    return [
        url("tab", experiment),
        url("folder", experiment, path="data"),
        url("download", experiment, path="metrics.json"),
        url("zip", experiment, path=""),
        reverse("api-experiment-artifacts", args=[experiment.pk]),
        reverse("api-experiment-artifact-download", args=[experiment.pk]) + "?path=metrics.json",
        reverse("api-experiment-artifacts-zip", args=[experiment.pk]),
    ]


def test_an_outsider_gets_404_on_every_artifact_url(outsider_client, run_experiment):
    for address in all_urls(run_experiment):
        assert outsider_client.get(address).status_code == 404, address


def test_a_viewer_can_browse_and_download(viewer_client, run_experiment):
    tab, folder, download, whole, api_list, api_download, api_zip = (
        viewer_client.get(address) for address in all_urls(run_experiment)
    )

    assert "metrics.json" in tab.content.decode()
    assert "数据.csv" in folder.content.decode()
    assert body(download) == RUN_FILES["metrics.json"]
    with zipfile.ZipFile(io.BytesIO(body(whole))) as archive:
        assert archive.read("metrics.json") == RUN_FILES["metrics.json"]
    assert "metrics.json" in {entry["path"] for entry in api_list.json()}
    assert body(api_download) == RUN_FILES["metrics.json"]
    with zipfile.ZipFile(io.BytesIO(body(api_zip))) as archive:
        assert archive.read("metrics.json") == RUN_FILES["metrics.json"]
    responses = (tab, folder, download, whole, api_list, api_download, api_zip)
    assert [response.status_code for response in responses] == [200] * 7


def test_an_anonymous_visitor_is_sent_to_log_in(client, run_experiment):
    response = client.get(url("download", run_experiment, path="metrics.json"))

    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_the_tab_speaks_english_when_asked(owner_client, run_experiment, settings):
    owner_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    html = owner_client.get(url("tab", run_experiment), **HTMX).content.decode()

    assert "Download all (ZIP)" in html
    assert "Model logged with the run (MLflow 3)" in html
    assert f"{len(RUN_FILES) + len(MODEL_FILES)} files" in html
