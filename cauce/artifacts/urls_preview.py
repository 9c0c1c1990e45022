from django.urls import path

from cauce.artifacts import views_compare, views_preview

urlpatterns = [
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
