"""The README's screenshots, made again after a change to the pages:

    CAUCE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/browser/test_screenshots.py

writes docs/screenshots/*.png (1366 px wide, at most 1400 px tall, 256 colours). Without the
variable the test is skipped: the suite does not rewrite files of the repository.

The experiments are trained by Cauce's runner against the real MLflow server (in this process),
registered as two versions of one model; the prediction is a small CSV predicted from the page.
The running experiment is one set RUNNING in the database at its training stage, with the run
a worker would have opened in MLflow by then (its id shows, as on a real run).
"""

import os
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from cauce.experiments.models import MLExperiment
from cauce.experiments.runner import experiment_execute
from cauce.experiments.tests.runner_support import queued_experiment
from cauce.integrations.mlflow import client as mlflow_adapter
from cauce.registry.services import alias_set, model_version_register
from tests.browser.pages import HTMX_WATCH_SCRIPT, settle

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("CAUCE_SCREENSHOTS"), reason="CAUCE_SCREENSHOTS=1 makes them"
    ),
]

FOLDER = Path(django_settings.BASE_DIR) / "docs" / "screenshots"
WIDTH, HEIGHT, MAX_HEIGHT = 1366, 860, 1400
ROWS = "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"


def _trained(dataset, **fields) -> MLExperiment:
    experiment = queued_experiment(dataset, **fields)
    experiment_execute(experiment_id=str(experiment.pk))
    experiment.refresh_from_db()
    assert experiment.status == MLExperiment.Status.FINISHED, experiment.error
    return experiment


def _shoot(page: Page, name: str) -> Path:
    from PIL import Image

    settle(page)
    path = FOLDER / f"{name}.png"
    height = min(page.evaluate("document.scrollingElement.scrollHeight"), MAX_HEIGHT)
    page.screenshot(
        path=path, full_page=True, clip={"x": 0, "y": 0, "width": WIDTH, "height": height}
    )
    # 256 colours are plenty for a page's flat colours: a fifth of the bytes.
    with Image.open(path) as image:
        image.convert("RGB").quantize(256).save(path, optimize=True)
    return path


def test_the_readme_screenshots(
    browser: Browser, live_server, settings, mlflow, owner, iris_dataset
):
    settings.EXPERIMENT_HEARTBEAT_SECONDS = 3600
    iris_dataset.name = "Flores iris"
    iris_dataset.save(update_fields=["name"])
    forest = _trained(iris_dataset, name="Bosque aleatorio", tags=["iris", "baseline"])
    shallow = _trained(
        iris_dataset,
        name="Bosque poco profundo",
        hyperparameters={"n_estimators": 10, "max_depth": 2},
        tags=["iris"],
    )
    running = queued_experiment(iris_dataset, name="Bosque grande", tags=["iris"])
    client = mlflow_adapter.get_client()
    mlflow_experiment_id = client.get_run(forest.mlflow_run_id).info.experiment_id
    MLExperiment.objects.filter(pk=running.pk).update(
        mlflow_run_id=client.create_run(mlflow_experiment_id, run_name=running.name).info.run_id,
        status=MLExperiment.Status.RUNNING,
        stage=MLExperiment.Stage.TRAINING,
        started_at=timezone.now(),
        stage_started_at=timezone.now(),
    )
    name = "iris-bosque"
    for experiment in (forest, shallow):
        registration = model_version_register(experiment=experiment, user=owner, name=name)
    alias_set(model=registration.model, alias="champion", version=1)

    FOLDER.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, locale="es-ES")
    context.add_init_script(HTMX_WATCH_SCRIPT)
    page = context.new_page()
    page.goto(f"{live_server.url}{reverse('login')}")
    page.fill("input[name=username]", owner.get_username())
    page.fill("input[name=password]", "pw-olga")
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)

    def visit(route: str, **kwargs) -> None:
        query = kwargs.pop("query", "")
        page.goto(f"{live_server.url}{reverse(route, kwargs=kwargs)}{query}")

    shots = []
    visit("projects:project_detail", pk=iris_dataset.project.pk)
    shots.append(_shoot(page, "project"))
    visit("datasets:dataset_detail", pk=iris_dataset.pk)
    shots.append(_shoot(page, "dataset"))
    visit("experiments:ml_experiment_detail", pk=running.pk)
    shots.append(_shoot(page, "experiment-running"))
    visit("experiments:ml_experiment_detail", pk=forest.pk)
    shots.append(_shoot(page, "experiment-finished"))
    page.get_by_role("tab", name="Gráficos").click()
    expect(page.locator(".plots img").first).to_be_visible()
    shots.append(_shoot(page, "experiment-plots"))
    visit("registry:model_detail", name=name)
    shots.append(_shoot(page, "model"))
    visit("registry:compare", name=name, query="?versions=1&versions=2")
    shots.append(_shoot(page, "model-comparison"))

    visit("registry:predict", name=name)
    page.locator("input[name=file]").set_input_files(
        {"name": "flores nuevas.csv", "mimeType": "text/csv", "buffer": ROWS.encode()}
    )
    page.locator("form:has(input[name=file]) button[type=submit]").click()
    page.wait_for_url(re.compile(r"/predictions/[0-9a-f-]{36}/$"))
    expect(page.locator("table").first).to_be_visible()
    shots.append(_shoot(page, "prediction"))
    context.close()

    sizes = {path.name: path.stat().st_size for path in shots}
    print("screenshots:", ", ".join(f"{n} {s // 1024} KiB" for n, s in sizes.items()))
    assert sum(sizes.values()) < 3 * 1024 * 1024
