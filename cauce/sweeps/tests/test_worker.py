"""Sweeps on a real Celery worker, logged to a real MLflow server, read back with MLflow's
own client."""

import json
import time

import pytest
from mlflow.tracking import MlflowClient

from cauce.sweeps.models import Sweep, Trial
from cauce.sweeps.tests.conftest import sweep_body

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DONE_WITHIN_SECONDS = 120


def _wait(api, sweep_id, until) -> dict:
    deadline = time.monotonic() + DONE_WITHIN_SECONDS
    body = {}
    while time.monotonic() < deadline:
        body = api.get(f"/api/sweeps/{sweep_id}/").json()
        if until(body):
            return body
        time.sleep(0.3)
    pytest.fail(f"sweep not there after {DONE_WITHIN_SECONDS} s: {body}")


def _ended(body) -> bool:
    return body["status"] not in ("QUEUED", "RUNNING")


def _children(client, sweep_body_):
    return client.search_runs(
        experiment_ids=[sweep_body_["mlflow_experiment_id"]],
        filter_string=f"tags.`mlflow.parentRunId` = '{sweep_body_['mlflow_run_id']}'",
        max_results=1000,
    )


def _create(api, body) -> str:
    response = api.post("/api/sweeps/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_a_grid_sweep_runs_each_configuration_once_as_child_runs(
    celery_worker_process, mlflow, mlflow_server, editor_api, project, iris_dataset
):
    sweep_id = _create(editor_api, sweep_body(project, iris_dataset, n_trials=500))
    body = _wait(editor_api, sweep_id, _ended)

    assert body["status"] == "FINISHED", body
    assert body["n_trials"] == 8
    trials = body["trials"]
    assert [trial["status"] for trial in trials] == ["COMPLETE"] * 8
    configurations = {json.dumps(trial["params"], sort_keys=True) for trial in trials}
    assert len(configurations) == 8
    best = max(trials, key=lambda trial: (trial["value"], -trial["number"]))
    assert set(body["importances"]) == {"max_depth", "criterion"}
    assert body["best"] == {
        "number": best["number"],
        "value": best["value"],
        "params": best["params"],
    }

    client = MlflowClient(tracking_uri=mlflow_server)
    parent = client.get_run(body["mlflow_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.params["sampler"] == "grid"
    assert parent.data.tags["all_tags"] == "barrido,iris"
    assert parent.data.tags["tag_count"] == "2"
    assert parent.data.tags["tag_0"] == "barrido"
    assert parent.data.tags["cauce.url"].endswith(f"/sweeps/{sweep_id}/")
    assert parent.data.tags["cauce.tag.barrido"] == "true"
    assert parent.data.metrics["best_accuracy"] == pytest.approx(best["value"])
    # The data its trials trained and were scored on: the version's two splits, found by
    # MLflow's own search on the version's digest as an experiment's run is.
    version = Sweep.objects.get(pk=sweep_id).dataset_version
    inputs = {
        next(tag.value for tag in item.tags if tag.key == "mlflow.data.context"): item.dataset
        for item in parent.inputs.dataset_inputs
    }
    assert set(inputs) == {"training", "evaluation"}
    assert {dataset.digest for dataset in inputs.values()} == {version.digest}
    assert json.loads(inputs["training"].profile)["num_rows"] == 120  # 150 rows, 20% held out
    assert f"/datasets/{version.dataset_id}/versions/1/" in inputs["training"].source
    found = client.search_runs(
        [body["mlflow_experiment_id"]], filter_string=f"dataset.digest = '{version.digest}'"
    )
    assert body["mlflow_run_id"] in {run.info.run_id for run in found}

    children = _children(client, body)
    assert len(children) == 8
    by_id = {run.info.run_id: run for run in children}
    assert set(by_id) == {trial["mlflow_run_id"] for trial in trials}
    for trial in trials:
        run = by_id[trial["mlflow_run_id"]]
        assert run.info.status == "FINISHED"
        assert run.data.tags["cauce.trial_state"] == "COMPLETE"
        assert run.data.tags["mlflow.user"] == parent.data.tags["mlflow.user"]
        assert run.data.tags["mlflow.source.name"].endswith(f" #{trial['number']}")
        assert run.data.params["hp.max_depth"] == str(trial["params"]["max_depth"])
        assert run.data.metrics["objective_accuracy"] == pytest.approx(trial["value"])
        assert "duration_s" in run.data.metrics
    # Trials log no model.
    assert not client.search_logged_models(experiment_ids=[body["mlflow_experiment_id"]])
    assert not Trial.objects.filter(sweep_id=sweep_id, status__in=Trial.IN_FLIGHT).exists()


def test_a_tpe_sweep_with_a_seed_cross_validates_and_repeats_its_draws(
    celery_worker_process, mlflow, mlflow_server, editor_api, project, iris_dataset
):
    space = {
        "max_depth": {"type": "int", "low": 1, "high": 8},
        "min_samples_leaf": {"type": "float", "low": 0.01, "high": 0.3, "log": True},
    }
    options = {"sampler": "tpe", "n_trials": 4, "cv_folds": 3, "search_space": space, "seed": 11}
    first = _create(editor_api, sweep_body(project, iris_dataset, name="TPE 1", **options))
    second = _create(editor_api, sweep_body(project, iris_dataset, name="TPE 2", **options))
    one = _wait(editor_api, first, _ended)
    two = _wait(editor_api, second, _ended)

    assert one["status"] == two["status"] == "FINISHED", (one, two)
    assert [t["params"] for t in one["trials"]] == [t["params"] for t in two["trials"]]
    assert len({json.dumps(t["params"], sort_keys=True) for t in one["trials"]}) == 4
    for trial in one["trials"]:
        if trial["status"] == "COMPLETE":
            assert len(trial["fold_scores"]) == 3
            assert trial["value"] == pytest.approx(sum(trial["fold_scores"]) / 3)
    client = MlflowClient(tracking_uri=mlflow_server)
    for trial in one["trials"]:
        history = client.get_metric_history(trial["mlflow_run_id"], "fold_accuracy")
        assert [point.step for point in history] == list(range(len(trial["fold_scores"])))


def test_cancel_stops_the_sweep_and_every_run_ends_killed(
    celery_worker_process, mlflow, mlflow_server, editor_api, project, iris_dataset
):
    body = sweep_body(
        project,
        iris_dataset,
        algorithm="RandomForestClassifier",
        search_space={"max_depth": {"type": "int", "low": 2, "high": 12}},
        fixed_hyperparameters={"n_estimators": 300},
        sampler="random",
        n_trials=50,
        cv_folds=10,
    )
    sweep_id = _create(editor_api, body)
    _wait(editor_api, sweep_id, lambda b: any(t["status"] == "RUNNING" for t in b["trials"]))
    cancelled = editor_api.post(f"/api/sweeps/{sweep_id}/cancel/")
    assert cancelled.status_code == 200, cancelled.content
    assert cancelled.json()["status"] == "CANCELLED"

    settled = _wait(
        editor_api,
        sweep_id,
        lambda b: not any(t["status"] in ("RUNNING", "WAITING") for t in b["trials"]),
    )
    assert settled["status"] == "CANCELLED"
    assert len(settled["trials"]) < 50
    client = MlflowClient(tracking_uri=mlflow_server)
    # The last trial to stop closes the runs: its children, then the parent.
    deadline = time.monotonic() + DONE_WITHIN_SECONDS
    parent = client.get_run(settled["mlflow_run_id"])
    while parent.info.status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.2)
        parent = client.get_run(settled["mlflow_run_id"])
    assert parent.info.status == "KILLED"
    children = _children(client, settled)
    assert children, "the running trial had a child run"
    assert "RUNNING" not in {run.info.status for run in children}
    assert "KILLED" in {run.info.status for run in children}
    assert parent.info.end_time >= max(run.info.end_time for run in children)
    assert Sweep.objects.get(pk=sweep_id).status == Sweep.Status.CANCELLED


def test_auto_promote_trains_the_best_and_registers_it_as_candidate(
    celery_worker_process, mlflow, mlflow_server, editor_api, project, iris_dataset
):
    body = sweep_body(project, iris_dataset, name="Auto", n_trials=3, auto_promote=True)
    sweep_id = _create(editor_api, body)
    ended = _wait(editor_api, sweep_id, _ended)
    assert ended["status"] == "FINISHED", ended

    deadline = time.monotonic() + DONE_WITHIN_SECONDS
    client = MlflowClient(tracking_uri=mlflow_server)
    candidate = None
    while candidate is None and time.monotonic() < deadline:
        for model in client.search_registered_models():
            if "candidate" in (model.aliases or {}):
                candidate = client.get_model_version_by_alias(model.name, "candidate")
        time.sleep(0.5)
    assert candidate is not None, "no model version with the alias candidate"
    sweep = Sweep.objects.select_related("promoted_experiment").get(pk=sweep_id)
    experiment = sweep.promoted_experiment
    assert experiment.status == "FINISHED"
    assert candidate.run_id == experiment.mlflow_run_id
    assert sweep.promoted_trial_number == ended["best"]["number"]
    assert experiment.hyperparameters == ended["best"]["params"]
