"""The creation form's typed hyperparameters, its proposed target and the algorithms it offers."""

import html
import re

import pytest
from django.conf import settings
from django.urls import reverse

from cauce.experiments.models import MLExperiment
from cauce.experiments.services import experiment_create
from cauce.experiments.tests.test_views import CARS_CSV, _form_data

pytestmark = pytest.mark.django_db

# Penguins, as the data set is usually shared: the label first, the year last.
PENGUINS_CSV = "\n".join(
    ["species,island,bill_length_mm,flipper_length_mm,body_mass_g,sex,year"]
    + [
        f"{('Adelie', 'Gentoo', 'Chinstrap')[i % 3]},{('Biscoe', 'Dream', 'Torgersen')[i % 3]},"
        f"{38 + i % 9}.{i % 10},{180 + i % 40},{3000 + i * 17},{('male', 'female')[i % 2]},"
        f"{2007 + i % 3}"
        for i in range(90)
    ]
).encode()

NUMBERS_CSV = "\n".join(
    ["id,width,height,year"]
    + [f"{i},{i % 7}.5,{i * 3 % 11}.25,{2000 + i % 5}" for i in range(1, 41)]
).encode()


def _url(project) -> str:
    return reverse("experiments:ml_experiment_create", args=[project.pk])


def _hyperparameter_names(page: str) -> set[str]:
    return set(re.findall(r'name="hp_(\w+)"', page))


def _selected(page: str, name: str) -> str | None:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S)
    chosen = re.search(r'<option value="([^"]*)" selected>', select.group(1)) if select else None
    return chosen.group(1) if chosen else None


def _groups(page: str) -> list[str]:
    return re.findall(r'<optgroup label="([^"]+)">', page)


# --- the fields follow the algorithm ------------------------------------------------------


def test_each_algorithm_s_fields_are_drawn_from_its_constraints(
    editor_client, project, iris_dataset, media_root
):
    page = editor_client.get(
        _url(project), {"algorithm": "HistGradientBoostingClassifier"}
    ).content.decode()
    names = _hyperparameter_names(page)
    assert {"early_stopping", "max_depth", "learning_rate", "max_iter", "class_weight"} <= names
    assert not names & {"n_jobs", "verbose", "warm_start", "random_state", "n_estimators"}
    assert 'name="hyperparameters"' not in page
    # early_stopping: 'auto', True or False, scikit-learn's default named.
    early = re.search(r'<select name="hp_early_stopping".*?</select>', page, re.S).group(0)
    assert re.findall(r'<option value="([^"]*)"', early) == ["", "auto", "True", "False"]
    assert "Por defecto (auto)" in early
    # max_depth: an integer >= 1, or None from the select next to it.
    # Text inputs (type=number parses by the browser's locale, not the page's).
    assert re.search(
        r'<input type="text" name="hp_max_depth" id="id_hp_max_depth" value=""'
        r' autocomplete="off"\s+pattern="[^"]+" data-number',
        page,
    )
    depth = re.search(r'<select name="hp_max_depth".*?</select>', page, re.S).group(0)
    assert re.findall(r'<option value="([^"]*)"', depth) == ["", "None"]
    assert "Por defecto: None. Profundidad máxima de cada árbol." in page
    assert "Acepta un entero ≥ 1 o None." in page
    # learning_rate: a real number > 0 (no lower bound to give the browser: it is open); its
    # default reads with the page's decimal comma, as every other number of the page.
    assert re.search(
        r'name="hp_learning_rate" id="id_hp_learning_rate" value=""'
        r' autocomplete="off"\s+pattern="[^"]+" data-number\s+placeholder="0,1"',
        page,
    )
    assert "Por defecto: 0,1." in page

    forest = editor_client.get(_url(project), {"algorithm": "RandomForestClassifier"})
    page = forest.content.decode()
    names = _hyperparameter_names(page)
    assert "n_estimators" in names and "early_stopping" not in names
    bootstrap = re.search(r'<select name="hp_bootstrap".*?</select>', page, re.S).group(0)
    assert re.findall(r'<option value="([^"]*)">([^<]*)<', bootstrap) == [
        ("", "Por defecto (sí)"),
        ("True", "Sí (True)"),
        ("False", "No (False)"),
    ]


def test_changing_the_algorithm_draws_only_the_model_fields_again(
    editor_client, project, iris_dataset, media_root
):
    response = editor_client.get(
        _url(project),
        {"dataset": iris_dataset.pk, "target_column": "species",
         "algorithm": "KNeighborsClassifier", "hp_max_depth": "4"},
        headers={"HX-Request": "true", "HX-Target": "model-fields"},
    )  # fmt: skip
    page = response.content.decode()
    assert "<html" not in page and 'name="target_column"' not in page
    assert _selected(page, "algorithm") == "KNeighborsClassifier"
    assert "n_neighbors" in _hyperparameter_names(page)
    assert 'hx-target="#model-fields"' in page


def test_without_javascript_a_reload_draws_the_chosen_algorithm_s_fields(
    editor_client, project, iris_dataset, media_root
):
    page = editor_client.get(
        _url(project),
        {"dataset": iris_dataset.pk, "target_column": "species", "name": "Vecinos",
         "algorithm": "KNeighborsClassifier", "hp_n_neighbors": ["7", ""], "reload": "1"},
    ).content.decode()  # fmt: skip
    assert "<html" in page and 'value="Vecinos"' in page
    assert "Cargar sus hiperparámetros" in page  # the <noscript> button
    assert 'name="hp_n_neighbors" id="id_hp_n_neighbors" value="7"' in page
    assert 'data-hyperparameter="weights" data-kind="choice"' in page
    assert 'data-hyperparameter="n_neighbors" data-kind="number"' in page


def test_typed_values_become_the_experiment_s_hyperparameters(
    editor_client, project, iris_dataset, media_root
):
    data = _form_data(
        iris_dataset,
        algorithm="HistGradientBoostingClassifier",
        hp_early_stopping="False",
        hp_max_depth=["", "None"],  # the number left empty, None chosen
        hp_learning_rate="0,05",  # a decimal comma
        hp_max_iter="50",
        hp_class_weight="",  # left at its default: not written down
        save="1",
    )
    del data["hp_n_estimators"]
    response = editor_client.post(_url(project), data)
    assert response.status_code == 302
    assert MLExperiment.objects.get().hyperparameters == {
        "early_stopping": False,
        "max_depth": None,
        "learning_rate": 0.05,
        "max_iter": 50,
    }


def test_a_decimal_comma_is_read_and_grouping_refused_naming_the_field(
    editor_client, project, iris_dataset, media_root
):
    data = _form_data(iris_dataset, algorithm="LogisticRegression", hp_C="1.000,5", save="1")
    data.pop("hp_n_estimators", None)
    response = editor_client.post(_url(project), {**data, "test_size": "0,3"})
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["hp_C"]
    assert "«C»: «1.000,5» lleva separadores de miles" in response.content.decode()
    assert not MLExperiment.objects.exists()

    response = editor_client.post(_url(project), {**data, "hp_C": "0,5", "test_size": "0,3"})
    assert response.status_code == 302
    experiment = MLExperiment.objects.get()
    assert (experiment.hyperparameters, experiment.test_size) == ({"C": 0.5}, 0.3)


def test_the_test_size_is_text_with_the_page_s_decimal_comma(editor_client, project, iris_dataset):
    page = editor_client.get(_url(project)).content.decode()
    test_size = r'<input type="text" name="test_size" value="0,2"[^>]*inputmode="decimal"'
    assert re.search(test_size, page)
    response = editor_client.post(_url(project), _form_data(iris_dataset, test_size="1.000"))
    assert "«Proporción de prueba»: «1.000» es ambiguo" in response.content.decode()


def test_a_bad_value_is_shown_on_its_field_with_what_was_typed(
    editor_client, project, iris_dataset, media_root
):
    response = editor_client.post(
        _url(project),
        _form_data(iris_dataset, algorithm="DecisionTreeClassifier", hp_min_samples_split="1"),
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["hp_min_samples_split"]
    assert (
        "Valor no válido para el hiperparámetro «min_samples_split»: 1. Se esperaba un entero "
        "≥ 2 o un número con decimales &gt; 0 y ≤ 1."
    ) in page
    assert 'name="hp_min_samples_split" id="id_hp_min_samples_split" value="1"' in page
    assert not MLExperiment.objects.exists()


def test_metrics_that_cannot_fit_without_their_own_parameters_are_not_offered(
    editor_client, project, iris_dataset, media_root
):
    page = editor_client.get(
        _url(project),
        {"dataset": iris_dataset.pk, "target_column": "species",
         "algorithm": "KNeighborsClassifier", "reload": "1"},
    ).content.decode()  # fmt: skip
    metric = re.search(r'<select name="hp_metric".*?</select>', page, re.S)
    offered = set(re.findall(r'<option value="([^"]*)"', metric.group(0)))
    assert {"minkowski", "euclidean", "cosine", "manhattan"} <= offered
    assert not offered & {"mahalanobis", "seuclidean", "pyfunc", "precomputed"}


def test_a_combination_that_fails_at_fit_is_refused_on_its_field(
    editor_client, project, iris_dataset, media_root
):
    data = _form_data(
        iris_dataset, algorithm="KNeighborsClassifier", hp_algorithm="kd_tree", hp_metric="cosine"
    )
    data.pop("hp_n_estimators", None)
    response = editor_client.post(_url(project), data)
    assert list(response.context["form"].errors) == ["hp_metric"]
    assert "«metric» = «cosine» no se puede combinar con «algorithm» = «kd_tree»." in html.unescape(
        response.content.decode()
    )
    editor_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = editor_client.post(_url(project), data)
    assert "“metric” = “cosine” cannot be combined with “algorithm” = “kd_tree”." in (
        html.unescape(response.content.decode())
    )
    assert not MLExperiment.objects.exists()


def test_a_copy_keeps_the_values_and_those_the_form_has_no_field_for(
    editor_client, editor, project, iris_dataset, media_root
):
    source = experiment_create(
        project=project,
        user=editor,
        name="Por API",
        dataset=iris_dataset,
        target_column="species",
        algorithm="RandomForestClassifier",
        hyperparameters={"max_depth": 3, "n_jobs": 1, "class_weight": {"setosa": 2}},
    )
    page = editor_client.get(_url(project), {"copy": str(source.pk)}).content.decode()
    assert 'name="hp_max_depth" id="id_hp_max_depth" value="3"' in page
    assert "<code>n_jobs=1</code>" in page
    hidden = html.unescape(re.search(r'name="other_hyperparameters" value="([^"]+)"', page)[1])

    data = _form_data(iris_dataset, name="Copia", hp_max_depth="3", other_hyperparameters=hidden)
    del data["hp_n_estimators"]
    assert editor_client.post(_url(project), {**data, "save": "1"}).status_code == 302
    copy = MLExperiment.objects.get(name="Copia")
    assert copy.hyperparameters == {"max_depth": 3, "n_jobs": 1, "class_weight": {"setosa": 2}}


# --- the target and the algorithms it implies ----------------------------------------------


def test_the_proposed_target_is_named_like_a_label_not_the_last_column(
    editor_client, project, make_dataset, media_root
):
    make_dataset(project, PENGUINS_CSV, "penguins.csv", name="Pingüinos")
    page = editor_client.get(_url(project)).content.decode()
    assert _selected(page, "target_column") == "species"
    assert "Propuesta por su nombre, que suele indicar la columna que se predice." in page
    assert _groups(page) == ["Clasificación"]


def test_a_categorical_column_with_few_classes_is_proposed_with_its_reason(
    editor_client, project, make_dataset, media_root
):
    make_dataset(project, CARS_CSV, "cars.csv", name="Coches")
    page = editor_client.get(_url(project)).content.decode()
    assert _selected(page, "target_column") == "origin"
    assert "Propuesta por ser la última columna categórica con pocas clases (2)." in page


def test_without_a_likely_target_the_user_chooses_it(
    editor_client, project, make_dataset, media_root
):
    make_dataset(project, NUMBERS_CSV, "numbers.csv", name="Números")
    page = editor_client.get(_url(project)).content.decode()
    assert _selected(page, "target_column") is None  # not the year, not the id
    assert '<option value="">— Elija la columna que se predice —</option>' in page
    assert "Elija la columna que el modelo debe predecir" in page
    assert _groups(page) == ["Clasificación", "Regresión"]


def test_the_algorithms_follow_the_chosen_target(editor_client, project, make_dataset, media_root):
    dataset = make_dataset(project, CARS_CSV, "cars.csv", name="Coches")
    response = editor_client.get(
        _url(project),
        {"dataset": dataset.pk, "target_column": "mpg", "shown_target": "origin",
         "algorithm": "RandomForestClassifier"},
        headers={"HX-Request": "true", "HX-Target": "column-fields"},
    )  # fmt: skip
    page = response.content.decode()
    assert _groups(page) == ["Regresión"]
    # The classifier no longer fits: the first regressor is chosen, with its own fields.
    assert _selected(page, "algorithm") == "LinearRegression"
    assert _hyperparameter_names(page) == {"fit_intercept", "positive", "tol"}


def test_an_algorithm_for_another_task_is_refused_and_stays_shown(
    editor_client, project, iris_dataset, media_root
):
    response = editor_client.post(_url(project), _form_data(iris_dataset, algorithm="Ridge"))
    page = response.content.decode()
    assert response.context["form"].errors["algorithm"] == [
        "El algoritmo Ridge no sirve para clasificación, que es lo que indica la columna "
        "objetivo «species». Elija otro algoritmo o fije el tipo de tarea."
    ]
    assert _selected(page, "algorithm") == "Ridge"
    assert _groups(page) == ["Clasificación", "Regresión"]
    assert "alpha" in _hyperparameter_names(page)
    assert not MLExperiment.objects.exists()


def test_a_fixed_task_type_offers_its_algorithms(editor_client, project, iris_dataset, media_root):
    page = editor_client.get(
        _url(project), {"task_type": "regression", "algorithm": "Ridge"}
    ).content.decode()
    assert _groups(page) == ["Regresión"]
    assert _selected(page, "algorithm") == "Ridge"
