import pytest

from cauce.experiments.models import MLExperiment
from cauce.experiments.tests.web_support import create_experiment, finish, set_state
from tests.fixtures.core import assert_authentication_required

pytestmark = pytest.mark.django_db

LIST_URL = "/api/experiments/"


def _detail_url(experiment) -> str:
    return f"/api/experiments/{experiment.pk}/"


def _run_url(experiment) -> str:
    return f"/api/experiments/{experiment.pk}/run/"


def _body(project, data, **overrides) -> dict:
    body = {
        "project": project.pk,
        "name": "Iris API",
        "dataset": data.pk,
        "target_column": "species",
        "feature_columns": ["petal_length", "petal_width"],
        "algorithm": "DecisionTreeClassifier",
        "hyperparameters": {"max_depth": 3},
        "test_size": 0.3,
        "random_state": 1,
        "tags": ["api", " árbol "],
    }
    body.update(overrides)
    return body


# --- GET /api/experiments/ ---------------------------------------------------------------


def test_list_requires_authentication(api_client, experiment):
    response = api_client.get(LIST_URL)
    assert_authentication_required(response)


def test_list_returns_the_users_experiments_only(
    owner_api, experiment, other_project, make_dataset, iris_csv_bytes, outsider
):
    foreign = make_dataset(other_project, iris_csv_bytes, user=outsider)
    create_experiment(project=other_project, dataset=foreign, user=outsider, name="Ajeno")
    body = owner_api.get(LIST_URL).json()
    assert body["count"] == 1
    [item] = body["results"]
    assert item["id"] == str(experiment.pk)
    assert item["project"] == experiment.project_id
    assert item["status"] == "DRAFT"
    assert item["tags"] == ["base"]


def test_list_filters_by_project_status_and_tag(
    editor_api, experiment, iris_dataset, editor, other_project
):
    finish(
        create_experiment(
            project=experiment.project, dataset=iris_dataset, user=editor, name="Fin", tags=["rf"]
        )
    )
    names = lambda response: [item["name"] for item in response.json()["results"]]  # noqa: E731
    assert names(editor_api.get(LIST_URL, {"status": "FINISHED"})) == ["Fin"]
    assert names(editor_api.get(LIST_URL, {"tag": "base"})) == ["Iris base"]
    assert sorted(names(editor_api.get(LIST_URL, {"project": experiment.project_id}))) == [
        "Fin",
        "Iris base",
    ]
    assert names(editor_api.get(LIST_URL, {"project": other_project.pk})) == []
    bad = editor_api.get(LIST_URL, {"project": "abc"})
    assert bad.status_code == 400
    assert "project" in bad.json()["message"]


def test_list_filters_by_all_or_any_of_several_tags(editor_api, experiment, iris_dataset, editor):
    project = experiment.project
    for name, tags in [("Ambas", ["iris", "rf"]), ("Solo rf", ["RF"]), ("Nada", [])]:
        create_experiment(project=project, dataset=iris_dataset, user=editor, name=name, tags=tags)

    def names(**params):
        response = editor_api.get(LIST_URL, params)
        assert response.status_code == 200
        return sorted(item["name"] for item in response.json()["results"])

    assert names(tags="iris,rf") == ["Ambas"]
    assert names(tags="iris,rf", tags_mode="all") == ["Ambas"]
    assert names(tags="iris,rf", tags_mode="any") == ["Ambas", "Solo rf"]
    assert names(tags="base,rf", tags_mode="any") == ["Ambas", "Iris base", "Solo rf"]
    assert names(tags="rf", q="solo") == ["Solo rf"]
    assert names(tags="rf", algorithm="SVC") == []
    assert names(dataset=iris_dataset.pk, tags="base") == ["Iris base"]
    assert names(tags="") == ["Ambas", "Iris base", "Nada", "Solo rf"]  # empty: no filter
    assert names(project="", dataset="") == ["Ambas", "Iris base", "Nada", "Solo rf"]


def test_list_filters_never_reach_an_outsiders_experiments(
    editor_api, experiment, other_project, make_dataset, iris_csv_bytes, outsider
):
    foreign = make_dataset(other_project, iris_csv_bytes, user=outsider)
    create_experiment(project=other_project, dataset=foreign, user=outsider, tags=["base"])
    body = editor_api.get(LIST_URL, {"tags": "base", "dataset": foreign.pk}).json()
    assert body["count"] == 0
    body = editor_api.get(LIST_URL, {"tags": "base", "tags_mode": "any"}).json()
    assert [item["id"] for item in body["results"]] == [str(experiment.pk)]


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"tags_mode": "some"}, "tags_mode"),
        ({"status": "BOGUS"}, "status"),
        ({"dataset": "x"}, "dataset"),
        ({"project": "0"}, "project"),
        ({"tags": ",".join(f"t{index}" for index in range(21))}, "tags"),
        ({"q": "a\x00b"}, "q"),
        ({"ordering": "size"}, "ordering"),
    ],
)
def test_list_refuses_a_bad_filter_with_a_json_error(editor_api, experiment, params, name):
    response = editor_api.get(LIST_URL, params)
    assert response.status_code == 400
    body = response.json()
    assert name in body["errors"]
    assert name in body["message"]


def test_the_schema_documents_every_list_filter(api_client):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/experiments/"]["get"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert {"tags", "tags_mode", "status", "algorithm", "dataset", "project", "q"} <= set(
        parameters
    )
    # An empty value is no filter (as an HTML form sends it), and the schema says so.
    assert parameters["tags_mode"]["schema"]["enum"] == ["all", "any", ""]
    assert "minLength" not in parameters["q"]["schema"]
    for name in ("project", "dataset"):  # an id, or empty
        integer, empty = parameters[name]["schema"]["anyOf"]
        assert (integer["type"], integer["minimum"]) == ("integer", 1)
        assert (empty["type"], empty["maxLength"]) == ("string", 0)
    assert set(operation["responses"]) >= {"200", "400"}
    assert {"main_metric", "-main_metric", "name", "-created", ""} <= set(
        parameters["ordering"]["schema"]["enum"]
    )


def test_list_sorts_by_the_main_metric_within_each_task_type(
    editor_api, editor, project, iris_dataset, media_root
):
    from cauce.experiments.tests.web_support import create_experiment, set_state

    for name, target, algorithm, metrics in [
        ("C1", "species", "LogisticRegression", {"f1_macro": 0.7}),
        ("R1", "petal_width", "LinearRegression", {"r2": 0.9}),
        ("C2", "species", "LogisticRegression", {"f1_macro": 0.9}),
    ]:
        experiment = create_experiment(
            project=project,
            dataset=iris_dataset,
            user=editor,
            name=name,
            target_column=target,
            algorithm=algorithm,
        )
        set_state(experiment, metrics=metrics)
    response = editor_api.get(LIST_URL, {"ordering": "-main_metric"})
    assert response.status_code == 200
    assert [row["name"] for row in response.json()["results"]] == ["C2", "C1", "R1"]
    by_name = editor_api.get(LIST_URL, {"ordering": "-name"})
    assert [row["name"] for row in by_name.json()["results"]] == ["R1", "C2", "C1"]


# --- POST /api/experiments/ --------------------------------------------------------------


def test_create_returns_the_experiment(editor_api, editor, project, iris_dataset, media_root):
    response = editor_api.post(LIST_URL, _body(project, iris_dataset), format="json")
    assert response.status_code == 201
    body = response.json()
    experiment = MLExperiment.objects.get()
    assert body["id"] == str(experiment.pk)
    assert body["status"] == "DRAFT"
    assert body["task_type"] == "classification"
    assert body["feature_columns"] == ["petal_length", "petal_width"]
    assert body["hyperparameters"] == {"max_depth": 3}
    assert body["tags"] == ["api", "árbol"]
    assert body["created_by"] == editor.username
    assert body["mlflow_run_id"] == ""
    assert body["metrics"] == {}


def test_create_defaults_features_and_infers_the_task_type(
    editor_api, project, messy_dataset, media_root
):
    body = _body(project, messy_dataset, target_column="price", algorithm="Ridge")
    del body["feature_columns"], body["hyperparameters"]
    response = editor_api.post(LIST_URL, body, format="json")
    assert response.status_code == 201
    assert response.json()["task_type"] == "regression"
    assert response.json()["feature_columns"] == ["age", "income", "city", "member", "label"]


CARS_CSV = "\n".join(
    ["row,name,price,origin,mpg"]
    + [f"{i},coche {i},{i * 1011.5},{'EU' if i % 2 else 'US'},{20 + i % 7}.5" for i in range(1, 41)]
).encode()


def test_create_leaves_identifier_like_columns_out_of_default_features(
    editor_api, project, make_dataset, media_root
):
    cars = make_dataset(project, CARS_CSV, "cars.csv")
    body = _body(project, cars, target_column="mpg", algorithm="Ridge", hyperparameters={})
    del body["feature_columns"]
    response = editor_api.post(LIST_URL, body, format="json")
    assert response.status_code == 201
    assert response.json()["feature_columns"] == ["price", "origin"]


def test_create_accepts_an_identifier_like_column_given_explicitly(
    editor_api, project, make_dataset, media_root
):
    cars = make_dataset(project, CARS_CSV, "cars.csv")
    body = _body(
        project,
        cars,
        target_column="mpg",
        feature_columns=["row", "name", "price"],
        algorithm="Ridge",
        hyperparameters={},
    )
    response = editor_api.post(LIST_URL, body, format="json")
    assert response.status_code == 201
    assert response.json()["feature_columns"] == ["row", "name", "price"]
    assert MLExperiment.objects.get().feature_columns == ["row", "name", "price"]


API_ERRORS = [
    ({"name": ""}, "name"),
    ({"target_column": "nope"}, "target_column"),
    ({"feature_columns": ["species"]}, "feature_columns"),
    ({"feature_columns": ["missing"]}, "feature_columns"),
    ({"task_type": "clustering"}, "task_type"),
    ({"task_type": "regression", "algorithm": "Ridge"}, "task_type"),
    ({"algorithm": "Ridge"}, "algorithm"),
    ({"algorithm": "NotAnEstimator"}, "algorithm"),
    ({"hyperparameters": {"max_depth": "deep"}}, "hyperparameters"),
    ({"hyperparameters": {"unknown": 1}}, "hyperparameters"),
    ({"hyperparameters": [1]}, "hyperparameters"),
    ({"test_size": 0}, "test_size"),
    ({"test_size": 1.2}, "test_size"),
    ({"random_state": -1}, "random_state"),
    ({"tags": ["x" * 101]}, "tags"),
    ({"tags": "uno"}, "tags"),
]


@pytest.mark.parametrize(("overrides", "field"), API_ERRORS)
def test_create_rejects_bad_input_with_a_json_error_and_stores_nothing(
    editor_api, project, iris_dataset, media_root, overrides, field
):
    response = editor_api.post(LIST_URL, _body(project, iris_dataset, **overrides), format="json")
    assert response.status_code == 400
    body = response.json()
    assert isinstance(body["message"], str) and body["message"]
    assert field in body["errors"]
    assert not MLExperiment.objects.exists()


def test_create_names_the_bad_hyperparameter(editor_api, project, iris_dataset, media_root):
    response = editor_api.post(
        LIST_URL, _body(project, iris_dataset, hyperparameters={"max_depth": -2}), format="json"
    )
    body = response.json()
    assert "«max_depth»" in body["message"]
    assert body["errors"]["parameter"] == "max_depth"


@pytest.mark.parametrize(
    ("algorithm", "hyperparameters", "parameter"),
    [
        ("KNeighborsClassifier", {"metric": "mahalanobis"}, "metric"),
        ("KNeighborsClassifier", {"metric": "cosine", "algorithm": "kd_tree"}, "metric"),
        ("KNeighborsClassifier", {"p": None}, "p"),
        ("LogisticRegression", {"l1_ratio": 0.5}, "l1_ratio"),
        ("RandomForestClassifier", {"bootstrap": False, "oob_score": True}, "oob_score"),
    ],
)
def test_create_refuses_a_combination_that_fails_at_fit(
    editor_api, project, iris_dataset, media_root, algorithm, hyperparameters, parameter
):
    body = _body(project, iris_dataset, algorithm=algorithm, hyperparameters=hyperparameters)
    response = editor_api.post(LIST_URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["parameter"] == parameter
    assert f"«{parameter}»" in response.json()["message"]
    assert not MLExperiment.objects.exists()


# Iris has four input columns.
_IDENTITY_4 = [[1 if row == column else 0 for column in range(4)] for row in range(4)]


def test_create_takes_mahalanobis_with_its_metric_params(
    editor_api, project, iris_dataset, media_root
):
    hyperparameters = {"metric": "mahalanobis", "metric_params": {"V": _IDENTITY_4}}
    body = _body(
        project, iris_dataset, algorithm="KNeighborsClassifier", hyperparameters=hyperparameters
    )
    response = editor_api.post(LIST_URL, body, format="json")
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize("early_stopping", ["auto", True, False])
def test_create_takes_every_value_scikit_learn_takes(
    editor_api, project, iris_dataset, media_root, early_stopping
):
    hyperparameters = {"early_stopping": early_stopping, "max_depth": None}
    body = _body(
        project,
        iris_dataset,
        algorithm="HistGradientBoostingClassifier",
        hyperparameters=hyperparameters,
    )
    response = editor_api.post(LIST_URL, body, format="json")
    assert response.status_code == 201, response.json()
    assert MLExperiment.objects.get().hyperparameters == hyperparameters


def test_create_refuses_true_for_a_number(editor_api, project, iris_dataset, media_root):
    body = _body(project, iris_dataset, hyperparameters={"max_depth": True})
    response = editor_api.post(LIST_URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Valor no válido para el hiperparámetro «max_depth»: true. "
        "Se esperaba un entero ≥ 1 o None."
    )


def test_create_is_forbidden_to_viewers(api_client, viewer, project, iris_dataset, media_root):
    api_client.force_authenticate(viewer)
    response = api_client.post(LIST_URL, _body(project, iris_dataset), format="json")
    assert response.status_code == 403
    assert not MLExperiment.objects.exists()


def test_create_in_another_project_is_404(outsider_api, project, iris_dataset, media_root):
    response = outsider_api.post(LIST_URL, _body(project, iris_dataset), format="json")
    assert response.status_code == 404
    assert "Iris" not in response.content.decode()
    assert not MLExperiment.objects.exists()


def test_create_with_a_dataset_of_another_project_does_not_leak_it(
    editor_api, project, other_project, make_dataset, iris_csv_bytes, outsider, media_root
):
    foreign = make_dataset(other_project, iris_csv_bytes, user=outsider, name="Secreto")
    response = editor_api.post(LIST_URL, _body(project, foreign), format="json")
    missing = editor_api.post(LIST_URL, _body(project, foreign, dataset=999999), format="json")
    assert response.status_code == missing.status_code == 400
    assert response.json() == missing.json()
    assert "Secreto" not in response.content.decode()
    assert "dataset" in response.json()["errors"]
    assert not MLExperiment.objects.exists()


# --- GET/PATCH /api/experiments/{id}/ ----------------------------------------------------


def test_detail_returns_status_stage_run_and_metrics(api_client, viewer, experiment, settings):
    settings.MLFLOW_PUBLIC_URL = "http://mlflow.local:5000"
    finish(experiment)
    api_client.force_authenticate(viewer)
    body = api_client.get(_detail_url(experiment)).json()
    assert body["status"] == "FINISHED"
    assert body["status_display"] == "Finalizado"
    assert body["stage"] == ""
    assert body["mlflow_run_id"] == "0123456789abcdef0123456789abcdef"
    assert body["mlflow_run_url"] == (
        "http://mlflow.local:5000/#/experiments/17/runs/0123456789abcdef0123456789abcdef"
    )
    assert body["metrics"] == {"accuracy": 0.9667, "f1_macro": 0.9665}
    assert body["main_metric"] == {"name": "f1_macro", "value": 0.9665}
    assert body["error"] == ""


def test_detail_is_404_for_outsiders(outsider_api, experiment):
    response = outsider_api.get(_detail_url(experiment))
    assert response.status_code == 404
    assert response.json() == {"message": "No encontrado."}


def test_patch_changes_name_description_and_tags(editor_api, experiment):
    response = editor_api.patch(
        _detail_url(experiment),
        {"name": "Renombrado", "description": "Otra", "tags": ["a", "b", "a"]},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Renombrado"
    assert response.json()["tags"] == ["a", "b"]
    experiment.refresh_from_db()
    assert experiment.description == "Otra"


def test_patch_of_status_or_configuration_is_refused(editor_api, experiment):
    response = editor_api.patch(
        _detail_url(experiment),
        {"name": "X", "status": "FINISHED", "algorithm": "Ridge"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"status", "algorithm"}
    experiment.refresh_from_db()
    assert (experiment.name, experiment.status) == ("Iris base", MLExperiment.Status.DRAFT)


def test_patch_with_a_bad_tag_is_a_json_error(editor_api, experiment):
    response = editor_api.patch(_detail_url(experiment), {"tags": ["z" * 101]}, format="json")
    assert response.status_code == 400
    assert "tags" in response.json()["errors"]
    assert [tag.name for tag in experiment.tags.all()] == ["base"]


def test_patch_is_forbidden_to_viewers(api_client, viewer, experiment):
    api_client.force_authenticate(viewer)
    response = api_client.patch(_detail_url(experiment), {"name": "X"}, format="json")
    assert response.status_code == 403


def test_patch_is_404_for_outsiders(outsider_api, experiment):
    response = outsider_api.patch(_detail_url(experiment), {"name": "X"}, format="json")
    assert response.status_code == 404
    experiment.refresh_from_db()
    assert experiment.name == "Iris base"


# --- POST /api/experiments/{id}/run/ -----------------------------------------------------


def test_run_queues_and_answers_202(
    editor_api, experiment, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_api.post(_run_url(experiment))
    assert response.status_code == 202
    assert response.json()["status"] == "QUEUED"
    assert response.json()["stage"] == "waiting"
    assert [message["args"] for message in published] == [[str(experiment.pk)]]


def test_run_of_a_running_experiment_is_a_json_error(editor_api, experiment):
    set_state(experiment, status=MLExperiment.Status.RUNNING)
    response = editor_api.post(_run_url(experiment))
    assert response.status_code == 409
    assert response.json()["message"] == "El experimento ya está en cola o en ejecución."


def test_run_is_forbidden_to_viewers(api_client, viewer, experiment):
    api_client.force_authenticate(viewer)
    assert api_client.post(_run_url(experiment)).status_code == 403
    experiment.refresh_from_db()
    assert experiment.status == MLExperiment.Status.DRAFT


def test_run_is_404_for_outsiders(outsider_api, experiment):
    assert outsider_api.post(_run_url(experiment)).status_code == 404
    experiment.refresh_from_db()
    assert experiment.status == MLExperiment.Status.DRAFT
