"""Predicting in a real browser: from the model's page, upload a CSV, read and download.

The model is an experiment trained by Cauce's runner against the real MLflow server and
registered through the registry's service; a viewer of the project then predicts with it.
"""

import csv
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from cauce.experiments.runner import experiment_execute
from cauce.experiments.tests.runner_support import queued_experiment
from cauce.integrations.mlflow import serving
from cauce.registry.models import PredictionJob
from cauce.registry.services import model_version_register

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROWS = [
    ("5.1", "3.5", "1.4", "0.2"),
    ("6.7", "3.0", "5.2", "2.3"),
    ("5.9", "2.8", "4.3", "1.3"),
]


def test_a_viewer_predicts_an_uploaded_csv_from_the_model_page(
    logged_in_page, live_server, settings, owner, viewer, mlflow, iris_dataset, tmp_path: Path
):
    settings.EXPERIMENT_HEARTBEAT_SECONDS = 3600
    experiment = queued_experiment(iris_dataset, name="Flores")
    experiment_execute(experiment_id=str(experiment.pk))
    experiment.refresh_from_db()
    registration = model_version_register(experiment=experiment, user=owner)
    name = registration.model.name
    upload = tmp_path / "nuevas flores.csv"
    upload.write_text(
        "sepal_length;sepal_width;petal_length;petal_width\n"
        + "".join(";".join(row) + "\n" for row in ROWS),
        encoding="utf-8",
    )
    serving.served_models_clear()
    page = logged_in_page(viewer, "pw-vera")

    page.goto(f"{live_server.url}/models/{name}/")
    page.get_by_role("link", name="Predecir").first.click()
    # The probabilities checkbox sits on one line with its label.
    box = page.locator("input[name=probabilities]").bounding_box()
    label = page.locator("label[for=id_probabilities]").bounding_box()
    assert abs((box["y"] + box["height"] / 2) - (label["y"] + label["height"] / 2)) < 6
    assert box["x"] < label["x"]
    page.set_input_files("input[name=file]", str(upload))
    page.get_by_role("button", name="Predecir").click()

    page.wait_for_url(re.compile(r"/predictions/[0-9a-f-]{36}/$"))
    expect(page.locator("body")).to_contain_text("3 filas predichas")
    job = PredictionJob.objects.get()
    assert (job.status, job.version, job.rows_total) == ("FINISHED", 1, 3)
    headers = page.locator("table.prediction-result thead th").all_inner_texts()
    assert headers[4:] == [
        "Predicción",
        "Probabilidad «setosa»",
        "Probabilidad «versicolor»",
        "Probabilidad «virginica»",
    ]
    assert page.locator("table.prediction-result tbody tr td:nth-child(1)").first.inner_text() == (
        "5,1"
    )
    cells = page.locator("table.prediction-result tbody tr td:nth-child(5)").all_inner_texts()
    assert cells == ["setosa", "virginica", "versicolor"]

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Descargar CSV").click()
    saved = tmp_path / "resultado.csv"
    download_info.value.save_as(saved)
    with saved.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["prediction"] for row in rows] == cells
    classes = ("setosa", "versicolor", "virginica")
    assert sum(float(rows[0][f"probability_{name}"]) for name in classes) == pytest.approx(1)
