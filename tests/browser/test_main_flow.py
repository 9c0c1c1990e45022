"""The main flow in a real browser: log in, upload a CSV, create and run an experiment, see it end.

The experiment runs in the real Celery worker against the real MLflow server; the page follows
it live (htmx polling) and refreshes itself when it finishes.
"""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from cauce.experiments.models import MLExperiment

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_user_uploads_a_csv_runs_an_experiment_and_sees_it_finish(
    logged_in_page,
    live_server,
    owner,
    project,
    mlflow,
    celery_worker_process,
    iris_csv_bytes,
    tmp_path: Path,
):
    csv_file = tmp_path / "flores.csv"
    csv_file.write_bytes(iris_csv_bytes)
    page = logged_in_page(owner, "pw-olga")

    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.get_by_role("link", name="Subir conjunto de datos").first.click()
    page.fill("input[name=name]", "Flores")
    page.set_input_files("input[name=file]", str(csv_file))
    page.get_by_role("button", name="Subir").click()
    expect(page.get_by_role("heading", name="Flores")).to_be_visible()
    expect(page.locator("body")).to_contain_text("150")

    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.get_by_role("link", name="Nuevo experimento").first.click()
    page.fill("input[name=name]", "Flores RF")
    page.select_option("select[name=target_column]", "species")
    # The target redraws the algorithm list (htmx): choose from the list it draws, not from the
    # one it replaces (under load the answer came after the choice and undid it).
    page.wait_for_load_state("networkidle")
    page.select_option("select[name=algorithm]", "RandomForestClassifier")
    # The algorithm's own fields are drawn again (htmx) before one is filled in; the first form
    # of a process reads scikit-learn's constraints, seconds on a loaded machine.
    expect(page.locator("[data-hyperparameters=RandomForestClassifier]")).to_be_visible(
        timeout=20_000
    )
    page.fill("input[name=hp_n_estimators]", "20")
    page.fill("input[name=tags]", "navegador, iris")
    page.get_by_role("button", name="Guardar y ejecutar").click()

    page.wait_for_url(re.compile(r"/experiments/[0-9a-f-]{36}/$"))
    # Queued or running first, then the page refreshes itself once the worker is done.
    expect(page.locator("h1 .badge")).to_have_text("Finalizado", timeout=120_000)
    expect(page.locator("body")).to_contain_text("accuracy")

    experiment = MLExperiment.objects.get(name="Flores RF")
    assert experiment.status == MLExperiment.Status.FINISHED
    assert experiment.mlflow_run_id
    assert set(experiment.tags.names()) == {"navegador", "iris"}
    assert experiment.metrics["accuracy"] > 0.8
