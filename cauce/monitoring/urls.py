from django.urls import path

from cauce.monitoring import views

app_name = "monitoring"

urlpatterns = [
    path("models/<str:name>/monitoring/", views.model_monitoring, name="model_monitoring"),
    path(
        "models/<str:name>/versions/<int:version>/monitoring/",
        views.version_monitoring,
        name="version_monitoring",
    ),
    path(
        "models/<str:name>/versions/<int:version>/monitoring/refresh/",
        views.version_refresh,
        name="version_refresh",
    ),
    path("projects/<int:project_pk>/alerts/", views.project_alerts, name="project_alerts"),
    path(
        "projects/<int:project_pk>/monitoring/settings/",
        views.project_settings,
        name="project_settings",
    ),
    path(
        "projects/<int:project_pk>/monitoring/settings/test/",
        views.webhook_test,
        name="webhook_test",
    ),
    path(
        "projects/<int:project_pk>/alerts/acknowledge/",
        views.alerts_acknowledge_all,
        name="alerts_acknowledge_all",
    ),
    path(
        "projects/<int:project_pk>/alerts/<int:alert_id>/acknowledge/",
        views.alert_acknowledge,
        name="alert_acknowledge",
    ),
]
