"""The "Monitorización" tab in a real browser: an editor recomputes a version's windows,
sees the flagged feature first, sorts the table and opens another feature's histogram."""

import pytest
from playwright.sync_api import expect

from cauce.experiments.models import MLExperiment
from cauce.experiments.tests.runner_support import queued_experiment
from cauce.monitoring.tests.support import monitoring_data
from cauce.registry.models import RegisteredModel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_editor_recomputes_and_reads_the_drift_of_a_version(
    logged_in_page, live_server, editor, project, iris_dataset
):
    model = RegisteredModel.objects.create(name="clima", project=project)
    experiment = queued_experiment(iris_dataset, status=MLExperiment.Status.FINISHED)
    monitoring_data(model=model, experiment=experiment, version=3)
    page = logged_in_page(editor, "pw-eduardo")

    page.goto(f"{live_server.url}/models/clima/versions/3/monitoring/?window=1h")
    expect(page.locator(".monitor-figures")).to_contain_text("1200")
    expect(page.locator("#deriva")).to_contain_text("Aún no se calculó la deriva")
    page.get_by_role("button", name="Recalcular").click()

    expect(page.locator(".messages")).to_contain_text("Ventanas recalculadas: 1 variable marcada.")
    rows = page.locator(".drift-table tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.first.locator("td").first).to_have_text("b")  # flagged first
    expect(rows.first.locator("td.flagged")).to_have_text("Sí")
    expect(page.locator("svg.histogram")).to_have_attribute(
        "aria-label", "b: entrenamiento y ventana actual"
    )
    page.get_by_role("link", name="Variable").click()
    expect(rows.first.locator("td").first).to_have_text("a")
    page.get_by_role("link", name="city").click()
    expect(page.locator("svg.histogram")).to_have_attribute(
        "aria-label", "city: entrenamiento y ventana actual"
    )
    expect(page.locator("svg.histogram text", has_text="otras")).to_have_count(1)
    expect(page.locator("svg.bars")).to_have_count(2)

    page.get_by_role("link", name="Monitorización del modelo").click()
    expect(page.locator("#alertas")).to_contain_text("la variable «b» cambió")
    expect(page.get_by_text("@champion")).to_be_visible()
    expect(page.locator("body")).to_contain_text("v3 100 %")


def test_the_monitoring_tab_of_a_version_and_a_model_in_both_languages_at_390_px(
    logged_in_page, live_server, editor, project, iris_dataset, settings
):
    """The tab loads the monitoring content in place (htmx; MLflow is not running: the page
    says so, the tab still works); its window links and "Recalcular" stay in the tab."""
    model = RegisteredModel.objects.create(name="clima", project=project)
    experiment = queued_experiment(iris_dataset, status=MLExperiment.Status.FINISHED)
    monitoring_data(model=model, experiment=experiment, version=3)
    page = logged_in_page(editor, "pw-eduardo")
    page.set_viewport_size({"width": 390, "height": 844})
    version_url = f"{live_server.url}/models/clima/versions/3/"

    page.goto(version_url)
    page.get_by_role("tab", name="Monitorización").click()
    panel = page.locator("#monitoring-panel")
    expect(panel.locator(".monitor-figures")).to_be_visible()
    panel.get_by_role("link", name="1 hora").click()
    expect(panel.locator(".monitor-figures")).to_contain_text("1200")
    panel.get_by_role("button", name="Recalcular").click()
    expect(panel.locator(".messages")).to_contain_text("Ventanas recalculadas")
    expect(panel.locator(".drift-table tbody tr")).to_have_count(4)
    expect(panel.locator("svg.histogram")).to_be_visible()
    assert page.url == version_url + "#monitorizacion"  # still the version page, in its tab
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": "en", "url": live_server.url}]
    )
    page.goto(f"{live_server.url}/models/clima/#monitorizacion")  # the tab opened by its name
    expect(page.get_by_role("tab", name="Monitoring")).to_have_attribute("aria-selected", "true")
    expect(panel.locator("table")).to_contain_text("v3")
    expect(panel.get_by_text("@champion")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
