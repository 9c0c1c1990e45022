"""Registration against a real MLflow server: the default name, the version of the run's
logged model, idempotence, ownership."""

import html
import io
import threading

import pytest
from django.core.management import call_command
from django.db import connections
from django.urls import reverse

from cauce.experiments.models import MLExperiment
from cauce.registry import services
from cauce.registry.models import RegisteredModel

pytestmark = pytest.mark.django_db


def _register_url(experiment) -> str:
    return reverse("experiments:register_model", kwargs={"pk": experiment.pk})


def _messages(response) -> list[str]:
    """The messages as a user reads them (links' markup unescaped)."""
    return [html.unescape(str(message)) for message in response.context["messages"]]


def test_the_default_name_is_project_dash_experiment_with_underscores(finished_experiment):
    experiment = finished_experiment(name="Iris base")
    assert services.registered_model_default_name(experiment=experiment) == "Iris_lab-Iris_base"


def test_the_default_name_is_made_valid_for_mlflow(finished_experiment):
    experiment = finished_experiment(name="a/b: c?")
    assert services.registered_model_default_name(experiment=experiment) == "Iris_lab-a_b__c_"


def test_it_registers_the_logged_model_with_the_run_of_the_experiment(
    editor_client, finished_experiment, mlflow_client
):
    experiment = finished_experiment()
    response = editor_client.post(_register_url(experiment), follow=True)
    assert response.redirect_chain[-1][0] == reverse(
        "experiments:ml_experiment_detail", kwargs={"pk": experiment.pk}
    )
    assert (
        "Modelo registrado exitosamente como 'Iris_lab-Iris_base' versión 1"
        in _messages(response)[0]
    )
    version = mlflow_client.get_model_version("Iris_lab-Iris_base", "1")
    assert version.run_id == experiment.mlflow_run_id
    assert version.source == f"models:/{experiment.mlflow_model_id}"
    assert version.status == "READY"
    model = mlflow_client.get_registered_model("Iris_lab-Iris_base")
    assert model.tags["cauce.project_id"] == str(experiment.project_id)
    row = RegisteredModel.objects.get(name="Iris_lab-Iris_base")
    assert (row.project, row.main_metric) == (experiment.project, "f1_macro")


def test_a_second_experiment_with_the_same_name_becomes_version_2(
    editor_client, finished_experiment, mlflow_client
):
    first = finished_experiment(name="Iris base")
    second = finished_experiment(name="Iris base")
    editor_client.post(_register_url(first), follow=True)
    response = editor_client.post(_register_url(second), follow=True)
    assert (
        "Modelo registrado exitosamente como 'Iris_lab-Iris_base' versión 2"
        in _messages(response)[0]
    )
    assert mlflow_client.get_model_version("Iris_lab-Iris_base", "2").run_id == (
        second.mlflow_run_id
    )


def test_the_name_can_be_edited_before_registering(editor_client, finished_experiment):
    experiment = finished_experiment()
    response = editor_client.post(_register_url(experiment), {"name": "iris-prod"}, follow=True)
    assert "Modelo registrado exitosamente como 'iris-prod' versión 1" in _messages(response)[0]


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("RUNNING", "Solo se pueden registrar modelos de experimentos finalizados."),
        ("ERROR", "Solo se pueden registrar modelos de experimentos finalizados."),
        ("DRAFT", "Solo se pueden registrar modelos de experimentos finalizados."),
    ],
)
def test_only_finished_experiments_are_registered(
    editor_client, finished_experiment, mlflow_client, status, message
):
    experiment = finished_experiment()
    MLExperiment.objects.filter(pk=experiment.pk).update(status=status)
    response = editor_client.post(_register_url(experiment), follow=True)
    assert _messages(response) == [message]
    assert mlflow_client.search_registered_models(filter_string="name='Iris_lab-Iris_base'") == []
    assert not RegisteredModel.objects.exists()


def test_an_experiment_without_run_id_is_refused(editor_client, finished_experiment):
    experiment = finished_experiment()
    MLExperiment.objects.filter(pk=experiment.pk).update(mlflow_run_id="")
    response = editor_client.post(_register_url(experiment), follow=True)
    assert _messages(response) == ["Este experimento no tiene un Run ID de MLflow."]
    assert not RegisteredModel.objects.exists()


def test_registering_the_same_run_twice_gives_the_existing_version(
    editor_client, finished_experiment, mlflow_client
):
    experiment = finished_experiment()
    editor_client.post(_register_url(experiment), follow=True)
    response = editor_client.post(_register_url(experiment), follow=True)
    text = _messages(response)[0]
    assert "ya está registrado como «Iris_lab-Iris_base» versión 1" in text
    assert (
        reverse("registry:version_detail", kwargs={"name": "Iris_lab-Iris_base", "version": 1})
        in text
    )
    versions = mlflow_client.search_model_versions("name='Iris_lab-Iris_base'")
    assert [version.version for version in versions] == ["1"]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_registrations_make_one_version(finished_experiment, editor, mlflow_client):
    experiment = finished_experiment()
    results, errors = [], []
    barrier = threading.Barrier(2)

    def register():
        try:
            barrier.wait()
            results.append(services.model_version_register(experiment=experiment, user=editor))
        except Exception as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=register) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(result.created for result in results) == [False, True]
    assert {result.version.version for result in results} == {1}
    versions = mlflow_client.search_model_versions("name='Iris_lab-Iris_base'")
    assert [version.version for version in versions] == ["1"]


def test_a_name_of_another_project_is_refused(
    editor_client, finished_experiment, other_project, outsider, mlflow_client
):
    theirs = finished_experiment(name="Iris base", for_project=other_project)
    services.model_version_register(experiment=theirs, user=outsider, name="shared-name")
    ours = finished_experiment()
    response = editor_client.post(_register_url(ours), {"name": "shared-name"}, follow=True)
    assert _messages(response) == [
        "El nombre «shared-name» ya lo usa un modelo de otro proyecto. Elija otro nombre."
    ]
    versions = mlflow_client.search_model_versions("name='shared-name'")
    assert [version.run_id for version in versions] == [theirs.mlflow_run_id]


def test_a_name_taken_outside_cauce_is_refused(editor_client, finished_experiment, mlflow_client):
    mlflow_client.create_registered_model("made-in-mlflow")
    experiment = finished_experiment()
    response = editor_client.post(
        _register_url(experiment), {"name": "made-in-mlflow"}, follow=True
    )
    assert _messages(response) == [
        "El nombre «made-in-mlflow» ya existe en MLflow fuera de este proyecto. Elija otro nombre."
    ]
    assert mlflow_client.search_model_versions("name='made-in-mlflow'") == []
    assert not RegisteredModel.objects.exists()


@pytest.mark.parametrize("name", ["a/b", "x:y", ".hidden", "con espacio", "n" * 257])
def test_an_invalid_name_is_refused(editor_client, finished_experiment, name):
    experiment = finished_experiment()
    response = editor_client.post(_register_url(experiment), {"name": name}, follow=True)
    assert "nombre del modelo" in _messages(response)[0]
    assert not RegisteredModel.objects.exists()


def test_mlflow_down_answers_at_once_and_changes_nothing(
    editor_client, finished_experiment, mlflow_down
):
    experiment = finished_experiment()
    response = editor_client.post(_register_url(experiment), follow=True)
    assert _messages(response) == ["MLflow no disponible"]
    assert not RegisteredModel.objects.exists()


def test_the_register_route_is_post_only(editor_client, finished_experiment):
    experiment = finished_experiment()
    assert editor_client.get(_register_url(experiment)).status_code == 405


def test_an_outsider_gets_404_and_a_viewer_403(client, outsider, viewer, finished_experiment):
    experiment = finished_experiment()
    client.force_login(outsider)
    assert client.post(_register_url(experiment)).status_code == 404
    client.force_login(viewer)
    assert client.post(_register_url(experiment)).status_code == 403
    assert not RegisteredModel.objects.exists()


def test_anonymous_users_are_sent_to_login(client, finished_experiment):
    experiment = finished_experiment()
    response = client.post(_register_url(experiment))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_demo_registers_its_finished_experiment_with_the_alias_champion(
    finished_experiment, mlflow_client, monkeypatch
):
    monkeypatch.delenv("CAUCE_DEMO_PASSWORD", raising=False)
    call_command("cauce_demo", stdout=io.StringIO())
    demo = MLExperiment.objects.get(name="Iris RandomForest")
    run = finished_experiment(name="demo run")
    MLExperiment.objects.filter(pk=demo.pk).update(
        status="FINISHED",
        mlflow_run_id=run.mlflow_run_id,
        mlflow_model_id=run.mlflow_model_id,
        mlflow_experiment_id=run.mlflow_experiment_id,
    )
    out = io.StringIO()
    call_command("cauce_demo", stdout=out)
    assert "Model 'Demo-Iris_RandomForest': version 1 registered, alias 'champion'" in (
        out.getvalue()
    )
    champion = mlflow_client.get_model_version_by_alias("Demo-Iris_RandomForest", "champion")
    assert (champion.version, champion.run_id) == ("1", run.mlflow_run_id)
    call_command("cauce_demo", stdout=io.StringIO())
    assert len(mlflow_client.search_model_versions("name='Demo-Iris_RandomForest'")) == 1


def test_a_logged_model_gone_from_mlflow_is_a_clear_error_and_leaves_nothing(
    editor_client, finished_experiment, mlflow_client
):
    experiment = finished_experiment()
    MLExperiment.objects.filter(pk=experiment.pk).update(mlflow_model_id="m-" + "0" * 32)
    response = editor_client.post(_register_url(experiment), follow=True)
    assert _messages(response) == ["El modelo guardado de este experimento ya no existe en MLflow."]
    assert mlflow_client.search_registered_models() == []
    assert not RegisteredModel.objects.exists()
    # MLflow refused (a 500 INTERNAL_ERROR), it was not down: the next registration goes on.
    other = finished_experiment(name="Otro")
    response = editor_client.post(_register_url(other), follow=True)
    assert "Modelo registrado exitosamente como 'Iris_lab-Otro' versión 1" in _messages(response)[0]
