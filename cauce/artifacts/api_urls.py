from django.urls import path

from cauce.artifacts import api

urlpatterns = [
    path(
        "experiments/<uuid:pk>/artifacts/",
        api.ArtifactListApi.as_view(),
        name="api-experiment-artifacts",
    ),
    path(
        "experiments/<uuid:pk>/artifacts/download/",
        api.ArtifactDownloadApi.as_view(),
        name="api-experiment-artifact-download",
    ),
    path(
        "experiments/<uuid:pk>/artifacts/zip/",
        api.ArtifactZipApi.as_view(),
        name="api-experiment-artifacts-zip",
    ),
    path(
        "experiments/<uuid:pk>/artifacts/preview/",
        api.ArtifactPreviewApi.as_view(),
        name="api-experiment-artifact-preview",
    ),
    path(
        "projects/<int:project_id>/artifacts/compare/paths/",
        api.ArtifactComparePathsApi.as_view(),
        name="api-project-artifacts-compare-paths",
    ),
    path(
        "projects/<int:project_id>/artifacts/compare/",
        api.ArtifactCompareApi.as_view(),
        name="api-project-artifacts-compare",
    ),
]
