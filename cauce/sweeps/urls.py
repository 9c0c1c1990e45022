from django.urls import path

from cauce.sweeps import views

app_name = "sweeps"

urlpatterns = [
    path("projects/<int:project_pk>/sweeps/", views.sweep_list_view, name="sweep_list"),
    path("projects/<int:project_pk>/sweeps/new/", views.sweep_create_view, name="sweep_create"),
    path("sweeps/<uuid:pk>/", views.sweep_detail, name="sweep_detail"),
    path("sweeps/<uuid:pk>/progress/", views.sweep_progress, name="sweep_progress"),
    path("sweeps/<uuid:pk>/cancel/", views.sweep_cancel, name="sweep_cancel"),
    path("sweeps/<uuid:pk>/promote/", views.sweep_promote, name="sweep_promote"),
    path("sweeps/<uuid:pk>/rerun/", views.sweep_rerun, name="sweep_rerun"),
]
