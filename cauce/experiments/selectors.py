"""Reads of experiments, always scoped to the projects the user belongs to."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, QuerySet
from django.http import Http404
from taggit.models import Tag

from cauce.experiments.models import MLExperiment, TaggedExperiment, TagSyncState
from cauce.experiments.tag_sync import mlflow_tags_desired
from cauce.projects.models import Membership, Project, Role
from cauce.projects.selectors import projects_for_user, require_role


def _filtered(
    queryset: QuerySet[MLExperiment],
    *,
    status: str | None = None,
    algorithm: str | None = None,
    tag: str | None = None,
    sync_pending: bool | None = None,
) -> QuerySet[MLExperiment]:
    if sync_pending is not None:
        # A change is pending while its outbox version is ahead of what reached the run (an
        # experiment without a run has nothing to sync: its run starts with the current tags).
        pending = TagSyncState.objects.filter(
            version__gt=F("synced_version"), experiment__mlflow_run_id__gt=""
        ).values("experiment_id")
        queryset = (
            queryset.filter(pk__in=pending) if sync_pending else queryset.exclude(pk__in=pending)
        )
    if status:
        queryset = queryset.filter(status=status)
    if algorithm:
        queryset = queryset.filter(algorithm=algorithm)
    if tag:
        # A subquery, not a join: a join on tags would repeat rows and need distinct().
        tagged = TaggedExperiment.objects.filter(tag__name=tag).values("object_id")
        queryset = queryset.filter(pk__in=tagged)
    return queryset


def experiment_list(
    *,
    project: Project,
    status: str | None = None,
    algorithm: str | None = None,
    tag: str | None = None,
    sync_pending: bool | None = None,
) -> QuerySet[MLExperiment]:
    """A project's experiments, newest first, with dataset and tags loaded in two queries."""
    queryset = (
        MLExperiment.objects.filter(project=project)
        .select_related("dataset")
        .prefetch_related("tags")
    )
    return _filtered(
        queryset, status=status, algorithm=algorithm, tag=tag, sync_pending=sync_pending
    )


def experiment_list_for_user(
    *,
    user: AbstractBaseUser,
    project_id: int | None = None,
    status: str | None = None,
    algorithm: str | None = None,
    tag: str | None = None,
    sync_pending: bool | None = None,
) -> QuerySet[MLExperiment]:
    """Experiments of every project the user is a member of (the API's list)."""
    queryset = (
        MLExperiment.objects.filter(project__in=projects_for_user(user=user))
        .select_related("project", "dataset", "created_by")
        .prefetch_related("tags")
    )
    if project_id is not None:
        queryset = queryset.filter(project_id=project_id)
    return _filtered(
        queryset, status=status, algorithm=algorithm, tag=tag, sync_pending=sync_pending
    )


def experiment_tag_names(*, project: Project) -> list[str]:
    """The tags used by a project's experiments (for the list's filter)."""
    experiment_ids = MLExperiment.objects.filter(project=project).values("pk")
    return list(
        Tag.objects.filter(experiments_taggedexperiment_items__object_id__in=experiment_ids)
        .order_by("name")
        .values_list("name", flat=True)
        .distinct()
    )


def experiment_get_for_user(
    *, user: AbstractBaseUser, experiment_id, role: str = Role.VIEWER
) -> tuple[MLExperiment, Membership]:
    """The experiment and the user's membership; 404 for outsiders, 403 below the role."""
    experiment = (
        MLExperiment.objects.select_related("project", "dataset", "created_by")
        .prefetch_related("tags")
        .filter(pk=experiment_id)
        .first()
    )
    if experiment is None:
        raise Http404
    membership = require_role(user=user, project=experiment.project, role=role)
    return experiment, membership


@dataclass(frozen=True)
class TagSyncStatus:
    """What the experiment page says about its run's tags, name and description."""

    has_run: bool
    pending: bool
    synced_at: datetime | None
    last_error: str
    attempts: int
    # What MLflow received shortened: [(key, received, total)].
    clipped: list[tuple[str, int, int]]


def experiment_tag_sync_status(*, experiment: MLExperiment) -> TagSyncStatus:
    state = TagSyncState.objects.filter(pk=experiment.pk).first()
    desired = mlflow_tags_desired(experiment, tag_names=[tag.name for tag in experiment.tags.all()])
    return TagSyncStatus(
        has_run=bool(experiment.mlflow_run_id),
        pending=bool(state and state.is_pending and experiment.mlflow_run_id),
        synced_at=state.synced_at if state else None,
        last_error=state.last_error if state else "",
        attempts=state.attempts if state else 0,
        clipped=[
            (key, values["received"], values["total"]) for key, values in desired.clipped.items()
        ],
    )
