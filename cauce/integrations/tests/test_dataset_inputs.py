"""Runs of one MLflow experiment logging the same dataset at the same time, against a real
MLflow server: MLflow's check-then-insert of the dataset makes all but one refused on its
unique key, and Cauce logs those again (see ``cauce.integrations.mlflow.datasets``)."""

import threading
import uuid

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from cauce.integrations.mlflow import datasets
from cauce.integrations.mlflow.errors import MlflowError

RUNS = 3
ROUNDS = 6


def _splits() -> dict[str, datasets.DatasetSplit]:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 0, 1]})
    split = datasets.DatasetSplit(features=frame[["x"]], target=frame["y"])
    return {datasets.CONTEXT_TRAINING: split, datasets.CONTEXT_EVALUATION: split}


def _log(run_id: str) -> None:
    datasets.run_log_dataset_inputs(
        run_id=run_id,
        name="Iris v1",
        digest="0123456789abcdef0123456789abcdef",
        source_url="https://cauce.example.org/datasets/1/versions/1/",
        target="y",
        splits=_splits(),
    )


class _CountingClient:
    """MLflow's real client, counting the ``log_inputs`` requests made through it."""

    def __init__(self, client):
        self._client = client
        self.log_inputs_calls = 0
        self._lock = threading.Lock()

    def log_inputs(self, *args, **kwargs):
        with self._lock:
            self.log_inputs_calls += 1
        return self._client.log_inputs(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


@pytest.fixture
def counting_client(mlflow, monkeypatch):
    counting = _CountingClient(MlflowClient(tracking_uri=mlflow))
    monkeypatch.setattr(datasets, "get_client", lambda: counting)
    return counting


def test_runs_logging_one_dataset_at_once_all_get_their_inputs(mlflow, counting_client):
    client = MlflowClient(tracking_uri=mlflow)
    failures: list[BaseException] = []
    run_ids: list[str] = []
    for _ in range(ROUNDS):
        experiment_id = client.create_experiment(f"inputs-race-{uuid.uuid4().hex[:8]}")
        runs = [client.create_run(experiment_id).info.run_id for _ in range(RUNS)]
        run_ids += runs
        start = threading.Barrier(RUNS)

        def log(run_id: str, start=start) -> None:
            start.wait()
            try:
                _log(run_id)
            except BaseException as exc:  # collected for the assertion below
                failures.append(exc)

        threads = [threading.Thread(target=log, args=(run_id,)) for run_id in runs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    assert failures == []
    for run_id in run_ids:
        inputs = client.get_run(run_id).inputs.dataset_inputs
        contexts = sorted(tag.value for item in inputs for tag in item.tags)
        assert contexts == ["evaluation", "training"], run_id
    # Each run logged at least once; the ones that lost the race, again.
    assert counting_client.log_inputs_calls >= len(run_ids)


def test_a_refusal_that_is_no_race_is_not_retried(mlflow, counting_client):
    client = MlflowClient(tracking_uri=mlflow)
    experiment_id = client.create_experiment(f"inputs-ended-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(experiment_id).info.run_id
    client.delete_run(run_id)  # MLflow refuses inputs for a deleted run

    with pytest.raises(MlflowError) as caught:
        _log(run_id)

    assert not datasets.lost_insert_race(caught.value)
    assert counting_client.log_inputs_calls == 1


def test_the_race_is_told_from_its_refusal_message():
    race = MlflowError(
        "(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id, "
        "datasets.name, datasets.digest"
    )
    postgres = MlflowError(
        "(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint "
        '"dataset_pk"'
    )
    other = MlflowError("The run 0123 must be in the 'active' state. Current state is deleted.")

    assert datasets.lost_insert_race(race)
    assert datasets.lost_insert_race(postgres)
    assert not datasets.lost_insert_race(other)
