"""REST endpoints for sweeps: thin serializers, writes through the services."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from cauce.core.exceptions import ApplicationError
from cauce.datasets.models import Dataset
from cauce.experiments.api import DatasetVersionRefSerializer
from cauce.integrations.mlflow.links import mlflow_run_url
from cauce.projects.models import Role
from cauce.projects.selectors import membership_roles, project_get_for_user
from cauce.sweeps import services
from cauce.sweeps.models import Sweep, Trial
from cauce.sweeps.selectors import sweep_get_for_user, sweep_list, sweep_trials

_ERRORS = {
    400: OpenApiResponse(description="Invalid data: {message, errors}"),
    403: OpenApiResponse(description="The user's role is too low: {message}"),
    404: OpenApiResponse(description="No such sweep or project for this user: {message}"),
}


class TrialSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=Trial.Status.choices, read_only=True)
    mlflow_run_url = serializers.SerializerMethodField()

    class Meta:
        model = Trial
        fields = [
            "number",
            "status",
            "params",
            "value",
            "fold_scores",
            "metrics",
            "error",
            "duration_seconds",
            "mlflow_run_id",
            "mlflow_run_url",
        ]
        read_only_fields = fields

    def get_mlflow_run_url(self, trial: Trial) -> str | None:
        sweep = self.context["sweep"]
        return (
            mlflow_run_url(
                mlflow_experiment_id=sweep.mlflow_experiment_id, mlflow_run_id=trial.mlflow_run_id
            )
            or None
        )


class BestSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    value = serializers.FloatField()
    params = serializers.DictField()


class SweepSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="project_id", read_only=True)
    dataset = serializers.IntegerField(source="dataset_id", read_only=True)
    dataset_version = DatasetVersionRefSerializer(
        read_only=True, allow_null=True, help_text="The dataset version its trials train on"
    )
    promoted_experiment = serializers.UUIDField(
        source="promoted_experiment_id", read_only=True, allow_null=True
    )
    rerun_of = serializers.UUIDField(source="rerun_of_id", read_only=True, allow_null=True)
    mlflow_run_url = serializers.SerializerMethodField()
    best = serializers.SerializerMethodField()

    class Meta:
        model = Sweep
        fields = [
            "id",
            "project",
            "dataset",
            "dataset_version",
            "name",
            "status",
            "error",
            "target_column",
            "feature_columns",
            "task_type",
            "algorithm",
            "search_space",
            "fixed_hyperparameters",
            "metric",
            "direction",
            "n_trials",
            "sampler",
            "cv_folds",
            "test_size",
            "seed",
            "tags",
            "mlflow_experiment_id",
            "mlflow_run_id",
            "mlflow_run_url",
            "best",
            "importances",
            "promoted_experiment",
            "promoted_trial_number",
            "auto_promote",
            "rerun_of",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_mlflow_run_url(self, sweep: Sweep) -> str | None:
        url = mlflow_run_url(
            mlflow_experiment_id=sweep.mlflow_experiment_id, mlflow_run_id=sweep.mlflow_run_id
        )
        return url or None

    @extend_schema_field(BestSerializer(allow_null=True))
    def get_best(self, sweep: Sweep) -> dict | None:
        if sweep.best_number is None:
            return None
        return {"number": sweep.best_number, "value": sweep.best_value, "params": sweep.best_params}


class SweepDetailSerializer(SweepSerializer):
    trials = serializers.SerializerMethodField()

    class Meta(SweepSerializer.Meta):
        fields = [*SweepSerializer.Meta.fields, "trials"]
        read_only_fields = fields

    def get_trials(self, sweep: Sweep) -> list[dict]:
        return TrialSerializer(sweep_trials(sweep=sweep), many=True, context={"sweep": sweep}).data


class SweepInputSerializer(serializers.Serializer):
    """Shapes only: the services check the values, with messages that name the field."""

    project = serializers.IntegerField()
    dataset = serializers.IntegerField()
    dataset_version = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        help_text="The dataset's version number its trials train on; absent or null: its latest",
    )
    name = serializers.CharField(max_length=200)
    target_column = serializers.CharField(max_length=255)
    feature_columns = serializers.ListField(
        child=serializers.CharField(), required=False, allow_null=True
    )
    task_type = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    algorithm = serializers.CharField(max_length=100)
    search_space = serializers.DictField(child=serializers.JSONField())
    fixed_hyperparameters = serializers.DictField(
        child=serializers.JSONField(), required=False, default=dict
    )
    metric = serializers.CharField(required=False, allow_blank=True, max_length=50)
    direction = serializers.CharField(required=False, allow_blank=True, max_length=10)
    n_trials = serializers.IntegerField(required=False, default=20)
    sampler = serializers.CharField(required=False, default=Sweep.Sampler.TPE, max_length=10)
    cv_folds = serializers.IntegerField(required=False, default=0)
    test_size = serializers.FloatField(required=False, default=0.2)
    seed = serializers.IntegerField(required=False, default=42)
    tags = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    auto_promote = serializers.BooleanField(required=False, default=False)


def _sweep_out(sweep_id) -> dict:
    sweep = Sweep.objects.select_related("project", "dataset_version__dataset").get(pk=sweep_id)
    return SweepDetailSerializer(sweep).data


class SweepListCreateApi(generics.ListCreateAPIView):
    serializer_class = SweepSerializer

    @extend_schema(
        summary="Sweeps of the user's projects (or of one project)",
        parameters=[OpenApiParameter("project", int, required=False)],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        project_id = self.request.query_params.get("project")
        if project_id:
            if not project_id.isdigit():
                message = _("«%(value)s» no es un identificador de proyecto.") % {
                    "value": project_id
                }
                raise ApplicationError(message, extra={"project": message})
            project, _membership = project_get_for_user(
                user=self.request.user, project_id=int(project_id)
            )
            return sweep_list(project=project)
        roles = membership_roles(user=self.request.user)
        return (
            Sweep.objects.filter(project_id__in=list(roles))
            .select_related("dataset_version__dataset")
            .order_by("-created_at")
        )

    @extend_schema(
        summary="Create and start a hyperparameter sweep (editors)",
        request=SweepInputSerializer,
        responses={201: SweepDetailSerializer, **_ERRORS},
    )
    def post(self, request, *args, **kwargs):
        data = SweepInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        arguments = dict(data.validated_data)
        project, _membership = project_get_for_user(
            user=request.user, project_id=arguments.pop("project"), role=Role.EDITOR
        )
        dataset = Dataset.objects.filter(project=project, pk=arguments.pop("dataset")).first()
        if dataset is None:
            message = _("El conjunto de datos no existe en este proyecto.")
            raise ApplicationError(message, extra={"dataset": message})
        sweep = services.sweep_create(
            project=project, user=request.user, dataset=dataset, **arguments
        )
        return Response(_sweep_out(sweep.pk), status=status.HTTP_201_CREATED)


class SweepDetailApi(generics.GenericAPIView):
    serializer_class = SweepDetailSerializer

    @extend_schema(summary="One sweep with its trials", responses={200: SweepDetailSerializer})
    def get(self, request, pk):
        sweep, _membership = sweep_get_for_user(user=request.user, sweep_id=pk)
        return Response(_sweep_out(sweep.pk))


class SweepCancelApi(generics.GenericAPIView):
    serializer_class = SweepDetailSerializer

    @extend_schema(
        summary="Cancel a queued or running sweep (editors)",
        request=None,
        responses={200: SweepDetailSerializer, **_ERRORS},
    )
    def post(self, request, pk):
        sweep, _membership = sweep_get_for_user(user=request.user, sweep_id=pk, role=Role.EDITOR)
        services.sweep_cancel(sweep=sweep, user=request.user)
        return Response(_sweep_out(sweep.pk))


class PromotedSerializer(serializers.Serializer):
    id = serializers.UUIDField()


class SweepPromoteApi(generics.GenericAPIView):
    serializer_class = PromotedSerializer

    @extend_schema(
        summary="Create and queue an experiment with the best trial's parameters (editors)",
        request=None,
        responses={201: PromotedSerializer, **_ERRORS},
    )
    def post(self, request, pk):
        sweep, _membership = sweep_get_for_user(user=request.user, sweep_id=pk, role=Role.EDITOR)
        experiment = services.sweep_promote(sweep=sweep, user=request.user)
        return Response({"id": str(experiment.pk)}, status=status.HTTP_201_CREATED)
