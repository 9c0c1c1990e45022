from django.urls import path

from cauce.sweeps import api

urlpatterns = [
    path("sweeps/", api.SweepListCreateApi.as_view(), name="api-sweep-list"),
    path("sweeps/<uuid:pk>/", api.SweepDetailApi.as_view(), name="api-sweep-detail"),
    path("sweeps/<uuid:pk>/cancel/", api.SweepCancelApi.as_view(), name="api-sweep-cancel"),
    path("sweeps/<uuid:pk>/promote/", api.SweepPromoteApi.as_view(), name="api-sweep-promote"),
]
