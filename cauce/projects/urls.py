from django.urls import path

from cauce.projects import views

app_name = "projects"

urlpatterns = [
    path("", views.project_list, name="project_list"),
    path("new/", views.project_create, name="project_create"),
    path("<int:pk>/", views.project_detail, name="project_detail"),
    path("<int:pk>/edit/", views.project_edit, name="project_edit"),
    path("<int:pk>/members/", views.project_members, name="project_members"),
    path(
        "<int:pk>/members/<int:user_id>/role/",
        views.project_member_role,
        name="project_member_role",
    ),
    path(
        "<int:pk>/members/<int:user_id>/remove/",
        views.project_member_remove,
        name="project_member_remove",
    ),
]
