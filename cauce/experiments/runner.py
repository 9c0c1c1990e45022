"""Runs an experiment in a worker: the whole life of its MLflow run (being written)."""


def experiment_execute(*, experiment_id: str) -> None:
    raise NotImplementedError


def experiments_fail_stale() -> int:
    return 0
