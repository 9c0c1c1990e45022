"""REST endpoints for datasets: upload (multipart), list and read, scoped to the user's projects."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from cauce.datasets import services
from cauce.datasets.models import Dataset, DatasetVersion
from cauce.datasets.selectors import (
    dataset_get_for_user,
    dataset_list,
    dataset_version_identical,
)
from cauce.projects.models import Role
from cauce.projects.selectors import project_get_for_user

LIST_FIELDS = [
    "id",
    "project",
    "name",
    "description",
    "original_filename",
    "file_format",
    "encoding",
    "delimiter",
    "size_bytes",
    "row_count",
    "column_count",
    "schema",
    "created_at",
]


class DatasetListSerializer(serializers.ModelSerializer):
    class Meta:
        model = Dataset
        fields = LIST_FIELDS
        read_only_fields = fields


class DatasetVersionSummarySerializer(serializers.ModelSerializer):
    rows = serializers.IntegerField(source="row_count")
    columns = serializers.IntegerField(source="column_count")
    created = serializers.DateTimeField(source="created_at")
    created_by = serializers.CharField(
        source="created_by.get_username", default=None, allow_null=True
    )

    class Meta:
        model = DatasetVersion
        fields = [
            "version",
            "digest",
            "rows",
            "columns",
            "created",
            "created_by",
            "original_filename",
            "size_bytes",
        ]
        read_only_fields = fields


class DatasetSerializer(serializers.ModelSerializer):
    latest_version = serializers.IntegerField(
        source="latest_version.version", default=None, allow_null=True
    )
    versions = DatasetVersionSummarySerializer(many=True, read_only=True)

    class Meta:
        model = Dataset
        fields = [*LIST_FIELDS, "preview", "statistics", "latest_version", "versions"]
        read_only_fields = fields


class IdenticalVersionSerializer(serializers.ModelSerializer):
    dataset = serializers.IntegerField(source="dataset_id")
    name = serializers.CharField(source="dataset.name")

    class Meta:
        model = DatasetVersion
        fields = ["dataset", "name", "version"]
        read_only_fields = fields


class DatasetCreatedSerializer(DatasetSerializer):
    """A new dataset, and the version of another dataset of the project with the same file
    (the same digest), if one has it (null otherwise): kept as a copy, but named."""

    identical_to = IdenticalVersionSerializer(read_only=True, allow_null=True)

    class Meta(DatasetSerializer.Meta):
        fields = [*DatasetSerializer.Meta.fields, "identical_to"]
        read_only_fields = fields


class DatasetVersionSerializer(DatasetVersionSummarySerializer):
    dataset = serializers.IntegerField(source="dataset_id")
    existing = serializers.BooleanField(
        source="was_existing",
        help_text="True when the file equals this version, which already existed: nothing "
        "was created",
    )

    class Meta(DatasetVersionSummarySerializer.Meta):
        fields = [
            "dataset",
            *DatasetVersionSummarySerializer.Meta.fields,
            "file_format",
            "schema",
            "existing",
        ]
        read_only_fields = fields


class DatasetVersionInputSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, use_url=False)


class DatasetInputSerializer(serializers.Serializer):
    file = serializers.FileField(
        # Empty files reach the service, which answers with the same message as the form.
        allow_empty_file=True,
        use_url=False,
    )
    name = serializers.CharField(
        max_length=Dataset._meta.get_field("name").max_length,
        required=False,
        allow_blank=True,
        default="",
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


_ERRORS = {
    400: OpenApiResponse(description="Invalid file or data: {message}"),
    403: OpenApiResponse(description="The user's role is too low: {message}"),
    404: OpenApiResponse(description="No such project or dataset for this user: {message}"),
}


@extend_schema_view(
    get=extend_schema(
        summary="Datasets of a project (without the preview)",
        responses={200: DatasetListSerializer(many=True), 404: _ERRORS[404]},
    ),
    post=extend_schema(
        summary="Upload a CSV or Parquet file as a dataset (editors)",
        request={"multipart/form-data": DatasetInputSerializer},
        responses={201: DatasetCreatedSerializer, **_ERRORS},
    ),
)
class ProjectDatasetsApi(generics.ListCreateAPIView):
    serializer_class = DatasetListSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):
        project, _membership = project_get_for_user(
            user=self.request.user, project_id=self.kwargs["project_id"]
        )
        return dataset_list(project=project)

    def create(self, request, *args, **kwargs):
        project, _membership = project_get_for_user(
            user=request.user, project_id=self.kwargs["project_id"], role=Role.EDITOR
        )
        data = DatasetInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = services.dataset_create(project=project, user=request.user, **data.validated_data)
        dataset.identical_to = dataset_version_identical(dataset=dataset)
        return Response(DatasetCreatedSerializer(dataset).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        summary="One dataset with its schema, preview and column statistics",
        responses={200: DatasetSerializer, 404: _ERRORS[404]},
    ),
    delete=extend_schema(
        summary="Delete a dataset no experiment uses (editors)",
        request=None,
        responses={204: None, **_ERRORS},
    ),
)
class DatasetDetailApi(generics.GenericAPIView):
    serializer_class = DatasetSerializer
    http_method_names = ["get", "delete", "head", "options"]

    def get(self, request, pk: int):
        dataset = dataset_get_for_user(user=request.user, dataset_id=pk)
        return Response(DatasetSerializer(dataset).data)

    def delete(self, request, pk: int):
        dataset = dataset_get_for_user(user=request.user, dataset_id=pk, role=Role.EDITOR)
        services.dataset_delete(dataset=dataset, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    post=extend_schema(
        summary="Upload a new version of a dataset (editors): 201 with the new version, or 200 "
        "with the existing one when a version holds the same bytes (nothing is created)",
        request={"multipart/form-data": DatasetVersionInputSerializer},
        responses={201: DatasetVersionSerializer, 200: DatasetVersionSerializer, **_ERRORS},
    ),
)
class DatasetVersionsApi(generics.GenericAPIView):
    serializer_class = DatasetVersionSerializer
    parser_classes = [MultiPartParser, FormParser]
    http_method_names = ["post", "options"]

    def post(self, request, pk: int):
        dataset = dataset_get_for_user(user=request.user, dataset_id=pk, role=Role.EDITOR)
        data = DatasetVersionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = services.dataset_version_create(
            dataset=dataset, user=request.user, file=data.validated_data["file"]
        )
        version = upload.version
        version.was_existing = not upload.created
        code = status.HTTP_201_CREATED if upload.created else status.HTTP_200_OK
        return Response(DatasetVersionSerializer(version).data, status=code)
