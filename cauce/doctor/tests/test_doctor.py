"""``manage.py cauce_doctor`` against a real MLflow server, with drift made by deleting things.

Each test works in an MLflow experiment of its own (the session's server is shared), and
restricts the orphan-run search to it with ``--mlflow-experiment``.
"""

import io
import uuid
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from cauce.experiments.models import MLExperiment, TagSyncState
from cauce.registry.services import alias_set, model_version_register
from cauce.registry.tests.conftest import IRIS_COLUMNS, mlmodel_bytes
from tests.fixtures.artifacts import experiment_for_run, log_model_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(mlflow) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow)


@pytest.fixture
def mlflow_experiment(client) -> str:
    return client.create_experiment(f"doctor-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def make(client, mlflow_experiment, project):
    """make(name, tagged=True, model=False) -> a FINISHED experiment with its own real run,
    tagged cauce.experiment_id as the runner tags it."""

    def make_one(name: str, *, tagged: bool = True, model: bool = False) -> MLExperiment:
        run_id = client.create_run(mlflow_experiment, run_name=name).info.run_id
        model_id = ""
        if model:
            model_id = log_model_files(
                client, mlflow_experiment, run_id, {"MLmodel": mlmodel_bytes(IRIS_COLUMNS)}
            )
        client.set_terminated(run_id, "FINISHED")
        experiment = experiment_for_run(
            project=project,
            mlflow_experiment_id=mlflow_experiment,
            run_id=run_id,
            name=name,
            status=MLExperiment.Status.FINISHED,
            model_id=model_id,
        )
        if tagged:
            client.set_tag(run_id, "cauce.experiment_id", str(experiment.pk))
        return experiment

    return make_one


def doctor(mlflow_experiment, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(
            "cauce_doctor", "--mlflow-experiment", mlflow_experiment, *args, stdout=out, stderr=err
        )
        code = 0
    except SystemExit as exit:
        code = exit.code
    return code, out.getvalue(), err.getvalue()


def test_no_drift_reports_nothing_and_exits_zero(make, mlflow_experiment):
    make("Sano")
    code, out, err = doctor(mlflow_experiment)
    assert code == 0
    assert "Experimentos cuyo run ya no existe en MLflow: 0" in out
    assert "Runs con cauce.experiment_id cuyo experimento ya no existe: 0" in out
    assert "Versiones del registro cuyo experimento ya no existe: 0" in out
    assert "Sin diferencias entre Cauce y MLflow." in out
    # The progress bar, redrawn in place on stderr.
    assert "\r[" + "#" * 30 + "] 1/1 experimentos" in err


def test_an_experiment_whose_run_was_deleted_in_mlflow_is_detached_and_marked_error(
    make, client, mlflow_experiment
):
    kept = make("Sigue")
    lost = make("Perdido")
    client.delete_run(lost.mlflow_run_id)

    code, out, _err = doctor(mlflow_experiment)
    assert code == 1
    assert "Experimentos cuyo run ya no existe en MLflow: 1" in out
    assert (
        f"  - Experimento «Perdido» ({lost.pk}), proyecto «Iris lab»: "
        f"su run {lost.mlflow_run_id} ya no existe en MLflow"
    ) in out
    assert "1 diferencias. Ejecute con --fix para repararlas." in out
    lost.refresh_from_db()
    assert lost.status == MLExperiment.Status.FINISHED  # a report changes nothing

    code, out, _err = doctor(mlflow_experiment, "--fix", "--dry-run")
    assert code == 1
    assert "se repararía" in out
    assert "Simulación (--dry-run): no se ha cambiado nada." in out
    lost.refresh_from_db()
    assert lost.mlflow_run_id and lost.status == MLExperiment.Status.FINISHED

    run_id = lost.mlflow_run_id
    code, out, _err = doctor(mlflow_experiment, "--fix")
    assert code == 0
    assert "desvinculado del run; marcado como error" in out
    assert "1 de 1 diferencias reparadas." in out
    lost.refresh_from_db()
    assert (lost.status, lost.mlflow_run_id, lost.mlflow_model_id) == ("ERROR", "", "")
    assert lost.error.startswith(f"El run de MLflow {run_id} ya no existe")
    kept.refresh_from_db()
    assert (kept.status, kept.mlflow_run_id) == ("FINISHED", kept.mlflow_run_id)

    assert doctor(mlflow_experiment)[0] == 0


def test_experiments_of_a_deleted_mlflow_experiment_have_lost_their_runs(
    make, client, mlflow_experiment
):
    first, second = make("Uno"), make("Dos")
    client.delete_experiment(mlflow_experiment)
    code, out, _err = doctor(mlflow_experiment)
    assert code == 1
    assert "Experimentos cuyo run ya no existe en MLflow: 2" in out
    assert f"({first.pk})" in out and f"({second.pk})" in out


def test_a_run_whose_experiment_was_deleted_in_cauce_is_deleted_in_mlflow(
    make, client, mlflow_experiment
):
    kept = make("Sigue")
    gone = make("Borrado")
    run_id, gone_id = gone.mlflow_run_id, gone.pk
    gone.delete()
    untagged_run = client.create_run(mlflow_experiment, run_name="ajeno").info.run_id

    code, out, _err = doctor(mlflow_experiment)
    assert code == 1
    assert "Runs con cauce.experiment_id cuyo experimento ya no existe: 1" in out
    assert (
        f"  - Run {run_id} «Borrado» (experimento de MLflow {mlflow_experiment}): "
        f"su etiqueta cauce.experiment_id={gone_id} no corresponde a ningún experimento"
    ) in out

    # Without --mlflow-experiment every active MLflow experiment is searched (the session's
    # server holds other tests' runs too: only this one's finding is asserted).
    everywhere = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("cauce_doctor", stdout=everywhere, stderr=io.StringIO())
    assert f"  - Run {run_id} «Borrado» (experimento de MLflow {mlflow_experiment})" in (
        everywhere.getvalue()
    )

    code, out, _err = doctor(mlflow_experiment, "--fix")
    assert code == 0
    assert "run eliminado en MLflow" in out
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    assert client.get_run(kept.mlflow_run_id).info.lifecycle_stage == "active"
    assert client.get_run(untagged_run).info.lifecycle_stage == "active"
    assert doctor(mlflow_experiment)[0] == 0


@pytest.fixture
def registry_name():
    return f"doctor-{uuid.uuid4().hex[:8]}"


def test_a_registry_version_whose_experiment_is_gone_is_deleted_unless_an_alias_uses_it(
    make, client, mlflow_experiment, owner, registry_name
):
    from cauce.registry.models import RegisteredModel

    first = make("Primero", model=True)
    second = make("Segundo", model=True)
    third = make("Tercero", model=True)
    for experiment in (first, second, third):
        model_version_register(experiment=experiment, user=owner, name=registry_name)
    model = RegisteredModel.objects.get(name=registry_name)
    alias_set(model=model, alias="produccion", version=2)
    # The experiments are deleted in Cauce; their runs are deleted in MLflow as well.
    first_id, first_run = first.pk, first.mlflow_run_id
    for experiment in (first, second):
        client.delete_run(experiment.mlflow_run_id)
        experiment.delete()

    code, out, _err = doctor(mlflow_experiment)
    assert code == 1
    assert "Versiones del registro cuyo experimento ya no existe: 2" in out
    assert (
        f"  - Modelo «{registry_name}» versión 1: su experimento {first_id} ya no existe en "
        f"Cauce (run {first_run})"
    ) in out

    code, out, _err = doctor(mlflow_experiment, "--fix")
    assert code == 1  # version 2 stays: an alias points at it
    assert f"Modelo «{registry_name}» versión 1: versión eliminada del registro de MLflow" in out
    assert (
        f"Modelo «{registry_name}» versión 2: no se repara: la usan los alias produccion: "
        "no se elimina"
    ) in out
    assert "1 de 2 diferencias reparadas." in out
    remaining = {int(v.version) for v in client.search_model_versions(f"name='{registry_name}'")}
    assert remaining == {2, 3}
    with pytest.raises(MlflowException):
        client.get_model_version(registry_name, "1")


def test_a_tag_sync_pending_for_too_long_is_pushed(make, client, mlflow_experiment):
    experiment = make("Etiquetas")
    experiment.tags.add("nueva")
    TagSyncState.objects.update_or_create(
        experiment=experiment,
        defaults={
            "version": 3,
            "synced_version": 1,
            "changed_at": timezone.now() - timedelta(hours=2),
            "attempts": 4,
            "last_error": "MLflow no disponible",
        },
    )
    recent = make("Reciente")
    TagSyncState.objects.update_or_create(
        experiment=recent,
        defaults={"version": 2, "synced_version": 1, "changed_at": timezone.now()},
    )

    code, out, _err = doctor(mlflow_experiment, "--stale-minutes", "60")
    assert code == 1
    assert "Sincronizaciones de etiquetas pendientes desde hace más de 60 min: 1" in out
    assert f"Experimento «Etiquetas» ({experiment.pk}): cambio de etiquetas pendiente" in out
    assert "(4 intentos): MLflow no disponible" in out

    code, out, _err = doctor(mlflow_experiment, "--fix", "--stale-minutes", "60")
    assert code == 0
    assert "etiquetas enviadas a MLflow" in out
    state = TagSyncState.objects.get(experiment=experiment)
    assert state.synced_version == state.version
    tags = client.get_run(experiment.mlflow_run_id).data.tags
    assert (tags["all_tags"], tags["tag_count"], tags["tag_0"]) == ("nueva", "1", "nueva")


def test_mlflow_down_is_a_clear_error_and_changes_nothing(make, mlflow_experiment, settings):
    from cauce.integrations.mlflow import client as mlflow_client
    from tests.fixtures.mlflow_server import free_port

    lost = make("Perdido")
    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{free_port()}"
    mlflow_client.reset_availability()
    try:
        with pytest.raises(CommandError) as raised:
            call_command("cauce_doctor", "--fix", stdout=io.StringIO(), stderr=io.StringIO())
    finally:
        mlflow_client.reset_availability()
    assert str(raised.value) == (
        f"MLflow no está disponible ({settings.MLFLOW_TRACKING_URI}): "
        "no se ha comprobado ni cambiado nada más."
    )
    lost.refresh_from_db()
    assert lost.status == MLExperiment.Status.FINISHED and lost.mlflow_run_id


def test_stale_minutes_must_be_positive():
    with pytest.raises(CommandError, match=r"--stale-minutes debe ser al menos 1\."):
        call_command("cauce_doctor", "--stale-minutes", "0", stdout=io.StringIO())
