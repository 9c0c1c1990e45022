from django.urls import path

from cauce.artifacts import views_compare, views_preview

urlpatterns = [
    path("experiments/<uuid:pk>/preview/", views_preview.artifact_preview_view, name="preview"),
    path(
        "projects/<int:project_pk>/compare/",
        views_compare.artifact_compare_view,
        name="compare",
    ),
]
