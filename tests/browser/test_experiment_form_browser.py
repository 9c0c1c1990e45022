"""The experiment form in a real Chromium: the input columns, the algorithms and their typed
hyperparameter fields follow the target (htmx)."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from cauce.experiments.models import MLExperiment
from cauce.experiments.tests.test_views import CARS_CSV

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _inputs(page) -> dict[str, bool]:
    boxes = page.locator("[data-feature-columns] input[name=feature_columns]")
    return {box.get_attribute("value"): box.is_checked() for box in boxes.all()}


def _algorithms(page) -> list[str]:
    options = page.locator("select[name=algorithm] option")
    return [option.get_attribute("value") for option in options.all()]


def test_changing_the_target_redraws_the_inputs_and_the_algorithms_for_its_task(
    transactional_db, live_server, logged_in_page, owner, project, make_dataset
):
    make_dataset(project, CARS_CSV, "cars.csv", name="Coches")
    page = logged_in_page(owner, "pw-olga")
    page.goto(live_server.url + reverse("experiments:ml_experiment_create", args=[project.pk]))

    # origin is proposed, with its reason; the classifiers are offered for it.
    expect(page.locator("[data-target-note]")).to_contain_text("pocas clases")
    assert _inputs(page) == {
        "row": False,
        "name": False,
        "price": True,
        "cylinders": True,
        "mpg": True,
    }
    assert "Ridge" not in _algorithms(page)
    note = page.locator("[data-feature-columns] li", has_text="name").locator("[data-id-like-note]")
    expect(note).to_contain_text("parece un identificador")

    page.get_by_label("price (Numérica)").uncheck()
    page.select_option("select[name=target_column]", "mpg")
    expect(page.locator("[data-feature-columns] input[value=mpg]")).to_have_count(0)
    # The old target (origin) comes back ticked; what the user unticked stays unticked.
    assert _inputs(page) == {
        "row": False,
        "name": False,
        "price": False,
        "cylinders": True,
        "origin": True,
    }
    # mpg is a measurement: only regressors now, with the first one's fields.
    expect(page.locator("[data-hyperparameters=LinearRegression]")).to_be_visible()
    assert "RandomForestClassifier" not in _algorithms(page)

    page.select_option("select[name=algorithm]", "RandomForestRegressor")
    expect(page.locator("[data-hyperparameters=RandomForestRegressor]")).to_be_visible()
    page.fill("input[name=hp_n_estimators]", "30")
    # max_depth takes an integer or None: choosing one empties the other.
    page.fill("input[name=hp_max_depth]", "4")
    page.select_option("select[name=hp_max_depth]", "None")
    expect(page.locator("input[name=hp_max_depth]")).to_have_value("")
    page.fill("input[name=hp_max_depth]", "6")
    expect(page.locator("select[name=hp_max_depth]")).to_have_value("")
    page.select_option("select[name=hp_bootstrap]", "False")

    page.get_by_label("Nombre", exact=True).fill("Consumo")
    page.get_by_role("button", name="Guardar", exact=True).click()
    expect(page.locator("h1")).to_contain_text("Consumo")
    expect(page.locator("dl.kv")).to_contain_text("cylinders, origin")
    experiment = MLExperiment.objects.get(name="Consumo")
    assert experiment.hyperparameters == {"n_estimators": 30, "max_depth": 6, "bootstrap": False}


def test_a_bad_value_is_refused_on_its_field(
    transactional_db, live_server, logged_in_page, owner, project, make_dataset
):
    make_dataset(project, CARS_CSV, "cars.csv", name="Coches")
    page = logged_in_page(owner, "pw-olga")
    page.goto(live_server.url + reverse("experiments:ml_experiment_create", args=[project.pk]))
    page.get_by_label("Nombre", exact=True).fill("Malo")
    page.select_option("select[name=algorithm]", "DecisionTreeClassifier")
    expect(page.locator("[data-hyperparameters=DecisionTreeClassifier]")).to_be_visible()
    page.fill("input[name=hp_min_samples_split]", "1")
    page.get_by_role("button", name="Guardar", exact=True).click()
    error = page.locator("[data-hyperparameter=min_samples_split] .field-errors")
    expect(error).to_contain_text("«min_samples_split»: 1. Se esperaba un entero ≥ 2")
    assert not MLExperiment.objects.exists()
