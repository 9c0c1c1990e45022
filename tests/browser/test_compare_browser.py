"""Comparing experiments in a real browser: mark them in a list, press "Comparar", show every
row, pin a baseline, draw a scatter, brush an axis of the parallel coordinates, export the CSV.

With COMPARE_SCREENSHOTS=<folder> it also leaves screenshots of the page at 1366 and 390 px,
in Spanish and English, for a person to look at.
"""

import csv
import io
import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from mlflow.tracking import MlflowClient
from playwright.sync_api import expect

from cauce.experiments.tests.compare_support import experiments_for_runs, runs_log

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def compared(settings, tmp_path, mlflow, project, editor, make_dataset, iris_csv_bytes):
    settings.MEDIA_ROOT = tmp_path / "media"
    dataset = make_dataset(project, iris_csv_bytes, "iris.csv", name="Iris")
    mlflow_experiment_id, runs = runs_log(
        MlflowClient(tracking_uri=mlflow), experiment_name="compare-browser", count=4, params=4
    )
    return experiments_for_runs(
        project=project,
        dataset=dataset,
        user=editor,
        mlflow_experiment_id=mlflow_experiment_id,
        runs=runs,
        prefix="Bosque",
    )


def _rows(page) -> list[str]:
    return page.locator("[data-compare-table] tbody tr[data-row]").evaluate_all(
        "rows => rows.map(row => row.dataset.row)"
    )


def _columns(page) -> list[str]:
    return page.locator("[data-compare-table] thead th[data-col]").evaluate_all(
        "cells => cells.map(cell => cell.dataset.col)"
    )


def test_without_javascript_comparar_opens_the_address_of_the_selection_only(
    browser, live_server, viewer, compared
):
    context = browser.new_context(java_script_enabled=False, locale="es-ES")
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", viewer.get_username())
        page.fill("input[name=password]", "pw-vera")
        page.click("form:has(input[name=password]) button[type=submit]")
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        page.goto(f"{live_server.url}/experiments/")
        for name in ("Bosque 000", "Bosque 002"):
            page.get_by_label(f"Seleccionar «{name}»").check()
        requested = []
        page.on("request", lambda request: requested.append(request.url))
        page.get_by_role("button", name="Comparar").click()

        page.wait_for_url(re.compile(r"/experiments/compare/\?ids="))
        # No address the browser asked for (kept in its history, in servers' logs) holds the
        # token: the boxes are posted.
        assert requested and not [url for url in requested if "csrfmiddlewaretoken" in url]
        address = urlsplit(page.url)
        # Only the selection (in the list's order), no CSRF token, "next" or "tag".
        assert list(parse_qs(address.query)) == ["ids"]
        chosen = parse_qs(address.query)["ids"][0].split(",")
        assert sorted(chosen) == sorted(str(compared[i].pk) for i in (0, 2))
        assert sorted(_columns(page)) == sorted(str(compared[i].pk) for i in (0, 2))
    finally:
        context.close()


def test_a_viewer_compares_three_experiments(logged_in_page, live_server, viewer, compared):
    page = logged_in_page(viewer, "pw-vera")
    page.goto(f"{live_server.url}/experiments/")
    for name in ("Bosque 000", "Bosque 001", "Bosque 003"):
        page.get_by_label(f"Seleccionar «{name}»").check()
    page.get_by_role("button", name="Comparar").click()

    page.wait_for_url(re.compile(r"/experiments/compare/\?ids="))
    chosen = [compared[0], compared[1], compared[3]]
    # The list's order (newest first), whichever it is.
    assert sorted(_columns(page)) == sorted(str(item.pk) for item in chosen)
    rows = _rows(page)
    assert "p0" in rows and "rmse" in rows and "p1" not in rows

    page.get_by_label("Mostrar todas las filas (no solo las que difieren)").check()
    page.wait_for_url(re.compile(r"all=1"))
    assert {"p1", "p2", "p3", "team"} <= set(_rows(page))
    # The metrics first; the table uses the page's height (no box with its own vertical
    # scrollbar), and at 1366 px its columns fit without a sideways scroll.
    assert _rows(page)[:2] == ["accuracy", "rmse"]
    page.set_viewport_size({"width": 1366, "height": 600})
    wrap = page.locator(".compare-wrap")
    sizes = wrap.evaluate(
        "el => [el.scrollHeight, el.clientHeight, el.scrollWidth, el.clientWidth,"
        " getComputedStyle(el).maxHeight]"
    )
    assert sizes[0] <= sizes[1] + 1 and sizes[4] == "none", sizes
    assert sizes[2] <= sizes[3] + 1, sizes

    pinned = _columns(page)[-1]
    page.locator(f'[data-pin="{pinned}"]').click()
    page.wait_for_url(re.compile(rf"baseline={pinned}"))
    assert _columns(page)[0] == pinned
    expect(page.locator("[data-baseline]")).to_have_count(1)
    # rmse: lower is better, so a negative difference is green ("better"), a positive red.
    deltas = page.locator('tr[data-row="rmse"] .delta')
    expect(deltas).to_have_count(2)
    for delta in deltas.all():
        verdict = "better" if delta.inner_text().startswith("-") else "worse"
        assert verdict in delta.get_attribute("class")
    page.get_by_label("Eje X").select_option("p0")
    page.wait_for_url(re.compile(r"x=p0"))
    page.get_by_label("Eje Y", exact=True).select_option("rmse")
    page.wait_for_url(re.compile(r"y=rmse"))
    expect(page.locator("svg.scatter circle.point")).to_have_count(3)
    expect(page.locator("svg.scatter")).to_have_attribute("aria-label", "rmse frente a p0")

    # Brushing the top of the accuracy axis keeps the run with the highest accuracy only.
    metric_axis = page.locator('svg.parallel .pc-axis[data-name="accuracy"] .brush-area')
    metric_axis.scroll_into_view_if_needed()
    box = metric_axis.bounding_box()
    # From a fifth of the way down to past the top (the brush stops at the axis's end).
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] - 10, steps=5)
    page.mouse.up()
    expect(page.locator("[data-brush-status]")).to_have_text(
        "Filtrados por las coordenadas paralelas: 1 de 3."
    )
    expect(page.locator(f'thead th[data-col="{compared[3].pk}"]')).to_be_visible()
    expect(page.locator(f'thead th[data-col="{compared[0].pk}"]')).to_be_hidden()
    page.get_by_role("button", name="Quitar el filtro").click()
    expect(page.locator(f'thead th[data-col="{compared[0].pk}"]')).to_be_visible()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Exportar CSV").click()
    download = download_info.value
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows[0][2] == pinned
    assert sorted(rows[1][2:]) == ["Bosque 000", "Bosque 001", "Bosque 003"]
    assert any(row[1] == "p0" for row in rows)

    folder = os.environ.get("COMPARE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for language in ("es", "en"):
            if language == "en":
                page.locator(".langswitch").get_by_role("button", name="EN").click()
                expect(page.locator("html")).to_have_attribute("lang", "en")
            for width, height in ((1366, 900), (390, 844)):
                page.set_viewport_size({"width": width, "height": height})
                page.screenshot(path=f"{folder}/compare-{language}-{width}.png", full_page=True)
                page.locator(".compare-wrap").screenshot(
                    path=f"{folder}/compare-table-{language}-{width}.png"
                )
