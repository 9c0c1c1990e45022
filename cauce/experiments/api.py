"""REST endpoints for experiments: thin serializers, writes through the services."""

import re

from django.core.validators import RegexValidator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    extend_schema_view,
)
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from cauce.api.schema import BLANK_CHARACTERS, CLOSED
from cauce.core.exceptions import ApplicationError
from cauce.datasets.models import Dataset
from cauce.experiments import comparison, services
from cauce.experiments.liveness import experiment_fail_if_stale
from cauce.experiments.metric_names import metric_higher_is_better
from cauce.experiments.models import MLExperiment
from cauce.experiments.selectors import (
    MAX_FILTER_TAGS,
    ORDERING_CHOICES,
    SYNC_CHOICES,
    SYNC_PENDING,
    SYNC_SYNCED,
    TAG_MODES,
    TAGS_ALL,
    ExperimentFilters,
    experiment_get_for_user,
    experiment_list_for_user,
    filter_tags_parse,
)
from cauce.experiments.tags import MAX_TAG_LENGTH, MAX_TAGS, tags_normalize
from cauce.integrations.mlflow.links import mlflow_run_url
from cauce.projects.models import Role
from cauce.projects.selectors import project_get_for_user


class DatasetVersionRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The version's own id")
    dataset = serializers.IntegerField(source="dataset_id", help_text="The dataset's id")
    dataset_name = serializers.CharField(source="dataset.name")
    version = serializers.IntegerField(help_text="Its number within the dataset: 1, 2, ...")
    digest = serializers.CharField(help_text="SHA-256 of the file, first 32 hex digits")


class ExperimentSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="project_id", read_only=True)
    dataset = serializers.IntegerField(source="dataset_id", read_only=True)
    dataset_version = DatasetVersionRefSerializer(
        read_only=True, allow_null=True, help_text="The dataset version it trains on"
    )
    tags = serializers.SerializerMethodField()
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    stage_display = serializers.CharField(source="get_stage_display", read_only=True)
    main_metric = serializers.SerializerMethodField()
    mlflow_run_url = serializers.SerializerMethodField()
    # "" before the experiment is queued, and None once its creator is deleted: the schema says so.
    stage = serializers.ChoiceField(
        choices=MLExperiment.Stage.choices, allow_blank=True, read_only=True
    )
    created_by = serializers.CharField(
        source="created_by.username", default=None, allow_null=True, read_only=True
    )
    # The run's plot paths; None until known (runs from before they were recorded).
    plots = serializers.ListField(child=serializers.CharField(), allow_null=True, read_only=True)
    tag_sync_pending = serializers.BooleanField(
        read_only=True,
        default=False,
        help_text="A change of tags, name or description has not reached the MLflow run yet",
    )

    class Meta:
        model = MLExperiment
        fields = [
            "id",
            "project",
            "name",
            "description",
            "dataset",
            "dataset_version",
            "target_column",
            "feature_columns",
            "task_type",
            "algorithm",
            "hyperparameters",
            "test_size",
            "random_state",
            "tags",
            "status",
            "status_display",
            "stage",
            "stage_display",
            "error",
            "metrics",
            "main_metric",
            "timings",
            "plots",
            "mlflow_experiment_id",
            "mlflow_run_id",
            "mlflow_run_url",
            "created_by",
            "created_at",
            "updated_at",
            "queued_at",
            "started_at",
            "stage_started_at",
            "finished_at",
            "tag_sync_pending",
        ]
        read_only_fields = fields

    def get_tags(self, experiment: MLExperiment) -> list[str]:
        return sorted(tag.name for tag in experiment.tags.all())

    def get_main_metric(self, experiment: MLExperiment) -> dict | None:
        value = experiment.main_metric
        return None if value is None else {"name": experiment.main_metric_name, "value": value}

    def get_mlflow_run_url(self, experiment: MLExperiment) -> str | None:
        url = mlflow_run_url(
            mlflow_experiment_id=experiment.mlflow_experiment_id,
            mlflow_run_id=experiment.mlflow_run_id,
        )
        return url or None


# A tag as the services take it (``tags_normalize``): no comma, at most MAX_TAG_LENGTH
# characters (before its spaces are collapsed); in a list a blank one is skipped.
_NO_COMMA = RegexValidator(
    re.compile(r"^[^,]+$"),
    message=gettext_lazy("Una etiqueta no puede contener comas."),
    code="comma",
)
_ONE_TAG = RegexValidator(
    re.compile(f"^[^,]*[^,{BLANK_CHARACTERS}][^,]*$"),
    message=gettext_lazy("Escriba una etiqueta sin comas."),
    code="tag",
)


class _TagListField(serializers.ListField):
    """A list of tags: the schema declares the rules below; a list that breaks them gets the
    services' own message first (which tag, how many), as the pages do."""

    def to_internal_value(self, data):
        if isinstance(data, list) and all(isinstance(tag, str) for tag in data):
            try:
                tags_normalize(data)
            except ApplicationError as exc:
                raise serializers.ValidationError(str(exc)) from exc
        return super().to_internal_value(data)


def _tag_list(**kwargs) -> serializers.ListField:
    return _TagListField(
        child=serializers.CharField(
            allow_blank=True,
            trim_whitespace=False,
            max_length=MAX_TAG_LENGTH,
            validators=[_NO_COMMA],
        ),
        max_length=MAX_TAGS,
        **kwargs,
    )


class ExperimentInputSerializer(serializers.Serializer):
    project = serializers.IntegerField()
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    dataset = serializers.IntegerField()
    dataset_version = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        help_text="The dataset's version number to train on; absent or null: its latest",
    )
    target_column = serializers.CharField()
    feature_columns = serializers.ListField(
        child=serializers.CharField(), required=False, allow_null=True, default=None
    )
    task_type = serializers.ChoiceField(
        choices=MLExperiment.TaskType.choices, required=False, allow_null=True, default=None
    )
    algorithm = serializers.CharField(
        help_text="The scikit-learn class name, e.g. LogisticRegression"
    )
    hyperparameters = serializers.DictField(required=False, default=dict)
    test_size = serializers.FloatField(required=False, default=0.2)
    random_state = serializers.IntegerField(required=False, default=42)
    tags = _tag_list(required=False, default=list)


EDITABLE_FIELDS = ("name", "description", "tags")


@extend_schema_serializer(extensions={CLOSED: True})
class ExperimentUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    tags = _tag_list(required=False)

    def validate(self, attrs):
        # Status, metrics and the training configuration are not edited here: say so rather
        # than silently ignoring them.
        other = sorted(set(self.initial_data) - set(EDITABLE_FIELDS))
        if other:
            message = _("Este campo no se puede modificar (solo nombre, descripción y etiquetas).")
            raise serializers.ValidationError({name: [message] for name in other})
        return attrs


def _bad_parameter(name: str, detail: str) -> str:
    return _("Parámetro «%(name)s» no válido: %(detail)s") % {"name": name, "detail": detail}


_MAX_FILTER_ID = 2**31 - 1


@extend_schema_field(
    {
        "anyOf": [
            {"type": "integer", "minimum": 1, "maximum": _MAX_FILTER_ID},
            {"type": "string", "maxLength": 0},
        ]
    }
)
class _IdFilterField(serializers.IntegerField):
    """An id to filter by, or empty: no filter (the schema says both)."""

    def __init__(self, **kwargs):
        super().__init__(required=False, min_value=1, max_value=_MAX_FILTER_ID, **kwargs)


class ExperimentListQuerySerializer(serializers.Serializer):
    """The list's filters (query parameters); an empty value means "no filter"."""

    project = _IdFilterField(help_text="Only this project's")
    status = serializers.ChoiceField(
        choices=MLExperiment.Status.values, required=False, allow_blank=True
    )
    algorithm = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="scikit-learn class name, e.g. SVC",
    )
    dataset = _IdFilterField(help_text="Only experiments on it")
    tags = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text=(
            f"Comma-separated tags, e.g. iris,v2 (case-insensitive; at most {MAX_FILTER_TAGS})"
        ),
    )
    tags_mode = serializers.ChoiceField(
        choices=TAG_MODES,
        required=False,
        allow_blank=True,
        default=TAGS_ALL,
        help_text="all: experiments with every tag; any: with at least one",
    )
    tag = serializers.CharField(
        required=False, allow_blank=True, help_text="One tag (older clients; as tags=)"
    )
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Words to find in the name or description",
    )
    sync = serializers.ChoiceField(
        choices=SYNC_CHOICES,
        required=False,
        allow_blank=True,
        help_text="pending: the run lacks a tag change not yet synced; synced: it has them all",
    )
    ordering = serializers.ChoiceField(
        choices=ORDERING_CHOICES,
        required=False,
        allow_blank=True,
        help_text=(
            "Sort key, '-' in front for descending (default -created: newest first); ties "
            "keep the newest first. main_metric groups by task type (classification by "
            "f1_macro, then regression by r2), experiments without the metric last in their "
            "group; -main_metric puts the best first."
        ),
    )

    def to_filters(self) -> ExperimentFilters:
        data = self.validated_data
        try:
            tags = filter_tags_parse([data.get("tags", ""), data.get("tag", "")])
        except ValueError:
            detail = _("Filtre por %(max)d etiquetas como mucho.") % {"max": MAX_FILTER_TAGS}
            raise ApplicationError(
                _bad_parameter("tags", detail), extra={"tags": [detail]}
            ) from None
        return ExperimentFilters(
            tags=tags,
            tags_mode=data.get("tags_mode") or TAGS_ALL,
            status=data.get("status", ""),
            algorithm=data.get("algorithm", ""),
            dataset_id=data.get("dataset"),
            project_id=data.get("project"),
            q=data.get("q", "").strip(),
            sync_pending={SYNC_PENDING: True, SYNC_SYNCED: False}.get(data.get("sync", "")),
            ordering=data.get("ordering", ""),
        )


def _list_filters(params) -> ExperimentFilters:
    """Parse the query; a bad parameter is a 400 naming it."""
    data = {name: value for name, value in params.items() if value != ""}
    tags = ",".join(value for value in params.getlist("tags") if value)
    if tags:
        data["tags"] = tags  # tags=a,b and tags=a&tags=b alike
    query = ExperimentListQuerySerializer(data=data)
    if not query.is_valid():
        name, errors = next(iter(query.errors.items()))
        message = _bad_parameter(name, " ".join(str(error) for error in errors))
        raise ApplicationError(message, extra=query.errors)
    return query.to_filters()


def _experiment_out(*, user, experiment_id) -> dict:
    experiment, _membership = experiment_get_for_user(user=user, experiment_id=experiment_id)
    return ExperimentSerializer(experiment).data


_ERRORS = {
    400: OpenApiResponse(description="Invalid data: {message, errors}"),
    403: OpenApiResponse(description="The user's role is too low: {message}"),
    404: OpenApiResponse(description="No such experiment or project for this user: {message}"),
}


@extend_schema_view(
    get=extend_schema(
        summary="Experiments of the user's projects, filtered",
        description=(
            "Filters combine (AND). Tags match ignoring case; tags_mode=all keeps experiments "
            "carrying every tag, any those carrying at least one. ordering sorts the list "
            "(name, project, status, algorithm, dataset, created, main_metric; '-' for "
            "descending)."
        ),
        parameters=[ExperimentListQuerySerializer],
        responses={200: ExperimentSerializer(many=True), 400: _ERRORS[400]},
    ),
    post=extend_schema(
        summary="Create an experiment (editors); it stays DRAFT until run",
        request=ExperimentInputSerializer,
        responses={201: ExperimentSerializer, **_ERRORS},
    ),
)
class ExperimentListCreateApi(generics.ListCreateAPIView):
    serializer_class = ExperimentSerializer

    def get_queryset(self):
        filters = _list_filters(self.request.query_params)
        return experiment_list_for_user(user=self.request.user, filters=filters)

    def create(self, request, *args, **kwargs):
        data = ExperimentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        arguments = dict(data.validated_data)
        project, _membership = project_get_for_user(
            user=request.user, project_id=arguments.pop("project"), role=Role.EDITOR
        )
        dataset = Dataset.objects.filter(project=project, pk=arguments.pop("dataset")).first()
        if dataset is None:
            # The same answer for a missing dataset and another project's: nothing leaks.
            message = _("El conjunto de datos no existe en este proyecto.")
            raise ApplicationError(message, extra={"dataset": message})
        experiment = services.experiment_create(
            project=project, user=request.user, dataset=dataset, **arguments
        )
        body = _experiment_out(user=request.user, experiment_id=experiment.pk)
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        summary="One experiment", responses={200: ExperimentSerializer, 404: _ERRORS[404]}
    ),
    patch=extend_schema(
        summary="Change an experiment's name, description or tags (editors)",
        request=ExperimentUpdateSerializer,
        responses={200: ExperimentSerializer, **_ERRORS},
    ),
)
class ExperimentDetailApi(generics.GenericAPIView):
    serializer_class = ExperimentSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get(self, request, pk):
        experiment, _membership = experiment_get_for_user(user=request.user, experiment_id=pk)
        experiment_fail_if_stale(experiment=experiment)
        return Response(ExperimentSerializer(experiment).data)

    def patch(self, request, pk):
        experiment, _membership = experiment_get_for_user(
            user=request.user, experiment_id=pk, role=Role.EDITOR
        )
        data = ExperimentUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.experiment_update(experiment=experiment, user=request.user, **data.validated_data)
        return Response(_experiment_out(user=request.user, experiment_id=pk))


@extend_schema(
    summary="Queue an experiment (editors): DRAFT, or a re-run of one in ERROR",
    request=None,
    responses={202: ExperimentSerializer, **_ERRORS},
)
class ExperimentRunApi(generics.GenericAPIView):
    serializer_class = ExperimentSerializer

    def post(self, request, pk):
        experiment, _membership = experiment_get_for_user(
            user=request.user, experiment_id=pk, role=Role.EDITOR
        )
        services.experiment_enqueue(experiment=experiment, user=request.user)
        body = _experiment_out(user=request.user, experiment_id=pk)
        return Response(body, status=status.HTTP_202_ACCEPTED)


@extend_schema(
    summary="Cancel a queued, retrying or running experiment (editors)",
    description=(
        "The experiment becomes CANCELLED at once. A queued one never starts; a running one "
        "is stopped by its worker at its next step (within the heartbeat interval in the "
        "middle of a training) and its MLflow run ends KILLED. It can be run again. "
        "409 when it is not queued or running."
    ),
    request=None,
    responses={
        200: ExperimentSerializer,
        403: _ERRORS[403],
        404: _ERRORS[404],
        409: OpenApiResponse(description="Not queued or running: {message}"),
    },
)
class ExperimentCancelApi(generics.GenericAPIView):
    serializer_class = ExperimentSerializer

    def post(self, request, pk):
        experiment, _membership = experiment_get_for_user(
            user=request.user, experiment_id=pk, role=Role.EDITOR
        )
        services.experiment_cancel(experiment=experiment, user=request.user)
        return Response(_experiment_out(user=request.user, experiment_id=pk))


class BulkTagInputSerializer(serializers.Serializer):
    experiments = serializers.ListField(
        child=serializers.UUIDField(),
        min_length=1,
        max_length=services.MAX_BULK_EXPERIMENTS,
        help_text="Ids of the experiments to change",
    )
    tag = serializers.CharField(
        max_length=MAX_TAG_LENGTH, trim_whitespace=False, validators=[_ONE_TAG]
    )
    action = serializers.ChoiceField(choices=services.BULK_ACTIONS)


class BulkTagIssueSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    reason = serializers.CharField()


class BulkTagResultSerializer(serializers.Serializer):
    tag = serializers.CharField(help_text="The tag as stored (trimmed)")
    action = serializers.ChoiceField(choices=services.BULK_ACTIONS)
    changed = serializers.ListField(child=serializers.UUIDField())
    unchanged = serializers.ListField(
        child=serializers.UUIDField(), help_text="Already had the tag (add) or lacked it (remove)"
    )
    refused = BulkTagIssueSerializer(many=True, help_text="Projects where the user only reads")
    failed = BulkTagIssueSerializer(many=True, help_text="Changes the rules or database refused")
    missing = serializers.IntegerField(
        help_text="Ids that are not experiments of the user's projects (not changed)"
    )


def _issues(pairs) -> list[dict]:
    return [
        {"id": experiment.pk, "name": experiment.name, "reason": str(reason)}
        for experiment, reason in pairs
    ]


@extend_schema(
    summary="Add or remove one tag on many experiments (editor in each one's project)",
    description=(
        "Each experiment changes on its own: one that fails does not stop the others. "
        "Experiments of projects where the user is a viewer are refused and listed; ids of "
        "other projects are counted in missing. 200 even when some did not change."
    ),
    request=BulkTagInputSerializer,
    responses={200: BulkTagResultSerializer, 400: _ERRORS[400]},
)
class ExperimentBulkTagsApi(generics.GenericAPIView):
    serializer_class = BulkTagResultSerializer

    def post(self, request):
        data = BulkTagInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.experiment_tags_bulk_change(
            user=request.user,
            experiment_ids=data.validated_data["experiments"],
            tag=data.validated_data["tag"],
            action=data.validated_data["action"],
        )
        body = {
            "tag": result.tag,
            "action": result.action,
            "changed": [experiment.pk for experiment in result.changed],
            "unchanged": [experiment.pk for experiment in result.unchanged],
            "refused": _issues(result.refused),
            "failed": _issues(result.failed),
            "missing": result.missing,
        }
        return Response(BulkTagResultSerializer(body).data)


# 2 to 500 UUIDs, comma-separated (the schema states the form; the view says what is wrong).
_UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
COMPARE_IDS_PATTERN = rf"^{_UUID}(,{_UUID}){{1,499}}$"


class CompareQuerySerializer(serializers.Serializer):
    ids = serializers.RegexField(
        COMPARE_IDS_PATTERN,
        help_text="2 to 500 experiment ids (UUIDs), comma-separated, in column order.",
    )
    baseline = serializers.UUIDField(
        required=False, help_text="The pinned experiment the deltas refer to (default: the first)."
    )


class ComparedDatasetSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The version's own id")
    dataset = serializers.IntegerField(help_text="The dataset's id")
    name = serializers.CharField(help_text="The dataset's name")
    version = serializers.IntegerField()
    digest = serializers.CharField()


class ComparedExperimentSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    project = serializers.IntegerField(help_text="The project's id.")
    project_name = serializers.CharField()
    algorithm = serializers.CharField()
    status = serializers.CharField()
    params = serializers.DictField(child=serializers.CharField())
    metrics = serializers.DictField(
        child=serializers.FloatField(), help_text="Latest values, stage timings (cauce.time.*) too."
    )
    tags = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        help_text="The run's MLflow tags, without MLflow's own mlflow.* keys.",
    )
    cauce_tags = serializers.ListField(child=serializers.CharField())
    dataset_version = ComparedDatasetSerializer(
        allow_null=True,
        help_text="The dataset version the experiment trains on.",
    )
    mlflow_run_id = serializers.CharField(allow_blank=True)
    from_mlflow = serializers.BooleanField(
        help_text="False when MLflow has no run for it: the values are Cauce's own."
    )


class ComparisonSerializer(serializers.Serializer):
    experiments = ComparedExperimentSerializer(many=True)
    varying = serializers.ListField(
        child=serializers.CharField(), help_text="The param names whose values differ."
    )
    baseline = serializers.UUIDField()
    deltas = serializers.DictField(
        child=serializers.DictField(child=serializers.FloatField()),
        help_text="{experiment id: {metric: value minus the baseline's}}.",
    )
    higher_is_better = serializers.DictField(
        child=serializers.BooleanField(), help_text="{metric: whether a higher value is better}."
    )


def comparison_data(result: comparison.Comparison) -> dict:
    """The comparison as the API (and the page's CSV) gives it."""
    experiments = []
    for item in result.experiments:
        experiment = item.experiment
        version = experiment.dataset_version
        experiments.append(
            {
                "id": experiment.pk,
                "name": experiment.name,
                "project": experiment.project_id,
                "project_name": experiment.project.name,
                "algorithm": experiment.algorithm,
                "status": experiment.status,
                "params": item.params,
                "metrics": item.metrics,
                "tags": item.tags,
                "cauce_tags": item.cauce_tags,
                "dataset_version": {
                    "id": version.pk,
                    "dataset": experiment.dataset_id,
                    "name": experiment.dataset.name,
                    "version": version.version,
                    "digest": version.digest,
                }
                if version
                else None,
                "mlflow_run_id": experiment.mlflow_run_id,
                "from_mlflow": item.from_mlflow,
            }
        )
    names = [*result.metric_names, *result.timing_names]
    return {
        "experiments": experiments,
        "varying": result.varying,
        "baseline": result.baseline_id,
        "deltas": result.deltas,
        "higher_is_better": {name: metric_higher_is_better(name) for name in names},
    }


@extend_schema(
    summary="Compare 2 to 500 experiments side by side",
    description=(
        "Each run's params, metrics and tags are read from MLflow in one search per 100 runs. "
        "Experiments may belong to several projects the user can read; any other id is a 404. "
        "One id, more than 500 or a malformed id is a 400."
    ),
    parameters=[CompareQuerySerializer],
    responses={
        200: ComparisonSerializer,
        400: _ERRORS[400],
        404: _ERRORS[404],
        503: OpenApiResponse(description="MLflow is unavailable: {message}"),
    },
)
class ExperimentCompareApi(generics.GenericAPIView):
    serializer_class = ComparisonSerializer

    def get(self, request):
        ids = comparison.compare_ids_parse(request.query_params.getlist("ids"))
        baseline = comparison.baseline_parse(request.query_params.get("baseline"), ids=ids)
        result = comparison.experiments_compare(user=request.user, ids=ids, baseline_id=baseline)
        return Response(ComparisonSerializer(comparison_data(result)).data)
