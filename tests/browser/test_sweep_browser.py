"""A sweep in a real browser: built from the typed experiment form, watched to its end, its
parallel coordinates brushed, its best trial promoted and registered.

The trials run in the real Celery worker against the real MLflow server; the page follows the
sweep live (htmx) and the promoted experiment like any other.
"""

import os
import re
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from playwright.sync_api import expect

from cauce.experiments.models import MLExperiment
from cauce.sweeps.models import Sweep, Trial

# SWEEP_SCREENSHOTS=<folder>: also leave the sweep form and page at 1366 and 390 px there.
SHOTS = os.environ.get("SWEEP_SCREENSHOTS")

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _shoot(page, name: str) -> None:
    if not SHOTS:
        return
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(Path(SHOTS) / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})


def _brush_top(page, axis, fraction: float) -> None:
    """Drag on an axis's brush area from ``fraction`` of the way down to past its top."""
    area = axis.locator(".brush-area")
    area.scroll_into_view_if_needed()
    box = area.bounding_box()
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + box["height"] * fraction)
    page.mouse.down()
    page.mouse.move(x, box["y"] - 10, steps=5)
    page.mouse.up()


def test_a_sweep_from_the_form_finishes_is_brushed_and_its_best_is_promoted_and_registered(
    logged_in_page, live_server, owner, project, iris_dataset, mlflow, celery_worker_process
):
    page = logged_in_page(owner, "pw-olga")
    page.goto(f"{live_server.url}/projects/{project.pk}/experiments/new/")
    page.fill("input[name=name]", "Flores")
    page.select_option("select[name=target_column]", "species")
    page.wait_for_load_state("networkidle")
    page.select_option("select[name=algorithm]", "DecisionTreeClassifier")
    expect(page.locator("[data-hyperparameters=DecisionTreeClassifier]")).to_be_visible(
        timeout=20_000
    )
    page.fill("input[name=hp_min_samples_leaf]", "2")
    addresses = []
    page.on("request", lambda request: addresses.append(request.url))
    page.get_by_role("button", name="Buscar hiperparámetros").click()

    # The sweep form keeps what was typed; each field can now be searched. No address the
    # browser asked for holds the CSRF token.
    page.wait_for_url(re.compile(r"/sweeps/new/"))
    assert not [url for url in addresses if "csrfmiddlewaretoken" in url]
    assert "csrfmiddlewaretoken" not in page.url
    expect(page.locator("input[name=hp_min_samples_leaf]")).to_have_value("2")
    page.fill("input[name=name]", "Barrido del navegador")
    page.check("input[name=search_max_depth]")
    page.fill("input[name=low_max_depth]", "1")
    page.fill("input[name=high_max_depth]", "6")
    page.check("input[name=search_criterion]")
    page.check("input[name=choices_criterion][value=gini]")
    page.check("input[name=choices_criterion][value=entropy]")
    page.fill("input[name=n_trials]", "6")
    page.select_option("select[name=metric]", "accuracy")
    _shoot(page, "sweep-form")
    page.get_by_role("button", name="Lanzar el barrido").click()

    page.wait_for_url(re.compile(r"/sweeps/[0-9a-f-]{36}/$"))
    # Watched without reloading: when it ends, the trials, charts and buttons follow.
    expect(page.locator("#sweep-progress .badge")).to_have_text("Finalizado", timeout=120_000)
    expect(page.get_by_role("button", name="Promover el mejor")).to_be_visible()
    expect(page.get_by_role("button", name="Cancelar")).to_have_count(0)
    expect(page.locator("table[data-compare-table] tbody tr")).to_have_count(6)
    sweep = Sweep.objects.get(name="Barrido del navegador")
    assert sweep.status == Sweep.Status.FINISHED
    assert sweep.fixed_hyperparameters == {"min_samples_leaf": 2}
    assert set(sweep.search_space) == {"max_depth", "criterion"}

    # Brushing the metric's axis filters the trials table to the lines inside the brush; a
    # failed trial (in the table, not on the chart) counts in the status's total.
    Trial.objects.create(sweep=sweep, number=6, optuna_trial_id=99, status=Trial.Status.FAIL)
    page.reload()
    rows = page.locator("table[data-compare-table] tbody tr")
    total = rows.count()
    assert total == 7
    assert page.locator("svg[data-parallel] .pc-line").count() == 6
    metric_axis = page.locator("svg[data-parallel] .pc-axis[data-name=accuracy]")
    _brush_top(page, metric_axis, 0.45)
    status = page.locator("[data-brush-status]")
    expect(status).to_be_visible()
    shown, of = map(int, re.search(r"(\d+) de (\d+)", status.inner_text()).groups())
    assert shown == page.locator("table[data-compare-table] tbody tr:visible").count()
    assert of == total
    best = page.locator("table[data-compare-table] tbody tr.best")
    expect(best).to_be_visible()  # the best value is at the top of the axis
    _shoot(page, "sweep-page-brushed")
    page.get_by_role("button", name="Quitar el filtro").click()
    expect(page.locator("table[data-compare-table] tbody tr:visible")).to_have_count(total)

    page.get_by_role("button", name="Promover el mejor").click()
    page.wait_for_url(re.compile(r"/experiments/[0-9a-f-]{36}/$"))
    expect(page.locator("[data-promoted-from]")).to_contain_text("Barrido del navegador")
    expect(page.locator("h1 .badge")).to_have_text("Finalizado", timeout=120_000)
    page.fill("#register-name", "flores-mejor")
    page.get_by_role("button", name="Registrar Modelo en MLflow").click()
    expect(page.locator("#model-registry")).to_contain_text("flores-mejor", timeout=60_000)

    sweep.refresh_from_db()
    experiment = MLExperiment.objects.get(pk=sweep.promoted_experiment_id)
    assert experiment.hyperparameters == {"min_samples_leaf": 2, **sweep.best_params}
    assert sweep.promoted_trial_number == sweep.best_number
    versions = MlflowClient(tracking_uri=mlflow).search_model_versions("name='flores-mejor'")
    assert [version.run_id for version in versions] == [experiment.mlflow_run_id]
