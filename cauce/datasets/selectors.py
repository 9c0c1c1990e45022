"""Reads of datasets, always scoped to the projects the user belongs to."""

import pandas as pd
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.http import Http404

from cauce.datasets.inference import load_dataframe
from cauce.datasets.models import Dataset
from cauce.projects.models import Project, Role
from cauce.projects.selectors import require_role


def dataset_list(*, project: Project) -> QuerySet[Dataset]:
    return Dataset.objects.filter(project=project).select_related("uploaded_by")


def dataset_get_for_user(
    *, user: AbstractBaseUser, dataset_id: int, role: str = Role.VIEWER
) -> Dataset:
    """The dataset if the user's role on its project allows; 404 for outsiders, 403 below role."""
    dataset = Dataset.objects.select_related("project", "uploaded_by").filter(pk=dataset_id).first()
    if dataset is None:
        raise Http404
    require_role(user=user, project=dataset.project, role=role)
    return dataset


def dataset_experiments(*, dataset: Dataset) -> QuerySet:
    return dataset.experiments.prefetch_related("tags").order_by("-created_at")


def dataset_dataframe(*, dataset: Dataset, columns: list[str] | None = None) -> pd.DataFrame:
    """The stored file as a DataFrame, parsed as it was when profiled (any storage backend)."""
    with dataset.file.open("rb") as handle:
        return load_dataframe(
            handle,
            file_format=dataset.file_format,
            encoding=dataset.encoding,
            delimiter=dataset.delimiter,
            columns=columns,
        )
