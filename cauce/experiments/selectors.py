"""Reads of experiments, always scoped to the projects the user belongs to."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Min, Q, QuerySet
from django.http import Http404
from taggit.models import Tag

from cauce.core.db import UnicodeLower
from cauce.datasets.models import Dataset
from cauce.experiments.models import MLExperiment, TaggedExperiment
from cauce.projects.models import Membership, Project, Role
from cauce.projects.selectors import projects_for_user, require_role

TAGS_ALL = "all"
TAGS_ANY = "any"
TAG_MODES = (TAGS_ALL, TAGS_ANY)


MAX_FILTER_TAGS = 20


def filter_tags_parse(values: Iterable[str]) -> tuple[str, ...]:
    """Tags of a filter from ``tags=a,b`` and/or ``tags=a&tags=b``: trimmed, each once.

    Raises ValueError past MAX_FILTER_TAGS (each tag is one more subquery).
    """
    tags: list[str] = []
    seen: set[str] = set()
    for text in values:
        for part in str(text).split(","):
            tag = " ".join(part.split())
            if tag and tag.casefold() not in seen:
                seen.add(tag.casefold())
                tags.append(tag)
    if len(tags) > MAX_FILTER_TAGS:
        raise ValueError(len(tags))
    return tuple(tags)


@dataclass(frozen=True)
class ExperimentFilters:
    """What a list of experiments is narrowed by: the same for the pages and the API.

    Tags match case-insensitively (the services never keep two spellings of one tag on an
    experiment). ``tags_mode`` "all" keeps experiments carrying every tag, "any" at least one.
    """

    tags: tuple[str, ...] = ()
    tags_mode: str = TAGS_ALL
    status: str = ""
    algorithm: str = ""
    dataset_id: int | None = None
    project_id: int | None = None
    q: str = ""

    @property
    def active(self) -> bool:
        return bool(
            self.tags or self.status or self.algorithm or self.dataset_id or self.project_id
        ) or bool(self.q.strip())

    def query(self, **changes) -> str:
        """This filter as a query string (bookmarkable), with ``changes`` applied."""
        values = {
            "q": self.q,
            "tags": ",".join(self.tags),
            "tags_mode": self.tags_mode if self.tags_mode != TAGS_ALL else "",
            "status": self.status,
            "algorithm": self.algorithm,
            "dataset": self.dataset_id or "",
            "project": self.project_id or "",
        }
        for name, value in changes.items():
            values[name] = ",".join(value) if isinstance(value, tuple | list) else value
        return urlencode({name: value for name, value in values.items() if value})

    def with_tag(self, tag: str) -> str:
        if tag.casefold() in {chosen.casefold() for chosen in self.tags}:
            return self.query()
        return self.query(tags=(*self.tags, tag))

    def without_tag(self, tag: str) -> str:
        return self.query(tags=tuple(chosen for chosen in self.tags if chosen != tag))


@dataclass(frozen=True)
class TagCount:
    name: str
    count: int
    chosen: bool = False


@dataclass(frozen=True)
class FilterChoices:
    """The values the filter controls offer, taken from the experiments in scope."""

    datasets: list[Dataset] = field(default_factory=list)
    tag_names: list[str] = field(default_factory=list)


def _tagged_with(tags: tuple[str, ...]) -> QuerySet[TaggedExperiment]:
    """The tag links of any of ``tags`` (ignoring case), as a subquery of experiment ids."""
    lowered = {tag.lower() for tag in tags}
    matching = Tag.objects.alias(lowered=UnicodeLower("name")).filter(lowered__in=lowered)
    return TaggedExperiment.objects.filter(tag__in=matching).values("object_id")


def experiments_filter(
    queryset: QuerySet[MLExperiment], *, filters: ExperimentFilters
) -> QuerySet[MLExperiment]:
    """Narrow ``queryset``; tags are semi-joins on subqueries, so no row is ever repeated."""
    if filters.project_id is not None:
        queryset = queryset.filter(project_id=filters.project_id)
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.algorithm:
        queryset = queryset.filter(algorithm=filters.algorithm)
    if filters.dataset_id is not None:
        queryset = queryset.filter(dataset_id=filters.dataset_id)
    words = filters.q.lower().split()
    if words:
        queryset = queryset.alias(
            name_lowered=UnicodeLower("name"), description_lowered=UnicodeLower("description")
        )
        for word in words:
            queryset = queryset.filter(
                Q(name_lowered__contains=word) | Q(description_lowered__contains=word)
            )
    if filters.tags:
        if filters.tags_mode == TAGS_ANY:
            queryset = queryset.filter(pk__in=_tagged_with(filters.tags))
        else:
            for tag in filters.tags:
                queryset = queryset.filter(pk__in=_tagged_with((tag,)))
    return queryset


def experiment_list(
    *, project: Project, filters: ExperimentFilters | None = None
) -> QuerySet[MLExperiment]:
    """A project's experiments, newest first, with dataset and tags loaded in two queries."""
    queryset = (
        MLExperiment.objects.filter(project=project)
        .select_related("dataset")
        .prefetch_related("tags")
        .order_by("-created_at", "-pk")
    )
    return experiments_filter(queryset, filters=filters or ExperimentFilters())


def experiment_list_for_user(
    *, user: AbstractBaseUser, filters: ExperimentFilters | None = None
) -> QuerySet[MLExperiment]:
    """Experiments of every project the user is a member of (the "Experimentos" page, the API)."""
    queryset = (
        MLExperiment.objects.filter(project__in=projects_for_user(user=user).values("pk"))
        .select_related("project", "dataset", "created_by")
        .prefetch_related("tags")
        .order_by("-created_at", "-pk")
    )
    return experiments_filter(queryset, filters=filters or ExperimentFilters())


def experiment_tag_counts(
    *, experiments: QuerySet[MLExperiment], chosen: tuple[str, ...] = (), limit: int = 60
) -> list[TagCount]:
    """How many of ``experiments`` carry each tag, most used first (one grouped query)."""
    chosen_keys = {tag.casefold() for tag in chosen}
    rows = (
        TaggedExperiment.objects.filter(object_id__in=experiments.order_by().values("pk"))
        .values(key=UnicodeLower("tag__name"))
        .annotate(name=Min("tag__name"), count=Count("object_id", distinct=True))
        .order_by("-count", "key")[:limit]
    )
    return [
        TagCount(name=row["name"], count=row["count"], chosen=row["name"].casefold() in chosen_keys)
        for row in rows
    ]


def experiment_tag_names(*, projects: QuerySet[Project] | Project) -> list[str]:
    """The tags used by the experiments of a project (or projects): filters, autocompletion."""
    if isinstance(projects, Project):
        experiments = MLExperiment.objects.filter(project=projects)
    else:
        experiments = MLExperiment.objects.filter(project__in=projects.values("pk"))
    names = (
        Tag.objects.filter(
            experiments_taggedexperiment_items__object_id__in=experiments.values("pk")
        )
        .order_by()
        .values_list("name", flat=True)
        .distinct()
    )
    # Sorted here so that the order ignores case on every database.
    return sorted(names, key=lambda name: (name.casefold(), name))


def experiment_filter_choices(*, projects: QuerySet[Project]) -> FilterChoices:
    """The datasets and tags of these projects (two queries)."""
    project_ids = projects.values("pk")
    datasets = list(
        Dataset.objects.filter(project__in=project_ids)
        .select_related("project")
        .order_by("project__name", "name", "pk")
    )
    return FilterChoices(
        datasets=datasets,
        tag_names=experiment_tag_names(projects=projects),
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
