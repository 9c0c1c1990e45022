"""The sweeps API without a worker: what it refuses, and who may see what."""

import pytest

from cauce.experiments.models import MLExperiment
from cauce.sweeps.models import Sweep, Trial
from cauce.sweeps.tests.conftest import sweep_body

pytestmark = pytest.mark.django_db


def _refused(api, body, field):
    response = api.post("/api/sweeps/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not Sweep.objects.exists()
    return response.json()


@pytest.mark.parametrize(
    ("space", "words"),
    [
        ({"max_depth": {"type": "int", "low": 3, "high": 3}}, "vacío"),
        ({"criterion": {"type": "categorical", "choices": []}}, "vacía"),
        ({"max_depth": {"type": "int", "low": 5, "high": 2}}, "mayor que el máximo"),
        ({"min_impurity_decrease": {"type": "float", "low": 0.0, "high": 1.0, "log": True}},
         "logarítmica"),
        ({"max_depth": {"type": "int", "low": 0, "high": 4}}, "se sale"),
        ({"n_estimators": {"type": "int", "low": 1, "high": 4}}, "desconocido"),
        ({"criterion": {"type": "categorical", "choices": ["gini", "nada"]}}, "no es válida"),
        ({"max_depth": {"type": "float", "low": 1.0, "high": 4.0}}, "se sale"),
    ],
)  # fmt: skip
def test_it_refuses_a_search_space_naming_the_parameter(
    editor_api, project, iris_dataset, space, words
):
    body = _refused(
        editor_api,
        sweep_body(project, iris_dataset, search_space=space, sampler="tpe"),
        "parameter",
    )
    parameter = next(iter(space))
    assert body["errors"]["parameter"] == parameter
    assert f"«{parameter}»" in body["message"]
    assert words in body["message"]


@pytest.mark.parametrize(
    ("space", "fixed", "parameter"),
    [
        ({"metric": {"type": "categorical", "choices": ["euclidean", "mahalanobis"]}}, {},
         "metric"),
        ({"metric": {"type": "categorical", "choices": ["euclidean", "cosine"]}},
         {"algorithm": "kd_tree"}, "metric"),
        ({"algorithm": {"type": "categorical", "choices": ["brute", "kd_tree"]},
          "metric": {"type": "categorical", "choices": ["manhattan", "cosine"]}}, {}, "metric"),
        ({"p": {"type": "float", "low": 0.5, "high": 2.0}}, {"algorithm": "ball_tree"}, "p"),
    ],
)  # fmt: skip
def test_it_refuses_a_space_with_a_combination_that_fails_at_fit(
    editor_api, project, iris_dataset, space, fixed, parameter
):
    body = _refused(
        editor_api,
        sweep_body(
            project,
            iris_dataset,
            algorithm="KNeighborsClassifier",
            search_space=space,
            fixed_hyperparameters=fixed,
            sampler="tpe",
        ),
        "parameter",
    )
    assert body["errors"]["parameter"] == parameter
    assert body["message"].startswith("Algunas pruebas de esta búsqueda fallarían: ")
    assert f"«{parameter}»" in body["message"]


def test_it_takes_a_space_whose_combinations_all_fit(editor_api, project, iris_dataset):
    space = {
        "algorithm": {"type": "categorical", "choices": ["brute", "ball_tree"]},
        "metric": {"type": "categorical", "choices": ["manhattan", "chebyshev"]},
        "p": {"type": "float", "low": 1.0, "high": 3.0},
    }
    body = sweep_body(
        project, iris_dataset, algorithm="KNeighborsClassifier", search_space=space, sampler="tpe"
    )
    response = editor_api.post("/api/sweeps/", body, format="json")
    assert response.status_code == 201, response.content


INTEGER_OR_FRACTION_RANGES = [
    # (name, as sent, as kept): whole bounds are integers, bounds with decimals in (0, 1]
    # fractions; "float" with whole bounds outside the fractions means the integers.
    ("max_features", {"type": "int", "low": 2, "high": 8}, ("int", 2, 8)),
    ("max_features", {"type": "float", "low": 2, "high": 4}, ("int", 2, 4)),
    ("max_features", {"type": "float", "low": 0.2, "high": 0.8}, ("float", 0.2, 0.8)),
    ("min_samples_leaf", {"type": "int", "low": 1, "high": 20}, ("int", 1, 20)),
    ("min_samples_leaf", {"type": "float", "low": 2, "high": 4}, ("int", 2, 4)),
    ("min_samples_leaf", {"type": "float", "low": 0.1, "high": 0.4}, ("float", 0.1, 0.4)),
    ("min_samples_split", {"type": "int", "low": 2, "high": 10}, ("int", 2, 10)),
    ("min_samples_split", {"type": "float", "low": 0.1, "high": 0.5}, ("float", 0.1, 0.5)),
]


@pytest.mark.parametrize(("name", "sent", "kept"), INTEGER_OR_FRACTION_RANGES)
def test_a_parameter_taking_an_integer_or_a_fraction_takes_either_range(
    editor_api, project, iris_dataset, name, sent, kept, django_capture_on_commit_callbacks
):
    body = sweep_body(project, iris_dataset, search_space={name: sent}, sampler="tpe")
    with django_capture_on_commit_callbacks(execute=False):
        response = editor_api.post("/api/sweeps/", body, format="json")
    assert response.status_code == 201, response.content
    entry = Sweep.objects.get().search_space[name]
    assert (entry["type"], entry["low"], entry["high"]) == kept
    assert all(type(entry[key]) is (int if kept[0] == "int" else float) for key in ("low", "high"))


def test_it_refuses_a_grid_over_ten_thousand_points(editor_api, project, iris_dataset):
    space = {
        "max_depth": {"type": "int", "low": 1, "high": 200},
        "min_samples_split": {"type": "int", "low": 2, "high": 100},
    }
    body = _refused(
        editor_api, sweep_body(project, iris_dataset, search_space=space), "search_space"
    )
    assert "19.800" in body["message"]


def test_it_refuses_a_continuous_range_in_a_grid(editor_api, project, iris_dataset):
    space = {"min_impurity_decrease": {"type": "float", "low": 0.0, "high": 0.5}}
    body = _refused(editor_api, sweep_body(project, iris_dataset, search_space=space), "parameter")
    assert "rejilla" in body["message"]


def test_it_refuses_501_trials(editor_api, project, iris_dataset):
    body = _refused(
        editor_api, sweep_body(project, iris_dataset, n_trials=501, sampler="tpe"), "n_trials"
    )
    assert "500" in body["message"]


def test_it_refuses_an_unknown_metric(editor_api, project, iris_dataset):
    body = _refused(editor_api, sweep_body(project, iris_dataset, metric="r2"), "metric")
    assert "«r2»" in body["message"] and "f1_macro" in body["message"]


@pytest.mark.parametrize("folds", [2, 11])
def test_it_refuses_cv_folds_out_of_3_to_10(editor_api, project, iris_dataset, folds):
    _refused(editor_api, sweep_body(project, iris_dataset, cv_folds=folds), "cv_folds")


def test_it_refuses_an_unknown_sampler(editor_api, project, iris_dataset):
    _refused(editor_api, sweep_body(project, iris_dataset, sampler="bayes"), "sampler")


def test_viewers_cannot_create(viewer_api, project, iris_dataset):
    body = sweep_body(project, iris_dataset)
    assert viewer_api.post("/api/sweeps/", body, format="json").status_code == 403
    assert not Sweep.objects.exists()


def test_outsiders_get_404_on_create(outsider_api, project, iris_dataset):
    body = sweep_body(project, iris_dataset)
    assert outsider_api.post("/api/sweeps/", body, format="json").status_code == 404
    assert not Sweep.objects.exists()


def test_a_grid_sweep_is_cut_to_its_grid(
    editor_api, project, iris_dataset, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = editor_api.post(
            "/api/sweeps/", sweep_body(project, iris_dataset, n_trials=100), format="json"
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["n_trials"] == 8  # 4 depths x 2 criteria
    assert body["status"] == "QUEUED"
    assert body["trials"] == [] and body["best"] is None


def test_outsiders_get_404_on_every_sweep_endpoint(outsider_api, sweep):
    assert outsider_api.get(f"/api/sweeps/{sweep.pk}/").status_code == 404
    assert outsider_api.post(f"/api/sweeps/{sweep.pk}/cancel/").status_code == 404
    assert outsider_api.post(f"/api/sweeps/{sweep.pk}/promote/").status_code == 404
    assert outsider_api.get(f"/api/sweeps/?project={sweep.project_id}").status_code == 404
    listed = outsider_api.get("/api/sweeps/").json()
    assert listed["count"] == 0
    assert Sweep.objects.get(pk=sweep.pk).status == Sweep.Status.QUEUED


def test_members_list_and_read_sweeps(viewer_api, sweep):
    listed = viewer_api.get(f"/api/sweeps/?project={sweep.project_id}").json()
    assert [item["id"] for item in listed["results"]] == [str(sweep.pk)]
    detail = viewer_api.get(f"/api/sweeps/{sweep.pk}/")
    assert detail.status_code == 200
    assert detail.json()["status"] == "QUEUED"
    assert viewer_api.post(f"/api/sweeps/{sweep.pk}/cancel/").status_code == 403


def test_a_project_filter_that_is_not_an_id_is_a_400_naming_it(viewer_api, sweep):
    response = viewer_api.get("/api/sweeps/?project=null")
    assert response.status_code == 400
    assert response.json()["errors"] == {"project": "«null» no es un identificador de proyecto."}


def test_cancel_of_a_queued_sweep_fails_its_waiting_trials(editor_api, sweep):
    Trial.objects.create(sweep=sweep, number=0, optuna_trial_id=1, params={"max_depth": 2})
    response = editor_api.post(f"/api/sweeps/{sweep.pk}/cancel/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "CANCELLED"
    assert response.json()["trials"][0]["status"] == "FAIL"
    again = editor_api.post(f"/api/sweeps/{sweep.pk}/cancel/")
    assert again.status_code == 409


def test_promote_needs_a_completed_trial(editor_api, sweep):
    response = editor_api.post(f"/api/sweeps/{sweep.pk}/promote/")
    assert response.status_code == 409
    assert not MLExperiment.objects.exists()


def test_promote_queues_an_experiment_with_the_best_params(
    editor_api, sweep, django_capture_on_commit_callbacks
):
    Sweep.objects.filter(pk=sweep.pk).update(
        status=Sweep.Status.FINISHED, best_number=3, best_value=0.97, best_params={"max_depth": 3}
    )
    with django_capture_on_commit_callbacks(execute=False):
        response = editor_api.post(f"/api/sweeps/{sweep.pk}/promote/")
    assert response.status_code == 201, response.content
    experiment = MLExperiment.objects.get(pk=response.json()["id"])
    assert experiment.hyperparameters == {"max_depth": 3}
    assert experiment.status == MLExperiment.Status.QUEUED
    assert experiment.algorithm == "DecisionTreeClassifier"
    assert Sweep.objects.get(pk=sweep.pk).promoted_experiment_id == experiment.pk
