"""REST endpoints for projects and members: thin serializers, writes through the services."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from cauce.projects import services
from cauce.projects.models import Membership, Project, Role
from cauce.projects.selectors import (
    membership_get_for_project,
    membership_list,
    project_get_for_user,
    project_list_for_user,
)


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.ChoiceField(choices=Role.choices, read_only=True)
    dataset_count = serializers.IntegerField(read_only=True)
    experiment_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            "role",
            "dataset_count",
            "experiment_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ProjectInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class ProjectUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class MemberSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["user_id", "username", "role", "created_at"]
        read_only_fields = fields


class MemberInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


def _project_out(*, user, project_id: int) -> dict:
    return ProjectSerializer(project_list_for_user(user=user).get(pk=project_id)).data


_ERRORS = {
    400: OpenApiResponse(description="Invalid data: {message, errors}"),
    403: OpenApiResponse(description="The user's role is too low: {message}"),
    404: OpenApiResponse(description="No such project, or the user is not a member: {message}"),
}


@extend_schema_view(
    get=extend_schema(summary="Projects the user is a member of"),
    post=extend_schema(
        summary="Create a project (the user becomes its owner)",
        request=ProjectInputSerializer,
        responses={201: ProjectSerializer, 400: _ERRORS[400]},
    ),
)
class ProjectListCreateApi(generics.ListCreateAPIView):
    serializer_class = ProjectSerializer

    def get_queryset(self):
        return project_list_for_user(user=self.request.user)

    def create(self, request, *args, **kwargs):
        data = ProjectInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_create(user=request.user, **data.validated_data)
        body = _project_out(user=request.user, project_id=project.pk)
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(summary="One project", responses={200: ProjectSerializer, 404: _ERRORS[404]}),
    patch=extend_schema(
        summary="Change a project's name or description (owners)",
        request=ProjectUpdateSerializer,
        responses={200: ProjectSerializer, **_ERRORS},
    ),
)
class ProjectDetailApi(generics.GenericAPIView):
    serializer_class = ProjectSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get(self, request, pk: int):
        project_get_for_user(user=request.user, project_id=pk)
        return Response(_project_out(user=request.user, project_id=pk))

    def patch(self, request, pk: int):
        project, _membership = project_get_for_user(
            user=request.user, project_id=pk, role=Role.OWNER
        )
        data = ProjectUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.project_update(project=project, actor=request.user, **data.validated_data)
        return Response(_project_out(user=request.user, project_id=pk))


@extend_schema_view(
    get=extend_schema(
        summary="Members of a project",
        responses={200: MemberSerializer(many=True), 404: _ERRORS[404]},
    ),
    post=extend_schema(
        summary="Add a member by username (owners)",
        request=MemberInputSerializer,
        responses={201: MemberSerializer, **_ERRORS},
    ),
)
class ProjectMembersApi(generics.GenericAPIView):
    serializer_class = MemberSerializer
    pagination_class = None  # a project has few members

    def get(self, request, pk: int):
        project, _membership = project_get_for_user(user=request.user, project_id=pk)
        return Response(MemberSerializer(membership_list(project=project), many=True).data)

    def post(self, request, pk: int):
        project, _membership = project_get_for_user(
            user=request.user, project_id=pk, role=Role.OWNER
        )
        data = MemberInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_add(
            project=project, actor=request.user, **data.validated_data
        )
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    patch=extend_schema(
        summary="Change a member's role (owners)",
        request=MemberRoleSerializer,
        responses={200: MemberSerializer, **_ERRORS},
    ),
    delete=extend_schema(
        summary="Remove a member (owners; the last owner stays)",
        request=None,
        responses={204: None, **_ERRORS},
    ),
)
class ProjectMemberDetailApi(generics.GenericAPIView):
    serializer_class = MemberSerializer
    http_method_names = ["patch", "delete", "options"]

    def _member(self, request, pk: int, user_id: int) -> Membership:
        project, _membership = project_get_for_user(
            user=request.user, project_id=pk, role=Role.OWNER
        )
        return membership_get_for_project(project=project, user_id=user_id)

    def patch(self, request, pk: int, user_id: int):
        membership = self._member(request, pk, user_id)
        data = MemberRoleSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        if "role" in data.validated_data:  # a PATCH without a role changes nothing
            services.membership_change_role(
                membership=membership, actor=request.user, role=data.validated_data["role"]
            )
        return Response(MemberSerializer(membership).data)

    def delete(self, request, pk: int, user_id: int):
        membership = self._member(request, pk, user_id)
        services.membership_remove(membership=membership, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
