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
        "projects/<int:project_id>/alerts/<int:alert_id>/acknowledge/",
        api.AlertAcknowledgeApi.as_view(),
        name="api-project-alert-acknowledge",
    ),
]
