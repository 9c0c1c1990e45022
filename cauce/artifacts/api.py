"""REST endpoints for an experiment's MLflow artifacts: what the "Artefactos" tab offers.

List one level, download a file, a folder or a selection as a ZIP, preview a file, and compare
one path across experiments, each through the artifacts app's own selectors, previews and
comparison code.

The same permission and path rules as the pages; errors are JSON ``{"message": ...}``
(MLflow down is a 503), through the API's exception handler.
"""

from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from cauce.api.schema import NO_NUL_PATTERN, NON_BLANK_PATTERN
from cauce.artifacts import previews, streaming
from cauce.artifacts.compare import (
    DISTINCT_CAP,
    artifact_compare,
    compare_experiments_get,
    compare_path_choices,
)
from cauce.artifacts.paths import MAX_PATH_LENGTH, clean_artifact_path
from cauce.artifacts.selectors import artifact_children, artifact_entry, artifact_experiment_get
from cauce.core.exceptions import ApplicationError, ConflictError
from cauce.projects.selectors import project_get_for_user

# What clean_artifact_path() accepts, as far as a pattern can say it: relative, no "." or ".."
# segment, no empty segment, no backslash, "#", "?", "%" (encodings) or control character.
PATH_PATTERN = (
    r"^(?![/])(?![A-Za-z]:)(?!(.*/)?[.]{1,2}(/|$))(?!.*//)[^\\#?%\u0000-\u001f\u007f-\u009f]*$"
)
PATH_SCHEMA = {"type": "string", "maxLength": MAX_PATH_LENGTH, "pattern": PATH_PATTERN}
PATH_PARAMETER = OpenApiParameter(
    "path", PATH_SCHEMA, description='Artifact path relative to the run ("" is the root).'
)
FILE_PATH_PARAMETER = OpenApiParameter(
    "path",
    {**PATH_SCHEMA, "minLength": 1},
    required=True,
    description="Path of a file, relative to the run (or to the model with ``model``).",
)
MODEL_PARAMETER = OpenApiParameter(
    "model", OpenApiTypes.STR, description="A logged model id of the run (MLflow 3)."
)
# The file as MLflow stores it, as an attachment with the type its name says (never sniffed):
# a JSON file (metrics.json) is JSON, whatever it holds; any other is its bytes (PNG, CSV...).
# One description per status (OpenAPI's rule): the first one's.
DOWNLOAD_RESPONSES = {
    (200, "application/json"): OpenApiResponse(
        OpenApiTypes.ANY,
        description="The file as stored, as an attachment, with the media type of its name: "
        "a JSON file is any JSON value, a file of unknown type application/octet-stream, "
        "any other its own type (image/png, text/csv...).",
    ),
    (200, "application/octet-stream"): OpenApiTypes.BINARY,
    (200, "*/*"): OpenApiTypes.ANY,
}
ENTRIES = inline_serializer(
    "ArtifactEntry",
    many=True,
    fields={
        "path": serializers.CharField(),
        "is_dir": serializers.BooleanField(),
        "size": serializers.IntegerField(allow_null=True),
    },
)


class _ArtifactApi(APIView):
    def perform_content_negotiation(self, request, force=False):
        # A client asking for application/zip or octet-stream gets the file, not a 406;
        # errors still answer JSON.
        return super().perform_content_negotiation(request, force=True)

    def _request_args(self, request, pk):
        experiment = artifact_experiment_get(user=request.user, experiment_id=pk)
        path = clean_artifact_path(request.query_params.get("path", ""))
        return experiment, path, request.query_params.get("model") or None


class ArtifactListApi(_ArtifactApi):
    @extend_schema(parameters=[PATH_PARAMETER, MODEL_PARAMETER], responses=ENTRIES)
    def get(self, request, pk):
        experiment, path, model_id = self._request_args(request, pk)
        if not artifact_entry(experiment=experiment, path=path, model_id=model_id).is_dir:
            raise ConflictError(_("«%(path)s» no es una carpeta.") % {"path": path})
        entries = artifact_children(experiment=experiment, path=path, model_id=model_id)
        return Response([{"path": e.path, "is_dir": e.is_dir, "size": e.size} for e in entries])


class ArtifactDownloadApi(_ArtifactApi):
    @extend_schema(
        parameters=[FILE_PATH_PARAMETER, MODEL_PARAMETER],
        responses=DOWNLOAD_RESPONSES,
    )
    def get(self, request, pk):
        experiment, path, model_id = self._request_args(request, pk)
        return streaming.artifact_download_response(
            experiment=experiment, path=path, model_id=model_id
        )


# --- a selection as one ZIP ---------------------------------------------------------------------


class _ModelPathIn(serializers.Serializer):
    model = serializers.CharField(help_text="A logged model id of the run.")
    path = serializers.CharField(allow_blank=True, help_text='Path in the model ("" = all).')


# At least one file: a selection names run paths, model files, or both.
SELECTION_SCHEMA = {
    "type": "object",
    "properties": {
        "paths": {"type": "array", "items": PATH_SCHEMA},
        "model_paths": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    # Not blank, and no NUL (DRF refuses it in any text).
                    "model": {
                        "type": "string",
                        "minLength": 1,
                        "allOf": [{"pattern": NON_BLANK_PATTERN}, {"pattern": NO_NUL_PATTERN}],
                    },
                    "path": PATH_SCHEMA,
                },
                "required": ["model", "path"],
            },
        },
    },
    "anyOf": [
        {"required": ["paths"], "properties": {"paths": {"minItems": 1}}},
        {"required": ["model_paths"], "properties": {"model_paths": {"minItems": 1}}},
    ],
}


class ArtifactSelectionSerializer(serializers.Serializer):
    paths = serializers.ListField(
        child=serializers.CharField(allow_blank=True), required=False, default=list
    )
    model_paths = _ModelPathIn(many=True, required=False, default=list)


class ArtifactZipApi(_ArtifactApi):
    @extend_schema(
        parameters=[PATH_PARAMETER, MODEL_PARAMETER],
        responses={(200, "application/zip"): OpenApiTypes.BINARY},
    )
    def get(self, request, pk):
        experiment, path, model_id = self._request_args(request, pk)
        return streaming.artifact_zip_response(experiment=experiment, path=path, model_id=model_id)

    @extend_schema(
        summary="Download a selection of run and model files as one streamed ZIP (viewers)",
        request={"application/json": SELECTION_SCHEMA},
        responses={(200, "application/zip"): OpenApiTypes.BINARY},
    )
    def post(self, request, pk):
        experiment = artifact_experiment_get(user=request.user, experiment_id=pk)
        selection = ArtifactSelectionSerializer(data=request.data)
        selection.is_valid(raise_exception=True)
        paths = [clean_artifact_path(path) for path in selection.validated_data["paths"]]
        model_paths = [
            (item["model"], clean_artifact_path(item["path"]))
            for item in selection.validated_data["model_paths"]
        ]
        return streaming.artifact_selection_zip_response(
            experiment=experiment, paths=paths, model_paths=model_paths
        )


# --- previews ---------------------------------------------------------------------------------


class _SignatureFieldOut(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()


class _TableOut(serializers.Serializer):
    header = serializers.ListField(child=serializers.CharField())
    rows = serializers.SerializerMethodField()

    def get_rows(self, table) -> list[dict]:
        return [{"number": number, "cells": cells} for number, cells in table.rows]


class _CsvPageOut(_TableOut):
    page = serializers.IntegerField()
    has_next = serializers.BooleanField()


class _MlmodelOut(serializers.Serializer):
    flavors = serializers.SerializerMethodField()
    inputs = _SignatureFieldOut(many=True)
    outputs = _SignatureFieldOut(many=True)
    example = _TableOut(allow_null=True)
    example_path = serializers.CharField()
    facts = serializers.SerializerMethodField()

    def get_flavors(self, summary) -> list[dict[str, str]]:
        return [{"name": name, "details": details} for name, details in summary.flavors]

    def get_facts(self, summary) -> list[dict[str, str]]:
        return [{"name": str(name), "value": str(value)} for name, value in summary.facts]


def _api_download_url(request, experiment, path: str, model_id: str | None) -> str:
    query = {"path": path, **({"model": model_id} if model_id else {})}
    base = reverse("api-experiment-artifact-download", args=[experiment.pk])
    return request.build_absolute_uri(f"{base}?{urlencode(query)}")


class ArtifactPreviewSerializer(serializers.Serializer):
    """What the preview panel shows, as data (the same reading caps as the page)."""

    kind = serializers.ChoiceField(
        choices=sorted(
            {"folder", "unknown", "csv", "tsv", *previews.INLINE_KINDS, *previews.TEXT_KINDS}
        ),
        help_text="folder, image, svg, html, pdf (fetch download_url), text, json, yaml, "
        "mlmodel, markdown, csv, tsv or unknown (sniffed text).",
    )
    path = serializers.CharField()
    model_id = serializers.CharField(allow_null=True)
    size = serializers.IntegerField(allow_null=True)
    download_url = serializers.SerializerMethodField()
    too_large = serializers.BooleanField(help_text="Over the preview limit: download it instead.")
    text = serializers.CharField(allow_blank=True, help_text="Text kinds, capped.")
    truncated = serializers.BooleanField()
    note = serializers.CharField(allow_blank=True)
    html = serializers.CharField(allow_blank=True, help_text="Markdown, rendered and sanitized.")
    table = _CsvPageOut(allow_null=True, help_text="CSV and TSV: one page of rows.")
    mlmodel = _MlmodelOut(allow_null=True)

    def get_download_url(self, preview) -> str:
        return _api_download_url(
            self.context["request"], self.context["experiment"], preview.path, preview.model_id
        )


class _PageSerializer(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, max_value=10**9, default=1)


class ArtifactPreviewApi(_ArtifactApi):
    @extend_schema(
        summary="Preview one artifact (viewers): what the page's preview panel shows",
        parameters=[
            PATH_PARAMETER,
            MODEL_PARAMETER,
            OpenApiParameter(
                "page",
                {"type": "integer", "minimum": 1, "maximum": 10**9},
                description="CSV/TSV page (1-based).",
            ),
        ],
        responses=ArtifactPreviewSerializer,
    )
    def get(self, request, pk):
        experiment, path, model_id = self._request_args(request, pk)
        page = _PageSerializer(data=request.query_params)
        page.is_valid(raise_exception=True)
        page = page.validated_data["page"]
        preview = previews.artifact_preview(
            experiment=experiment, path=path, model_id=model_id, page=page
        )
        context = {"request": request, "experiment": experiment}
        return Response(ArtifactPreviewSerializer(preview, context=context).data)


# --- one artifact compared across experiments ----------------------------------------------------

EXPERIMENTS_PARAMETER = OpenApiParameter(
    "experiments",
    {"type": "array", "items": {"type": "string", "format": "uuid"}, "minItems": 2},
    explode=True,
    required=True,
    description="Two or more experiments of the project (repeat the parameter).",
)


def _compared_experiments(request, project_id: int) -> list:
    """The chosen experiments of a project the user belongs to; at least two with a run."""
    project, _membership = project_get_for_user(user=request.user, project_id=project_id)
    chosen = compare_experiments_get(
        project=project, ids=request.query_params.getlist("experiments")
    )
    selected = [experiment for experiment in chosen if experiment.mlflow_run_id]
    if len(selected) < 2:
        raise ApplicationError(_("Elija al menos dos experimentos con run para comparar."))
    return selected


class _PathChoiceOut(serializers.Serializer):
    path = serializers.CharField()
    count = serializers.IntegerField(help_text="In how many of the runs the file exists.")


class ArtifactComparePathsApi(APIView):
    @extend_schema(
        summary="The artifact paths of two or more experiments' runs, to choose one to compare",
        parameters=[EXPERIMENTS_PARAMETER],
        responses=_PathChoiceOut(many=True),
    )
    def get(self, request, project_id):
        experiments = _compared_experiments(request, project_id)
        choices = compare_path_choices(experiments=experiments)
        return Response(_PathChoiceOut(choices, many=True).data)


class _ColumnSummaryOut(serializers.Serializer):
    name = serializers.CharField()
    numeric = serializers.BooleanField()
    count = serializers.IntegerField()
    mean = serializers.FloatField(allow_null=True)
    minimum = serializers.FloatField(allow_null=True)
    maximum = serializers.FloatField(allow_null=True)
    distinct_count = serializers.IntegerField()
    distinct_capped = serializers.BooleanField(help_text=f"More than {DISTINCT_CAP} distinct.")


class _CsvSummaryOut(serializers.Serializer):
    rows = serializers.IntegerField()
    header = serializers.ListField(child=serializers.CharField())
    columns = _ColumnSummaryOut(many=True)
    first_rows = serializers.SerializerMethodField()

    def get_first_rows(self, summary) -> list[dict]:
        return [{"number": number, "cells": cells} for number, cells in summary.first_rows]


class _RunFileOut(serializers.Serializer):
    experiment_id = serializers.UUIDField(source="experiment.pk")
    experiment_name = serializers.CharField(source="experiment.name")
    exists = serializers.BooleanField(help_text="False: the run has no file at this path.")
    is_dir = serializers.BooleanField()
    size = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    too_large = serializers.BooleanField()
    binary = serializers.BooleanField()
    text = serializers.CharField(allow_blank=True)
    truncated = serializers.BooleanField()
    note = serializers.CharField(allow_blank=True)
    csv = _CsvSummaryOut(allow_null=True)

    def get_size(self, run) -> int | None:
        return run.entry.size if run.entry is not None else None

    def get_download_url(self, run) -> str | None:
        if not run.exists:
            return None
        return _api_download_url(
            self.context["request"], run.experiment, self.context["path"], None
        )


class _DiffLineOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["head", "hunk", "add", "del", "same"])
    text = serializers.CharField(allow_blank=True)


class _DiffOut(serializers.Serializer):
    base_experiment_id = serializers.UUIDField(source="base.experiment.pk")
    other_experiment_id = serializers.UUIDField(source="other.experiment.pk")
    identical = serializers.BooleanField()
    cut = serializers.BooleanField(help_text="The diff was cut at its line limit.")
    lines = _DiffLineOut(many=True)


class ArtifactComparisonSerializer(serializers.Serializer):
    path = serializers.CharField()
    kind = serializers.CharField()
    runs = _RunFileOut(many=True)
    diffs = _DiffOut(many=True, help_text="Texts: each run against the first that has the file.")


class ArtifactCompareApi(APIView):
    @extend_schema(
        summary="One artifact path compared across two or more experiments of a project",
        parameters=[
            EXPERIMENTS_PARAMETER,
            OpenApiParameter(
                "path", {**PATH_SCHEMA, "minLength": 1}, required=True, description="A file path."
            ),
        ],
        responses=ArtifactComparisonSerializer,
    )
    def get(self, request, project_id):
        experiments = _compared_experiments(request, project_id)
        path = clean_artifact_path(request.query_params.get("path"))
        if not path:
            raise ApplicationError(_("Elija el archivo que quiere comparar."))
        comparison = artifact_compare(experiments=experiments, path=path)
        context = {"request": request, "path": path}
        return Response(ArtifactComparisonSerializer(comparison, context=context).data)
