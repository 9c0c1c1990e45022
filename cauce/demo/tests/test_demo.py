"""``manage.py cauce_demo``: the demo user, project, Iris dataset and experiment, once."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from cauce.datasets.models import Dataset
from cauce.experiments.models import MLExperiment
from cauce.projects.models import Membership, Project, Role

pytestmark = pytest.mark.django_db


def _demo(**options) -> str:
    out = io.StringIO()
    call_command("cauce_demo", stdout=out, **options)
    return out.getvalue()


@pytest.fixture(autouse=True)
def _no_demo_password(monkeypatch):
    monkeypatch.delenv("CAUCE_DEMO_PASSWORD", raising=False)


def test_it_creates_the_demo_user_as_an_admin_with_password_demo():
    _demo()
    user = get_user_model().objects.get(username="demo")
    assert user.check_password("demo")
    assert (user.is_active, user.is_staff, user.is_superuser) == (True, True, True)


def test_it_takes_the_password_from_cauce_demo_password(monkeypatch):
    monkeypatch.setenv("CAUCE_DEMO_PASSWORD", "otra-clave-demo")
    _demo()
    user = get_user_model().objects.get(username="demo")
    assert user.check_password("otra-clave-demo")
    assert not user.check_password("demo")


def test_it_creates_the_project_owned_by_demo_with_the_iris_dataset():
    _demo()
    project = Project.objects.get(name="Demo")
    membership = Membership.objects.get(project=project)
    assert (membership.user.username, membership.role) == ("demo", Role.OWNER)

    dataset = Dataset.objects.get(project=project, name="Iris")
    assert (dataset.row_count, dataset.column_count) == (150, 5)
    assert dataset.column_names == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
        "species",
    ]
    with dataset.file.open("rb") as stored:
        lines = stored.read().decode().splitlines()
    assert len(lines) == 151
    assert {line.rsplit(",", 1)[1] for line in lines[1:]} == {"setosa", "versicolor", "virginica"}


def test_it_creates_the_random_forest_experiment_and_queues_it():
    _demo()
    experiment = MLExperiment.objects.get(name="Iris RandomForest")
    assert experiment.project.name == "Demo"
    assert experiment.dataset.name == "Iris"
    assert experiment.created_by.username == "demo"
    assert (experiment.target_column, experiment.algorithm) == (
        "species",
        "RandomForestClassifier",
    )
    assert experiment.task_type == MLExperiment.TaskType.CLASSIFICATION
    assert sorted(experiment.tags.names()) == ["demo", "iris"]
    # No worker here: the experiment waits in the queue.
    assert experiment.status == MLExperiment.Status.QUEUED


def test_running_it_twice_creates_nothing_twice():
    _demo()
    second = _demo()
    assert get_user_model().objects.filter(username="demo").count() == 1
    assert Project.objects.filter(name="Demo").count() == 1
    assert Membership.objects.count() == 1
    assert Dataset.objects.count() == 1
    assert MLExperiment.objects.count() == 1
    assert MLExperiment.objects.get().status == MLExperiment.Status.QUEUED
    assert "created" not in second


def test_wait_gives_up_with_a_clear_error_when_no_worker_runs_the_experiment():
    with pytest.raises(CommandError, match="still QUEUED after 1 s: is a Celery worker running"):
        _demo(wait=True, timeout=1)


def test_it_starts_the_demo_sweep_once(django_capture_on_commit_callbacks):
    from cauce.sweeps.models import Sweep

    with django_capture_on_commit_callbacks(execute=False):
        _demo()
        _demo()
    sweep = Sweep.objects.get()
    assert (sweep.name, sweep.n_trials, sweep.status) == (
        "Iris: búsqueda de árbol de decisión",
        12,
        Sweep.Status.QUEUED,
    )
    assert set(sweep.search_space) == {"max_depth", "min_samples_leaf", "criterion"}
