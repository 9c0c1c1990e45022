"""Reads of registered models, scoped to the user's projects (others' do not exist for them)."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import F, FilteredRelation, Q, QuerySet
from django.http import Http404

from cauce.experiments.models import MLExperiment
from cauce.integrations.mlflow import MlflowNotFound, MlflowUnavailable
from cauce.integrations.mlflow import registry as mlflow_registry
from cauce.integrations.mlflow.registry import ModelVersionInfo, RegisteredModelInfo
from cauce.projects.models import Membership, Project, Role
from cauce.projects.selectors import projects_for_user
from cauce.registry.models import NAME_MAX_LENGTH, RegisteredModel


def registered_model_list_for_user(
    *, user: AbstractBaseUser, project: Project | None = None
) -> QuerySet[RegisteredModel]:
    """The models of the user's projects (or of one of them), by name."""
    queryset = RegisteredModel.objects.filter(
        project__in=projects_for_user(user=user)
    ).select_related("project", "created_by")
    if project is not None:
        queryset = queryset.filter(project=project)
    return queryset


def registered_model_get_for_member(*, user: AbstractBaseUser, name: str) -> RegisteredModel:
    """The model when the user is a member of its project, in any role (a viewer may
    predict); 404 for outsiders and unknown names, as ``registered_model_get_for_user``.

    The predict API pays this on every call: one plain SQL query, which spares the ORM's
    compilation of the join (about 1 ms of CPU per call, most of what the API adds to a
    one-row prediction besides the model itself; ``bench/bench_predict.py``).
    """
    if not name or len(name) > NAME_MAX_LENGTH or "\x00" in name or not user.is_authenticated:
        raise Http404
    quote = connection.ops.quote_name
    # Only the two table names are put in the text (Django's own, quoted); values are params.
    sql = (
        f"SELECT m.* FROM {quote(RegisteredModel._meta.db_table)} m"  # noqa: S608
        f" JOIN {quote(Membership._meta.db_table)} ms ON ms.project_id = m.project_id"
        " WHERE m.name = %s AND ms.user_id = %s"
    )
    found = list(RegisteredModel.objects.raw(sql, [name, user.pk]))
    if not found:
        raise Http404
    return found[0]


def registered_model_get_for_user(
    *, user: AbstractBaseUser, name: str, role: str = Role.VIEWER
) -> tuple[RegisteredModel, Membership]:
    """The model and the user's membership; 404 for outsiders and unknown names, 403 below
    the role."""
    if not name or len(name) > NAME_MAX_LENGTH or "\x00" in name:
        # No model has such a name (and PostgreSQL refuses NUL characters in a query).
        raise Http404
    if not user.is_authenticated:
        raise Http404
    # One query: the model and the user's membership of its project (a left join), which the
    # predict API pays on every call. Faster than two queries, and than subqueries (compiling).
    model = (
        RegisteredModel.objects.select_related("project", "created_by")
        .annotate(
            member=FilteredRelation(
                "project__memberships", condition=Q(project__memberships__user_id=user.pk)
            )
        )
        .filter(name=name)
        .annotate(member_id=F("member__id"), member_role=F("member__role"))
        .first()
    )
    if model is None or model.member_id is None:
        raise Http404
    membership = Membership(
        pk=model.member_id, project=model.project, user=user, role=model.member_role
    )
    if not membership.allows(role):
        raise PermissionDenied
    return model, membership


# --- what the pages show (MLflow's data joined to Cauce's experiments) --------------------------


@dataclass(frozen=True)
class ModelRow:
    model: RegisteredModel
    info: RegisteredModelInfo | None  # None: MLflow did not answer, or lost the model
    metric_value: float | None

    @property
    def aliases(self) -> list[tuple[str, int]]:
        return sorted(self.info.aliases.items()) if self.info else []


def registered_model_rows(*, models: Iterable[RegisteredModel]) -> tuple[list[ModelRow], bool]:
    """Each model with its latest version, aliases and main metric; and whether MLflow
    answered. One MLflow search per 50 models and one query for the metrics."""
    models = list(models)
    try:
        infos = mlflow_registry.registered_models_get_many(names=[m.name for m in models])
        available = True
    except MlflowUnavailable:
        infos, available = {}, False
    experiments = _experiments_by_run(
        pairs=[
            (model.project_id, infos[model.name].latest_run_id)
            for model in models
            if model.name in infos and infos[model.name].latest_run_id
        ]
    )
    rows = []
    for model in models:
        info = infos.get(model.name)
        experiment = experiments.get((model.project_id, info.latest_run_id)) if info else None
        value = experiment.metrics.get(model.main_metric) if experiment else None
        rows.append(ModelRow(model=model, info=info, metric_value=value))
    return rows, available


def _experiments_by_run(*, pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], MLExperiment]:
    """Cauce experiments by (project, run id): only a run of the model's own project counts."""
    pairs = set(pairs)
    if not pairs:
        return {}
    found = MLExperiment.objects.filter(
        mlflow_run_id__in={run_id for _project, run_id in pairs},
        project_id__in={project for project, _run_id in pairs},
    ).only("id", "name", "project_id", "mlflow_run_id", "metrics", "task_type", "status")
    return {
        (experiment.project_id, experiment.mlflow_run_id): experiment
        for experiment in found
        if (experiment.project_id, experiment.mlflow_run_id) in pairs
    }


@dataclass(frozen=True)
class VersionRow:
    info: ModelVersionInfo
    experiment: MLExperiment | None  # the Cauce experiment (of the model's project) it came from
    main_metric: str = ""

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.experiment.metrics) if self.experiment else {}

    @property
    def main_value(self) -> float | None:
        return self.metrics.get(self.main_metric)


def model_version_rows(
    *, model: RegisteredModel, info: RegisteredModelInfo | None = None
) -> list[VersionRow]:
    """Every version, newest first, with its source experiment: two MLflow calls (one when
    the registered model's ``info`` is given) and one query."""
    versions = mlflow_registry.model_versions_list(name=model.name, model=info)
    experiments = _experiments_by_run(
        pairs=[(model.project_id, version.run_id) for version in versions if version.run_id]
    )
    return [
        VersionRow(
            info=version,
            experiment=experiments.get((model.project_id, version.run_id)),
            main_metric=model.main_metric,
        )
        for version in versions
    ]


@dataclass(frozen=True)
class RunVersion:
    info: ModelVersionInfo
    model: RegisteredModel | None  # None: a name the user cannot open (outside Cauce)


def experiment_model_versions(
    *, experiment: MLExperiment, user: AbstractBaseUser
) -> list[RunVersion]:
    """The versions registered from the experiment's run, through Cauce or straight in MLflow."""
    if not experiment.mlflow_run_id:
        return []
    versions = mlflow_registry.model_versions_for_run(run_id=experiment.mlflow_run_id)
    visible = {
        model.name: model
        for model in registered_model_list_for_user(user=user).filter(
            name__in={version.name for version in versions}
        )
    }
    return [RunVersion(info=version, model=visible.get(version.name)) for version in versions]


def registered_model_info_get(*, model: RegisteredModel) -> RegisteredModelInfo:
    """What MLflow's registry holds of a Cauce model (aliases, tags, description);
    ``MlflowNotFound`` when MLflow no longer has it."""
    return mlflow_registry.registered_model_get(name=model.name)


def model_version_get_for_model(*, model: RegisteredModel, version: int) -> ModelVersionInfo:
    """One version of a Cauce model; ``NotFoundError`` (404) when it has no such version."""
    from cauce.registry.services import VERSION_MAX, unknown_version_error

    if not 1 <= version <= VERSION_MAX:
        raise unknown_version_error(model, version)
    try:
        return mlflow_registry.model_version_get(name=model.name, version=version)
    except MlflowNotFound:
        raise unknown_version_error(model, version) from None
