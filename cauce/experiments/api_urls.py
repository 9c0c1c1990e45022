from django.urls import path

from cauce.experiments import api

urlpatterns = [
    path("experiments/", api.ExperimentListCreateApi.as_view(), name="api-experiment-list"),
    path(
        "experiments/bulk-tags/",
        api.ExperimentBulkTagsApi.as_view(),
        name="api-experiment-bulk-tags",
    ),
    path("experiments/compare/", api.ExperimentCompareApi.as_view(), name="api-experiment-compare"),
    path("experiments/<uuid:pk>/", api.ExperimentDetailApi.as_view(), name="api-experiment-detail"),
    path("experiments/<uuid:pk>/run/", api.ExperimentRunApi.as_view(), name="api-experiment-run"),
    path(
        "experiments/<uuid:pk>/cancel/",
        api.ExperimentCancelApi.as_view(),
        name="api-experiment-cancel",
    ),
]
