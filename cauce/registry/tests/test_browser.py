"""The registry in a real browser: register from the experiment page (htmx, without leaving
it), set an alias on the model page and compare two versions."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAME = "Iris_lab-Iris_base"


def test_a_user_registers_two_versions_sets_an_alias_and_compares_them(
    logged_in_page, live_server, editor, finished_experiment, mlflow_client
):
    first = finished_experiment(metrics={"f1_macro": 0.8, "accuracy": 0.82})
    second = finished_experiment(
        metrics={"f1_macro": 0.9, "accuracy": 0.91},
        columns={"sepal_length": "double", "petal_length": "double", "color": "string"},
    )
    page = logged_in_page(editor, "pw-eduardo")

    for experiment, number in ((first, 1), (second, 2)):
        page.goto(f"{live_server.url}/experiments/{experiment.pk}/")
        section = page.locator("#model-registry")
        expect(section.locator("input[name=name]")).to_have_value(NAME)
        # The whole default name is visible in its field.
        assert section.locator("input[name=name]").evaluate("e => e.scrollWidth <= e.clientWidth")
        section.get_by_role("button", name="Registrar Modelo en MLflow").click()
        expect(page.locator("#model-registry .notice")).to_contain_text(
            f"Modelo registrado exitosamente como '{NAME}' versión {number}"
        )
        # htmx swapped the section in place: still the experiment's page.
        assert page.url.endswith(f"/experiments/{experiment.pk}/")
        expect(page.locator("#model-registry .run-versions")).to_contain_text(f"{NAME} v{number}")
    assert mlflow_client.get_model_version(NAME, "2").run_id == second.mlflow_run_id

    page.locator("#model-registry").get_by_role("link", name="Ver en el registro").click()
    page.wait_for_url(re.compile(r"/models/.+/versions/2/$"))
    # The edit form's labels line up, each above its field.
    for field in ("description", "tags"):
        label = page.locator(f"label[for=id_{field}]").bounding_box()
        box = page.locator(f"#id_{field}").bounding_box()
        assert label["x"] == box["x"] and label["y"] < box["y"]
    page.get_by_role("navigation").get_by_role("link", name=NAME).click()
    page.fill("input[name=alias]", "champion")
    assert page.locator("input[name=alias]").bounding_box()["width"] >= 200
    page.select_option("select[name=version]", "2")
    page.get_by_role("button", name="Asignar alias").click()
    expect(page.locator(".messages")).to_contain_text(
        "El alias «champion» apunta ahora a la versión 2."
    )
    assert mlflow_client.get_model_version_by_alias(NAME, "champion").version == "2"
    expect(page.locator("svg.metric-chart")).to_be_visible()

    page.get_by_label("Comparar la versión 1").check()
    page.get_by_label("Comparar la versión 2").check()
    page.get_by_role("button", name="Comparar las versiones marcadas").click()
    page.wait_for_url(re.compile(r"/compare/\?"))
    # The picker is a form of checkboxes, already checked as asked; parameters keep their case.
    picker = page.locator("form.compare-picker input[type=checkbox]")
    expect(picker).to_have_count(2)
    for box in picker.all():
        expect(box).to_be_checked()
    assert page.locator("table.compare tbody th code", has_text="n_estimators").inner_text() == (
        "n_estimators"
    )
    expect(page.locator(".metrics-table")).to_contain_text("(+0,1000)")
    signature = page.locator("table.signature")
    expect(signature).to_contain_text("incompatible")
    expect(signature.locator("tr", has_text="color")).to_contain_text("añadida")
    expect(signature.locator("tr", has_text="sepal_width")).to_contain_text("quitada")
