"""The API's previews, the ZIP of a selection and the comparison: the pages' logic as JSON."""

import io
import zipfile

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from cauce.artifacts.tests.conftest import MODEL_FILES, RUN_FILES
from cauce.artifacts.tests.test_compare import FIRST, SECOND
from tests.fixtures.core import assert_authentication_required

pytestmark = pytest.mark.django_db


def _as(user) -> APIClient:
    """A client of its own (the *_api fixtures share one)."""
    client = APIClient()
    client.force_authenticate(user)
    return client


def preview(client, experiment, **query):
    return client.get(reverse("api-experiment-artifact-preview", args=[experiment.pk]), query)


def zipped(response) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


# --- previews --------------------------------------------------------------------------------


def test_a_text_preview(viewer_api, run_experiment):
    response = preview(viewer_api, run_experiment, path="data/résumé ñ.txt")

    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "text"
    assert body["text"] == "línea uno\nlínea dos\n"
    assert body["truncated"] is False
    assert body["size"] == len(RUN_FILES["data/résumé ñ.txt"])
    assert body["table"] is None and body["mlmodel"] is None
    download = viewer_api.get(body["download_url"])
    assert b"".join(download.streaming_content) == RUN_FILES["data/résumé ñ.txt"]


def test_a_csv_preview_is_a_table(viewer_api, run_experiment):
    body = preview(viewer_api, run_experiment, path="data/数据.csv").json()

    assert body["kind"] == "csv"
    assert body["table"] == {
        "header": ["a", "b"],
        "rows": [{"number": 1, "cells": ["1", "2"]}],
        "page": 1,
        "has_next": False,
    }


def test_a_json_preview_and_an_image_to_fetch(viewer_api, run_experiment):
    json_body = preview(viewer_api, run_experiment, path="metrics.json").json()
    image = preview(viewer_api, run_experiment, path="plots/confusion matrix.png").json()

    assert json_body["kind"] == "json"
    assert '"f1": 0.9' in json_body["text"]
    assert image["kind"] == "image"
    assert image["text"] == ""
    assert image["download_url"].endswith("path=plots%2Fconfusion+matrix.png")


def test_the_mlmodel_preview_summarizes_the_model(viewer_api, run_experiment):
    body = preview(
        viewer_api, run_experiment, path="MLmodel", model=run_experiment.mlflow_model_id
    ).json()

    assert body["kind"] == "mlmodel"
    assert body["model_id"] == run_experiment.mlflow_model_id
    assert body["mlmodel"]["flavors"] == [{"name": "python_function", "details": ""}]
    # This MLmodel declares no signature and no input example.
    assert (body["mlmodel"]["inputs"], body["mlmodel"]["example"]) == ([], None)


def test_preview_errors_are_json(viewer_api, outsider, run_experiment):
    missing = preview(viewer_api, run_experiment, path="nope.txt")
    outside = preview(_as(outsider), run_experiment, path="metrics.json")
    bad = preview(viewer_api, run_experiment, path="../etc/passwd")

    assert missing.status_code == 404
    assert missing.json() == {"message": "No existe el artefacto «nope.txt»."}
    assert (outside.status_code, outside.json()) == (404, {"message": "No encontrado."})
    assert bad.status_code == 400
    assert bad.json() == {"message": "La ruta del artefacto no puede contener «..» ni «.»."}


def test_preview_with_mlflow_down_is_a_json_503(viewer_api, run_experiment, mlflow_down):
    response = preview(viewer_api, run_experiment, path="metrics.json")

    assert response.status_code == 503
    assert "MLflow no disponible" in response.json()["message"]


def test_preview_requires_authentication(api_client, run_experiment):
    assert_authentication_required(preview(api_client, run_experiment, path="metrics.json"))


# --- a selection as one ZIP --------------------------------------------------------------------


def test_a_selection_of_run_and_model_files_is_one_zip(viewer_api, run_experiment):
    response = viewer_api.post(
        reverse("api-experiment-artifacts-zip", args=[run_experiment.pk]),
        {
            "paths": ["metrics.json", "data/数据.csv", "metrics.json"],
            "model_paths": [{"model": run_experiment.mlflow_model_id, "path": "MLmodel"}],
        },
        format="json",
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert zipped(response) == {
        "metrics.json": RUN_FILES["metrics.json"],
        "data/数据.csv": RUN_FILES["data/数据.csv"],
        "model/MLmodel": MODEL_FILES["MLmodel"],
    }


def test_an_empty_selection_is_a_400(viewer_api, run_experiment):
    response = viewer_api.post(
        reverse("api-experiment-artifacts-zip", args=[run_experiment.pk]), {}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"message": "Seleccione al menos un archivo para descargar."}


def test_a_selection_is_404_for_an_outsider(outsider_api, run_experiment):
    response = outsider_api.post(
        reverse("api-experiment-artifacts-zip", args=[run_experiment.pk]),
        {"paths": ["metrics.json"]},
        format="json",
    )

    assert (response.status_code, response.json()) == (404, {"message": "No encontrado."})


# --- comparison --------------------------------------------------------------------------------


@pytest.fixture
def pair(make_run_experiment):
    return [
        make_run_experiment(FIRST, name="Primero"),
        make_run_experiment(SECOND, name="Segundo"),
    ]


def compare(client, project, experiments, path=None, *, paths=False):
    name = "api-project-artifacts-compare-paths" if paths else "api-project-artifacts-compare"
    query = {"experiments": [str(experiment.pk) for experiment in experiments]}
    if path is not None:
        query["path"] = path
    return client.get(reverse(name, args=[project.pk]), query)


def test_the_paths_to_compare_with_how_many_runs_hold_them(viewer_api, project, pair):
    response = compare(viewer_api, project, pair, paths=True)

    assert response.status_code == 200
    assert response.json() == [
        {"path": "metrics.json", "count": 2},
        {"path": "only-first.txt", "count": 1},
        {"path": "plots/plot.png", "count": 2},
        {"path": "predictions.csv", "count": 2},
        {"path": "report.txt", "count": 2},
    ]


def test_a_text_comparison_is_a_diff(viewer_api, project, pair):
    body = compare(viewer_api, project, pair, "report.txt").json()

    assert body["path"] == "report.txt"
    assert body["kind"] == "text"
    assert [run["experiment_name"] for run in body["runs"]] == ["Primero", "Segundo"]
    assert [run["text"] for run in body["runs"]] == ["uno\ndos\ntres\n", "uno\nDOS\ntres\n"]
    [diff] = body["diffs"]
    assert diff["base_experiment_id"] == str(pair[0].pk)
    assert diff["other_experiment_id"] == str(pair[1].pk)
    assert diff["identical"] is False
    assert [line for line in diff["lines"] if line["kind"] in ("add", "del")] == [
        {"kind": "del", "text": "-dos"},
        {"kind": "add", "text": "+DOS"},
    ]


def test_a_file_only_one_run_has_is_marked_missing(viewer_api, project, pair):
    body = compare(viewer_api, project, pair, "only-first.txt").json()

    assert [(run["exists"], run["size"]) for run in body["runs"]] == [
        (True, len(FIRST["only-first.txt"])),
        (False, None),
    ]
    assert body["runs"][1]["download_url"] is None
    assert body["diffs"] == []


def test_a_csv_comparison_summarizes_each_run(viewer_api, project, pair):
    body = compare(viewer_api, project, pair, "predictions.csv").json()

    first, second = (run["csv"] for run in body["runs"])
    assert (first["rows"], second["rows"]) == (3, 4)
    assert first["columns"][0] == {
        "name": "x",
        "numeric": True,
        "count": 3,
        "mean": 2.0,
        "minimum": 1.0,
        "maximum": 3.0,
        "distinct_count": 3,
        "distinct_capped": False,
    }


def test_comparing_needs_two_experiments_and_a_path(viewer_api, project, pair):
    one = compare(viewer_api, project, pair[:1], "report.txt")
    no_path = compare(viewer_api, project, pair)

    message = "Elija al menos dos experimentos con run para comparar."
    assert (one.status_code, one.json()) == (400, {"message": message})
    assert (no_path.status_code, no_path.json()) == (
        400,
        {"message": "Elija el archivo que quiere comparar."},
    )


def test_comparing_is_404_for_an_outsider_and_for_another_projects_experiment(
    viewer_api, outsider, project, other_project, pair, make_run_experiment
):
    foreign = make_run_experiment(FIRST, for_project=other_project, name="Ajeno")

    outside = compare(_as(outsider), project, pair, "report.txt")
    mixed = compare(viewer_api, project, [pair[0], foreign], "report.txt")

    assert (outside.status_code, outside.json()) == (404, {"message": "No encontrado."})
    assert (mixed.status_code, mixed.json()) == (404, {"message": "No encontrado."})


def test_the_new_operations_are_in_the_schema(api_client):
    paths = api_client.get("/api/schema/", {"format": "json"}).json()["paths"]

    assert set(paths["/api/experiments/{id}/artifacts/preview/"]) == {"get"}
    assert set(paths["/api/experiments/{id}/artifacts/zip/"]) == {"get", "post"}
    assert set(paths["/api/projects/{project_id}/artifacts/compare/"]) == {"get"}
    assert set(paths["/api/projects/{project_id}/artifacts/compare/paths/"]) == {"get"}
