import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from cauce.experiments.models import MLExperiment
from cauce.experiments.tests.web_support import create_experiment, finish, set_state

pytestmark = pytest.mark.django_db


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _url(name: str, *args) -> str:
    return reverse(f"experiments:{name}", args=args)


def _form_data(iris, **overrides) -> dict:
    data = {
        "name": "Iris desde el formulario",
        "description": "",
        "dataset": iris.pk,
        "target_column": "species",
        "task_type": "auto",
        "algorithm": "RandomForestClassifier",
        "hp_n_estimators": "20",
        "test_size": "0.25",
        "random_state": "3",
        "tags": "iris, rf",
    }
    data.update(overrides)
    return data


# --- ml_experiment_list ------------------------------------------------------------------


def test_list_redirects_anonymous_users_to_login(client, project):
    response = client.get(_url("ml_experiment_list", project.pk))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_list_is_404_for_outsiders(outsider_client, project):
    assert outsider_client.get(_url("ml_experiment_list", project.pk)).status_code == 404


def test_list_shows_status_algorithm_main_metric_and_tags_to_viewers(viewer_client, experiment):
    finish(experiment)
    response = viewer_client.get(_url("ml_experiment_list", experiment.project_id))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Iris base" in page
    assert "Finalizado" in page
    assert "LogisticRegression" in page
    assert "0,9665" in page  # Spanish number format
    # The dataset comes with the version the experiment trains on, linked.
    version_link = f'href="/datasets/{experiment.dataset_id}/versions/1/" data-dataset-version>v1'
    assert version_link in page
    assert version_link in viewer_client.get("/experiments/").content.decode()
    assert '<a class="tag" href="?tags=base"' in page  # a row's tag filters the list by it
    assert "Nuevo experimento" not in page  # viewers don't create
    assert 'name="tag"' not in page  # nor tag in bulk
    assert "data-compare" in page  # but they may compare the experiments they read
    assert f'href="/projects/{experiment.project_id}/artifacts/compare/"' in page


def test_list_filters_by_status_and_by_tag(editor_client, experiment, iris_dataset, editor):
    other = create_experiment(
        project=experiment.project, dataset=iris_dataset, user=editor, name="Otro", tags=["rf"]
    )
    finish(other)
    url = _url("ml_experiment_list", experiment.project_id)
    by_status = editor_client.get(url, {"status": "FINISHED"}).context["experiments"]
    assert [e.name for e in by_status] == ["Otro"]
    by_tag = editor_client.get(url, {"tags": "base"}).context["experiments"]
    assert [e.name for e in by_tag] == ["Iris base"]
    none = editor_client.get(url, {"status": "DRAFT", "tags": "rf"})
    assert list(none.context["experiments"]) == []
    assert "Ningún experimento cumple estos filtros." in none.content.decode()


# --- ml_experiment_create ----------------------------------------------------------------


def test_create_redirects_anonymous_users_to_login(client, project):
    response = client.get(_url("ml_experiment_create", project.pk))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_create_is_404_for_outsiders(outsider_client, project, iris_dataset):
    url = _url("ml_experiment_create", project.pk)
    assert outsider_client.get(url).status_code == 404
    assert outsider_client.post(url, _form_data(iris_dataset)).status_code == 404
    assert not MLExperiment.objects.exists()


def test_create_is_forbidden_to_viewers(viewer_client, project, iris_dataset):
    url = _url("ml_experiment_create", project.pk)
    assert viewer_client.get(url).status_code == 403
    assert viewer_client.post(url, _form_data(iris_dataset)).status_code == 403
    assert not MLExperiment.objects.exists()


def test_create_form_offers_the_columns_of_the_newest_dataset(
    editor_client, project, iris_dataset, media_root
):
    response = editor_client.get(_url("ml_experiment_create", project.pk))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'value="petal_width"' in page
    assert "Guardar y ejecutar" in page
    assert 'hx-target="#column-fields"' in page
    # species, a classification target: only the classifiers are offered.
    assert '<optgroup label="Clasificación">' in page
    assert '<optgroup label="Regresión">' not in page
    assert 'name="hyperparameters"' not in page  # typed fields, no JSON box


def test_create_form_follows_the_dataset_parameter(
    editor_client, project, iris_dataset, messy_dataset, media_root
):
    url = _url("ml_experiment_create", project.pk)
    newest = editor_client.get(url).content.decode()
    assert 'value="price"' in newest  # messy is the newest
    chosen = editor_client.get(url, {"dataset": iris_dataset.pk}).content.decode()
    assert 'value="petal_width"' in chosen
    assert 'value="price"' not in chosen


def test_create_form_reloads_only_the_column_fields_for_htmx(
    editor_client, project, iris_dataset, messy_dataset, media_root
):
    response = editor_client.get(
        _url("ml_experiment_create", project.pk),
        {"dataset": iris_dataset.pk},
        headers={"HX-Request": "true", "HX-Target": "column-fields"},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert 'name="target_column"' in page
    assert 'value="sepal_length"' in page
    assert "<html" not in page
    assert 'name="dataset"' not in page
    # species is proposed for its name, and the algorithms follow it (out of band).
    assert '<option value="species" selected>' in page
    assert '<div id="model-fields" hx-swap-oob="true">' in page
    assert '<optgroup label="Regresión">' not in page


CARS_CSV = "\n".join(
    ["row,name,price,cylinders,origin,mpg"]
    + [
        f"{index},coche {index},{index * 1011.5 + 0.3},{4 + index % 3 * 2},"
        f"{'EU' if index % 2 else 'US'},{20 + index % 7}.5"
        for index in range(1, 61)
    ]
).encode()


def _feature_boxes(page: str) -> dict[str, bool]:
    """{column: ticked} of the input-column checkboxes."""
    boxes = re.findall(
        r'<input type="checkbox" name="feature_columns" value="([^"]+)"([^>]*)>', page
    )
    return {name: "checked" in attributes for name, attributes in boxes}


def test_create_form_leaves_identifier_like_columns_out_of_the_proposed_inputs(
    editor_client, project, make_dataset, media_root
):
    make_dataset(project, CARS_CSV, "cars.csv", name="Coches")
    page = editor_client.get(_url("ml_experiment_create", project.pk)).content.decode()
    # The target (origin, proposed) is not offered; names and row numbers are offered unticked.
    assert _feature_boxes(page) == {
        "row": False,
        "name": False,
        "price": True,
        "cylinders": True,
        "mpg": True,
    }
    notes = re.findall(
        r'name="feature_columns" value="([^"]+)"[^<]*<label[^>]*>[^<]*</label>\s*'
        r"<small class=\"note\" data-id-like-note>([^<]+)</small>",
        page,
    )
    assert notes == [
        (
            "row",
            "No se propone: sus valores son únicos y van de uno en uno, parece un número de "
            "fila. Puede marcarla igualmente.",
        ),
        (
            "name",
            "No se propone: casi todos sus valores son distintos, parece un identificador o un "
            "nombre (el modelo no aprendería nada útil de él). Puede marcarla igualmente.",
        ),
    ]


def test_create_form_s_inputs_follow_the_target_when_it_changes(
    editor_client, project, make_dataset, media_root
):
    dataset = make_dataset(project, CARS_CSV, "cars.csv", name="Coches")
    ticked = ["price", "cylinders", "origin"]
    response = editor_client.get(
        _url("ml_experiment_create", project.pk),
        {
            "dataset": dataset.pk,
            "target_column": "price",
            "shown_target": "mpg",
            "feature_columns": ticked,
        },
        headers={"HX-Request": "true", "HX-Target": "column-fields"},
    )
    page = response.content.decode()
    assert "<html" not in page
    assert '<option value="price" selected>' in page
    # price is now the target: not offered; mpg, the old target, comes back ticked.
    assert _feature_boxes(page) == {
        "row": False,
        "name": False,
        "cylinders": True,
        "origin": True,
        "mpg": True,
    }
    assert '<input type="hidden" name="shown_target" value="price"' in page
    assert 'hx-include="closest form"' in page


def test_create_form_without_javascript_reloads_the_inputs_for_a_new_target(
    editor_client, project, make_dataset, media_root
):
    dataset = make_dataset(project, CARS_CSV, "cars.csv", name="Coches")
    page = editor_client.get(
        _url("ml_experiment_create", project.pk),
        {"dataset": dataset.pk, "target_column": "origin", "shown_target": "mpg",
         "feature_columns": ["price"], "name": "Origen", "reload": "1"},
    ).content.decode()  # fmt: skip
    assert "<html" in page
    assert 'value="Origen"' in page  # what was typed is kept
    assert _feature_boxes(page) == {
        "row": False,
        "name": False,
        "price": True,
        "cylinders": False,
        "mpg": True,
    }
    assert "Actualizar columnas de entrada" in page


def test_an_explicitly_ticked_identifier_column_is_kept(
    editor_client, project, make_dataset, media_root
):
    dataset = make_dataset(project, CARS_CSV, "cars.csv", name="Coches")
    data = {
        "name": "Con nombre",
        "dataset": dataset.pk,
        "target_column": "mpg",
        "feature_columns": ["name", "price"],
        "task_type": "auto",
        "algorithm": "Ridge",
        "test_size": "0.2",
        "random_state": "1",
        "save": "1",
    }
    response = editor_client.post(_url("ml_experiment_create", project.pk), data)
    assert response.status_code == 302
    assert MLExperiment.objects.get().feature_columns == ["name", "price"]


def test_create_says_to_upload_a_dataset_first(editor_client, project):
    response = editor_client.get(_url("ml_experiment_create", project.pk))
    assert "todavía no tiene conjuntos de datos" in response.content.decode()


def test_create_saves_a_draft(editor_client, editor, project, iris_dataset, published, media_root):
    response = editor_client.post(
        _url("ml_experiment_create", project.pk), {**_form_data(iris_dataset), "save": "1"}
    )
    experiment = MLExperiment.objects.get()
    assert response.status_code == 302
    assert response.url == _url("ml_experiment_detail", experiment.pk)
    assert _messages(response) == ["Experimento guardado como borrador."]
    assert experiment.status == MLExperiment.Status.DRAFT
    assert experiment.algorithm == "RandomForestClassifier"
    assert experiment.hyperparameters == {"n_estimators": 20}
    assert experiment.feature_columns == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    ]
    assert (experiment.test_size, experiment.random_state) == (0.25, 3)
    assert sorted(t.name for t in experiment.tags.all()) == ["iris", "rf"]
    assert experiment.created_by == editor
    assert published == []


def test_create_and_run_queues_the_experiment(
    editor_client, project, iris_dataset, published, media_root, django_capture_on_commit_callbacks
):
    data = {**_form_data(iris_dataset, feature_columns=["petal_length", "petal_width"]), "run": "1"}
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(_url("ml_experiment_create", project.pk), data)
    experiment = MLExperiment.objects.get()
    assert response.status_code == 302
    assert _messages(response) == ["Experimento creado y en cola."]
    assert experiment.status == MLExperiment.Status.QUEUED
    assert experiment.feature_columns == ["petal_length", "petal_width"]
    assert [message["args"] for message in published] == [[str(experiment.pk)]]


FORM_ERRORS = [
    ({"name": "  "}, "name", "requerido"),
    ({"target_column": "nope"}, "target_column", "nope"),
    ({"feature_columns": ["species", "petal_width"]}, "feature_columns", "«species»"),
    ({"algorithm": "Ridge"}, "algorithm", "Ridge"),
    ({"task_type": "regression", "algorithm": "Ridge"}, "task_type", "numérica"),
    ({"target_column": ""}, "target_column", "Elija la columna objetivo"),
    ({"hp_n_estimators": "-3"}, "hp_n_estimators", "«n_estimators»: -3. Se esperaba un entero ≥ 1"),
    ({"hp_n_estimators": "2.5"}, "hp_n_estimators", "«n_estimators»"),
    ({"hp_max_depth": "hondo"}, "hp_max_depth", "«max_depth»"),
    ({"hp_max_depth": ["4", "None"]}, "hp_max_depth", "no las dos"),
    ({"hp_criterion": "gini2"}, "hp_criterion", "una de «entropy», «gini», «log_loss»"),
    ({"hp_bootstrap": "sí"}, "hp_bootstrap", "verdadero o falso"),
    ({"test_size": "1.5"}, "test_size", "entre 0 y 1"),
    ({"test_size": "abc"}, "test_size", "número"),
    ({"random_state": "-4"}, "random_state", "semilla"),
    ({"tags": "ok, " + "x" * 101}, "tags", "100"),
]


@pytest.mark.parametrize(("overrides", "field", "says"), FORM_ERRORS)
def test_create_shows_each_error_on_its_field_and_stores_nothing(
    editor_client, project, iris_dataset, media_root, overrides, field, says
):
    response = editor_client.post(
        _url("ml_experiment_create", project.pk),
        {**_form_data(iris_dataset, **overrides), "run": "1"},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert says in " ".join(errors[field])
    assert says in response.content.decode().replace("&quot;", '"')
    assert not MLExperiment.objects.exists()


def test_create_rejects_a_dataset_of_another_project(
    editor_client, project, other_project, make_dataset, iris_csv_bytes, iris_dataset, media_root
):
    foreign = make_dataset(other_project, iris_csv_bytes, name="Secreto")
    response = editor_client.post(
        _url("ml_experiment_create", project.pk), _form_data(iris_dataset, dataset=foreign.pk)
    )
    assert response.status_code == 200
    assert "dataset" in response.context["form"].errors
    assert "Secreto" not in response.content.decode()
    assert not MLExperiment.objects.exists()


def test_create_can_start_from_another_experiments_settings(editor_client, experiment):
    response = editor_client.get(
        _url("ml_experiment_create", experiment.project_id), {"copy": str(experiment.pk)}
    )
    form = response.context["form"]
    assert form.initial["name"] == "Iris base (copia)"
    assert form.initial["algorithm"] == "LogisticRegression"
    assert 'value="Iris base (copia)"' in response.content.decode()


def test_create_does_not_copy_from_another_project(outsider_client, experiment, other_project):
    response = outsider_client.get(
        _url("ml_experiment_create", other_project.pk), {"copy": str(experiment.pk)}
    )
    assert response.status_code == 404


# --- ml_experiment_detail ----------------------------------------------------------------


def test_detail_redirects_anonymous_users_to_login(client, experiment):
    response = client.get(_url("ml_experiment_detail", experiment.pk))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_detail_is_404_for_outsiders(outsider_client, experiment):
    assert outsider_client.get(_url("ml_experiment_detail", experiment.pk)).status_code == 404


def test_detail_shows_the_configuration_and_the_run_button_to_editors(editor_client, experiment):
    response = editor_client.get(_url("ml_experiment_detail", experiment.pk))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Borrador" in page
    assert _url("ml_experiment_run", experiment.pk) in page
    assert ">Ejecutar<" in page
    assert "petal_width" in page
    assert reverse("datasets:dataset_detail", args=[experiment.dataset_id]) in page
    for tab in ("Resumen", "Gráficos", "Artefactos de MLflow"):
        assert tab in page
    assert "Registrar Modelo en MLflow" not in page  # a later issue
    assert "every 1s" not in page


def test_detail_has_no_run_button_for_viewers(viewer_client, experiment):
    page = viewer_client.get(_url("ml_experiment_detail", experiment.pk)).content.decode()
    assert _url("ml_experiment_run", experiment.pk) not in page
    assert _url("ml_experiment_edit", experiment.pk) not in page


def test_detail_of_a_finished_experiment_shows_metrics_and_the_mlflow_link(
    viewer_client, experiment, settings
):
    settings.MLFLOW_PUBLIC_URL = "https://mlflow.example.org/"
    finish(experiment)
    response = viewer_client.get(_url("ml_experiment_detail", experiment.pk))
    page = response.content.decode()
    assert "Finalizado" in page
    assert "0,9665" in page and "f1_macro" in page
    assert (
        "https://mlflow.example.org/#/experiments/17/runs/0123456789abcdef0123456789abcdef" in page
    )


def test_detail_shows_training_and_test_metrics_side_by_side(viewer_client, experiment):
    finish(experiment)
    set_state(
        experiment,
        metrics={"accuracy": 0.8769642857142856, "train_accuracy": 1.0, "f1_macro": 0.86},
    )
    page = viewer_client.get(_url("ml_experiment_detail", experiment.pk)).content.decode()
    assert "Entrenamiento" in page and "Prueba" in page
    rows = re.findall(r'<tr(?: class="main")? data-metric="([^"]+)">(.*?)</tr>', page, re.S)
    cells = {
        name: re.findall(r'data-split="(\w+)">(?:<span title="([^"]*)">)?([^<]*)', row)
        for name, row in rows
    }
    # The main metric first; train_accuracy is the training column of accuracy, not a row.
    assert [name for name, _row in rows] == ["f1_macro", "accuracy"]
    assert cells["accuracy"] == [
        ("train", "1,0", "1,00"),
        ("test", "0,8769642857142856", "0,877"),
    ]
    # A run from before training metrics were logged: a dash in that column.
    assert cells["f1_macro"] == [("train", "", "—"), ("test", "0,86", "0,860")]


def _plot_links(page: str, experiment) -> list[str]:
    download = reverse("artifacts:download", args=[experiment.pk])
    return re.findall(rf'<img data-plot src="{re.escape(download)}\?path=([^"]+)"', page)


def test_detail_shows_only_the_plots_the_run_logged(viewer_client, experiment, mlflow_down):
    # A run without an importance plot (as KNN runs were): no link to a missing image.
    finish(experiment)
    set_state(experiment, plots=["plots/confusion_matrix.png"])
    page = viewer_client.get(_url("ml_experiment_detail", experiment.pk)).content.decode()
    assert _plot_links(page, experiment) == ["plots/confusion_matrix.png"]
    assert "Matriz de confusión" in page
    assert "feature_importance" not in page
    # The list is the one recorded: MLflow (down here) was not asked.
    assert _url("ml_experiment_plots", experiment.pk) not in page


def test_detail_lists_every_recorded_plot_in_order(viewer_client, experiment):
    finish(experiment)
    set_state(experiment, plots=["plots/residuals.png", "plots/feature_importance.png"])
    page = viewer_client.get(_url("ml_experiment_detail", experiment.pk)).content.decode()
    assert _plot_links(page, experiment) == [
        "plots/residuals.png",
        "plots/feature_importance.png",
    ]
    assert "Importancia de las variables" in page


def test_detail_of_a_run_that_logged_no_plot_says_so(viewer_client, experiment):
    finish(experiment)
    set_state(experiment, plots=[])
    page = viewer_client.get(_url("ml_experiment_detail", experiment.pk)).content.decode()
    assert _plot_links(page, experiment) == []
    assert "Este run no registró gráficos." in page


def test_an_older_run_s_plots_are_looked_up_after_the_page_and_remembered(
    viewer_client, make_run_experiment, project, viewer
):
    experiment = make_run_experiment(
        {"plots/confusion_matrix.png": b"\x89PNG", "data/x.csv": b"a\n1\n", "metrics.json": b"{}"}
    )
    assert experiment.plots is None
    page = viewer_client.get(_url("ml_experiment_detail", experiment.pk)).content.decode()
    assert _plot_links(page, experiment) == []
    assert f'hx-get="{_url("ml_experiment_plots", experiment.pk)}"' in page

    response = viewer_client.get(_url("ml_experiment_plots", experiment.pk), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert _plot_links(response.content.decode(), experiment) == ["plots/confusion_matrix.png"]
    experiment.refresh_from_db()
    assert experiment.plots == ["plots/confusion_matrix.png"]


def test_an_older_run_s_plots_with_mlflow_down_show_a_retry_and_record_nothing(
    viewer_client, experiment, mlflow_down
):
    finish(experiment)
    assert viewer_client.get(_url("ml_experiment_detail", experiment.pk)).status_code == 200
    response = viewer_client.get(_url("ml_experiment_plots", experiment.pk), HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200
    assert "No se pudieron consultar los gráficos del run" in page
    assert "MLflow no disponible" in page
    experiment.refresh_from_db()
    assert experiment.plots is None


def test_plots_lookup_is_404_for_outsiders(outsider_client, experiment):
    finish(experiment)
    assert outsider_client.get(_url("ml_experiment_plots", experiment.pk)).status_code == 404


def test_detail_of_a_regression_lists_its_residuals_plot(
    viewer_client, project, messy_dataset, editor, media_root
):
    experiment = create_experiment(
        project=project,
        dataset=messy_dataset,
        user=editor,
        target_column="price",
        algorithm="Ridge",
    )
    finish(experiment)
    set_state(experiment, plots=["plots/residuals.png", "plots/feature_importance.png"])
    page = viewer_client.get(_url("ml_experiment_detail", experiment.pk)).content.decode()
    assert _plot_links(page, experiment)[0] == "plots/residuals.png"
    assert "Residuos" in page


def test_detail_shows_the_error_of_a_failed_experiment(editor_client, experiment):
    set_state(experiment, status=MLExperiment.Status.ERROR, error="MLflow no disponible: caído")
    page = editor_client.get(_url("ml_experiment_detail", experiment.pk)).content.decode()
    assert "MLflow no disponible: caído" in page
    assert ">Ejecutar<" in page  # a failed experiment can run again


def test_detail_polls_the_status_while_running(viewer_client, experiment):
    set_state(experiment, status=MLExperiment.Status.RUNNING, stage=MLExperiment.Stage.TRAINING)
    page = viewer_client.get(_url("ml_experiment_detail", experiment.pk)).content.decode()
    assert f'hx-get="{_url("ml_experiment_status", experiment.pk)}"' in page
    assert 'hx-trigger="every 1s"' in page
    assert "Entrenando el modelo" in page
    assert 'class="spinner"' in page


@pytest.mark.parametrize("outage", ["mlflow_down", "mlflow_silent"])
def test_detail_never_calls_mlflow_and_loads_artifacts_lazily(
    request, viewer_client, experiment, outage, http_calls
):
    finish(experiment)
    request.getfixturevalue(outage)

    response = viewer_client.get(_url("ml_experiment_detail", experiment.pk))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Artefactos de MLflow" in page
    tab_url = reverse("artifacts:tab", args=[experiment.pk])
    assert f'hx-get="{tab_url}" hx-trigger="click once"' in page
    # Whatever MLflow does, the page itself does not wait for it (timings: bench/).
    assert http_calls == []


# --- ml_experiment_status ----------------------------------------------------------------


def test_status_is_404_for_outsiders(outsider_client, experiment):
    assert outsider_client.get(_url("ml_experiment_status", experiment.pk)).status_code == 404


def test_status_shows_the_stage_while_running(viewer_client, experiment):
    set_state(experiment, status=MLExperiment.Status.QUEUED, stage=MLExperiment.Stage.WAITING)
    response = viewer_client.get(
        _url("ml_experiment_status", experiment.pk), headers={"HX-Request": "true"}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "HX-Refresh" not in response.headers
    assert "En cola" in page
    assert "Esperando a un proceso de trabajo" in page
    assert 'hx-trigger="every 1s"' in page
    assert "no-cache" in response.headers["Cache-Control"]


@pytest.fixture
def frozen_now(monkeypatch):
    """``timezone.now()`` fixed at one instant, so elapsed times render exactly."""
    instant = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: instant)
    return instant


def _status_text(client, experiment) -> str:
    response = client.get(_url("ml_experiment_status", experiment.pk), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return " ".join(strip_tags(response.content.decode()).split())


def test_status_shows_the_stage_and_how_long_it_and_the_run_have_been_going(
    viewer_client, experiment, frozen_now
):
    set_state(
        experiment,
        status=MLExperiment.Status.RUNNING,
        stage=MLExperiment.Stage.TRAINING,
        queued_at=frozen_now - timedelta(minutes=5),
        started_at=frozen_now - timedelta(seconds=200),
        stage_started_at=frozen_now - timedelta(seconds=75),
    )
    text = _status_text(viewer_client, experiment)
    assert (
        "En ejecución · Entrenando el modelo · etapa: 1 min 15 s · "
        "en ejecución desde hace 3 min 20 s"
    ) in text


def test_status_of_a_queued_experiment_counts_from_when_it_was_queued(
    viewer_client, experiment, frozen_now
):
    set_state(
        experiment,
        status=MLExperiment.Status.QUEUED,
        stage=MLExperiment.Stage.WAITING,
        queued_at=frozen_now - timedelta(seconds=42),
        stage_started_at=frozen_now - timedelta(seconds=42),
    )
    text = _status_text(viewer_client, experiment)
    assert "En cola · Esperando a un proceso de trabajo · en cola desde hace 42 s" in text
    assert "etapa:" not in text


def test_the_live_status_brings_the_title_badge_and_the_run_id_along(
    viewer_client, experiment, frozen_now
):
    set_state(experiment, status=MLExperiment.Status.QUEUED, queued_at=frozen_now)
    page = viewer_client.get(_url("ml_experiment_detail", experiment.pk)).content.decode()
    assert page.count('id="experiment-badge"') == 1
    assert page.count('id="experiment-run-id"') == 1
    assert 'hx-swap-oob="true"' not in page  # only the poll's answer swaps out of band
    set_state(
        experiment,
        status=MLExperiment.Status.RUNNING,
        stage=MLExperiment.Stage.TRAINING,
        started_at=frozen_now,
        stage_started_at=frozen_now,
        mlflow_run_id="0123456789abcdef0123456789abcdef",
    )
    response = viewer_client.get(
        _url("ml_experiment_status", experiment.pk), HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    badge = body[body.index('id="experiment-badge"') :]
    assert badge[: badge.index("</span>")].endswith(">En ejecución")
    assert 'class="badge RUNNING" hx-swap-oob="true"' in body
    run_id = body[body.index('<dd id="experiment-run-id" hx-swap-oob="true">') :]
    assert "0123456789abcdef0123456789abcdef" in run_id[: run_id.index("</dd>")]


def test_the_detail_page_renders_the_same_elapsed_times_after_a_reload(
    viewer_client, experiment, frozen_now
):
    # The times come from the database, not from the browser: a reload shows them too.
    set_state(
        experiment,
        status=MLExperiment.Status.RUNNING,
        stage=MLExperiment.Stage.EVALUATING,
        started_at=frozen_now - timedelta(hours=1, minutes=2, seconds=5),
        stage_started_at=frozen_now - timedelta(seconds=4.5),
    )
    page = viewer_client.get(_url("ml_experiment_detail", experiment.pk)).content.decode()
    text = " ".join(strip_tags(page).split())
    assert "Evaluando · etapa: 4,50 s · en ejecución desde hace 1 h 02 min" in text


def test_detail_of_a_finished_run_lists_each_stage_s_duration(viewer_client, experiment):
    finish(experiment)
    set_state(
        experiment,
        timings={"prepare": 0.21, "load": 2.5, "fit": 37.2, "evaluate": 75.0, "log": 1.1,
                 "total": 116.01},
    )  # fmt: skip
    page = viewer_client.get(_url("ml_experiment_detail", experiment.pk)).content.decode()
    table = page[page.index("data-timings") : page.index("</table>", page.index("data-timings"))]
    rows = [
        " ".join(strip_tags(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row))
        for row in table.split("<tr")[2:]
    ]
    assert rows == [
        "Preparar el run de MLflow 0,21 s cauce.time.prepare_s",
        "Cargar y preparar los datos 2,50 s cauce.time.load_s",
        "Entrenar 37 s cauce.time.fit_s",
        "Evaluar (métricas, importancia, gráficos) 1 min 15 s cauce.time.evaluate_s",
        "Guardar artefactos y modelo en MLflow 1,10 s cauce.time.log_s",
        "Total 1 min 56 s cauce.time.total_s",
    ]


@pytest.mark.parametrize("status", [MLExperiment.Status.FINISHED, MLExperiment.Status.ERROR])
def test_status_refreshes_the_page_once_the_run_is_over(viewer_client, experiment, status):
    set_state(experiment, status=status)
    response = viewer_client.get(
        _url("ml_experiment_status", experiment.pk), headers={"HX-Request": "true"}
    )
    assert response.headers["HX-Refresh"] == "true"


# --- ml_experiment_run -------------------------------------------------------------------


def test_run_rejects_get(editor_client, experiment):
    assert editor_client.get(_url("ml_experiment_run", experiment.pk)).status_code == 405


def test_run_redirects_anonymous_users_to_login(client, experiment):
    response = client.post(_url("ml_experiment_run", experiment.pk))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    experiment.refresh_from_db()
    assert experiment.status == MLExperiment.Status.DRAFT


def test_run_is_404_for_outsiders(outsider_client, experiment):
    assert outsider_client.post(_url("ml_experiment_run", experiment.pk)).status_code == 404
    experiment.refresh_from_db()
    assert experiment.status == MLExperiment.Status.DRAFT


def test_run_is_forbidden_to_viewers(viewer_client, experiment):
    assert viewer_client.post(_url("ml_experiment_run", experiment.pk)).status_code == 403
    experiment.refresh_from_db()
    assert experiment.status == MLExperiment.Status.DRAFT


def test_run_queues_the_experiment(
    editor_client, experiment, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(_url("ml_experiment_run", experiment.pk))
    assert response.status_code == 302
    assert response.url == _url("ml_experiment_detail", experiment.pk)
    assert _messages(response) == ["Experimento en cola."]
    experiment.refresh_from_db()
    assert experiment.status == MLExperiment.Status.QUEUED
    assert len(published) == 1


def test_run_twice_says_it_is_already_queued(
    editor_client, experiment, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        editor_client.post(_url("ml_experiment_run", experiment.pk))
        response = editor_client.post(_url("ml_experiment_run", experiment.pk))
    assert _messages(response)[-1] == "El experimento ya está en cola o en ejecución."
    assert len(published) == 1


# --- ml_experiment_edit ------------------------------------------------------------------


def test_edit_is_404_for_outsiders(outsider_client, experiment):
    url = _url("ml_experiment_edit", experiment.pk)
    assert outsider_client.get(url).status_code == 404
    assert outsider_client.post(url, {"name": "X"}).status_code == 404


def test_edit_is_forbidden_to_viewers(viewer_client, experiment):
    url = _url("ml_experiment_edit", experiment.pk)
    assert viewer_client.get(url).status_code == 403
    assert viewer_client.post(url, {"name": "X"}).status_code == 403
    experiment.refresh_from_db()
    assert experiment.name == "Iris base"


def test_edit_redirects_anonymous_users_to_login(client, experiment):
    url = _url("ml_experiment_edit", experiment.pk)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_edit_changes_name_description_and_tags(editor_client, experiment):
    url = _url("ml_experiment_edit", experiment.pk)
    assert 'value="base"' in editor_client.get(url).content.decode()
    response = editor_client.post(
        url, {"name": "Iris v2", "description": "Nueva", "tags": "iris, v2, iris"}
    )
    assert response.status_code == 302
    assert _messages(response) == ["Experimento actualizado."]
    experiment.refresh_from_db()
    assert (experiment.name, experiment.description) == ("Iris v2", "Nueva")
    assert sorted(t.name for t in experiment.tags.all()) == ["iris", "v2"]


def test_edit_shows_a_tag_error_and_changes_nothing(editor_client, experiment):
    response = editor_client.post(
        _url("ml_experiment_edit", experiment.pk), {"name": "Otro", "tags": "y" * 150}
    )
    assert response.status_code == 200
    assert "tags" in response.context["form"].errors
    experiment.refresh_from_db()
    assert experiment.name == "Iris base"
    assert [t.name for t in experiment.tags.all()] == ["base"]


# --- language ----------------------------------------------------------------------------


def test_status_labels_read_as_the_spec_says():
    assert [str(label) for _value, label in MLExperiment.Status.choices] == [
        "Borrador",
        "En cola",
        "En ejecución",
        "Finalizado",
        "Error",
        "Cancelado",
    ]


def test_the_detail_page_is_available_in_english(viewer_client, experiment):
    viewer_client.post("/i18n/setlang/", {"language": "en"})
    response = viewer_client.get(_url("ml_experiment_detail", experiment.pk))
    page = response.content.decode()
    assert "Draft" in page
    assert "MLflow artifacts" in page
    assert "Target column" in page
