from django.urls import path

from cauce.datasets import api

urlpatterns = [
    path(
        "projects/<int:project_id>/datasets/",
        api.ProjectDatasetsApi.as_view(),
        name="api-project-datasets",
    ),
    path("datasets/<int:pk>/", api.DatasetDetailApi.as_view(), name="api-dataset-detail"),
    path(
        "datasets/<int:pk>/versions/",
        api.DatasetVersionsApi.as_view(),
        name="api-dataset-versions",
    ),
]
