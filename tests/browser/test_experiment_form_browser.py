"""The experiment form in a real Chromium: the input columns follow the target (htmx)."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from cauce.experiments.tests.test_views import CARS_CSV

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _inputs(page) -> dict[str, bool]:
    boxes = page.locator("[data-feature-columns] input[name=feature_columns]")
    return {box.get_attribute("value"): box.is_checked() for box in boxes.all()}


def test_changing_the_target_redraws_the_input_columns_without_the_target(
    transactional_db, live_server, logged_in_page, owner, project, make_dataset
):
    make_dataset(project, CARS_CSV, "cars.csv", name="Coches")
    page = logged_in_page(owner, "pw-olga")
    page.goto(live_server.url + reverse("experiments:ml_experiment_create", args=[project.pk]))

    assert _inputs(page) == {
        "row": False,
        "name": False,
        "price": True,
        "cylinders": True,
        "origin": True,
    }
    note = page.locator("[data-feature-columns] li", has_text="name").locator("[data-id-like-note]")
    expect(note).to_contain_text("parece un identificador")

    page.get_by_label("price (Numérica)").uncheck()
    page.select_option("select[name=target_column]", "origin")
    expect(page.locator("[data-feature-columns] input[value=origin]")).to_have_count(0)
    # The old target (mpg) comes back ticked; what the user unticked stays unticked.
    assert _inputs(page) == {
        "row": False,
        "name": False,
        "price": False,
        "cylinders": True,
        "mpg": True,
    }

    page.get_by_label("Nombre", exact=True).fill("Origen por consumo")
    page.select_option("select[name=algorithm]", "RandomForestClassifier")
    page.get_by_role("button", name="Guardar", exact=True).click()
    expect(page.locator("h1")).to_contain_text("Origen por consumo")
    expect(page.locator("dl.kv")).to_contain_text("cylinders, mpg")
