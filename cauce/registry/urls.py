from django.urls import path

from cauce.registry import views
from cauce.registry.predict import views as views_predict

app_name = "registry"

urlpatterns = [
    path("models/", views.model_list, name="model_list"),
    path("models/<str:name>/", views.model_detail, name="model_detail"),
    path("models/<str:name>/edit/", views.model_edit, name="model_edit"),
    path("models/<str:name>/compare/", views.versions_compare_view, name="compare"),
    path("models/<str:name>/aliases/", views.alias_set, name="alias_set"),
    path(
        "models/<str:name>/aliases/<str:alias>/delete/",
        views.alias_delete,
        name="alias_delete",
    ),
    path(
        "models/<str:name>/versions/<int:version>/",
        views.version_detail,
        name="version_detail",
    ),
    path(
        "models/<str:name>/versions/<int:version>/edit/",
        views.version_edit,
        name="version_edit",
    ),
    path(
        "models/<str:name>/versions/<int:version>/delete/",
        views.version_delete,
        name="version_delete",
    ),
    path("models/<str:name>/predict/", views_predict.predict, name="predict"),
    path(
        "models/<str:name>/predictions/<uuid:job_id>/",
        views_predict.prediction_detail,
        name="prediction_detail",
    ),
    path(
        "models/<str:name>/predictions/<uuid:job_id>/status/",
        views_predict.prediction_status,
        name="prediction_status",
    ),
    path(
        "models/<str:name>/predictions/<uuid:job_id>/retry/",
        views_predict.prediction_retry,
        name="prediction_retry",
    ),
    path(
        "models/<str:name>/predictions/<uuid:job_id>/download/",
        views_predict.prediction_download,
        name="prediction_download",
    ),
    path("projects/<int:project_pk>/models/", views.project_models, name="project_models"),
    path(
        "datasets/<int:pk>/versions/<int:version>/models/",
        views.dataset_version_models,
        name="dataset_version_models",
    ),
    path(
        "experiments/<uuid:pk>/registry/",
        views.experiment_registry,
        name="experiment_registry",
    ),
]
