"""Runs in the real MLflow server and experiment rows pointing at them, for comparison tests."""

from __future__ import annotations

import time
from dataclasses import dataclass

from cauce.experiments.models import MLExperiment


@dataclass(frozen=True)
class LoggedRun:
    run_id: str
    params: dict[str, str]
    metrics: dict[str, float]


def runs_log(client, *, experiment_name: str, count: int, params: int = 3) -> tuple[str, list]:
    """``count`` finished runs: ``params`` params (p0 varies, the others are equal), accuracy,
    rmse and a stage timing; one ``log_batch`` each."""
    from mlflow.entities import Metric, Param

    experiment = client.get_experiment_by_name(experiment_name)
    experiment_id = (
        experiment.experiment_id if experiment else client.create_experiment(experiment_name)
    )
    now = int(time.time() * 1000)
    logged = []
    for index in range(count):
        run = client.create_run(experiment_id, run_name=f"run {index}", tags={"team": "a"})
        values = {f"p{number}": str(index if number == 0 else number) for number in range(params)}
        metrics = {
            "accuracy": 0.5 + index / (4 * count),
            "rmse": 1.0 + index,
            "cauce.time.fit_s": 0.1 * (index + 1),
        }
        client.log_batch(
            run.info.run_id,
            params=[Param(key, value) for key, value in values.items()],
            metrics=[Metric(key, value, now, 0) for key, value in metrics.items()],
        )
        client.set_terminated(run.info.run_id)
        logged.append(LoggedRun(run.info.run_id, values, metrics))
    return experiment_id, logged


def experiments_for_runs(
    *, project, dataset, user, mlflow_experiment_id: str, runs: list[LoggedRun], prefix="Exp"
) -> list[MLExperiment]:
    """One FINISHED experiment row per run, in the runs' order."""
    rows = [
        MLExperiment(
            project=project,
            dataset=dataset,
            dataset_version=dataset.latest_version,
            name=f"{prefix} {index:03d}",
            target_column="species",
            task_type=MLExperiment.TaskType.CLASSIFICATION,
            algorithm="RandomForestClassifier",
            status=MLExperiment.Status.FINISHED,
            mlflow_experiment_id=mlflow_experiment_id,
            mlflow_run_id=run.run_id,
            created_by=user,
        )
        for index, run in enumerate(runs)
    ]
    return MLExperiment.objects.bulk_create(rows)
