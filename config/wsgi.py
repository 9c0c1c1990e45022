import gc
import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

if settings.PREDICT_PRELOAD:
    from cauce.registry.predict.services import prediction_preload

    prediction_preload()

# What was created while starting (Django, and MLflow and scikit-learn when preloaded: some
# 350,000 objects) lives as long as the process: frozen, the garbage collector stops scanning
# it on every full collection, which a request with many rows (a list per row) sets off.
gc.freeze()
