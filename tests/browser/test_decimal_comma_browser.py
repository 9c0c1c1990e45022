"""Numbers typed with the Spanish page's decimal comma, in a browser whose own locale is
English: an <input type=number> would read "0,5" as 5 (its locale's rule, not the page's);
the fields are text and the server reads the comma."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from cauce.experiments.models import MLExperiment
from cauce.experiments.tests.test_views import CARS_CSV

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "en-US"}


def test_a_decimal_comma_typed_on_the_spanish_page_is_saved_as_typed(
    transactional_db, live_server, logged_in_page, owner, project, make_dataset
):
    make_dataset(project, CARS_CSV, "cars.csv", name="Coches")
    page = logged_in_page(owner, "pw-olga")
    page.context.add_cookies([{"name": "django_language", "value": "es", "url": live_server.url}])
    page.goto(live_server.url + reverse("experiments:ml_experiment_create", args=[project.pk]))
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_label("Proporción de prueba")).to_have_value("0,2")
    page.get_by_label("Nombre", exact=True).fill("Coma")
    # Already the first classifier: wait for the fields drawn again, not the ones before.
    with page.expect_response(lambda response: "algorithm=LogisticRegression" in response.url):
        page.select_option("select[name=algorithm]", "LogisticRegression")
    expect(page.locator("[data-hyperparameters=LogisticRegression]")).to_be_visible()

    # Thousands grouping is refused, naming the field, and nothing is saved.
    page.locator("input[name=hp_C]").press_sequentially("1.000,5")
    expect(page.locator("input[name=hp_C]")).to_have_value("1.000,5")
    page.get_by_role("button", name="Guardar", exact=True).click()
    expect(page.locator("[data-hyperparameter=C] .field-errors")).to_contain_text(
        "«C»: «1.000,5» lleva separadores de miles"
    )
    assert not MLExperiment.objects.exists()

    page.locator("input[name=hp_C]").fill("")
    page.locator("input[name=hp_C]").press_sequentially("0,5")
    page.get_by_label("Proporción de prueba").fill("")
    page.get_by_label("Proporción de prueba").press_sequentially("0,3")
    page.get_by_role("button", name="Guardar", exact=True).click()
    expect(page.locator("h1")).to_contain_text("Coma")
    experiment = MLExperiment.objects.get(name="Coma")
    assert experiment.hyperparameters == {"C": 0.5}
    assert experiment.test_size == 0.3
