from django.urls import path

from cauce.datasets import views

app_name = "datasets"

urlpatterns = [
    path("projects/<int:project_pk>/upload/", views.dataset_create, name="dataset_create"),
    path("<int:pk>/", views.dataset_detail, name="dataset_detail"),
    path("<int:pk>/download/", views.dataset_download, name="dataset_download"),
    path("<int:pk>/delete/", views.dataset_delete, name="dataset_delete"),
]
