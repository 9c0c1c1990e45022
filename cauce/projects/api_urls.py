# Explicit paths, no router: /api/projects/<id>/datasets/ and other nested routes belong to
# the apps that own them.
from django.urls import path

from cauce.projects import api

urlpatterns = [
    path("projects/", api.ProjectListCreateApi.as_view(), name="api-project-list"),
    path("projects/<int:pk>/", api.ProjectDetailApi.as_view(), name="api-project-detail"),
    path("projects/<int:pk>/members/", api.ProjectMembersApi.as_view(), name="api-project-members"),
    path(
        "projects/<int:pk>/members/<int:user_id>/",
        api.ProjectMemberDetailApi.as_view(),
        name="api-project-member-detail",
    ),
]
