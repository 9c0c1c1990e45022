import os

from django.apps import AppConfig
from django.conf import settings


class CoreConfig(AppConfig):
    name = "cauce.core"
    label = "core"

    def ready(self) -> None:
        from cauce.core.db import register_database_functions

        register_database_functions()
        # The file-system broker needs its folders in every process that sends or receives
        # tasks (web, worker, management commands), not only in the worker.
        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
                folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get(key)
                if folder:
                    os.makedirs(folder, exist_ok=True)
