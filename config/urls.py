from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from cauce.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("favicon.ico", core_views.favicon, name="favicon"),
    path("health/", core_views.health, name="health"),
    # Served by HealthCheckMiddleware ahead of host checks; routed too so reverse() knows them.
    path("health/live", core_views.health_live, name="health_live"),
    path("health/ready", core_views.health_ready, name="health_ready"),
    path("csp-report/", core_views.csp_report, name="csp_report"),
    path("mlflow-status/", core_views.mlflow_status, name="mlflow_status"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("projects/", include("cauce.projects.urls")),
    # Lists and creation read as the hierarchy (/projects/<id>/experiments/); objects keep
    # their own short URLs (/experiments/<uuid>/, /datasets/<id>/).
    path("", include("cauce.experiments.urls")),
    path("", include("cauce.datasets.urls")),
    path("", include("cauce.artifacts.urls")),
    path("", include("cauce.registry.urls")),
    path("", include("cauce.monitoring.urls")),
    path("", include("cauce.sweeps.urls")),
    path("api/", include("cauce.api.urls")),
]

# A URL no route matches (e.g. /api/experiments/not-a-uuid/) answers JSON under /api/.
handler404 = "cauce.api.exceptions.api_not_found"
# The database out of reach is a 503 with a message (page or JSON), not a bare 500.
handler500 = "cauce.core.views.server_error"
