import pytest
from django.utils import timezone

from cauce.core.exceptions import ApplicationError
from cauce.experiments import services
from cauce.experiments.models import MLExperiment
from cauce.experiments.tests.web_support import create_experiment, finish, set_state

pytestmark = pytest.mark.django_db

IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _create(project, dataset, user, **overrides):
    return create_experiment(project=project, dataset=dataset, user=user, **overrides)


# --- experiment_create: what it stores ------------------------------------------------------


def test_it_creates_a_draft_with_the_other_columns_as_features(
    media_root, project, iris_dataset, editor
):
    experiment = _create(project, iris_dataset, editor, tags=[" base ", "iris", "BASE", ""])
    experiment.refresh_from_db()
    assert experiment.status == MLExperiment.Status.DRAFT
    assert experiment.feature_columns == IRIS_FEATURES
    assert experiment.task_type == MLExperiment.TaskType.CLASSIFICATION
    assert experiment.algorithm == "LogisticRegression"
    assert (experiment.test_size, experiment.random_state) == (0.2, 42)
    assert experiment.created_by == editor
    assert sorted(tag.name for tag in experiment.tags.all()) == ["base", "iris"]


def test_it_keeps_the_chosen_features_hyperparameters_and_split(
    media_root, project, iris_dataset, editor
):
    experiment = _create(
        project,
        iris_dataset,
        editor,
        algorithm="RandomForestClassifier",
        feature_columns=["petal_length", "petal_width", "petal_length"],
        hyperparameters={"n_estimators": 50, "max_depth": 3},
        test_size=0.3,
        random_state=7,
        description="  Solo pétalos ",
    )
    experiment.refresh_from_db()
    assert experiment.feature_columns == ["petal_length", "petal_width"]
    assert experiment.hyperparameters == {"n_estimators": 50, "max_depth": 3}
    assert (experiment.test_size, experiment.random_state) == (0.3, 7)
    assert experiment.description == "Solo pétalos"


def test_a_numeric_target_with_many_values_is_regression(
    media_root, project, messy_dataset, editor
):
    experiment = _create(project, messy_dataset, editor, target_column="price", algorithm="Ridge")
    assert experiment.task_type == MLExperiment.TaskType.REGRESSION
    assert "price" not in experiment.feature_columns


def test_a_float_target_with_few_integer_values_is_classification(
    media_root, project, make_dataset, editor
):
    # 1.0/2.0/3.0 with a gap: stored as floats, yet classes.
    rows = "\n".join(f"{i},{'' if i == 5 else (i % 3) + 1}.0" for i in range(30))
    dataset = make_dataset(project, f"x,grade\n{rows}\n".encode())
    experiment = _create(project, dataset, editor, target_column="x", algorithm="LinearRegression")
    assert experiment.task_type == MLExperiment.TaskType.REGRESSION  # 30 distinct integers
    graded = _create(project, dataset, editor, target_column="grade", name="Notas")
    assert graded.task_type == MLExperiment.TaskType.CLASSIFICATION


def test_the_task_type_can_be_forced(media_root, project, make_dataset, editor):
    dataset = make_dataset(project, b"x,y\n1,1\n2,2\n3,3\n4,1\n5,2\n6,3\n")
    experiment = _create(
        project,
        dataset,
        editor,
        target_column="y",
        task_type="regression",
        algorithm="LinearRegression",
    )
    assert experiment.task_type == MLExperiment.TaskType.REGRESSION


# --- experiment_create: every bad input, with nothing stored --------------------------------


BAD_INPUTS = [
    ({"name": "   "}, "name", "nombre"),
    ({"name": "x" * 201}, "name", "200"),
    ({"target_column": "petal colour"}, "target_column", "«petal colour» no existe"),
    ({"target_column": ""}, "target_column", "columna objetivo"),
    ({"feature_columns": ["sepal_length", "nope"]}, "feature_columns", "«nope»"),
    ({"feature_columns": ["sepal_length", "species"]}, "feature_columns", "«species»"),
    ({"feature_columns": []}, "feature_columns", "al menos una columna"),
    ({"feature_columns": "sepal_length"}, "feature_columns", "lista"),
    ({"task_type": "clustering"}, "task_type", "«clustering»"),
    ({"task_type": "regression", "algorithm": "Ridge"}, "task_type", "numérica"),
    ({"algorithm": "Ridge"}, "algorithm", "Ridge"),
    ({"algorithm": "SVC"}, "algorithm", "«SVC»"),
    ({"algorithm": ""}, "algorithm", "algoritmo"),
    ({"hyperparameters": {"max_depht": 3}}, "hyperparameters", "«max_depht»"),
    ({"hyperparameters": {"C": -1}}, "hyperparameters", "«C»"),
    ({"hyperparameters": [1, 2]}, "hyperparameters", "objeto JSON"),
    ({"test_size": 0}, "test_size", "entre 0 y 1"),
    ({"test_size": 1}, "test_size", "entre 0 y 1"),
    ({"test_size": -0.2}, "test_size", "entre 0 y 1"),
    ({"test_size": "0.2"}, "test_size", "número"),
    ({"test_size": float("nan")}, "test_size", "entre 0 y 1"),
    ({"random_state": -1}, "random_state", "semilla"),
    ({"random_state": 1.5}, "random_state", "entero"),
    ({"tags": ["x" * 101]}, "tags", "100"),
    ({"tags": ["a,b"]}, "tags", "comas"),
    ({"tags": [f"t{i}" for i in range(101)]}, "tags", "100"),
    ({"tags": [3]}, "tags", "texto"),
]


@pytest.mark.parametrize(("overrides", "field", "says"), BAD_INPUTS)
def test_it_rejects_bad_input_naming_the_field_and_stores_nothing(
    media_root, project, iris_dataset, editor, overrides, field, says
):
    with pytest.raises(ApplicationError) as raised:
        _create(project, iris_dataset, editor, **overrides)
    assert says in str(raised.value.message)
    assert field in raised.value.extra
    assert not MLExperiment.objects.exists()
    assert not MLExperiment.tags.through.objects.exists()


def test_the_hyperparameter_error_names_the_parameter(media_root, project, iris_dataset, editor):
    with pytest.raises(ApplicationError) as raised:
        _create(
            project,
            iris_dataset,
            editor,
            algorithm="RandomForestClassifier",
            hyperparameters={"n_estimators": 0},
        )
    assert raised.value.extra["parameter"] == "n_estimators"
    assert "n_estimators" in raised.value.extra["hyperparameters"]


def test_it_rejects_a_dataset_of_another_project_without_naming_it(
    media_root, project, other_project, make_dataset, iris_csv_bytes, editor
):
    foreign = make_dataset(other_project, iris_csv_bytes, name="Secreto")
    with pytest.raises(ApplicationError) as raised:
        _create(project, foreign, editor)
    assert "Secreto" not in str(raised.value)
    assert "dataset" in raised.value.extra
    assert not MLExperiment.objects.exists()


def test_a_test_size_that_leaves_no_training_rows_is_rejected(
    media_root, project, make_dataset, editor
):
    dataset = make_dataset(project, b"x,y\n1,a\n2,b\n")
    with pytest.raises(ApplicationError) as raised:
        _create(project, dataset, editor, target_column="y", test_size=0.6)
    assert "test_size" in raised.value.extra


def test_a_target_with_a_single_value_is_rejected(media_root, project, make_dataset, editor):
    dataset = make_dataset(project, b"x,y\n1,a\n2,a\n3,a\n")
    with pytest.raises(ApplicationError) as raised:
        _create(project, dataset, editor, target_column="y")
    assert "un solo valor" in str(raised.value)


def test_an_inferred_task_type_that_does_not_fit_the_algorithm_says_how_to_force_it(
    media_root, project, iris_dataset, editor
):
    with pytest.raises(ApplicationError) as raised:
        _create(project, iris_dataset, editor, algorithm="KNeighborsRegressor")
    assert "fije el tipo de tarea" in str(raised.value)
    assert "algorithm" in raised.value.extra


# --- experiment_update and experiment_tags_set ----------------------------------------------


def test_update_changes_name_description_and_tags(experiment, editor):
    services.experiment_update(
        experiment=experiment,
        user=editor,
        name=" Iris v2 ",
        description="Segunda",
        tags="nuevo, base ,  nuevo",
    )
    experiment.refresh_from_db()
    assert (experiment.name, experiment.description) == ("Iris v2", "Segunda")
    assert sorted(tag.name for tag in experiment.tags.all()) == ["base", "nuevo"]


def test_update_leaves_what_it_is_not_given(experiment, editor):
    services.experiment_update(experiment=experiment, user=editor, description="Solo esto")
    experiment.refresh_from_db()
    assert experiment.name == "Iris base"
    assert [tag.name for tag in experiment.tags.all()] == ["base"]


def test_update_does_not_overwrite_what_the_worker_wrote(experiment, editor):
    stale = MLExperiment.objects.get(pk=experiment.pk)
    set_state(experiment, status=MLExperiment.Status.RUNNING, stage="training")
    services.experiment_update(experiment=stale, user=editor, name="Renombrado")
    experiment.refresh_from_db()
    assert (experiment.name, experiment.status, experiment.stage) == (
        "Renombrado",
        MLExperiment.Status.RUNNING,
        "training",
    )


def test_a_refused_update_changes_nothing(experiment, editor):
    with pytest.raises(ApplicationError):
        services.experiment_update(
            experiment=experiment, user=editor, name="Nuevo", tags=["x" * 101]
        )
    assert experiment.name == "Iris base"
    experiment.refresh_from_db()
    assert experiment.name == "Iris base"
    assert [tag.name for tag in experiment.tags.all()] == ["base"]


def test_tags_set_replaces_the_tags(experiment):
    assert services.experiment_tags_set(experiment=experiment, tags=["a", "b"]) == ["a", "b"]
    services.experiment_tags_set(experiment=experiment, tags=["b"])
    assert [tag.name for tag in experiment.tags.all()] == ["b"]
    services.experiment_tags_set(experiment=experiment, tags=[])
    assert not experiment.tags.exists()


# --- experiment_enqueue -----------------------------------------------------------------------


def test_enqueue_queues_and_schedules_the_task_on_commit(
    experiment, editor, published, django_capture_on_commit_callbacks, settings
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.experiment_enqueue(experiment=experiment, user=editor)
    # Nothing is sent before the transaction commits.
    assert published == []
    assert len(callbacks) == 1
    experiment.refresh_from_db()
    assert experiment.status == MLExperiment.Status.QUEUED
    assert experiment.stage == MLExperiment.Stage.WAITING
    assert experiment.queued_at is not None

    callbacks[0]()
    assert published == [
        {"args": [str(experiment.pk)], "queue": settings.CELERY_TASK_DEFAULT_QUEUE}
    ]
    experiment.refresh_from_db()
    assert experiment.status == MLExperiment.Status.QUEUED  # the broker took the message


def test_enqueue_refuses_a_second_enqueue(experiment, editor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        services.experiment_enqueue(experiment=experiment, user=editor)
        with pytest.raises(ApplicationError, match="ya está en cola o en ejecución"):
            services.experiment_enqueue(experiment=experiment, user=editor)
    assert len(callbacks) == 1


def test_enqueue_refuses_a_running_experiment(experiment, editor):
    set_state(experiment, status=MLExperiment.Status.RUNNING)
    with pytest.raises(ApplicationError, match="ya está en cola o en ejecución"):
        services.experiment_enqueue(experiment=experiment, user=editor)


def test_enqueue_refuses_a_finished_experiment_and_suggests_duplicating_it(experiment, editor):
    finish(experiment)
    with pytest.raises(ApplicationError, match="Duplicar"):
        services.experiment_enqueue(experiment=experiment, user=editor)
    experiment.refresh_from_db()
    assert experiment.status == MLExperiment.Status.FINISHED
    assert experiment.metrics


def test_enqueue_reruns_an_experiment_in_error_from_a_clean_state(
    experiment, editor, django_capture_on_commit_callbacks
):
    set_state(
        experiment,
        status=MLExperiment.Status.ERROR,
        error="MLflow no disponible",
        metrics={"accuracy": 0.5},
        attempts=3,
        mlflow_run_id="oldrun",
        mlflow_model_id="m-old",
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    with django_capture_on_commit_callbacks() as callbacks:
        services.experiment_enqueue(experiment=experiment, user=editor)
    assert len(callbacks) == 1
    experiment.refresh_from_db()
    assert experiment.status == MLExperiment.Status.QUEUED
    assert (experiment.error, experiment.metrics, experiment.attempts) == ("", {}, 0)
    assert (experiment.started_at, experiment.finished_at) == (None, None)
    assert experiment.mlflow_model_id == ""
    # The runner ends the old run as FAILED before it starts a new one.
    assert experiment.mlflow_run_id == "oldrun"
