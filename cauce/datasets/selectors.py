"""Reads of datasets, always scoped to the projects the user belongs to."""

from dataclasses import dataclass

import pandas as pd
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, QuerySet
from django.http import Http404

from cauce.datasets.inference import load_dataframe
from cauce.datasets.models import Dataset, DatasetVersion
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


def dataset_dataframe(
    *, dataset: Dataset | DatasetVersion, columns: list[str] | None = None
) -> pd.DataFrame:
    """The stored file as a DataFrame, parsed as it was when profiled (any storage backend)."""
    with dataset.file.open("rb") as handle:
        return load_dataframe(
            handle,
            file_format=dataset.file_format,
            encoding=dataset.encoding,
            delimiter=dataset.delimiter,
            columns=columns,
        )


def dataset_versions(*, dataset: Dataset) -> QuerySet[DatasetVersion]:
    """Newest first, with who uploaded each and how many experiments use it."""
    return (
        dataset.versions.select_related("created_by")
        .annotate(experiment_count=Count("experiments"))
        .order_by("-version")
    )


def dataset_version_get_for_user(
    *, user: AbstractBaseUser, dataset_id: int, version: int, role: str = Role.VIEWER
) -> DatasetVersion:
    """One version of a dataset the user may read (404 otherwise, as for the dataset)."""
    dataset = dataset_get_for_user(user=user, dataset_id=dataset_id, role=role)
    found = dataset.versions.select_related("created_by").filter(version=version).first()
    if found is None:
        raise Http404
    found.dataset = dataset
    return found


def dataset_version_identical(*, dataset: Dataset) -> DatasetVersion | None:
    """The first version of ANOTHER dataset of the same project whose file is the dataset's
    current one byte for byte (the same digest): an upload of the same file as a new dataset
    is kept (a copy may be wanted) but named as such. Readers of ``dataset`` read its project."""
    latest = dataset.latest_version
    if latest is None or not latest.digest:
        return None
    return (
        DatasetVersion.objects.filter(dataset__project_id=dataset.project_id, digest=latest.digest)
        .exclude(dataset_id=dataset.pk)
        .select_related("dataset")
        .order_by("created_at", "pk")
        .first()
    )


def dataset_version_previous(*, version: DatasetVersion) -> DatasetVersion | None:
    return (
        DatasetVersion.objects.filter(dataset_id=version.dataset_id, version__lt=version.version)
        .order_by("-version")
        .first()
    )


@dataclass(frozen=True)
class RetypedColumn:
    name: str
    before: str
    after: str


@dataclass(frozen=True)
class DiffColumn:
    """A column only one side has, with its type on that side."""

    name: str
    dtype: str


@dataclass(frozen=True)
class SchemaDiff:
    added: list[DiffColumn]  # typed as in the new version
    removed: list[DiffColumn]  # typed as in the old version
    retyped: list[RetypedColumn]
    rows_before: int
    rows_after: int

    @property
    def rows_change(self) -> int:
        return self.rows_after - self.rows_before

    @property
    def columns_changed(self) -> bool:
        return bool(self.added or self.removed or self.retyped)


def _column_type(column: dict) -> str:
    return str(column.get("dtype", ""))


def schema_diff(*, before: DatasetVersion, after: DatasetVersion) -> SchemaDiff:
    """Columns added, removed and retyped (their dtype changed), and the row counts."""
    old = {column["name"]: column for column in before.schema}
    new = {column["name"]: column for column in after.schema}
    return SchemaDiff(
        added=[DiffColumn(name, _column_type(new[name])) for name in new if name not in old],
        removed=[DiffColumn(name, _column_type(old[name])) for name in old if name not in new],
        retyped=[
            RetypedColumn(name, _column_type(old[name]), _column_type(new[name]))
            for name in new
            if name in old and _column_type(old[name]) != _column_type(new[name])
        ],
        rows_before=before.row_count,
        rows_after=after.row_count,
    )
