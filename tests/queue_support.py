"""Helpers of the tests that run experiments through a real worker on a queue of its own."""

import time
import uuid

import pytest
from django.utils import timezone

from cauce.experiments import services
from cauce.experiments.models import MLExperiment
from cauce.experiments.tasks import run_full_experiment_pipeline_task

Status = MLExperiment.Status


def queue_on(experiment: MLExperiment, queue: str) -> str:
    """What ``experiment_enqueue`` does, with the message sent to ``queue``; the task id."""
    task_id = str(uuid.uuid4())
    now = timezone.now()
    MLExperiment.objects.filter(pk=experiment.pk).update(
        status=Status.QUEUED,
        stage=MLExperiment.Stage.WAITING,
        queued_at=now,
        due_at=now,
        dispatches=1,
        task_id=task_id,
        finished_at=None,
        error="",
    )
    run_full_experiment_pipeline_task.apply_async(
        args=[str(experiment.pk)], task_id=task_id, queue=queue
    )
    return task_id


def wait_for(condition, what: str, log_path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    log = log_path.read_text()[-4000:] if log_path.exists() else "(no log)"
    pytest.fail(f"{what}: not within {seconds} s. Worker log:\n{log}")


def wait_until_ended(experiment: MLExperiment, log_path, seconds: float = 120) -> None:
    def ended() -> bool:
        experiment.refresh_from_db()
        return experiment.status not in MLExperiment.ACTIVE_STATUSES

    wait_for(ended, f"the end of {experiment.name}", log_path, seconds)


def make_experiment(project, dataset, name, algorithm, hyperparameters, target) -> MLExperiment:
    return services.experiment_create(
        project=project,
        user=project.created_by,
        name=name,
        dataset=dataset,
        target_column=target,
        algorithm=algorithm,
        hyperparameters=hyperparameters,
    )
