"""A sweep while PostgreSQL restarts: the controller recovers and the sweep reaches its count.

Two workers run a sweep's trials (each a few cross-validated fits of a forest, slow enough that
some are running) when the harness's PostgreSQL is stopped (fast shutdown: every connection,
Optuna's storage's among them, is ended) and started again. The sweep must still end FINISHED
with every trial it asked for ended, and no MLflow run (the parent, a child) left RUNNING.
"""

import time

from mlflow.tracking import MlflowClient

from tests.production.faults_support import runs_left_running, wait_for

WORKER_ENV = {
    "CAUCE_EXPERIMENT_MLFLOW_RETRY_DELAY": "1",
    "CAUCE_EXPERIMENT_MLFLOW_RETRY_MAX_DELAY": "2",
}
TRIALS = 10
ENDED = {"COMPLETE", "PRUNED", "FAIL"}


def _sweep(harness, seed, sweep_id: str) -> dict | None:
    """The sweep's JSON, or None while the web cannot read it (the database is out)."""
    try:
        response = harness.api(seed, "GET", f"/api/sweeps/{sweep_id}/", timeout=10)
    except OSError:
        return None
    return response.json() if response.status_code == 200 else None


def test_a_sweep_survives_a_postgres_restart_and_reaches_its_count(harness):
    harness.start_workers(2, env=WORKER_ENV)
    seed = harness.seed()
    response = harness.api(
        seed,
        "POST",
        "/api/sweeps/",
        json={
            "project": seed.project_id,
            "dataset": seed.dataset_id,
            "name": "Barrido con la base de datos reiniciada",
            "target_column": seed.target_column,
            "algorithm": "RandomForestClassifier",
            "search_space": {
                "n_estimators": {"type": "int", "low": 150, "high": 300},
                "max_depth": {"type": "int", "low": 2, "high": 8},
            },
            "n_trials": TRIALS,
            "sampler": "random",
            "cv_folds": 3,
            "seed": 7,
        },
    )
    assert response.status_code == 201, response.text
    sweep_id = response.json()["id"]

    def one_done_and_one_running() -> bool:
        body = _sweep(harness, seed, sweep_id)
        statuses = [trial["status"] for trial in (body or {}).get("trials", [])]
        return "COMPLETE" in statuses and "RUNNING" in statuses

    wait_for(one_done_and_one_running, 180, "a trial done and another running", poll=0.2)
    down_at = time.monotonic()
    harness.restart_postgres(down_seconds=2)
    print(f"\nPostgreSQL down {time.monotonic() - down_at:.1f} s with trials running")

    def ended() -> dict | None:
        body = _sweep(harness, seed, sweep_id)
        if body and body["status"] not in ("QUEUED", "RUNNING"):
            return body
        return None

    body = wait_for(ended, 300, "the sweep ending after the restart", poll=1)
    statuses = [trial["status"] for trial in body["trials"]]
    print(
        f"sweep {body['status']}: "
        + ", ".join(f"{s} {statuses.count(s)}" for s in sorted(set(statuses)))
    )
    assert body["status"] == "FINISHED", body
    assert len(body["trials"]) == TRIALS, statuses
    assert set(statuses) <= ENDED, statuses
    assert statuses.count("COMPLETE") >= 1, statuses
    assert body["best"] and body["best"]["value"] is not None, body

    client = MlflowClient(tracking_uri=harness.mlflow_url)
    parent = client.get_run(body["mlflow_run_id"])
    assert parent.info.status == "FINISHED", parent.info
    children = client.search_runs(
        experiment_ids=[parent.info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
        max_results=1000,
    )
    assert len(children) >= TRIALS, len(children)
    assert runs_left_running(harness, {parent.info.experiment_id}) == []
