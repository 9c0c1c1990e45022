"""Experiments built straight with the ORM, for the runner and task tests."""

from django.utils import timezone

from cauce.experiments.models import MLExperiment
from tests.fixtures.data import IRIS_FEATURES


def queued_experiment(dataset, **fields) -> MLExperiment:
    """A QUEUED iris RandomForest experiment on ``dataset``; ``fields`` override anything."""
    tags = fields.pop("tags", ["iris", "baseline"])
    values = {
        "project": dataset.project,
        "dataset": dataset,
        "dataset_version": dataset.latest_version,
        "name": "Bosque iris",
        "target_column": "species",
        "feature_columns": list(IRIS_FEATURES),
        "task_type": MLExperiment.TaskType.CLASSIFICATION,
        "algorithm": "RandomForestClassifier",
        "hyperparameters": {"n_estimators": 20, "max_depth": 4},
        "test_size": 0.2,
        "random_state": 7,
        "status": MLExperiment.Status.QUEUED,
        "stage": MLExperiment.Stage.WAITING,
        "queued_at": timezone.now(),
        "created_by": dataset.project.created_by,
    }
    values.update(fields)
    experiment = MLExperiment.objects.create(**values)
    if tags:
        experiment.tags.set(tags)
    return experiment
