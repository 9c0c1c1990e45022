from django.urls import include, path

app_name = "artifacts"

# Browsing, downloads and ZIPs; previews and comparison (two modules, two owners).
urlpatterns = [
    path("", include("cauce.artifacts.urls_browse")),
    path("", include("cauce.artifacts.urls_preview")),
]
