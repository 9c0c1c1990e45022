from django.urls import path

from cauce.experiments import views

app_name = "experiments"

urlpatterns = [
    path("projects/<int:project_pk>/", views.ml_experiment_list, name="ml_experiment_list"),
    path("projects/<int:project_pk>/new/", views.ml_experiment_create, name="ml_experiment_create"),
    path("<uuid:pk>/", views.ml_experiment_detail, name="ml_experiment_detail"),
    path("<uuid:pk>/edit/", views.ml_experiment_edit, name="ml_experiment_edit"),
    path("<uuid:pk>/run/", views.ml_experiment_run, name="ml_experiment_run"),
    path("<uuid:pk>/status/", views.ml_experiment_status, name="ml_experiment_status"),
]
