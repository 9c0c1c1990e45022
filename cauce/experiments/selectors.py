"""Reads of experiments, always scoped to the projects the user belongs to."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.http import Http404
from taggit.models import Tag

from cauce.experiments.models import MLExperiment, TaggedExperiment
from cauce.projects.models import Membership, Project, Role
from cauce.projects.selectors import projects_for_user, require_role


def _filtered(
    queryset: QuerySet[MLExperiment],
    *,
    status: str | None = None,
    algorithm: str | None = None,
    tag: str | None = None,
) -> QuerySet[MLExperiment]:
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
) -> QuerySet[MLExperiment]:
    """A project's experiments, newest first, with dataset and tags loaded in two queries."""
    queryset = (
        MLExperiment.objects.filter(project=project)
        .select_related("dataset")
        .prefetch_related("tags")
    )
    return _filtered(queryset, status=status, algorithm=algorithm, tag=tag)


def experiment_list_for_user(
    *,
    user: AbstractBaseUser,
    project_id: int | None = None,
    status: str | None = None,
    algorithm: str | None = None,
    tag: str | None = None,
) -> QuerySet[MLExperiment]:
    """Experiments of every project the user is a member of (the API's list)."""
    queryset = (
        MLExperiment.objects.filter(project__in=projects_for_user(user=user))
        .select_related("project", "dataset", "created_by")
        .prefetch_related("tags")
    )
    if project_id is not None:
        queryset = queryset.filter(project_id=project_id)
    return _filtered(queryset, status=status, algorithm=algorithm, tag=tag)


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


PLOT_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg")


def experiment_plot_paths(*, experiment: MLExperiment) -> list[str]:
    """The run's plots: as the worker recorded them, else listed in the run's plots/ folder.

    Listing asks MLflow (web timeouts; a finished run's listing is cached): it raises
    MlflowUnavailable, or NotFoundError when there is no run.
    """
    if experiment.plots is not None:
        return list(experiment.plots)
    from cauce.artifacts.selectors import artifact_children

    entries = artifact_children(experiment=experiment, path="plots")
    return [
        entry.path
        for entry in entries
        if not entry.is_dir and entry.path.lower().endswith(PLOT_SUFFIXES)
    ]


def experiment_timings(*, experiment: MLExperiment) -> list[tuple[str, float]]:
    """(stage, seconds) of the last run, in the order the stages happen, total last."""
    order = ["prepare", "load", "fit", "evaluate", "log", "total"]
    timings = experiment.timings or {}
    known = [(name, timings[name]) for name in order if name in timings]
    return known + [(name, value) for name, value in timings.items() if name not in order]
