"""Helpers shared by the tests of the experiments' services, pages and API."""

from django.utils import timezone

from cauce.experiments import services
from cauce.experiments.models import MLExperiment


def create_experiment(*, project, dataset, user, **overrides) -> MLExperiment:
    arguments = {
        "name": "Iris base",
        "dataset": dataset,
        "target_column": "species",
        "algorithm": "LogisticRegression",
        "tags": ["base"],
    }
    arguments.update(overrides)
    return services.experiment_create(project=project, user=user, **arguments)


def set_state(experiment: MLExperiment, **fields) -> MLExperiment:
    """Write what the worker would write (status, stage, metrics, MLflow ids...)."""
    MLExperiment.objects.filter(pk=experiment.pk).update(updated_at=timezone.now(), **fields)
    experiment.refresh_from_db()
    return experiment


def finish(experiment: MLExperiment) -> MLExperiment:
    return set_state(
        experiment,
        status=MLExperiment.Status.FINISHED,
        stage="",
        metrics={"accuracy": 0.9667, "f1_macro": 0.9665},
        mlflow_experiment_id="17",
        mlflow_run_id="0123456789abcdef0123456789abcdef",
        finished_at=timezone.now(),
    )
