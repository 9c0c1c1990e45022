"""Comparing experiments: the selector and the API, against the session's real MLflow server."""

import uuid

import pytest
from django.urls import reverse
from mlflow.tracking import MlflowClient

from cauce.core.exceptions import ApplicationError
from cauce.experiments import comparison
from cauce.experiments.tests.compare_support import experiments_for_runs, runs_log
from cauce.experiments.tests.web_support import create_experiment

pytestmark = pytest.mark.django_db

URL = reverse("api-experiment-compare")


@pytest.fixture(scope="module")
def many_runs(mlflow_server):
    """250 finished runs, logged once for the module."""
    client = MlflowClient(tracking_uri=mlflow_server)
    return runs_log(client, experiment_name="compare-many", count=250)


def _search_requests(http_calls) -> list:
    return [call for call in http_calls if call.url.endswith("/api/2.0/mlflow/runs/search")]


def _ids(experiments) -> str:
    return ",".join(str(experiment.pk) for experiment in experiments)


# --- the selector --------------------------------------------------------------------------------


def test_250_runs_are_read_in_three_searches(
    mlflow, many_runs, project, iris_dataset, editor, http_calls
):
    mlflow_experiment_id, runs = many_runs
    experiments = experiments_for_runs(
        project=project,
        dataset=iris_dataset,
        user=editor,
        mlflow_experiment_id=mlflow_experiment_id,
        runs=runs,
    )
    http_calls.clear()

    result = comparison.experiments_compare(user=editor, ids=[item.pk for item in experiments])

    assert len(http_calls) == 3
    assert len(_search_requests(http_calls)) == 3
    assert [item.id for item in result.experiments] == [item.pk for item in experiments]
    assert all(item.from_mlflow for item in result.experiments)
    assert result.experiments[249].params == runs[249].params
    assert result.experiments[249].metrics == pytest.approx(runs[249].metrics)


def test_varying_deltas_and_direction(three, editor):
    result = comparison.experiments_compare(
        user=editor, ids=[item.pk for item in three], baseline_id=three[1].pk
    )

    assert result.varying == ["p0"]
    assert result.param_names == ["p0", "p1", "p2"]
    assert result.metric_names == ["accuracy", "rmse"]
    assert result.timing_names == ["cauce.time.fit_s"]
    assert result.deltas[str(three[0].pk)]["rmse"] == pytest.approx(-1.0)
    assert result.deltas[str(three[2].pk)]["rmse"] == pytest.approx(1.0)
    assert result.deltas[str(three[1].pk)] == {
        "accuracy": 0.0,
        "rmse": 0.0,
        "cauce.time.fit_s": 0.0,
    }
    rows = {
        row.name: row
        for row in comparison.comparison_rows(
            result, order=comparison.comparison_sort(result, metric="", descending=False)
        )
    }
    assert rows["rmse"].higher_is_better is False
    assert rows["accuracy"].higher_is_better is True
    assert rows["cauce.time.fit_s"].section == "timing"
    assert rows["p0"].differs and not rows["p1"].differs
    assert rows["team"].values == ["a", "a", "a"]


def test_sorting_keeps_the_baseline_first(three, editor):
    result = comparison.experiments_compare(
        user=editor, ids=[item.pk for item in three], baseline_id=three[1].pk
    )

    order = comparison.comparison_sort(result, metric="rmse", descending=True)

    assert [item.id for item in order] == [three[1].pk, three[2].pk, three[0].pk]


def test_a_draft_shows_what_cauce_keeps(mlflow, three, project, iris_dataset, editor, http_calls):
    draft = create_experiment(
        project=project,
        dataset=iris_dataset,
        user=editor,
        hyperparameters={"C": 2.0},
    )
    http_calls.clear()

    result = comparison.experiments_compare(user=editor, ids=[three[0].pk, draft.pk])

    assert len(_search_requests(http_calls)) == 1
    assert result.experiments[1].from_mlflow is False
    assert result.experiments[1].params["C"] == "2.0"


def test_drafts_alone_need_no_request(mlflow, project, iris_dataset, editor, http_calls):
    drafts = [
        create_experiment(project=project, dataset=iris_dataset, user=editor, name=f"D{index}")
        for index in range(2)
    ]
    http_calls.clear()

    comparison.experiments_compare(user=editor, ids=[item.pk for item in drafts])

    assert http_calls == []


@pytest.mark.parametrize(
    ("values", "code"),
    [
        (["not-a-uuid,also"], "invalid"),
        ([str(uuid.uuid4())], "too_few"),
        ([",".join(str(uuid.uuid4()) for _ in range(501))], "too_many"),
        ([""], "too_few"),
    ],
)
def test_bad_ids_are_refused(values, code):
    with pytest.raises(ApplicationError) as raised:
        comparison.compare_ids_parse(values)
    assert raised.value.extra == {"ids": code}


def test_ids_repeat_once_and_500_is_enough():
    first = uuid.uuid4()
    ids = [first, *(uuid.uuid4() for _ in range(499))]

    assert comparison.compare_ids_parse([",".join(map(str, [*ids, first]))]) == ids


# --- the API -------------------------------------------------------------------------------------


def test_api_answers_the_comparison(three, api_client, viewer):
    api_client.force_authenticate(viewer)

    response = api_client.get(URL, {"ids": _ids(three), "baseline": str(three[2].pk)})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["baseline"] == str(three[2].pk)
    assert body["varying"] == ["p0"]
    assert [item["id"] for item in body["experiments"]] == [str(item.pk) for item in three]
    first = body["experiments"][0]
    assert first["mlflow_run_id"] == three[0].mlflow_run_id
    assert first["params"] == {"p0": "0", "p1": "1", "p2": "2"}
    assert first["tags"]["team"] == "a"
    version = three[0].dataset.latest_version
    assert first["dataset_version"] == {
        "id": version.pk,
        "dataset": three[0].dataset_id,
        "name": "Iris",
        "version": 1,
        "digest": version.digest,
    }
    assert first["project"] == three[0].project_id
    assert body["deltas"][str(three[0].pk)]["rmse"] == pytest.approx(-2.0)
    assert body["higher_is_better"] == {
        "accuracy": True,
        "rmse": False,
        "cauce.time.fit_s": False,
    }


def test_api_compares_across_readable_projects(
    three, api_client, editor, other_project, make_dataset, iris_csv_bytes, outsider
):
    from cauce.projects.models import Membership, Role

    Membership.objects.create(project=other_project, user=editor, role=Role.VIEWER)
    dataset = make_dataset(other_project, iris_csv_bytes, "iris.csv", name="Iris 2")
    elsewhere = create_experiment(project=other_project, dataset=dataset, user=outsider)
    api_client.force_authenticate(editor)

    response = api_client.get(URL, {"ids": _ids([three[0], elsewhere])})

    assert response.status_code == 200
    assert {item["project"] for item in response.json()["experiments"]} == {
        three[0].project_id,
        other_project.pk,
    }


def test_api_an_unreadable_id_is_404(
    three, api_client, editor, other_project, make_dataset, iris_csv_bytes, outsider
):
    dataset = make_dataset(other_project, iris_csv_bytes, "iris.csv", name="Iris 2")
    elsewhere = create_experiment(project=other_project, dataset=dataset, user=outsider)
    api_client.force_authenticate(editor)

    assert api_client.get(URL, {"ids": _ids([three[0], elsewhere])}).status_code == 404
    assert api_client.get(URL, {"ids": f"{three[0].pk},{uuid.uuid4()}"}).status_code == 404


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ("one", "no es un identificador de experimento válido"),
        ("ONE_ID", "al menos 2"),
        ("MANY", "como mucho 500"),
    ],
)
def test_api_bad_input_is_400_in_spanish(three, api_client, editor, ids, message):
    api_client.force_authenticate(editor)
    ids = {"ONE_ID": str(three[0].pk), "MANY": ",".join(str(uuid.uuid4()) for _ in range(501))}.get(
        ids, ids
    )

    response = api_client.get(URL, {"ids": ids}, HTTP_ACCEPT_LANGUAGE="es")

    assert response.status_code == 400
    assert message in response.json()["message"]


def test_api_baseline_must_be_compared(three, api_client, editor):
    api_client.force_authenticate(editor)

    response = api_client.get(URL, {"ids": _ids(three[:2]), "baseline": str(three[2].pk)})

    assert response.status_code == 400
    assert "referencia" in response.json()["message"]


def test_api_mlflow_down_is_503(three, api_client, editor, mlflow_down):
    api_client.force_authenticate(editor)

    response = api_client.get(URL, {"ids": _ids(three)})

    assert response.status_code == 503


def test_api_requires_authentication(api_client, three):
    assert api_client.get(URL, {"ids": _ids(three)}).status_code == 401


def test_api_is_in_the_schema(api_client):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()

    operation = schema["paths"]["/api/experiments/compare/"]["get"]
    assert {parameter["name"] for parameter in operation["parameters"]} >= {"ids", "baseline"}
    assert "200" in operation["responses"]


def test_a_training_error_metric_is_better_lower_like_its_test_twin():
    from cauce.experiments.metric_names import metric_higher_is_better

    assert not metric_higher_is_better("train_rmse")
    assert not metric_higher_is_better("train_mae")
    assert not metric_higher_is_better("cauce.time.fit_s")
    assert metric_higher_is_better("train_accuracy")
    assert metric_higher_is_better("r2")
