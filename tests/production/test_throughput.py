"""Throughput: 40 small experiments queued at once, with 1 Celery worker and then with 2.

The times are printed with the target (2 workers <= 0.65 times 1 worker; ``bench/`` measures it
too), never asserted: what is asserted is that none is lost and none runs twice. Each
experiment ends FINISHED, with exactly one MLflow run (tagged with its id, FINISHED, the one
Cauce points at), and its task was received and succeeded exactly once in the workers' logs.
"""

from tests.production.throughput import EXPERIMENTS, deliveries, measure, mlflow_runs_by_experiment


def test_40_experiments_with_one_then_two_workers_none_lost_none_twice(harness, capsys):
    seed = harness.seed()

    result = measure(harness, seed)

    with capsys.disabled():  # the figures in every run, CI included
        print(f"\n{result.report()}")
    one, two = result.phases
    assert len(one.ids) == len(two.ids) == EXPERIMENTS
    for phase in result.phases:
        assert set(phase.statuses.values()) == {"FINISHED"}, phase.statuses
    rows = harness.experiments(seed)
    ids = result.all_ids
    assert len(set(ids)) == len(ids) == 2 * EXPERIMENTS + 3
    assert {rows[i]["status"] for i in ids} == {"FINISHED"}
    [mlflow_experiment_id] = {rows[i]["mlflow_experiment_id"] for i in ids}
    runs = mlflow_runs_by_experiment(harness, mlflow_experiment_id)
    for experiment_id in ids:
        found = runs.get(experiment_id, [])
        assert len(found) == 1, f"{experiment_id}: {len(found)} MLflow runs"
        assert found[0].info.status == "FINISHED"
        assert found[0].info.run_id == rows[experiment_id]["mlflow_run_id"]
    assert set(runs) == set(ids), "MLflow runs of experiments this test did not queue"
    for experiment_id, events in deliveries(harness, ids).items():
        assert events == {"received": 1, "succeeded": 1}, (experiment_id, events)
