"""Cauce settings: every value comes from the environment, with embedded defaults.

Unset, Cauce runs on one machine with SQLite, a file-system Celery broker and a local
MLflow server, all writing below CAUCE_DATA_DIR (default ./var). DATABASE_URL,
CELERY_BROKER_URL and MLFLOW_TRACKING_URI switch to PostgreSQL, Redis and a remote MLflow.
"""

from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

DATA_DIR = Path(env.str("CAUCE_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="cauce-insecure-development-key-change-me")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "taggit",
    "django_htmx",
    "cauce.core",
    "cauce.projects",
    "cauce.datasets",
    "cauce.experiments",
    "cauce.artifacts",
    "cauce.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cauce.core.context_processors.cauce",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'cauce.sqlite3'}"),
}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The worker and the web server write to the same file: wait for the lock, don't fail.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://cauce")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "projects:project_list"
LOGOUT_REDIRECT_URL = "login"

# Spanish first; English available through the language switch.
LANGUAGE_CODE = "es"
LANGUAGES = [("es", _("Español")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Madrid")
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_BACKEND",
            default="django.contrib.staticfiles.storage.StaticFilesStorage",
        )
    },
}
# Static files are served by whitenoise, from the apps in development (no collectstatic needed).
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = Path(env.str("CAUCE_MEDIA_ROOT", default=str(DATA_DIR / "media")))

# Uploads: files above this stay on disk while Django reads them, never in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATASET_MAX_UPLOAD_MB = env.int("CAUCE_DATASET_MAX_UPLOAD_MB", default=100)
DATASET_PREVIEW_ROWS = 20

# --- MLflow -------------------------------------------------------------------------------
MLFLOW_TRACKING_URI = env.str("MLFLOW_TRACKING_URI", default="http://127.0.0.1:5000")
# What the browser can reach (links to the MLflow UI); the tracking URI may be internal.
MLFLOW_PUBLIC_URL = env.str("MLFLOW_PUBLIC_URL", default=MLFLOW_TRACKING_URI)
# Web requests fail fast; workers wait longer and retry through Celery.
MLFLOW_WEB_CONNECT_TIMEOUT = env.float("MLFLOW_WEB_CONNECT_TIMEOUT", default=0.5)
MLFLOW_WEB_READ_TIMEOUT = env.float("MLFLOW_WEB_READ_TIMEOUT", default=0.8)
MLFLOW_WORKER_TIMEOUT = env.int("MLFLOW_WORKER_TIMEOUT", default=60)
MLFLOW_WORKER_MAX_RETRIES = env.int("MLFLOW_WORKER_MAX_RETRIES", default=2)
# After a failed call the web process treats MLflow as down for this long (no new waits).
MLFLOW_DOWN_COOLDOWN_SECONDS = env.float("MLFLOW_DOWN_COOLDOWN_SECONDS", default=5.0)

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_DIR = DATA_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        # kombu's default is ./control, relative to the working directory: keep it in the data dir.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="cauce")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# A RUNNING experiment whose worker has not written a heartbeat for this long is dead.
EXPERIMENT_HEARTBEAT_SECONDS = env.int("CAUCE_EXPERIMENT_HEARTBEAT_SECONDS", default=10)
EXPERIMENT_STALE_AFTER_SECONDS = env.int("CAUCE_EXPERIMENT_STALE_AFTER_SECONDS", default=120)
# While MLflow is unreachable a run is retried this often, with a doubling, capped delay.
EXPERIMENT_MLFLOW_RETRIES = env.int("CAUCE_EXPERIMENT_MLFLOW_RETRIES", default=5)
EXPERIMENT_MLFLOW_RETRY_DELAY = env.float("CAUCE_EXPERIMENT_MLFLOW_RETRY_DELAY", default=10.0)
EXPERIMENT_MLFLOW_RETRY_MAX_DELAY = env.float(
    "CAUCE_EXPERIMENT_MLFLOW_RETRY_MAX_DELAY", default=300.0
)

# --- Artifacts ----------------------------------------------------------------------------
ARTIFACT_PREVIEW_MAX_BYTES = env.int("CAUCE_ARTIFACT_PREVIEW_MAX_BYTES", default=5 * 1024 * 1024)
ARTIFACT_TEXT_PREVIEW_BYTES = env.int("CAUCE_ARTIFACT_TEXT_PREVIEW_BYTES", default=256 * 1024)

# --- Predictions with registered models -------------------------------------------------
# Loaded models kept per process (LRU); each holds a whole scikit-learn pipeline in memory.
REGISTRY_MODEL_CACHE_SIZE = env.int("CAUCE_MODEL_CACHE_SIZE", default=4)
# Rows in one prediction request (JSON API, pasted rows, or a file predicted on the page).
PREDICT_MAX_ROWS = env.int("CAUCE_PREDICT_MAX_ROWS", default=100_000)
# Largest prediction file accepted, and above which size it is predicted by a worker.
PREDICT_MAX_UPLOAD_MB = env.int("CAUCE_PREDICT_MAX_UPLOAD_MB", default=100)
PREDICT_ASYNC_THRESHOLD_BYTES = env.int("CAUCE_PREDICT_ASYNC_THRESHOLD_BYTES", default=1024 * 1024)
# A file predicted by a worker is read and predicted this many rows at a time.
PREDICT_CHUNK_ROWS = env.int("CAUCE_PREDICT_CHUNK_ROWS", default=10_000)
# Largest JSON body of the predict API (a scoring-server client may send big batches).
PREDICT_MAX_BODY_MB = env.int("CAUCE_PREDICT_MAX_BODY_MB", default=20)
# Rows of the result shown per page (the whole result is in the CSV download).
PREDICT_PAGE_ROWS = env.int("CAUCE_PREDICT_PAGE_ROWS", default=50)

# --- API ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous call then gets 401 with "WWW-Authenticate: Token".
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "cauce.api.exceptions.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Cauce API",
    "DESCRIPTION": "Projects, datasets and MLflow-tracked experiments.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served from the sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"mlflow": {"level": "WARNING"}, "urllib3": {"level": "WARNING"}},
}

# A process started by the test suite (the Celery worker) is pointed at the test database.
if env.str("CAUCE_DATABASE_NAME", default=""):
    DATABASES["default"]["NAME"] = env.str("CAUCE_DATABASE_NAME")
