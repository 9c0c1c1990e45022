"""Faults of the workers and the broker, on the production harness (issue 8).

- A Celery worker killed with SIGKILL (its whole process group, as when a container is
  killed) in the middle of a training: the experiment ends ERROR with the message that says
  so (or, redelivered, FINISHED), never stays RUNNING, and its MLflow run does not either; the
  experiments queued behind it are not lost. ``tests/test_killed_worker.py`` proves the same
  reaping paths on the embedded broker with a one-process worker; here it is Redis, a prefork
  worker, beat's periodic check and MLflow on PostgreSQL and S3.
- Redis restarted while experiments are queued: every one of them still finishes, once.
"""

import time

from mlflow.tracking import MlflowClient

from tests.fixtures.data import slow_classification_csv
from tests.production.conftest import FAULT_ENV
from tests.production.faults_support import PROBE_TIMEOUT, page_session
from tests.production.harness import QUEUE, group_alive
from tests.production.throughput import deliveries, mlflow_runs_by_experiment

STALE_AFTER = int(FAULT_ENV["CAUCE_EXPERIMENT_STALE_AFTER_SECONDS"])
STALE_MESSAGE = (
    "El proceso de trabajo se detuvo durante la ejecución (sin señales de vida desde hace más "
    f"de {STALE_AFTER} s). Vuelva a ejecutar el experimento."
)
TRAINING_WITHIN_SECONDS = 90
END_WITHIN_SECONDS = 180


def _wait_training(harness, seed, experiment_id) -> dict:
    deadline = time.monotonic() + TRAINING_WITHIN_SECONDS
    while time.monotonic() < deadline:
        row = harness.experiment(seed, experiment_id)
        assert row["status"] in {"QUEUED", "RUNNING"}, row
        if row["status"] == "RUNNING" and row["stage"] == "training" and row["mlflow_run_id"]:
            return row
        time.sleep(0.3)
    raise AssertionError(f"not training within {TRAINING_WITHIN_SECONDS} s: {row}")


def _wait_running(harness, seed, ids) -> None:
    """Until one of ``ids`` runs (its message taken, not yet acknowledged)."""
    deadline = time.monotonic() + TRAINING_WITHIN_SECONDS
    while time.monotonic() < deadline:
        rows = harness.experiments(seed)
        if any(rows[i]["status"] == "RUNNING" for i in ids):
            return
        time.sleep(0.2)
    raise AssertionError(f"none of the experiments ran within {TRAINING_WITHIN_SECONDS} s")


def _run_status_settles(client, run_id: str, timeout: float = 60) -> str:
    """The MLflow run's status once it is no longer RUNNING (or RUNNING after ``timeout``)."""
    deadline = time.monotonic() + timeout
    status = client.get_run(run_id).info.status
    while status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.5)
        status = client.get_run(run_id).info.status
    return status


def test_a_worker_killed_mid_training_leaves_nothing_running_and_loses_nothing(harness):
    seed = harness.seed()
    slow_dataset = harness.upload_dataset(
        seed, "lento.csv", slow_classification_csv(), name="Lento"
    )
    harness.start_workers(1)
    [slow] = harness.create_experiments(
        seed,
        1,
        name_prefix="lento",
        dataset=slow_dataset,
        feature_columns=[f"x{index}" for index in range(8)],
        algorithm="GradientBoostingClassifier",
        hyperparameters={"n_estimators": 2000, "max_depth": 3},
    )
    harness.run_experiments(seed, [slow])
    behind = harness.queue_experiments(seed, 3, name_prefix="detras")
    training = _wait_training(harness, seed, slow)
    [killed_pid] = harness.worker_pids()

    harness.kill_worker(0)

    assert not group_alive(killed_pid), "a process of the killed worker is still alive"
    harness.start_workers(1)
    statuses = harness.wait_experiments(seed, [slow, *behind], timeout=END_WITHIN_SECONDS)
    assert {statuses[i] for i in behind} == {"FINISHED"}, statuses
    row = harness.experiment(seed, slow)
    assert row["status"] in {"ERROR", "FINISHED"}, row
    if row["status"] == "ERROR":
        assert row["error"] == STALE_MESSAGE
    client = MlflowClient(tracking_uri=harness.mlflow_url)
    expected = "FAILED" if row["status"] == "ERROR" else "FINISHED"
    assert _run_status_settles(client, training["mlflow_run_id"]) == expected
    runs = mlflow_runs_by_experiment(harness, row["mlflow_experiment_id"])
    assert "RUNNING" not in {run.info.status for run in runs[slow]}
    for experiment_id in behind:
        assert [run.info.status for run in runs[experiment_id]] == ["FINISHED"]


def _broker_drained(harness, timeout: float = 90) -> bool:
    """Whether the queue and kombu's unacknowledged set are empty within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if harness.redis_cli("llen", QUEUE) == "0" and harness.redis_cli("hlen", "unacked") == "0":
            return True
        time.sleep(0.5)
    return False


def _settled_deliveries(harness, ids, timeout: float = 30) -> dict:
    """The workers' log events per experiment once every received task has ended."""
    deadline = time.monotonic() + timeout
    delivered = deliveries(harness, ids)
    while time.monotonic() < deadline:
        if all(e["received"] == e["succeeded"] + e["failed"] for e in delivered.values()):
            break
        time.sleep(0.5)
        delivered = deliveries(harness, ids)
    return delivered


def _pages_while_redis_is_down(harness, session, finished: str) -> dict[str, int]:
    """Path -> status of the pages that use Django's cache (Redis's database 1 here, as in
    compose): the artifacts tab of a finished run and MLflow's status."""
    paths = [f"/experiments/{finished}/artifacts/tab/", "/mlflow-status/"]
    answers = {}
    for path in paths:
        response = session.get(
            harness.web_url + path, headers={"HX-Request": "true"}, timeout=PROBE_TIMEOUT
        )
        answers[path] = response.status_code
        assert "Traceback" not in response.text
    return answers


def test_redis_restarted_with_experiments_queued_every_one_still_finishes_once(harness):
    seed = harness.seed()
    harness.start_workers(1)
    [finished] = harness.queue_experiments(seed, 1, name_prefix="redis-before")
    assert harness.wait_experiments(seed, [finished], timeout=90) == {finished: "FINISHED"}
    session = page_session(harness.web_url, seed)
    ids = harness.queue_experiments(seed, 6, name_prefix="redis")
    _wait_running(harness, seed, ids)
    queued_before = harness.redis_cli("llen", QUEUE)
    # The append-only file, like compose's Redis: a restart keeps the queue.
    harness.stop_service("redis")
    down_at = time.monotonic()
    # The broker and the cache are gone: the pages that cache still answer, from MLflow.
    answers = _pages_while_redis_is_down(harness, session, finished)
    time.sleep(max(0.0, 2 - (time.monotonic() - down_at)))
    harness.start_service("redis")
    queued_after = harness.redis_cli("llen", QUEUE)
    print(f"\nmessages in the queue: {queued_before} before the restart, {queued_after} after")
    print(f"pages while Redis was down: {answers}")
    assert set(answers.values()) == {200}, answers

    statuses = harness.wait_experiments(seed, ids, timeout=END_WITHIN_SECONDS)

    assert set(statuses.values()) == {"FINISHED"}, statuses
    # The message of the experiment running at the restart may be left unacknowledged (its
    # worker's connection was gone when it finished): Redis gives it again after the
    # visibility timeout. Given now, the worker that takes it leaves the experiment alone.
    restored = harness.restore_unacked()
    assert _broker_drained(harness), "messages left in the broker"
    delivered = _settled_deliveries(harness, ids)
    twice = sum(events["received"] > 1 for events in delivered.values())
    print(f"restored {restored} unacknowledged message(s); {twice} experiment(s) delivered twice")
    rows = harness.experiments(seed)
    assert {rows[i]["status"] for i in ids} == {"FINISHED"}
    [mlflow_experiment_id] = {rows[i]["mlflow_experiment_id"] for i in ids}
    runs = mlflow_runs_by_experiment(harness, mlflow_experiment_id)
    for experiment_id in ids:
        assert [run.info.status for run in runs[experiment_id]] == ["FINISHED"]
        assert runs[experiment_id][0].info.run_id == rows[experiment_id]["mlflow_run_id"]
    for experiment_id, events in delivered.items():
        assert events["received"] >= 1, (experiment_id, events)
        assert events["received"] == events["succeeded"], (experiment_id, events)
