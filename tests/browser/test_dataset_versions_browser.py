"""Dataset versions in a real browser: upload a second version from the dataset page, read its
schema differences and its lineage; and MLflow's own run page showing the run's datasets.

With VERSIONS_SCREENSHOTS=<folder> it also leaves screenshots of the version page at 1366 and
390 px, in Spanish and English, for a person to look at.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from cauce.experiments import services as experiment_services
from cauce.experiments.models import MLExperiment
from cauce.experiments.runner import experiment_execute
from cauce.experiments.tests.runner_support import queued_experiment
from cauce.integrations.mlflow import client as mlflow_client

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECOND = (
    "sepal_length,sepal_width,petal_length,species,origin\n"
    + "".join(
        f"{5 + i / 10},3.{i % 10},1.{i % 7},{('a', 'b', 'c')[i % 3]},lab{i % 2}\n"
        for i in range(40)
    )
).encode()


def _screenshots(page, url: str, name: str) -> None:
    folder = os.environ.get("VERSIONS_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for language in ("es", "en"):
        page.context.add_cookies([{"name": "django_language", "value": language, "url": url}])
        for width in (1366, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(url)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=f"{folder}/{name}-{language}-{width}.png", full_page=True)


def test_an_editor_uploads_a_second_version_and_reads_its_diff_and_lineage(
    logged_in_page, live_server, tmp_path, editor, project, iris_dataset
):
    on_first = experiment_services.experiment_create(
        project=project,
        user=editor,
        name="Bosque sobre v1",
        dataset=iris_dataset,
        target_column="species",
        algorithm="RandomForestClassifier",
    )
    upload = tmp_path / "iris-2.csv"
    upload.write_bytes(SECOND)
    page = logged_in_page(editor, "pw-eduardo")

    page.goto(f"{live_server.url}/datasets/{iris_dataset.pk}/")
    page.locator("[data-new-version]").click()
    page.set_input_files("input[type=file]", str(upload))
    page.get_by_role("button", name="Subir").click()

    page.wait_for_url(f"{live_server.url}/datasets/{iris_dataset.pk}/versions/2/")
    expect(page.locator(".message.success")).to_contain_text("Versión 2 de «Iris» subida")
    diff = page.locator("[data-schema-diff]")
    expect(diff.locator('[data-change="added"]')).to_contain_text("origin")
    expect(diff.locator('[data-change="removed"]')).to_contain_text("petal_width")
    expect(diff.locator("[data-rows-change]")).to_have_text("Filas: 150 → 40 (-110).")
    expect(page.locator("[data-lineage]")).to_contain_text("Ningún experimento usa esta versión.")

    page.locator(".breadcrumbs").get_by_role("link", name="Iris", exact=True).click()
    expect(page.locator('#versions [data-version="2"]')).to_contain_text("actual")
    page.locator('#versions [data-version="1"] a').click()
    lineage = page.locator("[data-lineage]")
    expect(lineage.get_by_role("link", name="Bosque sobre v1")).to_have_attribute(
        "href", f"/experiments/{on_first.pk}/"
    )
    expect(lineage.locator("#lineage-models")).to_contain_text(
        "Ningún modelo registrado se entrenó con esta versión."
    )

    # The experiment form offers the latest version's columns, or the chosen version's.
    page.goto(f"{live_server.url}/projects/{project.pk}/experiments/new/")
    inputs = page.locator("input[name=feature_columns]")
    expect(inputs.locator("xpath=..").filter(has_text="origin")).to_have_count(1)
    page.select_option("[data-dataset-version]", "1")
    expect(inputs.locator("xpath=..").filter(has_text="petal_width")).to_have_count(1)
    expect(inputs.locator("xpath=..").filter(has_text="origin")).to_have_count(0)
    # A version change proposes that version's inputs, as a dataset change does: petal_width
    # (only in v1) is ticked like the others, not left out of the experiment silently.
    expect(page.locator("input[name=feature_columns][value=petal_width]")).to_be_checked()
    expect(page.locator("input[name=feature_columns]:not(:checked)")).to_have_count(0)
    # The fields just swapped in take a change once htmx has settled them (a person is slower).
    page.wait_for_function(
        "() => !document.querySelector("
        "'.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )
    page.select_option("[data-dataset-version]", "2")
    expect(page.locator("input[name=feature_columns][value=origin]")).to_be_checked()

    _screenshots(page, f"{live_server.url}/datasets/{iris_dataset.pk}/versions/2/", "version")
    _screenshots(page, f"{live_server.url}/datasets/{iris_dataset.pk}/", "dataset")
    _screenshots(
        page, f"{live_server.url}/projects/{project.pk}/experiments/new/", "experiment-form"
    )


def test_mlflows_own_run_page_shows_the_runs_datasets(page, mlflow, iris_dataset):
    mlflow_client.use_worker_profile()
    try:
        experiment = queued_experiment(iris_dataset, name="Con datos")
        experiment_execute(experiment_id=str(experiment.pk))
    finally:
        mlflow_client.use_web_profile()
    experiment.refresh_from_db()
    assert experiment.status == MLExperiment.Status.FINISHED, experiment.error

    page.goto(
        f"{mlflow}/#/experiments/{experiment.mlflow_experiment_id}/runs/{experiment.mlflow_run_id}"
    )

    expect(page.get_by_text("Iris v1 · training")).to_be_visible(timeout=20_000)
    folder = os.environ.get("VERSIONS_SCREENSHOTS")
    if folder:
        page.screenshot(path=f"{folder}/mlflow-run.png", full_page=True)
    # The run page lists the first dataset and "+1": the other opens from it.
    page.get_by_text("+1", exact=True).click()
    expect(page.get_by_text("Iris v1 · evaluation")).to_be_visible()
