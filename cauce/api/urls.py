"""The REST API: each app contributes its routes in its own ``api.py``."""

from django.urls import include, path

from cauce.api.views import ObtainAuthTokenView, SchemaView, SwaggerUIView

urlpatterns = [
    path("token/", ObtainAuthTokenView.as_view(), name="api-token"),
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", SwaggerUIView.as_view(url_name="schema"), name="swagger-ui"),
    path("", include("cauce.projects.api_urls")),
    path("", include("cauce.datasets.api_urls")),
    path("", include("cauce.experiments.api_urls")),
    path("", include("cauce.artifacts.api_urls")),
    path("", include("cauce.registry.api_urls")),
    path("", include("cauce.monitoring.api_urls")),
    path("", include("cauce.sweeps.api_urls")),
]
