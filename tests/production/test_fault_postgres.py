"""PostgreSQL restarted under load: requests fail cleanly and recover, no worker dies for good,
and no experiment stays stuck.

While a prober keeps requesting pages and API calls and two workers run experiments, the
harness's PostgreSQL is stopped (fast shutdown: every connection is ended) and started again.
"""

import json
import time

from tests.production.faults_support import (
    DATABASE_DOWN_ES,
    Prober,
    page_session,
    runs_left_running,
    status_counts,
    wait_for,
)

# Workers retry soon after an outage (the defaults wait 10 s and more).
WORKER_ENV = {
    "CAUCE_EXPERIMENT_MLFLOW_RETRY_DELAY": "1",
    "CAUCE_EXPERIMENT_MLFLOW_RETRY_MAX_DELAY": "2",
}
# Slow enough that some are running when the database goes (trees on the tiny data set).
RUNNING_OPTIONS = {"algorithm": "RandomForestClassifier", "hyperparameters": {"n_estimators": 300}}


def _assert_clean(answer) -> None:
    """A 503 says the database is out, in Spanish: a page, or the API's JSON error."""
    assert answer.status == 503, answer
    assert "Traceback" not in answer.body
    if answer.path.startswith("/api/"):
        assert answer.content_type.startswith("application/json"), answer
        assert json.loads(answer.body) == {"message": DATABASE_DOWN_ES}, answer
    else:
        assert answer.content_type.startswith("text/html"), answer
        assert DATABASE_DOWN_ES in answer.body, answer


def test_requests_fail_cleanly_and_recover_and_every_experiment_ends(harness):
    harness.start_workers(2, env=WORKER_ENV)
    workers_before = harness.worker_pids()
    seed = harness.seed()
    [done] = harness.queue_experiments(seed, 1)
    assert harness.wait_experiments(seed, [done], timeout=90) == {done: "FINISHED"}
    paths = [
        "/projects/",
        f"/projects/{seed.project_id}/experiments/",
        f"/experiments/{done}/",
        f"/api/experiments/?project={seed.project_id}",
        f"/api/experiments/{done}/",
    ]
    prober = Prober(harness.web_url, seed, page_session(harness.web_url, seed), paths).start()
    try:
        ids = harness.queue_experiments(seed, 4, **RUNNING_OPTIONS)
        wait_for(
            lambda: "RUNNING" in {row["status"] for row in harness.experiments(seed).values()},
            60,
            "an experiment running",
            poll=0.1,
        )
        down_at = time.monotonic()
        harness.restart_postgres(down_seconds=2)
        back_at = time.monotonic()

        def every_path_answered_after_the_restart() -> bool:
            recovered = {a.path for a in list(prober.answers) if a.at > back_at and a.status == 200}
            return recovered == set(paths)

        wait_for(every_path_answered_after_the_restart, 30, "every path answering again")
    finally:
        answers = prober.stop()

    during = [a for a in answers if down_at <= a.at <= back_at]
    print(
        f"\nPostgreSQL down {back_at - down_at:.1f} s; {len(answers)} requests, "
        f"{len(during)} during the outage; statuses {status_counts(answers)}, "
        f"during the outage {status_counts(during)}"
    )
    assert {a.status for a in answers} <= {200, 503}, status_counts(answers)
    refused = [a for a in answers if a.status == 503]
    assert refused, "no request saw the outage"
    for answer in refused:
        _assert_clean(answer)
    # Recovered: after the first answer that came back, nothing failed any more.
    first_back = min(a.at for a in answers if a.at > back_at and a.status == 200)
    assert all(a.status == 200 for a in answers if a.at > first_back + 1)

    statuses = harness.wait_experiments(seed, ids, timeout=120)
    rows = harness.experiments(seed)
    print(
        "experiments after the restart: "
        + ", ".join(
            f"{s}: {list(statuses.values()).count(s)}" for s in sorted(set(statuses.values()))
        )
    )
    for experiment_id, status in statuses.items():
        assert status in {"FINISHED", "ERROR"}, (experiment_id, status)
        if status == "ERROR":
            assert rows[experiment_id]["error"], rows[experiment_id]
            print(f"  ERROR: {rows[experiment_id]['error']}")
    retried = sum(
        w.log_path.read_text(errors="replace").count("Database unavailable running experiment")
        for w in harness.workers
    )
    print(f"runs interrupted by the outage and retried: {retried}")
    mlflow_experiments = {row["mlflow_experiment_id"] for row in rows.values()} - {""}
    assert runs_left_running(harness, mlflow_experiments) == []

    # The same worker processes are alive, and take new work.
    assert harness.worker_pids() == workers_before
    more = harness.queue_experiments(seed, 2)
    assert harness.wait_experiments(seed, more, timeout=90) == dict.fromkeys(more, "FINISHED")
