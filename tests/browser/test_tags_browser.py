"""Tags in a real browser: filter a list by two tags, then tag three experiments at once."""

import re

import pytest
from playwright.sync_api import expect

from cauce.experiments.models import MLExperiment
from cauce.experiments.services import experiment_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tagged_experiments(settings, tmp_path, project, editor, make_dataset, iris_csv_bytes):
    settings.MEDIA_ROOT = tmp_path / "media"
    dataset = make_dataset(project, iris_csv_bytes, "iris.csv", name="Iris")
    specs = [
        ("Bosque base", ["iris", "rf"]),
        ("Bosque profundo", ["iris", "rf", "v2"]),
        ("Regresión logística", ["iris", "lineal"]),
        ("Árbol suelto", ["rf"]),
        ("Sin etiquetas", []),
    ]
    for name, tags in specs:
        experiment_create(
            project=project,
            user=editor,
            name=name,
            dataset=dataset,
            target_column="species",
            algorithm="LogisticRegression",
            tags=tags,
        )
    return project


def _row_names(page) -> list[str]:
    return sorted(page.locator("table.experiment-table tbody tr td:nth-child(2)").all_inner_texts())


def test_a_user_filters_by_two_tags_and_bulk_tags_three_experiments(
    logged_in_page, live_server, editor, tagged_experiments
):
    project = tagged_experiments
    page = logged_in_page(editor, "pw-eduardo")
    page.goto(f"{live_server.url}/projects/{project.pk}/experiments/")
    expect(page.locator("[data-result-count]")).to_have_text("5 experimentos")

    # First tag typed in the filter (offered by the autocompletion), the second from its chip.
    page.get_by_placeholder("Añadir etiqueta…").fill("iris")
    page.get_by_role("button", name="Filtrar").click()
    page.wait_for_url(re.compile(r"tags=iris"))
    expect(page.locator("[data-result-count]")).to_have_text("3 experimentos")
    expect(page.locator('.chip[data-chip="rf"] .count')).to_have_text("2")
    page.locator('.chip[data-chip="rf"]').click()
    page.wait_for_url(re.compile(r"tags=iris%2Crf"))
    expect(page.locator("[data-result-count]")).to_have_text("2 experimentos")
    assert _row_names(page) == ["Bosque base", "Bosque profundo"]
    expect(page.locator('.chip.chosen[data-chip="rf"] .count')).to_have_text("2")

    # "Any of" the same two tags: everything tagged iris or rf.
    page.get_by_label("Cualquiera").check()
    page.get_by_role("button", name="Filtrar").click()
    page.wait_for_url(re.compile(r"tags_mode=any"))
    expect(page.locator("[data-result-count]")).to_have_text("4 experimentos")

    # Back to iris alone (three experiments): select all on the page, add a tag to them.
    page.goto(f"{live_server.url}/projects/{project.pk}/experiments/?tags=iris")
    expect(page.locator("[data-result-count]")).to_have_text("3 experimentos")
    page.get_by_label("Seleccionar todos los de esta página").check()
    expect(page.locator("[data-selected-count]")).to_have_text("Marcados: 3.")
    page.fill("#bulk-tag", "lote-1")
    page.get_by_role("button", name="Añadir a los marcados").click()
    expect(page.locator(".messages")).to_contain_text("Etiqueta «lote-1» añadida a 3 experimentos.")
    # Back on the same filtered list, the new tag has its chip with its count.
    expect(page.locator('.chip[data-chip="lote-1"] .count')).to_have_text("3")

    tagged = MLExperiment.objects.filter(tags__name="lote-1")
    assert sorted(tagged.values_list("name", flat=True)) == [
        "Bosque base",
        "Bosque profundo",
        "Regresión logística",
    ]
    assert not MLExperiment.objects.get(name="Árbol suelto").tags.filter(name="lote-1").exists()


def test_tag_editing_suggests_the_projects_tags_after_the_ones_typed(
    logged_in_page, live_server, editor, tagged_experiments
):
    experiment = MLExperiment.objects.get(name="Árbol suelto")
    page = logged_in_page(editor, "pw-eduardo")
    page.goto(f"{live_server.url}/experiments/{experiment.pk}/edit/")
    field = page.locator("input[name=tags]")
    expect(field).to_have_value("rf")
    field.fill("rf, li")
    suggestions = page.locator(f"datalist#{field.get_attribute('id')}-suggestions option")
    # Each suggestion keeps what was typed and completes the last tag; rf is not offered again.
    expect(suggestions).to_have_count(1)
    assert suggestions.first.get_attribute("value") == "rf, lineal"
    field.fill("rf, ")
    values = sorted(option.get_attribute("value") for option in suggestions.all())
    assert values == ["rf, iris", "rf, lineal", "rf, v2"]


def test_the_mlflow_link_opens_the_same_tag_search_in_mlflows_ui(
    logged_in_page, live_server, editor, tagged_experiments, mlflow
):
    from cauce.experiments.tags import tag_mlflow_key
    from cauce.integrations.mlflow import tracking

    project = tagged_experiments
    experiment_id = tracking.experiment_ensure(name=f"cauce-browser-tags-{project.pk}")
    for run_name, tags in [("run-iris-rf", ["iris", "rf"]), ("run-iris", ["iris", "surf"])]:
        run_tags = {"all_tags": ",".join(tags)} | {tag_mlflow_key(tag): "true" for tag in tags}
        tracking.run_create(experiment_id=experiment_id, run_name=run_name, tags=run_tags)
    project.mlflow_experiment_id = experiment_id
    project.save(update_fields=["mlflow_experiment_id"])

    page = logged_in_page(editor, "pw-eduardo")
    page.goto(f"{live_server.url}/projects/{project.pk}/experiments/?tags=iris,rf")
    link = page.get_by_role("link", name="Buscar estos runs en MLflow")
    expect(link).to_have_attribute("target", "_blank")
    # A noopener tab is a new renderer process: on a loaded machine (two test workers, each
    # with its browser) it once took longer than Playwright's default 30 s to appear.
    with page.context.expect_page(timeout=90_000) as opened:
        link.click()
    mlflow_page = opened.value
    # MLflow's runs table shows the search it was given, and only the run with both tags
    # ("surf" is not "rf").
    expect(mlflow_page.get_by_text("run-iris-rf")).to_be_visible(timeout=60_000)
    expect(mlflow_page.get_by_text("run-iris", exact=True)).to_have_count(0)
    search_box = mlflow_page.locator("input[value*='cauce.tag']")
    expect(search_box).to_have_value(
        "tags.`cauce.tag.iris` = 'true' AND tags.`cauce.tag.rf` = 'true'"
    )
