from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "cauce.core"
    label = "core"
