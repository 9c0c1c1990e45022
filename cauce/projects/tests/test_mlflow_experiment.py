"""Each project's MLflow experiment: named after the project, tagged with its id, renamed
with it. Against the session's real MLflow server (or a dead port for an outage).

MLflow's server outlives each test, so every project here has an id of its own.
"""

import random

import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from cauce.integrations.mlflow import MlflowUnavailable
from cauce.integrations.mlflow import client as mlflow_client_module
from cauce.projects import services
from cauce.projects.models import Membership, Project, Role
from cauce.projects.tasks import project_mlflow_rename_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(mlflow) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow)


@pytest.fixture
def lone_project(owner) -> Project:
    pk = random.randint(10**6, 10**9)
    project = Project.objects.create(pk=pk, name="Pingüinos Tour", created_by=owner)
    Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    return project


@pytest.fixture
def eager_rename(monkeypatch) -> None:
    """The rename message runs here, in this process, when the edit commits."""
    monkeypatch.setattr(
        project_mlflow_rename_task,
        "apply_async",
        lambda args, **options: project_mlflow_rename_task.apply(args=args),
    )


def _experiments_of(client: MlflowClient, project: Project) -> list:
    return client.search_experiments(
        view_type=ViewType.ALL, filter_string=f"tags.`cauce.project_id` = '{project.pk}'"
    )


def test_the_experiment_is_named_after_the_project_and_tagged_with_its_id(client, lone_project):
    experiment_id = services.project_mlflow_experiment_ensure(project=lone_project)
    experiment = client.get_experiment(experiment_id)
    assert experiment.name == f"Pingüinos Tour · cauce {lone_project.pk}"
    assert experiment.tags["cauce.project_id"] == str(lone_project.pk)
    # MLflow's UI shows it as model training, not as a GenAI experiment.
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    lone_project.refresh_from_db()
    assert lone_project.mlflow_experiment_id == experiment_id
    # Found again, not made twice.
    assert services.project_mlflow_experiment_ensure(project=lone_project) == experiment_id
    assert [e.experiment_id for e in _experiments_of(client, lone_project)] == [experiment_id]


def test_renaming_the_project_renames_its_experiment(
    client, lone_project, owner, eager_rename, django_capture_on_commit_callbacks
):
    experiment_id = services.project_mlflow_experiment_ensure(project=lone_project)
    with django_capture_on_commit_callbacks(execute=True) as sent:
        services.project_update(project=lone_project, actor=owner, name="Pingüinos Antárticos")
    assert len(sent) == 1
    assert client.get_experiment(experiment_id).name == (
        f"Pingüinos Antárticos · cauce {lone_project.pk}"
    )
    # A description alone, or the same name, renames nothing.
    with django_capture_on_commit_callbacks() as sent:
        services.project_update(
            project=lone_project, actor=owner, name="Pingüinos Antárticos", description="Otra"
        )
    assert sent == []


def test_a_rename_while_mlflow_is_down_saves_the_project_and_reaches_mlflow_later(
    client, lone_project, owner, settings, mlflow, eager_rename, django_capture_on_commit_callbacks
):
    experiment_id = services.project_mlflow_experiment_ensure(project=lone_project)
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"  # nothing listens there
    settings.TAG_SYNC_RETRIES = 2
    mlflow_client_module.reset_availability()
    with django_capture_on_commit_callbacks(execute=True) as sent:
        services.project_update(project=lone_project, actor=owner, name="Orcas")
    assert len(sent) == 1  # the task ran, retried (at once here) and gave up quietly
    lone_project.refresh_from_db()
    assert lone_project.name == "Orcas"
    with pytest.raises(MlflowUnavailable):
        services.project_mlflow_rename(project_id=lone_project.pk)

    settings.MLFLOW_TRACKING_URI = mlflow
    mlflow_client_module.reset_availability()
    assert client.get_experiment(experiment_id).name.startswith("Pingüinos Tour · ")
    # MLflow back: the next message (or the project's next run) renames it.
    assert project_mlflow_rename_task.apply(args=[lone_project.pk]).successful()
    assert client.get_experiment(experiment_id).name == f"Orcas · cauce {lone_project.pk}"


def test_an_experiment_of_the_old_name_is_found_renamed_and_tagged(client, lone_project):
    old_id = client.create_experiment(f"cauce-project-{lone_project.pk}")
    assert services.project_mlflow_experiment_ensure(project=lone_project) == old_id
    experiment = client.get_experiment(old_id)
    assert experiment.name == f"Pingüinos Tour · cauce {lone_project.pk}"
    assert experiment.tags["cauce.project_id"] == str(lone_project.pk)


def test_the_tag_finds_the_experiment_whatever_its_name(client, lone_project):
    tagged_id = client.create_experiment(
        f"renombrado-a-mano-{lone_project.pk}", tags={"cauce.project_id": str(lone_project.pk)}
    )
    assert services.project_mlflow_experiment_ensure(project=lone_project) == tagged_id
    found = client.get_experiment(tagged_id)
    assert found.name == f"Pingüinos Tour · cauce {lone_project.pk}"
    assert found.tags["mlflow.experimentKind"] == "custom_model_development"  # one from before


def test_a_kind_chosen_in_mlflows_ui_is_kept(client, lone_project):
    tagged_id = client.create_experiment(
        f"genai-{lone_project.pk}",
        tags={
            "cauce.project_id": str(lone_project.pk),
            "mlflow.experimentKind": "genai_development",
        },
    )
    assert services.project_mlflow_experiment_ensure(project=lone_project) == tagged_id
    assert client.get_experiment(tagged_id).tags["mlflow.experimentKind"] == "genai_development"


def test_a_name_held_by_another_experiment_gets_a_variant(client, lone_project):
    name = f"Pingüinos Tour · cauce {lone_project.pk}"
    # Someone else's, deleted: MLflow keeps a deleted experiment's name taken.
    stranger = client.create_experiment(name, tags={"cauce.project_id": "no-es-este"})
    client.delete_experiment(stranger)
    experiment_id = services.project_mlflow_experiment_ensure(project=lone_project)
    assert experiment_id != stranger
    assert client.get_experiment(experiment_id).name == f"{name} (2)"
    # Renamed to a name someone else holds: the variant again.
    client.create_experiment(f"Focas · cauce {lone_project.pk}", tags={"cauce.project_id": "x"})
    Project.objects.filter(pk=lone_project.pk).update(name="Focas")
    services.project_mlflow_rename(project_id=lone_project.pk)
    assert client.get_experiment(experiment_id).name == f"Focas · cauce {lone_project.pk} (2)"


def test_an_untagged_experiment_of_the_wanted_name_is_adopted_and_tagged(client, lone_project):
    untagged = client.create_experiment(f"Pingüinos Tour · cauce {lone_project.pk}")
    assert services.project_mlflow_experiment_ensure(project=lone_project) == untagged
    assert client.get_experiment(untagged).tags["cauce.project_id"] == str(lone_project.pk)
