"""Reads of experiments, always scoped to the projects the user belongs to."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.http import Http404
from django.utils.translation import gettext_lazy
from taggit.models import Tag

from cauce.core.db import UnicodeLower
from cauce.datasets.models import Dataset
from cauce.experiments.models import MLExperiment, TaggedExperiment, TagSyncState
from cauce.experiments.tag_sync import mlflow_tags_desired
from cauce.projects.models import Membership, Project, Role
from cauce.projects.selectors import projects_for_user, require_role

TAGS_ALL = "all"
TAGS_ANY = "any"
TAG_MODES = (TAGS_ALL, TAGS_ANY)
# The "Sincronización" filter's values in a query string.
SYNC_PENDING = "pending"
SYNC_SYNCED = "synced"
SYNC_CHOICES = (SYNC_PENDING, SYNC_SYNCED)


MAX_FILTER_TAGS = 20

# How a list of experiments can be sorted (?ordering= on the pages and the API): a key, or a
# key after "-" for the other way. Every order ends on (created, id): stable across pages.
ORDERING_KEYS = ("name", "project", "status", "algorithm", "dataset", "created", "main_metric")
DEFAULT_ORDERING = "-created"
ORDERING_CHOICES = tuple(choice for key in ORDERING_KEYS for choice in (key, f"-{key}"))


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
    # True: only experiments whose run has a tag change not yet in MLflow; False: none such.
    sync_pending: bool | None = None
    # One of ORDERING_CHOICES; "" is DEFAULT_ORDERING. Not a filter: kept in the links.
    ordering: str = ""

    @property
    def active(self) -> bool:
        return bool(
            self.tags or self.status or self.algorithm or self.dataset_id or self.project_id
        ) or bool(self.q.strip() or self.sync_pending is not None)

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
            "sync": {True: SYNC_PENDING, False: SYNC_SYNCED}.get(self.sync_pending, ""),
            "ordering": self.ordering if self.ordering != DEFAULT_ORDERING else "",
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


def _tag_sync_pending() -> QuerySet[TagSyncState]:
    """Outbox rows ahead of what reached the run (an experiment without a run has nothing to
    sync: its run will start with the current tags)."""
    return TagSyncState.objects.filter(
        version__gt=F("synced_version"), experiment__mlflow_run_id__gt=""
    )


def _with_sync_pending(queryset: QuerySet[MLExperiment]) -> QuerySet[MLExperiment]:
    """``tag_sync_pending`` on each row, for the list's "pendiente" badge (no extra query)."""
    return queryset.annotate(
        tag_sync_pending=Exists(_tag_sync_pending().filter(experiment_id=OuterRef("pk")))
    )


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
    if filters.sync_pending is not None:
        # Pending while the outbox version is ahead of what reached the run (an experiment
        # without a run has nothing to sync: its run will start with the current tags).
        pending = _tag_sync_pending().values("experiment_id")
        queryset = (
            queryset.filter(pk__in=pending)
            if filters.sync_pending
            else queryset.exclude(pk__in=pending)
        )
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


def ordering_parse(value: str | None) -> str:
    """The ordering of a query string, or "" (the default) for one Cauce does not know."""
    return value if value in ORDERING_CHOICES else ""


# Statuses in the order an experiment lives them, for sorting by status.
_STATUS_ORDER = (
    MLExperiment.Status.DRAFT,
    MLExperiment.Status.QUEUED,
    MLExperiment.Status.RUNNING,
    MLExperiment.Status.FINISHED,
    MLExperiment.Status.ERROR,
    MLExperiment.Status.CANCELLED,
)


def main_metric_expression() -> Case:
    """Each experiment's main metric, read from its metrics in the database: f1_macro for a
    classification, r2 for a regression (see MLExperiment.main_metric_name); NULL without."""
    Task = MLExperiment.TaskType
    return Case(
        *(
            When(task_type=task, then=Cast(KT(f"metrics__{name}"), FloatField()))
            for task, name in ((Task.CLASSIFICATION, "f1_macro"), (Task.REGRESSION, "r2"))
        ),
        output_field=FloatField(),
    )


def experiments_order(queryset: QuerySet[MLExperiment], *, ordering: str) -> QuerySet[MLExperiment]:
    """Sort in the query (pages are cut from it). ``main_metric`` groups the experiments by
    task type first (a classification's f1_macro and a regression's r2 are not comparable),
    then by the metric, those without one last; "-main_metric" puts the best first (both
    metrics are better higher)."""
    ordering = ordering or DEFAULT_ORDERING
    descending = ordering.startswith("-")
    key = ordering.removeprefix("-")

    def sort(expression):
        expression = F(expression) if isinstance(expression, str) else expression
        return expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)

    tiebreak = [F("created_at").desc(), F("pk").desc()]
    if key == "created":
        return queryset.order_by(sort("created_at"), sort("pk"))
    if key == "main_metric":
        queryset = queryset.alias(main_metric_value=main_metric_expression())
        return queryset.order_by("task_type", sort("main_metric_value"), *tiebreak)
    if key == "status":
        rank = Case(
            *(When(status=status, then=Value(i)) for i, status in enumerate(_STATUS_ORDER)),
            default=Value(len(_STATUS_ORDER)),
            output_field=IntegerField(),
        )
        return queryset.alias(status_rank=rank).order_by(sort("status_rank"), *tiebreak)
    names = {
        "name": "name",
        "algorithm": "algorithm",
        "dataset": "dataset__name",
        "project": "project__name",
    }
    column = UnicodeLower(names[key])
    return queryset.alias(sort_key=column).order_by(sort("sort_key"), *tiebreak)


def experiment_list(
    *, project: Project, filters: ExperimentFilters | None = None
) -> QuerySet[MLExperiment]:
    """A project's experiments, newest first unless ``filters.ordering`` says otherwise, with
    dataset, its version and tags loaded in two queries."""
    filters = filters or ExperimentFilters()
    queryset = _with_sync_pending(
        MLExperiment.objects.filter(project=project)
        .select_related("dataset", "dataset_version")
        .prefetch_related("tags")
    )
    return experiments_order(
        experiments_filter(queryset, filters=filters), ordering=filters.ordering
    )


def experiment_list_for_user(
    *, user: AbstractBaseUser, filters: ExperimentFilters | None = None
) -> QuerySet[MLExperiment]:
    """Experiments of every project the user is a member of (the "Experimentos" page, the API)."""
    filters = filters or ExperimentFilters()
    queryset = _with_sync_pending(
        MLExperiment.objects.filter(project__in=projects_for_user(user=user).values("pk"))
        .select_related("project", "dataset", "dataset_version", "created_by")
        .prefetch_related("tags")
    )
    return experiments_order(
        experiments_filter(queryset, filters=filters), ordering=filters.ordering
    )


def experiment_tag_counts(
    *, experiments: QuerySet[MLExperiment], chosen: tuple[str, ...] = (), limit: int = 60
) -> list[TagCount]:
    """How many of ``experiments`` carry each tag, most used first (one grouped query).

    Grouped by the tag row, then spellings that differ only in case are added up here (an
    experiment never carries two of them, so the sums are exact).
    """
    rows = (
        TaggedExperiment.objects.filter(object_id__in=experiments.order_by().values("pk"))
        .values("tag__name")
        .annotate(count=Count("object_id"))
        .order_by()
    )
    totals: dict[str, list] = {}
    for row in rows:
        name = row["tag__name"]
        entry = totals.setdefault(name.lower(), [name, 0])
        entry[0] = min(entry[0], name)
        entry[1] += row["count"]
    chosen_keys = {tag.lower() for tag in chosen}
    ranked = sorted(totals.items(), key=lambda item: (-item[1][1], item[0]))[:limit]
    return [
        TagCount(name=name, count=count, chosen=key in chosen_keys) for key, (name, count) in ranked
    ]


def experiment_tag_names(*, projects: QuerySet[Project] | Project) -> list[str]:
    """The tags used by the experiments of a project (or projects): filters, autocompletion."""
    if isinstance(projects, Project):
        experiments = MLExperiment.objects.filter(project=projects)
    else:
        experiments = MLExperiment.objects.filter(project__in=projects.values("pk"))
    # One EXISTS probe per tag (an index lookup) rather than reading every tag link.
    used = TaggedExperiment.objects.filter(
        tag=OuterRef("pk"), object_id__in=experiments.values("pk")
    )
    names = Tag.objects.filter(Exists(used)).values_list("name", flat=True)
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
        _with_sync_pending(
            MLExperiment.objects.select_related(
                "project", "dataset", "dataset_version", "created_by"
            )
        )
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


TIMING_LABELS = {
    "prepare": gettext_lazy("Preparar el run de MLflow"),
    "load": gettext_lazy("Cargar y preparar los datos"),
    "fit": gettext_lazy("Entrenar"),
    "evaluate": gettext_lazy("Evaluar (métricas, importancia, gráficos)"),
    "log": gettext_lazy("Guardar artefactos y modelo en MLflow"),
    "total": gettext_lazy("Total"),
}


def experiment_timings(*, experiment: MLExperiment) -> list[tuple[str, Any, float]]:
    """(stage, label, seconds) of the last run, in the order the stages happen, total last."""
    timings = dict(experiment.timings or {})
    total = timings.pop("total", None)
    rows = [(name, TIMING_LABELS[name], timings[name]) for name in TIMING_LABELS if name in timings]
    rows += [(name, name, value) for name, value in timings.items() if name not in TIMING_LABELS]
    if total is not None:
        rows.append(("total", TIMING_LABELS["total"], total))
    return rows


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


def experiment_queue_position(*, experiment: MLExperiment) -> tuple[int, int] | None:
    """(place, waiting) of a queued experiment in the one queue all projects share, by the
    time it was queued: (1, 3) is the next of three to start. None when it is not waiting
    for a worker (a retry waits for its own time instead). One query, counts only: nothing
    of the other experiments is shown."""
    Status, Stage = MLExperiment.Status, MLExperiment.Stage
    if experiment.status != Status.QUEUED or experiment.stage == Stage.RETRYING:
        return None
    if experiment.queued_at is None:
        return None
    ahead = Q(queued_at__lt=experiment.queued_at) | Q(
        queued_at=experiment.queued_at, pk__lt=experiment.pk
    )
    counts = (
        MLExperiment.objects.filter(status=Status.QUEUED)
        .exclude(stage=Stage.RETRYING)
        .aggregate(waiting=Count("pk"), ahead=Count("pk", filter=ahead))
    )
    return counts["ahead"] + 1, counts["waiting"]
