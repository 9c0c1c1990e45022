from django.apps import AppConfig


class DoctorConfig(AppConfig):
    """The drift between Cauce and MLflow, and its repair (``manage.py cauce_doctor``)."""

    name = "cauce.doctor"
    label = "doctor"
