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
]
