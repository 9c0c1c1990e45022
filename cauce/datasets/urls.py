from django.urls import path

from cauce.datasets import views

app_name = "datasets"

urlpatterns = [
    path("projects/<int:project_pk>/datasets/upload/", views.dataset_create, name="dataset_create"),
    path("datasets/<int:pk>/", views.dataset_detail, name="dataset_detail"),
    path("datasets/<int:pk>/download/", views.dataset_download, name="dataset_download"),
    path("datasets/<int:pk>/delete/", views.dataset_delete, name="dataset_delete"),
    path(
        "datasets/<int:pk>/versions/new/",
        views.dataset_version_create,
        name="dataset_version_create",
    ),
    path(
        "datasets/<int:pk>/versions/<int:version>/",
        views.dataset_version_detail,
        name="dataset_version_detail",
    ),
    path(
        "datasets/<int:pk>/versions/<int:version>/download/",
        views.dataset_version_download,
        name="dataset_version_download",
    ),
    path(
        "datasets/<int:pk>/versions/<int:version>/delete/",
        views.dataset_version_delete,
        name="dataset_version_delete",
    ),
]
