from django.urls import path

from cauce.registry import api
from cauce.registry.predict import api as api_predict

urlpatterns = [
    path(
        "datasets/<int:pk>/versions/<int:version>/lineage/",
        api.DatasetVersionLineageApi.as_view(),
        name="api-dataset-version-lineage",
    ),
    path(
        "experiments/<uuid:pk>/register-model/",
        api.ExperimentRegisterModelApi.as_view(),
        name="api-experiment-register-model",
    ),
    path("models/", api.ModelListApi.as_view(), name="api-model-list"),
    path("models/<str:name>/", api.ModelDetailApi.as_view(), name="api-model-detail"),
    path(
        "models/<str:name>/predict/",
        api_predict.ModelPredictApi.as_view(),
        name="api-model-predict",
    ),
    path(
        "models/<str:name>/aliases/<str:alias>/",
        api.AliasApi.as_view(),
        name="api-model-alias",
    ),
    path(
        "models/<str:name>/versions/<int:version>/",
        api.VersionApi.as_view(),
        name="api-model-version",
    ),
]
