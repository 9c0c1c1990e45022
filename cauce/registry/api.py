"""REST endpoints of the model registry, with the pages' permission rules.

Errors are JSON ``{"message": ...}`` through the API's exception handler: 400 bad input,
403 too low a role, 404 outsider or unknown, 409 a name held elsewhere, 502 MLflow refused,
503 MLflow down.
"""

import re

from django.core.validators import RegexValidator
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from cauce.datasets.selectors import dataset_version_get_for_user
from cauce.experiments.selectors import experiment_get_for_user
from cauce.integrations.mlflow import MlflowNotFound
from cauce.integrations.mlflow.registry import ModelVersionInfo
from cauce.projects.models import Role
from cauce.registry import services
from cauce.registry.lineage import (
    dataset_version_experiments,
    dataset_version_model_versions,
    dataset_version_sweeps,
)
from cauce.registry.models import NAME_MAX_LENGTH
from cauce.registry.selectors import (
    model_version_get_for_model,
    model_version_rows,
    registered_model_get_for_user,
    registered_model_info_get,
    registered_model_list_for_user,
    registered_model_rows,
)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(
        response=ErrorSerializer, description=f"{description}: {{message, errors?}}"
    )


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    errors = serializers.DictField(required=False)


_400 = _error("Invalid input")
_403 = _error("The user's role is too low")
_404 = _error("No such model, version or experiment for this user")
_409 = _error("The model name belongs to another project or to something outside Cauce")
_502 = _error("MLflow refused the request")
_502_REGISTER = _error(
    "MLflow refused the registration, or ended the version FAILED_REGISTRATION (deleted again)"
)
_503 = _error("MLflow is not available")


# Path parameters, with the rules the services apply (cauce.registry.services).
NAME_PARAMETER = OpenApiParameter(
    "name",
    {"type": "string", "pattern": services.NAME_PATTERN, "maxLength": NAME_MAX_LENGTH},
    OpenApiParameter.PATH,
    description="The registered model's name",
)
VERSION_PARAMETER = OpenApiParameter(
    "version",
    {"type": "integer", "minimum": 1, "maximum": services.VERSION_MAX},
    OpenApiParameter.PATH,
    description="The version's number",
)
ALIAS_PARAMETER = OpenApiParameter(
    "alias",
    {"type": "string", "pattern": services.ALIAS_PATTERN, "maxLength": services.ALIAS_MAX_LENGTH},
    OpenApiParameter.PATH,
    description='Letters, digits, "_" and "-"; "latest" and "v<number>" are reserved by MLflow',
)


@extend_schema_field(
    {
        "type": "string",
        "maxLength": NAME_MAX_LENGTH,
        "pattern": services.NAME_PATTERN,
        "description": 'Model name (letters, digits, "_", "-" and ".", not first); empty or '
        'absent: "{project}-{experiment}" with spaces as "_".',
    }
)
class ModelNameField(serializers.CharField):
    """A model name as the services accept it, or empty for the default; never trimmed."""

    def __init__(self, **kwargs):
        kwargs.update(max_length=NAME_MAX_LENGTH, allow_blank=True, trim_whitespace=False)
        super().__init__(**kwargs)
        self.validators.append(
            RegexValidator(
                re.compile(r"\A(?:[\w\-][\w.\-]*)?\Z"),
                message=services.NAME_RULES_MESSAGE,
            )
        )


@extend_schema_field(
    {
        # Keys by pattern (JSON Schema, as OpenAPI 3.1 reads it), at most TAG_KEY_MAX_LENGTH
        # characters.
        "type": "object",
        "patternProperties": {
            f"^(?=.{{1,{services.TAG_KEY_MAX_LENGTH}}}$)"
            + services.TAG_KEY_PATTERN.removeprefix("^"): {
                "type": "string",
                "maxLength": services.TAG_VALUE_MAX_LENGTH,
            }
        },
        "additionalProperties": False,
        "description": "Replaces the version's own tags (cauce.* and mlflow.* are kept). Keys: "
        'letters, digits, spaces and "_ - . :" in "/"-separated parts that do not start '
        'with "." or a space.',
    }
)
class VersionTagsField(serializers.DictField):
    """Version tags; their keys are checked by the service (``version_tags_check``)."""

    def __init__(self, **kwargs):
        kwargs["child"] = serializers.CharField(
            allow_blank=True, trim_whitespace=False, max_length=services.TAG_VALUE_MAX_LENGTH
        )
        super().__init__(**kwargs)


class RegisterInputSerializer(serializers.Serializer):
    name = ModelNameField(required=False)


class RegisterOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.IntegerField()
    created = serializers.BooleanField(help_text="False: this run already was this version.")
    status = serializers.CharField(
        help_text="READY, or PENDING_REGISTRATION when MLflow had not finished in time "
        "(a FAILED_REGISTRATION is deleted again and answered 502)"
    )


class VersionSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    status = serializers.CharField()
    run_id = serializers.CharField()
    source = serializers.CharField()
    description = serializers.CharField()
    tags = serializers.DictField(child=serializers.CharField())
    aliases = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField(allow_null=True)
    experiment = serializers.UUIDField(
        allow_null=True, help_text="The Cauce experiment it came from"
    )
    metrics = serializers.DictField(child=serializers.FloatField())


class ModelSummarySerializer(serializers.Serializer):
    name = serializers.CharField()
    project = serializers.IntegerField()
    main_metric = serializers.CharField()
    main_metric_value = serializers.FloatField(allow_null=True)
    latest_version = serializers.IntegerField(allow_null=True)
    aliases = serializers.DictField(child=serializers.IntegerField())
    mlflow_available = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class ModelDetailSerializer(ModelSummarySerializer):
    description = serializers.CharField()
    versions = VersionSerializer(many=True)


class AliasInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, max_value=2**31 - 1)


class AliasOutputSerializer(serializers.Serializer):
    alias = serializers.CharField()
    version = serializers.IntegerField()


class VersionUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=services.DESCRIPTION_MAX_LENGTH,
    )
    tags = VersionTagsField(required=False)


def _version_out(info: ModelVersionInfo, experiment=None) -> dict:
    return {
        "version": info.version,
        "status": info.status,
        "run_id": info.run_id,
        "source": info.source,
        "description": info.description,
        "tags": info.tags,
        "aliases": info.aliases,
        "created_at": info.created_at,
        "experiment": experiment.pk if experiment else None,
        "metrics": dict(experiment.metrics) if experiment else {},
    }


def _summary_out(row, available: bool) -> dict:
    return {
        "name": row.model.name,
        "project": row.model.project_id,
        "main_metric": row.model.main_metric,
        "main_metric_value": row.metric_value,
        "latest_version": row.info.latest_version if row.info else None,
        "aliases": dict(row.info.aliases) if row.info else {},
        "mlflow_available": available,
        "created_at": row.model.created_at,
    }


class ExperimentRegisterModelApi(APIView):
    @extend_schema(
        summary="Register a FINISHED experiment's model (editors); idempotent per run and name",
        request=RegisterInputSerializer,
        responses={
            201: RegisterOutputSerializer,
            200: OpenApiResponse(
                RegisterOutputSerializer, description="This run already was a version"
            ),
            400: _400,
            403: _403,
            404: _404,
            409: _409,
            502: _502_REGISTER,
            503: _503,
        },
    )
    def post(self, request, pk):
        experiment, _membership = experiment_get_for_user(
            user=request.user, experiment_id=pk, role=Role.EDITOR
        )
        data = RegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        registration = services.model_version_register(
            experiment=experiment, user=request.user, name=data.validated_data.get("name")
        )
        body = {
            "name": registration.model.name,
            "version": registration.version.version,
            "created": registration.created,
            "status": registration.version.status,
        }
        code = status.HTTP_201_CREATED if registration.created else status.HTTP_200_OK
        return Response(body, status=code)


class ModelListApi(APIView):
    @extend_schema(
        summary="Registered models of the user's projects",
        responses={200: ModelSummarySerializer(many=True)},
    )
    def get(self, request):
        rows, available = registered_model_rows(
            models=registered_model_list_for_user(user=request.user)
        )
        return Response([_summary_out(row, available) for row in rows])


class ModelDetailApi(APIView):
    @extend_schema(
        summary="One registered model with its versions",
        parameters=[NAME_PARAMETER],
        responses={200: ModelDetailSerializer, 404: _404, 503: _503},
    )
    def get(self, request, name):
        model, _membership = registered_model_get_for_user(user=request.user, name=name)
        try:
            info = registered_model_info_get(model=model)
            rows = model_version_rows(model=model, info=info)
        except MlflowNotFound:
            info, rows = None, []
        latest = rows[0] if rows else None
        main_value = latest.metrics.get(model.main_metric) if latest else None
        return Response(
            {
                "name": model.name,
                "project": model.project_id,
                "main_metric": model.main_metric,
                "main_metric_value": main_value,
                "latest_version": latest.info.version if latest else None,
                "aliases": dict(info.aliases) if info else {},
                "mlflow_available": True,
                "created_at": model.created_at,
                "description": info.description if info else "",
                "versions": [_version_out(row.info, row.experiment) for row in rows],
            }
        )


class AliasApi(APIView):
    @extend_schema(
        summary="Point an alias at a version, or move it (editors)",
        parameters=[NAME_PARAMETER, ALIAS_PARAMETER],
        request=AliasInputSerializer,
        responses={
            200: AliasOutputSerializer,
            400: _400,
            403: _403,
            404: _404,
            502: _502,
            503: _503,
        },
    )
    def put(self, request, name, alias):
        model, _membership = registered_model_get_for_user(
            user=request.user, name=name, role=Role.EDITOR
        )
        data = AliasInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        alias, version = services.alias_set(
            model=model, alias=alias, version=data.validated_data["version"]
        )
        return Response({"alias": alias, "version": version})

    @extend_schema(
        summary="Remove an alias (editors)",
        parameters=[NAME_PARAMETER, ALIAS_PARAMETER],
        responses={204: None, 400: _400, 403: _403, 404: _404, 503: _503},
    )
    def delete(self, request, name, alias):
        model, _membership = registered_model_get_for_user(
            user=request.user, name=name, role=Role.EDITOR
        )
        services.alias_delete(model=model, alias=alias)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VersionApi(APIView):
    @extend_schema(
        summary="One version of a model",
        parameters=[NAME_PARAMETER, VERSION_PARAMETER],
        responses={200: VersionSerializer, 404: _404, 503: _503},
    )
    def get(self, request, name, version):
        model, _membership = registered_model_get_for_user(user=request.user, name=name)
        info = model_version_get_for_model(model=model, version=version)
        experiment = model.project.experiments.filter(mlflow_run_id=info.run_id).first()
        return Response(_version_out(info, experiment if info.run_id else None))

    @extend_schema(
        summary="Change a version's description and/or tags (editors)",
        parameters=[NAME_PARAMETER, VERSION_PARAMETER],
        request=VersionUpdateSerializer,
        responses={
            200: VersionSerializer,
            400: _400,
            403: _403,
            404: _404,
            502: _502,
            503: _503,
        },
    )
    def patch(self, request, name, version):
        model, _membership = registered_model_get_for_user(
            user=request.user, name=name, role=Role.EDITOR
        )
        data = VersionUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        info = services.model_version_update(
            model=model,
            version=version,
            description=data.validated_data.get("description"),
            tags=data.validated_data.get("tags"),
        )
        experiment = model.project.experiments.filter(mlflow_run_id=info.run_id).first()
        return Response(_version_out(info, experiment if info.run_id else None))

    @extend_schema(
        summary="Delete a version (editors)",
        parameters=[NAME_PARAMETER, VERSION_PARAMETER],
        responses={204: None, 400: _400, 403: _403, 404: _404, 502: _502, 503: _503},
    )
    def delete(self, request, name, version):
        model, _membership = registered_model_get_for_user(
            user=request.user, name=name, role=Role.EDITOR
        )
        services.model_version_delete(model=model, version=version)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- a dataset version's lineage -------------------------------------------------------------


class LineageExperimentSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    project = serializers.IntegerField()
    status = serializers.CharField()
    mlflow_run_id = serializers.CharField()


class LineageSweepSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    project = serializers.IntegerField()
    status = serializers.CharField()
    mlflow_run_id = serializers.CharField(help_text="The parent run (empty until it started)")


class LineageModelVersionSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.CharField()
    aliases = serializers.ListField(
        child=serializers.CharField(), help_text="The aliases that serve this version now"
    )
    run_id = serializers.CharField()
    experiment = serializers.UUIDField()
    in_cauce = serializers.BooleanField(
        help_text="False for a model registered straight in MLflow under a name Cauce does not "
        "hold for the user"
    )


class LineageSerializer(serializers.Serializer):
    dataset = serializers.IntegerField()
    version = serializers.IntegerField()
    digest = serializers.CharField()
    experiments = LineageExperimentSerializer(many=True)
    sweeps = LineageSweepSerializer(many=True)
    model_versions = LineageModelVersionSerializer(many=True)


class DatasetVersionLineageApi(APIView):
    @extend_schema(
        summary="What was trained on a dataset version: its experiments, its sweeps and the "
        "registered model versions of the experiments' runs, with the aliases serving them",
        responses={200: LineageSerializer, 404: _404, 503: _503},
    )
    def get(self, request, pk: int, version: int):
        found = dataset_version_get_for_user(user=request.user, dataset_id=pk, version=version)
        experiments = list(dataset_version_experiments(version=found))
        sweeps = list(dataset_version_sweeps(version=found))
        model_versions = dataset_version_model_versions(version=found, user=request.user)
        return Response(
            {
                "dataset": found.dataset_id,
                "version": found.version,
                "digest": found.digest,
                "experiments": [
                    {
                        "id": experiment.pk,
                        "name": experiment.name,
                        "project": experiment.project_id,
                        "status": experiment.status,
                        "mlflow_run_id": experiment.mlflow_run_id,
                    }
                    for experiment in experiments
                ],
                "sweeps": [
                    {
                        "id": sweep.pk,
                        "name": sweep.name,
                        "project": sweep.project_id,
                        "status": sweep.status,
                        "mlflow_run_id": sweep.mlflow_run_id,
                    }
                    for sweep in sweeps
                ],
                "model_versions": [
                    {
                        "name": item.info.name,
                        "version": item.info.version,
                        "status": item.info.status,
                        "aliases": item.info.aliases,
                        "run_id": item.info.run_id,
                        "experiment": item.experiment.pk,
                        "in_cauce": item.model is not None,
                    }
                    for item in model_versions
                ],
            }
        )
