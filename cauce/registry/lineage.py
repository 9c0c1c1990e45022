"""Which data trained which model: a dataset version's experiments and sweeps, and the
registered model versions (with the aliases that serve them now) trained on it.

It lives here, at the top of the apps (registry reads experiments, experiments read
datasets), so that the dataset pages and API need no import of the apps above them: they
load the model versions from here (the version page by htmx, the lineage API).
"""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from cauce.datasets.models import DatasetVersion
from cauce.experiments.models import MLExperiment
from cauce.integrations.mlflow import registry as mlflow_registry
from cauce.integrations.mlflow.registry import ModelVersionInfo
from cauce.registry.models import RegisteredModel
from cauce.registry.selectors import registered_model_list_for_user
from cauce.sweeps.models import Sweep


@dataclass(frozen=True)
class LineageModelVersion:
    info: ModelVersionInfo
    experiment: MLExperiment
    model: RegisteredModel | None  # None: a name the user cannot open (registered outside Cauce)


def dataset_version_experiments(*, version: DatasetVersion) -> QuerySet[MLExperiment]:
    """The experiments that trained (or will train) on the version, newest first."""
    return (
        MLExperiment.objects.filter(dataset_version=version)
        .select_related("project", "dataset")
        .prefetch_related("tags")
        .order_by("-created_at", "pk")
    )


def dataset_version_sweeps(*, version: DatasetVersion) -> QuerySet[Sweep]:
    """The sweeps whose trials trained (or will train) on the version, newest first."""
    return Sweep.objects.filter(dataset_version=version).order_by("-created_at", "pk")


def dataset_version_model_versions(
    *, version: DatasetVersion, user: AbstractBaseUser
) -> list[LineageModelVersion]:
    """The registered model versions whose run is one of the version's experiments': one
    MLflow search per 50 runs and one per 50 model names; ``MlflowUnavailable`` propagates."""
    experiments = {
        experiment.mlflow_run_id: experiment
        for experiment in MLExperiment.objects.filter(dataset_version=version)
        .exclude(mlflow_run_id="")
        .only("id", "name", "project_id", "mlflow_run_id", "dataset_id", "dataset_version_id")
    }
    if not experiments:
        return []
    versions = mlflow_registry.model_versions_for_runs(run_ids=experiments)
    visible = {
        model.name: model
        for model in registered_model_list_for_user(user=user).filter(
            name__in={info.name for info in versions}
        )
    }
    return [
        LineageModelVersion(
            info=info, experiment=experiments[info.run_id], model=visible.get(info.name)
        )
        for info in versions
        if info.run_id in experiments
    ]
