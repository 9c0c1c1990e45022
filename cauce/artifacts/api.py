"""REST endpoints for an experiment's MLflow artifacts: list one level, download, ZIP.

The same permission and path rules as the pages; errors are JSON ``{"message": ...}``
(MLflow down is a 503), through the API's exception handler.
"""

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from cauce.artifacts import streaming
from cauce.artifacts.paths import clean_artifact_path
from cauce.artifacts.selectors import artifact_children, artifact_entry, artifact_experiment_get
from cauce.core.exceptions import ApplicationError

PATH_PARAMETER = OpenApiParameter(
    "path", OpenApiTypes.STR, description='Artifact path relative to the run ("" is the root).'
)
MODEL_PARAMETER = OpenApiParameter(
    "model", OpenApiTypes.STR, description="A logged model id of the run (MLflow 3)."
)
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
            raise ApplicationError(_("«%(path)s» no es una carpeta.") % {"path": path})
        entries = artifact_children(experiment=experiment, path=path, model_id=model_id)
        return Response([{"path": e.path, "is_dir": e.is_dir, "size": e.size} for e in entries])


class ArtifactDownloadApi(_ArtifactApi):
    @extend_schema(
        parameters=[PATH_PARAMETER, MODEL_PARAMETER],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request, pk):
        experiment, path, model_id = self._request_args(request, pk)
        return streaming.artifact_download_response(
            experiment=experiment, path=path, model_id=model_id
        )


class ArtifactZipApi(_ArtifactApi):
    @extend_schema(
        parameters=[PATH_PARAMETER, MODEL_PARAMETER],
        responses={(200, "application/zip"): OpenApiTypes.BINARY},
    )
    def get(self, request, pk):
        experiment, path, model_id = self._request_args(request, pk)
        return streaming.artifact_zip_response(experiment=experiment, path=path, model_id=model_id)
