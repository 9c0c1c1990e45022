from django.urls import path

from cauce.monitoring import api

urlpatterns = [
    path(
        "models/<str:name>/versions/<int:version>/monitoring/",
        api.VersionMonitoringApi.as_view(),
        name="api-model-version-monitoring",
    ),
    path(
        "models/<str:name>/versions/<int:version>/monitoring/refresh/",
        api.VersionMonitoringRefreshApi.as_view(),
        name="api-model-version-monitoring-refresh",
    ),
    path(
        "projects/<int:project_id>/alerts/",
        api.ProjectAlertsApi.as_view(),
        name="api-project-alerts",
    ),
    path(
        "projects/<int:project_id>/alerts/acknowledge/",
        api.AlertsAcknowledgeAllApi.as_view(),
        name="api-project-alerts-acknowledge",
    ),
    path(
        "projects/<int:project_id>/alerts/<int:alert_id>/acknowledge/",
        api.AlertAcknowledgeApi.as_view(),
        name="api-project-alert-acknowledge",
    ),
    path(
        "projects/<int:project_id>/monitoring/settings/",
        api.MonitoringSettingsApi.as_view(),
        name="api-project-monitoring-settings",
    ),
    path(
        "projects/<int:project_id>/monitoring/settings/test/",
        api.WebhookTestApi.as_view(),
        name="api-project-monitoring-webhook-test",
    ),
]
