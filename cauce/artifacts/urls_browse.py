"""Browsing, downloads and ZIPs of an experiment's MLflow artifacts (namespace ``artifacts``)."""

from django.urls import path

from cauce.artifacts import views

urlpatterns = [
    path("experiments/<uuid:pk>/artifacts/tab/", views.tab, name="tab"),
    path("experiments/<uuid:pk>/artifacts/folder/", views.folder, name="folder"),
    path("experiments/<uuid:pk>/artifacts/download/", views.download, name="download"),
    path("experiments/<uuid:pk>/artifacts/zip/", views.zip_download, name="zip"),
]
