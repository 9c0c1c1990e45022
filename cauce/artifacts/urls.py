"""An experiment's MLflow artifacts: browsing, downloads and ZIPs, previews, and one artifact
compared across a project's runs (namespace ``artifacts``)."""

from django.urls import path

from cauce.artifacts import views, views_compare, views_preview

app_name = "artifacts"

urlpatterns = [
    path("experiments/<uuid:pk>/artifacts/tab/", views.tab, name="tab"),
    path("experiments/<uuid:pk>/artifacts/folder/", views.folder, name="folder"),
    path("experiments/<uuid:pk>/artifacts/download/", views.download, name="download"),
    path("experiments/<uuid:pk>/artifacts/zip/", views.zip_download, name="zip"),
    path(
        "experiments/<uuid:pk>/artifacts/preview/",
        views_preview.artifact_preview_view,
        name="preview",
    ),
    path(
        "projects/<int:project_pk>/artifacts/compare/",
        views_compare.artifact_compare_view,
        name="compare",
    ),
]
