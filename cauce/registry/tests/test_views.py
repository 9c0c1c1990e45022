"""Registry pages against a real MLflow server: what they show, edits, permissions."""

import html

import pytest
from django.urls import reverse

from cauce.integrations.mlflow import client as adapter
from cauce.registry import services

pytestmark = pytest.mark.django_db

NAME = "Iris_lab-Iris_base"


def _messages(response) -> list[str]:
    return [html.unescape(str(message)) for message in response.context["messages"]]


@pytest.fixture
def registered(finished_experiment, editor):
    """Two versions of NAME: v1 (f1_macro 0.80) and v2 (f1_macro 0.90), from two experiments."""
    first = finished_experiment(name="Iris base", metrics={"f1_macro": 0.8, "accuracy": 0.82})
    second = finished_experiment(
        name="Iris base",
        metrics={"f1_macro": 0.9, "accuracy": 0.91},
        columns={"sepal_length": "double", "sepal_width": "long", "petal_width": "double",
                 "color": "string"},
    )  # fmt: skip
    services.model_version_register(experiment=first, user=editor)
    registration = services.model_version_register(experiment=second, user=editor)
    return registration.model, first, second


def test_the_model_list_shows_latest_version_aliases_and_main_metric(
    viewer_client, registered, mlflow_client
):
    mlflow_client.set_registered_model_alias(NAME, "champion", "1")
    response = viewer_client.get(reverse("registry:model_list"))
    body = response.content.decode()
    assert response.status_code == 200
    row = body[body.index(f">{NAME}</a>") :]
    assert ">v2</a>" in row
    assert "@champion → v1" in row
    assert "f1_macro = 0,9000" in row  # Spanish number format


def test_the_model_page_lists_versions_with_their_experiment_and_metric(viewer_client, registered):
    _model, first, second = registered
    response = viewer_client.get(reverse("registry:model_detail", kwargs={"name": NAME}))
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [(row.info.version, row.experiment, row.main_value) for row in rows] == [
        (2, second, 0.9),
        (1, first, 0.8),
    ]
    body = response.content.decode()
    assert reverse("experiments:ml_experiment_detail", kwargs={"pk": first.pk}) in body
    assert '<svg class="metric-chart"' in body
    # MLflow's READY in the page's language; the API keeps MLflow's name.
    assert body.count('<span class="badge READY">Lista</span>') == 2
    assert ">READY<" not in body
    # Cauce's own version tag (the source experiment, linked in its column) is not shown as a
    # tag a person wrote; the user's own tags are.
    assert all("cauce.experiment_id" in row.info.tags for row in rows)
    assert "cauce.experiment_id=" not in body
    # A viewer reads; only editors get the forms.
    assert reverse("registry:alias_set", kwargs={"name": NAME}) not in body


def test_an_editor_sets_moves_and_removes_an_alias(editor_client, registered, mlflow_client):
    url = reverse("registry:alias_set", kwargs={"name": NAME})
    response = editor_client.post(url, {"alias": "champion", "version": "1"}, follow=True)
    assert _messages(response) == ["El alias «champion» apunta ahora a la versión 1."]
    assert mlflow_client.get_model_version_by_alias(NAME, "champion").version == "1"
    editor_client.post(url, {"alias": "champion", "version": "2"}, follow=True)
    assert mlflow_client.get_model_version_by_alias(NAME, "champion").version == "2"
    delete = reverse("registry:alias_delete", kwargs={"name": NAME, "alias": "champion"})
    response = editor_client.post(delete, follow=True)
    assert _messages(response) == ["Alias «champion» eliminado."]
    assert mlflow_client.get_registered_model(NAME).aliases == {}


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ("latest", "«latest» es un alias reservado de MLflow."),
        ("LATEST", "«latest» es un alias reservado de MLflow."),
        ("v3", "«v3» es un alias reservado de MLflow (v<número>)."),
        ("con espacio", "El alias solo puede tener letras, números, «_» y «-»."),
        ("a" * 256, "El alias no puede tener más de 255 caracteres."),
    ],
)
def test_reserved_and_malformed_aliases_are_refused(
    editor_client, registered, mlflow_client, alias, message
):
    url = reverse("registry:alias_set", kwargs={"name": NAME})
    response = editor_client.post(url, {"alias": alias, "version": "1"}, follow=True)
    assert _messages(response) == [message]
    assert mlflow_client.get_registered_model(NAME).aliases == {}


def test_an_alias_on_an_unknown_version_is_refused(editor_client, registered, mlflow_client):
    url = reverse("registry:alias_set", kwargs={"name": NAME})
    response = editor_client.post(url, {"alias": "champion", "version": "9"}, follow=True)
    assert _messages(response) == [f"El modelo «{NAME}» no tiene la versión 9."]
    assert mlflow_client.get_registered_model(NAME).aliases == {}


def test_an_editor_edits_descriptions_and_version_tags(editor_client, registered, mlflow_client):
    editor_client.post(
        reverse("registry:model_edit", kwargs={"name": NAME}), {"description": "Iris en prod"}
    )
    assert mlflow_client.get_registered_model(NAME).description == "Iris en prod"
    url = reverse("registry:version_edit", kwargs={"name": NAME, "version": 1})
    editor_client.post(url, {"description": "primera", "tags": "equipo=ml\nrevisado=sí"})
    version = mlflow_client.get_model_version(NAME, "1")
    assert version.description == "primera"
    assert {k: v for k, v in version.tags.items() if not k.startswith("cauce.")} == {
        "equipo": "ml",
        "revisado": "sí",
    }
    editor_client.post(url, {"description": "primera", "tags": "equipo=datos"})
    version = mlflow_client.get_model_version(NAME, "1")
    assert {k: v for k, v in version.tags.items() if not k.startswith("cauce.")} == {
        "equipo": "datos"
    }


def test_deleting_a_version_asks_first(editor_client, registered, mlflow_client):
    url = reverse("registry:version_delete", kwargs={"name": NAME, "version": 1})
    response = editor_client.get(url)
    assert response.status_code == 200
    assert "¿Eliminar la versión 1" in response.content.decode()
    assert len(mlflow_client.search_model_versions(f"name='{NAME}'")) == 2
    response = editor_client.post(url, follow=True)
    assert _messages(response) == [f"Versión 1 de «{NAME}» eliminada."]
    assert [v.version for v in mlflow_client.search_model_versions(f"name='{NAME}'")] == ["2"]


def test_comparing_versions_flags_metric_changes_and_incompatible_inputs(viewer_client, registered):
    url = reverse("registry:compare", kwargs={"name": NAME})
    response = viewer_client.get(url, {"versions": ["2", "1"]})
    assert response.status_code == 200
    comparison = response.context["comparison"]
    assert [version.version for version in comparison.versions] == [1, 2]
    signature = {name: [cell.change for cell in cells] for name, cells in comparison.signature}
    assert signature == {
        "sepal_length": ["", ""],
        "sepal_width": ["", "retyped"],
        "petal_length": ["", "removed"],
        "petal_width": ["", ""],
        "color": ["", "added"],
    }
    assert comparison.compatible == [None, False]
    metrics = {name: [cell.delta for cell in cells] for name, cells in comparison.metrics}
    assert metrics["f1_macro"] == [None, pytest.approx(0.1)]
    params = {name: [(c.value, c.changed) for c in cells] for name, cells in comparison.params}
    assert params == {"n_estimators": [("10", False), ("20", True)]}


def test_the_comparison_opened_without_a_choice_compares_the_two_newest_versions(
    viewer_client, registered
):
    response = viewer_client.get(reverse("registry:compare", kwargs={"name": NAME}))
    assert response.status_code == 200
    assert [version.version for version in response.context["comparison"].versions] == [1, 2]
    assert response.context["form"]["versions"].value() == ["1", "2"]
    assert response.content.decode().count(" checked") == 2


def test_training_metrics_are_compared_and_charted_beside_the_test_ones(
    viewer_client, finished_experiment, editor
):
    """Runs log train_<metric> beside each metric: the comparison and the chart take them."""
    for f1, train_f1 in ((0.8, 0.95), (0.9, 0.92)):
        experiment = finished_experiment(
            name="Iris base", metrics={"f1_macro": f1, "train_f1_macro": train_f1}
        )
        services.model_version_register(experiment=experiment, user=editor)
    compare = viewer_client.get(
        reverse("registry:compare", kwargs={"name": NAME}), {"versions": ["1", "2"]}
    )
    assert compare.status_code == 200
    metrics = {
        name: [cell.value for cell in cells]
        for name, cells in compare.context["comparison"].metrics
    }
    assert metrics["f1_macro"] == [0.8, 0.9]
    assert metrics["train_f1_macro"] == [0.95, 0.92]
    detail = viewer_client.get(
        reverse("registry:model_detail", kwargs={"name": NAME}), {"metric": "train_f1_macro"}
    )
    assert detail.context["chart"]["metric"] == "train_f1_macro"
    assert '<svg class="metric-chart"' in detail.content.decode()


def test_the_comparison_keeps_cauces_timings_and_synced_tags_apart(
    viewer_client, registered, mlflow_client
):
    _model, first, second = registered
    for experiment in (first, second):
        mlflow_client.log_metric(experiment.mlflow_run_id, "cauce.time.fit_s", 1.5)
        mlflow_client.set_tag(experiment.mlflow_run_id, "tag_0", "iris")
        mlflow_client.set_tag(experiment.mlflow_run_id, "all_tags", "iris")
        mlflow_client.set_tag(experiment.mlflow_run_id, "tag_count", "1")
        mlflow_client.set_tag(experiment.mlflow_run_id, "equipo", "ml")
    url = reverse("registry:compare", kwargs={"name": NAME})
    response = viewer_client.get(url, {"versions": ["1", "2"]})
    comparison = response.context["comparison"]
    assert [name for name, _cells in comparison.metrics] == ["f1_macro", "accuracy"]
    assert [name for name, _cells in comparison.timings] == ["cauce.time.fit_s"]
    assert "equipo" in [name for name, _cells in comparison.tags]
    assert {"tag_0", "all_tags", "tag_count"} <= {name for name, _ in comparison.cauce_tags}
    assert not {"tag_0", "all_tags", "tag_count"} & {name for name, _ in comparison.tags}
    body = response.content.decode()
    assert body.count('<details class="bookkeeping">') == 2


def test_the_comparison_picker_is_a_form_of_checkboxes(viewer_client, registered):
    url = reverse("registry:compare", kwargs={"name": NAME})
    body = viewer_client.get(url, {"versions": ["1", "2"]}).content.decode()
    picker = body[body.index('class="card compare-picker"') :]
    picker = picker[: picker.index("</form>")]
    assert picker.count('type="checkbox" name="versions"') == 2
    assert picker.count("checked") == 2


def test_the_experiment_page_lists_versions_of_its_run_also_made_in_mlflow(
    viewer_client, finished_experiment, mlflow_client
):
    experiment = finished_experiment()
    mlflow_client.create_registered_model("outside")
    mlflow_client.create_model_version(
        "outside",
        f"models:/{experiment.mlflow_model_id}",
        run_id=experiment.mlflow_run_id,
        model_id=experiment.mlflow_model_id,
    )
    url = reverse("registry:experiment_registry", kwargs={"pk": experiment.pk})
    response = viewer_client.get(url)
    assert [(v.info.name, v.info.version, v.model) for v in response.context["versions"]] == [
        ("outside", 1, None)
    ]
    assert "registrado fuera de Cauce" in response.content.decode()


def test_the_detail_page_has_the_register_button_with_the_default_name(
    editor_client, finished_experiment
):
    experiment = finished_experiment()
    response = editor_client.get(
        reverse("experiments:ml_experiment_detail", kwargs={"pk": experiment.pk})
    )
    body = response.content.decode()
    assert "Registrar Modelo en MLflow" in body
    assert 'value="Iris_lab-Iris_base"' in body


def test_registry_pages_render_with_the_notice_when_mlflow_is_down(
    viewer_client, registered, settings, mlflow_down
):
    for url in (
        reverse("registry:model_list"),
        reverse("registry:model_detail", kwargs={"name": NAME}),
        reverse("registry:version_detail", kwargs={"name": NAME, "version": 1}),
        reverse("registry:compare", kwargs={"name": NAME}),
    ):
        response = viewer_client.get(url)
        assert response.status_code == 200, url
        assert "MLflow no disponible" in response.content.decode(), url


PAGES = [
    ("get", "registry:model_detail", {}),
    ("get", "registry:version_detail", {"version": 1}),
    ("get", "registry:compare", {}),
    ("post", "registry:model_edit", {}),
    ("post", "registry:alias_set", {}),
    ("post", "registry:alias_delete", {"alias": "champion"}),
    ("post", "registry:version_edit", {"version": 1}),
    ("get", "registry:version_delete", {"version": 1}),
    ("post", "registry:version_delete", {"version": 1}),
]


@pytest.mark.parametrize(("method", "route", "kwargs"), PAGES)
def test_an_outsider_gets_404_on_every_model_page(
    outsider_client, registered, method, route, kwargs
):
    url = reverse(route, kwargs={"name": NAME, **kwargs})
    assert getattr(outsider_client, method)(url).status_code == 404


@pytest.mark.parametrize(("method", "route", "kwargs"), [p for p in PAGES if p[0] == "post"]
                         + [("get", "registry:version_delete", {"version": 1})])  # fmt: skip
def test_a_viewer_gets_403_on_every_change(viewer_client, registered, method, route, kwargs):
    url = reverse(route, kwargs={"name": NAME, **kwargs})
    assert getattr(viewer_client, method)(url).status_code == 403


def test_the_model_list_hides_other_projects_models(outsider_client, registered):
    response = outsider_client.get(reverse("registry:model_list"))
    assert response.context["rows"] == []
    assert NAME not in response.content.decode()


def test_the_project_page_section_lists_the_projects_models(viewer_client, registered, project):
    url = reverse("registry:project_models", kwargs={"project_pk": project.pk})
    response = viewer_client.get(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert [row.model.name for row in response.context["rows"]] == [NAME]
    assert "<html" not in response.content.decode()  # the partial, for htmx


def test_an_outsider_gets_404_on_the_project_and_experiment_sections(
    outsider_client, registered, project
):
    _model, first, _second = registered
    for url in (
        reverse("registry:project_models", kwargs={"project_pk": project.pk}),
        reverse("registry:experiment_registry", kwargs={"pk": first.pk}),
    ):
        assert outsider_client.get(url).status_code == 404, url


def test_registering_through_htmx_swaps_the_section_in_place(editor_client, finished_experiment):
    experiment = finished_experiment()
    url = reverse("experiments:register_model", kwargs={"pk": experiment.pk})
    response = editor_client.post(url, {"name": "iris-htmx"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = html.unescape(response.content.decode())
    assert body.lstrip().startswith('<section class="card" id="model-registry">')
    assert "Modelo registrado exitosamente como 'iris-htmx' versión 1" in body
    assert "iris-htmx v1" in body


class _CountingSession:
    """Counts the HTTP requests of the MLflow adapter's session (the real calls still go out)."""

    def __init__(self, session):
        self.session, self.calls = session, 0

    def __getattr__(self, name):
        attribute = getattr(self.session, name)
        if name not in ("get", "post", "request"):
            return attribute

        def counted(*args, **kwargs):
            self.calls += 1
            return attribute(*args, **kwargs)

        return counted


def test_the_model_page_makes_the_same_mlflow_calls_for_more_versions(
    viewer_client, registered, finished_experiment, editor, monkeypatch
):
    counter = _CountingSession(adapter._session())
    monkeypatch.setattr(adapter._local, "session", counter, raising=False)
    url = reverse("registry:model_detail", kwargs={"name": NAME})
    viewer_client.get(url)
    with_two = counter.calls
    for _ in range(3):
        services.model_version_register(experiment=finished_experiment(), user=editor)
    counter.calls = 0
    response = viewer_client.get(url)
    assert len(response.context["rows"]) == 5
    assert counter.calls == with_two == 2
