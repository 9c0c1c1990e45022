"""Browsing, downloads and ZIPs of an experiment's MLflow artifacts (namespace ``artifacts``)."""

from django.urls import path

from cauce.artifacts import views

urlpatterns = [
    path("experiments/<uuid:pk>/tab/", views.tab, name="tab"),
    path("experiments/<uuid:pk>/folder/", views.folder, name="folder"),
    path("experiments/<uuid:pk>/download/", views.download, name="download"),
    path("experiments/<uuid:pk>/zip/", views.zip_download, name="zip"),
]
