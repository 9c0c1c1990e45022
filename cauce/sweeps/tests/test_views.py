"""The sweep pages: who sees them, the live part, cancel and promote from the page."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from cauce.experiments.models import MLExperiment
from cauce.sweeps.models import Sweep, Trial

pytestmark = pytest.mark.django_db


def _finished(sweep):
    for number, (depth, value) in enumerate([(1, 0.6), (2, 0.9), (3, 0.95), (4, 0.93)]):
        Trial.objects.create(
            sweep=sweep,
            number=number,
            optuna_trial_id=number + 1,
            status=Trial.Status.COMPLETE,
            params={"max_depth": depth},
            value=value,
            duration_seconds=0.2,
            mlflow_run_id=f"run{number}",
        )
    Sweep.objects.filter(pk=sweep.pk).update(
        status=Sweep.Status.FINISHED,
        best_number=2,
        best_value=0.95,
        best_params={"max_depth": 3},
        importances={"max_depth": 1.0},
        mlflow_experiment_id="1",
        mlflow_run_id="parent",
    )


def test_outsiders_get_404_on_every_sweep_page(outsider_client, sweep):
    for name in ("sweep_detail", "sweep_progress"):
        assert outsider_client.get(reverse(f"sweeps:{name}", args=[sweep.pk])).status_code == 404
    for name in ("sweep_cancel", "sweep_promote"):
        assert outsider_client.post(reverse(f"sweeps:{name}", args=[sweep.pk])).status_code == 404
    url = reverse("sweeps:sweep_list", args=[sweep.project_id])
    assert outsider_client.get(url).status_code == 404


def test_the_list_shows_the_projects_sweeps(viewer_client, sweep):
    page = viewer_client.get(reverse("sweeps:sweep_list", args=[sweep.project_id]))
    assert page.status_code == 200
    assert reverse("sweeps:sweep_detail", args=[sweep.pk]) in page.content.decode()


def test_a_finished_sweep_shows_history_importances_and_the_trials(viewer_client, sweep):
    _finished(sweep)
    page = viewer_client.get(reverse("sweeps:sweep_detail", args=[sweep.pk]) + "?sort=-value")
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count("<circle") == 4
    assert "<polyline" in html
    assert 'value="100"' in html  # max_depth's importance bar
    # Sorted by value, best first; each row links to its child run.
    assert html.index("max_depth=3") < html.index("max_depth=4") < html.index("max_depth=1")
    assert "/runs/run2" in html
    assert 'cx="56.0"' in html  # SVG coordinates are never localized ("56,0")
    assert "sweep_progress" not in html and "/progress/" not in html  # nothing to poll


def test_sampled_floats_are_shown_with_four_significant_digits(viewer_client, sweep):
    Trial.objects.create(
        sweep=sweep, number=0, optuna_trial_id=1, params={"min_samples_leaf": 0.0123456789}
    )
    page = viewer_client.get(reverse("sweeps:sweep_detail", args=[sweep.pk]))
    assert "min_samples_leaf=0.01235" in page.content.decode()


def test_a_failed_trial_shows_its_reason_under_its_state(viewer_client, sweep):
    Trial.objects.create(
        sweep=sweep,
        number=0,
        optuna_trial_id=1,
        status=Trial.Status.FAIL,
        params={"max_depth": 2},
        error="El proceso de trabajo se detuvo durante la prueba.",
    )
    Trial.objects.create(
        sweep=sweep, number=1, optuna_trial_id=2, status=Trial.Status.COMPLETE, value=0.9
    )
    html = viewer_client.get(reverse("sweeps:sweep_detail", args=[sweep.pk])).content.decode()
    assert html.count("data-trial-error") == 1
    assert (
        'Fallida<div class="muted small" data-trial-error>'
        "El proceso de trabajo se detuvo durante la prueba.</div>"
    ) in html


def test_a_running_sweep_polls_its_progress(viewer_client, sweep):
    Sweep.objects.filter(pk=sweep.pk).update(status=Sweep.Status.RUNNING)
    Trial.objects.create(sweep=sweep, number=0, optuna_trial_id=1, status=Trial.Status.RUNNING)
    Trial.objects.create(
        sweep=sweep, number=1, optuna_trial_id=2, status=Trial.Status.COMPLETE, value=0.9
    )
    part = viewer_client.get(reverse("sweeps:sweep_progress", args=[sweep.pk]))
    html = part.content.decode()
    assert 'hx-trigger="every 2s"' in html
    assert "1 de 4 pruebas hechas · 1 en ejecución" in html


def test_the_polled_strip_brings_the_trials_and_buttons_once_the_sweep_changes(
    editor_client, sweep
):
    """A page watching a sweep: while nothing changes the strip comes alone; when the sweep
    ends, the strip (no longer polling) brings the trials table, the charts and the buttons
    out of band (no "Aún no hay pruebas" nor "Cancelar" left, "Promover el mejor" offered)."""
    Sweep.objects.filter(pk=sweep.pk).update(status=Sweep.Status.RUNNING)
    page = editor_client.get(reverse("sweeps:sweep_detail", args=[sweep.pk]))
    html = page.content.decode()
    assert "Aún no hay pruebas." in html and "Cancelar" in html
    seen = page.context["seen"]
    url = reverse("sweeps:sweep_progress", args=[sweep.pk])

    still = editor_client.get(url, {"seen": seen, "sort": "number"}).content.decode()
    assert 'hx-trigger="every 2s"' in still
    assert "hx-swap-oob" not in still and "sweep-results" not in still

    _finished(sweep)
    ended = editor_client.get(url, {"seen": seen, "sort": "-value"}).content.decode()
    assert "every 2s" not in ended  # polling stops
    assert '<div id="sweep-actions" hx-swap-oob="true">' in ended
    assert '<div id="sweep-results" hx-swap-oob="true">' in ended
    assert "Promover el mejor" in ended and "Cancelar" not in ended
    assert "Aún no hay pruebas" not in ended
    assert ended.count('<tr data-col="') == 4
    assert "data-parallel" in ended and 'class="sweep-history"' in ended
    assert "?sort=-value" not in ended and "?sort=value" in ended  # the page's order kept


def test_an_ended_sweeps_strip_counts_what_ran(viewer_client, sweep):
    _finished(sweep)
    for number in (4, 5):
        Trial.objects.create(
            sweep=sweep, number=number, optuna_trial_id=number + 1, status=Trial.Status.FAIL
        )
    Sweep.objects.filter(pk=sweep.pk).update(n_trials=6)
    part = viewer_client.get(reverse("sweeps:sweep_progress", args=[sweep.pk]))
    html = part.content.decode()
    assert "<span data-progress>6 pruebas: 4 completadas, 2 fallidas</span>" in html
    assert "hechas" not in html

    Trial.objects.filter(number=5).delete()
    Trial.objects.filter(number__in=(1, 2, 3)).update(status=Trial.Status.PRUNED)
    Sweep.objects.filter(pk=sweep.pk).update(status=Sweep.Status.CANCELLED)
    html = viewer_client.get(reverse("sweeps:sweep_progress", args=[sweep.pk])).content.decode()
    assert "<span data-progress>5 de 6 pruebas: 1 completada, 3 podadas, 1 fallida</span>" in html


def test_a_cancelled_sweep_keeps_polling_until_its_running_trials_stop(viewer_client, sweep):
    """Cancelled while a trial runs: the strip says the trial is stopping and keeps polling,
    so the page shows it stopped without a reload; then polling ends."""
    _finished(sweep)
    Trial.objects.create(sweep=sweep, number=4, optuna_trial_id=5, status=Trial.Status.RUNNING)
    Sweep.objects.filter(pk=sweep.pk).update(status=Sweep.Status.CANCELLED, n_trials=8)
    url = reverse("sweeps:sweep_progress", args=[sweep.pk])
    html = viewer_client.get(url).content.decode()
    assert 'hx-trigger="every 2s"' in html
    assert "<span data-progress>4 de 8 pruebas: 4 completadas · 1 deteniéndose</span>" in html
    assert "<span data-best>mejor: accuracy = 0,9500 (prueba #2)</span>" in html

    Trial.objects.filter(number=4).update(status=Trial.Status.FAIL)
    html = viewer_client.get(url).content.decode()
    assert "every 2s" not in html
    assert "<span data-progress>5 de 8 pruebas: 4 completadas, 1 fallida</span>" in html


def test_cancel_from_the_page(editor_client, sweep):
    response = editor_client.post(reverse("sweeps:sweep_cancel", args=[sweep.pk]))
    assert response.status_code == 302
    assert Sweep.objects.get(pk=sweep.pk).status == Sweep.Status.CANCELLED


def test_promote_from_the_page_opens_the_new_experiment(
    editor_client, sweep, django_capture_on_commit_callbacks
):
    _finished(sweep)
    Sweep.objects.filter(pk=sweep.pk).update(best_value=0.96658)
    with django_capture_on_commit_callbacks(execute=False):
        response = editor_client.post(reverse("sweeps:sweep_promote", args=[sweep.pk]))
    experiment = MLExperiment.objects.get()
    assert response.url == reverse("experiments:ml_experiment_detail", args=[experiment.pk])
    assert experiment.hyperparameters == {"max_depth": 3}
    # The page links the sweep ("Promovido del barrido …"): the description does not repeat
    # it, and gives the value in the language's own way, rounded as the sweep's page shows it.
    assert experiment.description == (
        f"Parámetros de la mejor prueba del barrido ({sweep.metric} = 0,9666)."
    )
    page = editor_client.get(response.url).content.decode()
    assert page.count("Promovido del barrido") == 1


def _form_post(project, dataset, **changes) -> dict:
    data = {
        "name": "Desde el formulario",
        "dataset": dataset.pk,
        "target_column": "species",
        "shown_target": "species",
        "feature_columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"],
        "task_type": "auto",
        "algorithm": "DecisionTreeClassifier",
        "test_size": "0.2",
        "random_state": "7",
        "tags": "barrido, formulario",
        "n_trials": "6",
        "sampler": "tpe",
        "cv_folds": "3",
        "metric": "accuracy",
        "search_max_depth": "on",
        "low_max_depth": "1",
        "high_max_depth": "6",
        "search_criterion": "on",
        "choices_criterion": ["gini", "entropy"],
        "hp_min_samples_leaf": "2",
    }
    data.update(changes)
    return data


def test_the_sweep_form_builds_the_search_space_from_the_typed_fields(
    editor_client, project, iris_dataset, django_capture_on_commit_callbacks
):
    url = reverse("sweeps:sweep_create", args=[project.pk])
    page = editor_client.get(url, {"algorithm": "DecisionTreeClassifier", "hp_max_depth": "3"})
    assert page.status_code == 200
    assert 'name="low_max_depth"' in page.content.decode()

    with django_capture_on_commit_callbacks(execute=False):
        response = editor_client.post(url, _form_post(project, iris_dataset))

    sweep = Sweep.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("sweeps:sweep_detail", args=[sweep.pk])
    assert sweep.search_space == {
        "max_depth": {"type": "int", "low": 1, "high": 6, "log": False},
        "criterion": {"type": "categorical", "choices": ["gini", "entropy"]},
    }
    assert sweep.fixed_hyperparameters == {"min_samples_leaf": 2}
    assert (sweep.n_trials, sweep.cv_folds, sweep.seed, sweep.metric) == (6, 3, 7, "accuracy")
    assert sweep.tags == ["barrido", "formulario"]


def test_the_sweep_form_names_the_parameter_of_a_bad_range_and_creates_nothing(
    editor_client, project, iris_dataset
):
    url = reverse("sweeps:sweep_create", args=[project.pk])
    response = editor_client.post(
        url, _form_post(project, iris_dataset, low_max_depth="8", high_max_depth="2")
    )
    assert response.status_code == 200
    assert "max_depth" in response.context["form"].errors["search_max_depth"][0]
    assert not Sweep.objects.exists()


@pytest.mark.parametrize(
    ("name", "low", "high", "kept"),
    [
        ("max_features", "2", "8", {"type": "int", "low": 2, "high": 8, "log": False}),
        ("max_features", "0,2", "0,8", {"type": "float", "low": 0.2, "high": 0.8, "log": False}),
        ("min_samples_leaf", "2", "4", {"type": "int", "low": 2, "high": 4, "log": False}),
        ("min_samples_leaf", "0.1", "0.4",
         {"type": "float", "low": 0.1, "high": 0.4, "log": False}),
        ("min_samples_split", "2", "10", {"type": "int", "low": 2, "high": 10, "log": False}),
        ("min_samples_split", "0,1", "0,5",
         {"type": "float", "low": 0.1, "high": 0.5, "log": False}),
    ],
)  # fmt: skip
def test_the_sweep_form_takes_integer_and_fraction_ranges_of_a_parameter_taking_both(
    editor_client, project, iris_dataset, django_capture_on_commit_callbacks, name, low, high, kept
):
    url = reverse("sweeps:sweep_create", args=[project.pk])
    typed = {
        "search_max_depth": "",
        "search_criterion": "",
        "hp_min_samples_leaf": "",
        f"search_{name}": "on",
        f"low_{name}": low,
        f"high_{name}": high,
    }
    with django_capture_on_commit_callbacks(execute=False):
        response = editor_client.post(url, _form_post(project, iris_dataset, **typed))
    assert response.status_code == 302, response.context["form"].errors
    assert Sweep.objects.get().search_space == {name: kept}


def test_the_sweep_forms_numbers_in_messages_have_a_decimal_comma(
    editor_client, project, iris_dataset
):
    url = reverse("sweeps:sweep_create", args=[project.pk])
    typed = {
        "search_max_depth": "",
        "search_criterion": "",
        "search_ccp_alpha": "on",
        "low_ccp_alpha": "0,0",
        "high_ccp_alpha": "0,5",
        "log_ccp_alpha": "on",
    }
    response = editor_client.post(url, _form_post(project, iris_dataset, **typed))
    error = response.context["form"].errors["search_ccp_alpha"][0]
    assert "(se indicó 0)" in error
    typed = {**typed, "log_ccp_alpha": "", "low_ccp_alpha": "0,75", "high_ccp_alpha": "0,25"}
    response = editor_client.post(url, _form_post(project, iris_dataset, **typed))
    error = response.context["form"].errors["search_ccp_alpha"][0]
    assert "el mínimo (0,75) es mayor que el máximo (0,25)" in error
    typed = {"search_max_depth": "on", "low_max_depth": "1,5", "high_max_depth": "4,25"}
    response = editor_client.post(url, _form_post(project, iris_dataset, **typed))
    error = response.context["form"].errors["search_max_depth"][0]
    assert "el rango [1,5, 4,25] se sale" in error
    assert not Sweep.objects.exists()


def test_the_sweep_form_asks_for_something_to_search_in_its_own_words(
    editor_client, project, iris_dataset
):
    url = reverse("sweeps:sweep_create", args=[project.pk])
    nothing = {"search_max_depth": "", "search_criterion": ""}
    response = editor_client.post(url, _form_post(project, iris_dataset, **nothing))
    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert errors == [
        "Marque al menos un hiperparámetro que buscar, en «Qué buscar», con su mínimo y "
        "máximo o sus opciones."
    ]
    assert "search_space" not in response.content.decode()
    assert not Sweep.objects.exists()


def test_the_experiment_form_offers_to_search_its_hyperparameters(
    editor_client, project, iris_dataset
):
    page = editor_client.get(reverse("experiments:ml_experiment_create", args=[project.pk]))
    assert reverse("sweeps:sweep_create", args=[project.pk]) in page.content.decode()


def test_search_from_the_experiment_form_opens_a_clean_prefilled_address(
    editor_client, project, iris_dataset
):
    """«Buscar hiperparámetros» posts the experiment form (its CSRF token stays out of the
    address) and lands on the sweep form's address with the typed values only."""
    page = editor_client.get(reverse("experiments:ml_experiment_create", args=[project.pk]))
    assert 'formmethod="post"' in page.content.decode()
    assert "{#" not in page.content.decode()  # a comment of two lines is no comment
    url = reverse("sweeps:sweep_create", args=[project.pk])
    typed = {
        "csrfmiddlewaretoken": "secreto",
        "from_experiment": "1",
        "name": "Flores",
        "description": "",
        "dataset": iris_dataset.pk,
        "target_column": "species",
        "feature_columns": ["sepal_length", "petal_width"],
        "algorithm": "DecisionTreeClassifier",
        "hp_min_samples_leaf": ["", "2"],
        "hp_max_depth": "",
    }
    response = editor_client.post(url, typed)
    assert response.status_code == 302
    assert response.url.startswith(url + "?")
    for absent in ("csrfmiddlewaretoken", "from_experiment", "description", "hp_max_depth"):
        assert absent not in response.url
    assert not Sweep.objects.exists()

    form = editor_client.get(response.url).context["form"]
    assert form.initial["name"] == "Flores"
    assert form.initial["hp_min_samples_leaf"] == "2"
    assert form.initial["feature_columns"] == ["sepal_length", "petal_width"]
    html = editor_client.get(response.url).content.decode()
    assert 'name="hp_min_samples_leaf"' in html

    # The button's former GET (a bookmark): the same clean address.
    old = editor_client.get(url, {k: v for k, v in typed.items() if k != "from_experiment"})
    assert old.status_code == 302
    assert old.url == response.url


def test_a_re_run_starts_a_new_sweep_with_the_same_settings(
    editor_client, sweep, django_capture_on_commit_callbacks
):
    _finished(sweep)
    url = reverse("sweeps:sweep_rerun", args=[sweep.pk])
    with django_capture_on_commit_callbacks(execute=False):
        response = editor_client.post(url)

    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Barrido lanzado de nuevo con los mismos ajustes."
    ]
    again = Sweep.objects.exclude(pk=sweep.pk).get()
    assert response.url == reverse("sweeps:sweep_detail", args=[again.pk])
    assert again.rerun_of_id == sweep.pk
    assert again.status == Sweep.Status.QUEUED
    fields = ("algorithm", "search_space", "metric", "n_trials", "sampler", "seed", "tags")
    assert [getattr(again, f) for f in fields] == [getattr(sweep, f) for f in fields]


def test_the_sweep_form_reads_a_decimal_comma_and_refuses_grouping(
    editor_client, project, iris_dataset, django_capture_on_commit_callbacks
):
    url = reverse("sweeps:sweep_create", args=[project.pk])
    page = editor_client.get(url, {"algorithm": "DecisionTreeClassifier"}).content.decode()
    assert '<input type="text" name="low_max_depth"' in page  # not the browser's locale rule
    grouped = {"search_ccp_alpha": "on", "low_ccp_alpha": "0,001", "high_ccp_alpha": "1.000,5"}
    response = editor_client.post(url, _form_post(project, iris_dataset, **grouped))
    assert response.status_code == 200
    assert "«ccp_alpha»: «1.000,5»" in response.context["form"].errors["search_ccp_alpha"][0]
    assert not Sweep.objects.exists()

    commas = {**grouped, "high_ccp_alpha": "0,5", "test_size": "0,25"}
    with django_capture_on_commit_callbacks(execute=False):
        response = editor_client.post(url, _form_post(project, iris_dataset, **commas))
    assert response.status_code == 302
    sweep = Sweep.objects.get()
    assert sweep.search_space["ccp_alpha"] == {
        "type": "float",
        "low": 0.001,
        "high": 0.5,
        "log": False,
    }


def test_the_sweep_form_trains_on_the_current_version_and_says_so_for_another(
    editor_client, project, iris_dataset, django_capture_on_commit_callbacks
):
    """The version field comes with the experiment form's columns; a sweep keeps no version
    (it was passed on to the service, which does not take it: a 500)."""
    url = reverse("sweeps:sweep_create", args=[project.pk])
    with django_capture_on_commit_callbacks(execute=False):
        response = editor_client.post(url, _form_post(project, iris_dataset, dataset_version="1"))
    assert response.status_code == 302
    assert Sweep.objects.count() == 1
