from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "cauce.api"
    label = "api"
