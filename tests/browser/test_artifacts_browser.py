"""The "Artefactos de MLflow" tab in a real Chromium: browse, preview and download."""

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from cauce.artifacts.tests.test_preview import PNG

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSV = "".join(["id,specie\n", *(f"{i},{'setosa' if i % 2 else 'virginica'}\n" for i in range(80))])
FILES = {
    "plots/plot.png": PNG,
    "predictions.csv": CSV.encode(),
    "metrics.json": b'{"f1": 0.9}',
}


@pytest.fixture
def experiment(make_run_experiment):
    return make_run_experiment(FILES, name="Experimento en el navegador")


def open_artifacts_tab(page: Page, live_server, experiment) -> None:
    detail = reverse("experiments:ml_experiment_detail", args=[experiment.pk])
    page.goto(f"{live_server.url}{detail}")
    page.get_by_role("tab", name="Artefactos de MLflow").click()
    expect(page.locator("#artifacts-tab")).to_be_visible()


def file_row(page: Page, name: str):
    return page.locator("li.artifact-file", has_text=name)


def test_a_user_browses_previews_and_downloads_artifacts(
    transactional_db, live_server, logged_in_page, owner, experiment
):
    page = logged_in_page(owner, "pw-olga")
    open_artifacts_tab(page, live_server, experiment)
    expect(page.locator("#artifacts-tab")).to_contain_text("3 archivos")

    # A folder opens in place, loaded on demand.
    expect(file_row(page, "plot.png")).to_have_count(0)
    page.locator("li.artifact-folder summary", has_text="plots/").click()
    expect(file_row(page, "plot.png")).to_be_visible()

    # The image preview opens inside the tab (no navigation) and shows the real image.
    detail_url = page.url
    file_row(page, "plot.png").get_by_role("link", name="Vista previa").click()
    image = page.locator("#artifacts-tab [data-artifact-preview] img.artifact-image")
    expect(image).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 1", arg=image.element_handle()
    )

    assert page.url == detail_url

    # The CSV preview replaces it: a table, fifty rows a page, paged in place.
    file_row(page, "predictions.csv").get_by_role("link", name="Vista previa").click()
    table = page.locator("#artifacts-tab [data-artifact-preview] table")
    expect(table.locator("thead th")).to_have_text(["#", "id", "specie"])
    expect(table.locator("tbody tr")).to_have_count(50)
    expect(table.locator("tbody tr").first).to_contain_text("virginica")
    page.locator("[data-artifact-preview]").get_by_role("link", name="Siguiente").click()
    expect(page.locator("[data-artifact-preview]")).to_contain_text("Página 2")
    expect(table.locator("tbody tr")).to_have_count(30)
    expect(image).to_have_count(0)
    assert page.url == detail_url

    # A download goes through Cauce and holds MLflow's bytes.
    with page.expect_download() as download_info:
        file_row(page, "metrics.json").get_by_role("link", name="Descargar").click()
    download = download_info.value
    assert download.suggested_filename == "metrics.json"
    with open(download.path(), "rb") as downloaded:
        assert downloaded.read() == FILES["metrics.json"]
