from django.urls import path

from cauce.experiments import views, views_compare
from cauce.registry import views as registry_views

app_name = "experiments"

urlpatterns = [
    path(
        "projects/<int:project_pk>/experiments/",
        views.ml_experiment_list,
        name="ml_experiment_list",
    ),
    path(
        "projects/<int:project_pk>/experiments/new/",
        views.ml_experiment_create,
        name="ml_experiment_create",
    ),
    path("experiments/", views.ml_experiment_all, name="ml_experiment_all"),
    path("experiments/bulk-tags/", views.ml_experiment_bulk_tags, name="ml_experiment_bulk_tags"),
    path(
        "experiments/compare/",
        views_compare.ml_experiment_compare,
        name="ml_experiment_compare",
    ),
    path(
        "experiments/compare/csv/",
        views_compare.ml_experiment_compare_csv,
        name="ml_experiment_compare_csv",
    ),
    path("experiments/<uuid:pk>/", views.ml_experiment_detail, name="ml_experiment_detail"),
    path("experiments/<uuid:pk>/edit/", views.ml_experiment_edit, name="ml_experiment_edit"),
    path("experiments/<uuid:pk>/run/", views.ml_experiment_run, name="ml_experiment_run"),
    path("experiments/<uuid:pk>/cancel/", views.ml_experiment_cancel, name="ml_experiment_cancel"),
    path("experiments/<uuid:pk>/status/", views.ml_experiment_status, name="ml_experiment_status"),
    path(
        "experiments/<uuid:pk>/tag-sync/",
        views.ml_experiment_tag_sync,
        name="ml_experiment_tag_sync",
    ),
    path("experiments/<uuid:pk>/plots/", views.ml_experiment_plots, name="ml_experiment_plots"),
    # Registering an experiment's model is an action on the experiment, so its route is here;
    # the registry app does the work.
    path(
        "experiments/<uuid:pk>/register-model/",
        registry_views.experiment_register_model,
        name="register_model",
    ),
]
