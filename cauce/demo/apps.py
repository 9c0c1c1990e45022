from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo data of a fresh install (``manage.py cauce_demo``)."""

    name = "cauce.demo"
    label = "demo"
