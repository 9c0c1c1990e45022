"""Cauce settings: every value comes from the environment, with embedded defaults.

Unset, Cauce runs on one machine with SQLite, a file-system Celery broker and a local
MLflow server, all writing below CAUCE_DATA_DIR (default ./var). DATABASE_URL,
CELERY_BROKER_URL and MLFLOW_TRACKING_URI switch to PostgreSQL, Redis and a remote MLflow.

CAUCE_ENV=production switches on what a public deployment needs: a required strong secret
key and explicit host names, HTTPS only (secure cookies, HSTS, redirect), static files from
collectstatic with hashed names, and JSON logs.
"""

import os
from pathlib import Path

import environ
from csp.constants import SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from django_guid.integrations import CeleryIntegration

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

DATA_DIR = Path(env.str("CAUCE_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()

CAUCE_ENV = env.str("CAUCE_ENV", default="development")
if CAUCE_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(
        f"CAUCE_ENV must be 'development' or 'production', not {CAUCE_ENV!r}."
    )
PRODUCTION = CAUCE_ENV == "production"

DEBUG = env.bool("DJANGO_DEBUG", default=False)

DEVELOPMENT_SECRET_KEY = "cauce-insecure-development-key-change-me"  # noqa: S105 - refused below
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
# Django's own bar for a key it does not warn about (security.W009).
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE_CHARACTERS = 5
if PRODUCTION and (
    SECRET_KEY == DEVELOPMENT_SECRET_KEY
    or SECRET_KEY.startswith("django-insecure-")
    or len(SECRET_KEY) < SECRET_KEY_MIN_LENGTH
    or len(set(SECRET_KEY)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
):
    raise ImproperlyConfigured(
        "CAUCE_ENV=production needs DJANGO_SECRET_KEY set to a strong secret of your own "
        f"(at least {SECRET_KEY_MIN_LENGTH} random characters; the development key is refused). "
        "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS",
    default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"],
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "CAUCE_ENV=production needs DJANGO_ALLOWED_HOSTS: the host names Cauce is served at, "
        "comma-separated (e.g. cauce.example.org)."
    )
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS (on by default in production) ----------------------------------------------------
# Behind a proxy that ends TLS, trust its X-Forwarded-Proto header (only then: a client could
# send it itself when nothing in front of Cauce overwrites it).
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=PRODUCTION)
# Orchestrators probe the health URLs over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^health/"]
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION
)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=PRODUCTION)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

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
    "csp",
    "axes",
    "django_guid",
    "cauce.core",
    "cauce.projects",
    "cauce.datasets",
    "cauce.experiments",
    "cauce.artifacts",
    "cauce.registry",
    "cauce.monitoring",
    "cauce.sweeps",
    "cauce.api",
    "cauce.demo",
    "cauce.doctor",
]

MIDDLEWARE = [
    # First: answers /health/live and /health/ready before host checks and the HTTPS redirect,
    # so that probes by IP address over plain HTTP inside the network get their answer.
    "cauce.core.middleware.HealthCheckMiddleware",
    "django_guid.middleware.guid_middleware",
    "cauce.core.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Streamed answers (downloads, not static files: answered above) pass through the proxy in
    # front unbuffered.
    "cauce.core.middleware.UnbufferedStreamingMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Spanish until the user chooses English with the switch (the browser's language is ignored).
    "cauce.core.middleware.SpanishFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
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
# Production keeps each thread's connection between requests: opening a PostgreSQL connection
# cost 10-20 ms of every request under load (tests/production/load.py). A kept connection that
# a database restart broke is replaced at the next request instead of failing it.
DATABASES["default"].setdefault(
    "CONN_MAX_AGE", env.int("CAUCE_DATABASE_CONN_MAX_AGE", default=60 if PRODUCTION else 0)
)
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The worker and the web server write to the same file: wait for the lock, don't fail.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
elif DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql"):
    # An unreachable host fails a request (and /health/) in seconds instead of hanging.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("CAUCE_DATABASE_CONNECT_TIMEOUT", default=5)
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://cauce")}
# After the cache failed (down, or past its timeouts), each process leaves it alone this long.
CACHE_PAUSE_SECONDS = env.float("CAUCE_CACHE_PAUSE_SECONDS", default=10.0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a login (right password or not) while the client is locked out.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "projects:project_list"
LOGOUT_REDIRECT_URL = "login"

# Spanish first; English available through the language switch.
LANGUAGE_CODE = "es"
LANGUAGES = [("es", _("Español")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The language switch's choice outlives the browser session and a log-out: a year.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
USE_I18N = True
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Madrid")
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
MEDIA_ROOT = Path(env.str("CAUCE_MEDIA_ROOT", default=str(DATA_DIR / "media")))

# Files Cauce keeps (datasets, prediction inputs and results): the data dir's media folder by
# default; with CAUCE_STORAGE_BUCKET, an S3-compatible bucket (AWS S3, MinIO...) that every web
# and worker host reads, so that no two hosts need a shared disk. Every file goes through
# Django's storage API, never by path.
STORAGE_BUCKET = env.str("CAUCE_STORAGE_BUCKET", default="")
STORAGE_S3_SETTINGS = {
    "CAUCE_STORAGE_ENDPOINT_URL": env.str("CAUCE_STORAGE_ENDPOINT_URL", default=""),
    "CAUCE_STORAGE_REGION": env.str("CAUCE_STORAGE_REGION", default=""),
    "CAUCE_STORAGE_ACCESS_KEY_ID": env.str("CAUCE_STORAGE_ACCESS_KEY_ID", default=""),
    "CAUCE_STORAGE_SECRET_ACCESS_KEY": env.str("CAUCE_STORAGE_SECRET_ACCESS_KEY", default=""),
    "CAUCE_STORAGE_ADDRESSING_STYLE": env.str("CAUCE_STORAGE_ADDRESSING_STYLE", default=""),
    "CAUCE_STORAGE_PREFIX": env.str("CAUCE_STORAGE_PREFIX", default=""),
}
# A file read from the bucket is downloaded into a temporary file that stays in memory up to
# this size and spills to local disk beyond it: a large dataset is never held whole in memory.
STORAGE_SPOOL_MAX_BYTES = env.int("CAUCE_STORAGE_SPOOL_MAX_BYTES", default=4 * 1024 * 1024)


# How a file moves to and from the bucket (boto3's TransferConfig): one part after the other.
# Parts downloaded in parallel are written at their offsets, and a part far into the file,
# written before the spool rolls over to disk, would grow the in-memory spool to that size.
STORAGE_S3_TRANSFER = {"use_threads": False}


def _default_storage() -> dict:
    """The default storage's STORAGES entry; a half-set bucket configuration fails here."""
    given = sorted(name for name, value in STORAGE_S3_SETTINGS.items() if value)
    if not STORAGE_BUCKET:
        if given:
            raise ImproperlyConfigured(
                f"{', '.join(given)} set without CAUCE_STORAGE_BUCKET: set the bucket to store "
                "files in S3, or unset them to keep files in the data dir."
            )
        return {"BACKEND": "cauce.core.storage.DataFileSystemStorage"}  # in MEDIA_ROOT
    key_id = STORAGE_S3_SETTINGS["CAUCE_STORAGE_ACCESS_KEY_ID"]
    secret = STORAGE_S3_SETTINGS["CAUCE_STORAGE_SECRET_ACCESS_KEY"]
    if bool(key_id) != bool(secret):
        raise ImproperlyConfigured(
            "CAUCE_STORAGE_ACCESS_KEY_ID and CAUCE_STORAGE_SECRET_ACCESS_KEY go together: set "
            "both, or neither to use boto3's own credentials (environment, instance role)."
        )
    endpoint = STORAGE_S3_SETTINGS["CAUCE_STORAGE_ENDPOINT_URL"]
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise ImproperlyConfigured(
            f"CAUCE_STORAGE_ENDPOINT_URL must be an http:// or https:// URL, not {endpoint!r}."
        )
    style = STORAGE_S3_SETTINGS["CAUCE_STORAGE_ADDRESSING_STYLE"]
    if style not in {"", "auto", "path", "virtual"}:
        raise ImproperlyConfigured(
            f"CAUCE_STORAGE_ADDRESSING_STYLE must be 'auto', 'path' or 'virtual', not {style!r}."
        )
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": STORAGE_BUCKET,
            "endpoint_url": endpoint or None,
            "region_name": STORAGE_S3_SETTINGS["CAUCE_STORAGE_REGION"] or None,
            "access_key": key_id or None,
            "secret_key": secret or None,
            "addressing_style": style or None,
            "location": STORAGE_S3_SETTINGS["CAUCE_STORAGE_PREFIX"].strip("/"),
            "max_memory_size": STORAGE_SPOOL_MAX_BYTES,
            "transfer_config": TransferConfig(**STORAGE_S3_TRANSFER),
            "default_acl": None,
            # A bucket that does not answer fails the request or the task, not hangs it.
            "client_config": Config(
                connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"}
            ),
        },
    }


STORAGES = {
    "default": _default_storage(),
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_BACKEND",
            # Production serves what collectstatic wrote (the image runs it at build time):
            # names with a content hash, cached for ever by browsers, and gzip copies.
            default="cauce.core.storage.GzipManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage",
        )
    },
}
# In development whitenoise serves static files from the apps (no collectstatic needed).
WHITENOISE_USE_FINDERS = not PRODUCTION

# Uploads: files above this stay on disk while Django reads them, never in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATASET_MAX_UPLOAD_MB = env.int("CAUCE_DATASET_MAX_UPLOAD_MB", default=100)
DATASET_PREVIEW_ROWS = 20
# Wider tables are refused: every column is profiled, stored in the schema and shown.
DATASET_MAX_COLUMNS = env.int("CAUCE_DATASET_MAX_COLUMNS", default=2000)
# A Parquet file larger than this once decompressed is refused (compression bombs).
DATASET_MAX_EXPANDED_MB = env.int("CAUCE_DATASET_MAX_EXPANDED_MB", default=1000)

# --- MLflow -------------------------------------------------------------------------------
# MLflow's client, left to itself, sends usage telemetry to its makers (a thread and requests
# out of the team's network): off unless MLFLOW_DISABLE_TELEMETRY=false. And ending a run
# would read the run back to print its URL on stdout (a request per run).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
MLFLOW_TRACKING_URI = env.str("MLFLOW_TRACKING_URI", default="http://127.0.0.1:5000")
# What the browser can reach (links to the MLflow UI); the tracking URI may be internal.
MLFLOW_PUBLIC_URL = env.str("MLFLOW_PUBLIC_URL", default=MLFLOW_TRACKING_URI)
# Where people reach Cauce (with any sub-path): runs link back to their experiment's page
# (the ``cauce.url`` run tag) and their dataset inputs to the version's page from MLflow's UI.
CAUCE_BASE_URL = env.str("CAUCE_BASE_URL", default="http://127.0.0.1:8000")
if not CAUCE_BASE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(
        f"CAUCE_BASE_URL must be an http:// or https:// URL, not {CAUCE_BASE_URL!r}."
    )
# Web requests fail fast; workers wait longer and retry through Celery.
MLFLOW_WEB_CONNECT_TIMEOUT = env.float("MLFLOW_WEB_CONNECT_TIMEOUT", default=0.5)
MLFLOW_WEB_READ_TIMEOUT = env.float("MLFLOW_WEB_READ_TIMEOUT", default=0.8)
MLFLOW_WORKER_TIMEOUT = env.int("MLFLOW_WORKER_TIMEOUT", default=60)
MLFLOW_WORKER_MAX_RETRIES = env.int("MLFLOW_WORKER_MAX_RETRIES", default=2)
# After a failed call the web process treats MLflow as down for this long (no new waits),
# except for one call at a time, at most one per interval after the last failure, that tries
# MLflow again (with the same short timeouts): MLflow's answer to it ends the cool-down.
MLFLOW_DOWN_COOLDOWN_SECONDS = env.float("MLFLOW_DOWN_COOLDOWN_SECONDS", default=5.0)
MLFLOW_DOWN_PROBE_INTERVAL_SECONDS = env.float("MLFLOW_DOWN_PROBE_INTERVAL_SECONDS", default=1.0)
# How long a registration waits for MLflow to mark a new model version READY.
REGISTRY_READY_TIMEOUT = env.float("CAUCE_REGISTRY_READY_TIMEOUT", default=10.0)

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_DIR = DATA_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's file-system transport with atomic writes (see cauce/core/broker.py).
    CELERY_BROKER_TRANSPORT = "cauce.core.broker:Transport"
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
# How long /health/ waits for the broker (Redis or AMQP) before calling it down.
HEALTH_CHECK_TIMEOUT = env.float("CAUCE_HEALTH_CHECK_TIMEOUT", default=1.0)
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="cauce")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes every database connection around each task unless this is
# set (then around every 2 x N tasks); config.celery applies CONN_MAX_AGE instead.
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# As many experiments at once as the machine has cores, each in its own pool process
# (prefork; acks_late and a prefetch of 1 above: a worker holds no more than it runs).
CELERY_WORKER_POOL = "prefork"
CELERY_WORKER_CONCURRENCY = env.int("CAUCE_WORKER_CONCURRENCY", default=os.cpu_count() or 1)
# What one training may add to its pool process's memory (heap and anonymous mappings, Linux
# RLIMIT_DATA), in MB; above it the training ends in ERROR and the process lives on. By
# default three quarters of the machine's memory shared among the concurrent trainings; 0
# disables the limit.
_MACHINE_MB = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
TRAINING_MEMORY_MB = env.int(
    "CAUCE_TRAINING_MEMORY_MB", default=_MACHINE_MB * 3 // 4 // max(CELERY_WORKER_CONCURRENCY, 1)
)
# The periodic check of dead workers and lost messages (Celery beat, below) runs this often.
EXPERIMENT_WATCH_SECONDS = env.int("CAUCE_EXPERIMENT_WATCH_SECONDS", default=60)
# A QUEUED experiment no worker claimed this long after it was due (sent, or its retry due)
# lost its message (see cauce.experiments.liveness): it is sent again, at most this many
# messages in all, then ends ERROR. Longer than EXPERIMENT_WATCH_SECONDS.
EXPERIMENT_QUEUE_TIMEOUT_SECONDS = env.int("CAUCE_EXPERIMENT_QUEUE_TIMEOUT_SECONDS", default=300)
EXPERIMENT_QUEUE_MAX_DISPATCHES = env.int("CAUCE_EXPERIMENT_QUEUE_MAX_DISPATCHES", default=3)

# Trials of one sweep sent to the workers at once (default: the workers' concurrency).
SWEEP_PARALLEL_TRIALS = env.int("CAUCE_SWEEP_PARALLEL_TRIALS", default=CELERY_WORKER_CONCURRENCY)
# Median pruning between cross-validation folds (off only to measure what it saves: bench/).
SWEEP_PRUNING = env.bool("CAUCE_SWEEP_PRUNING", default=True)
# A RUNNING experiment whose worker has not written a heartbeat for this long is dead.
EXPERIMENT_HEARTBEAT_SECONDS = env.int("CAUCE_EXPERIMENT_HEARTBEAT_SECONDS", default=10)
EXPERIMENT_STALE_AFTER_SECONDS = env.int("CAUCE_EXPERIMENT_STALE_AFTER_SECONDS", default=120)
# While MLflow is unreachable a run is retried this often, with a doubling, capped delay.
EXPERIMENT_MLFLOW_RETRIES = env.int("CAUCE_EXPERIMENT_MLFLOW_RETRIES", default=5)
EXPERIMENT_MLFLOW_RETRY_DELAY = env.float("CAUCE_EXPERIMENT_MLFLOW_RETRY_DELAY", default=10.0)
EXPERIMENT_MLFLOW_RETRY_MAX_DELAY = env.float(
    "CAUCE_EXPERIMENT_MLFLOW_RETRY_MAX_DELAY", default=300.0
)

# While the database is unreachable (a restart) a run is retried this often, same delays.
EXPERIMENT_DATABASE_RETRIES = env.int("CAUCE_EXPERIMENT_DATABASE_RETRIES", default=5)

# Tag sync (the outbox of run tags, name and description; see cauce/experiments/tag_sync.py).
TAG_SYNC_RETRIES = env.int("CAUCE_TAG_SYNC_RETRIES", default=8)
TAG_SYNC_RETRY_DELAY = env.float("CAUCE_TAG_SYNC_RETRY_DELAY", default=5.0)
TAG_SYNC_RETRY_MAX_DELAY = env.float("CAUCE_TAG_SYNC_RETRY_MAX_DELAY", default=300.0)
# A push holds its experiment's run this long at most (a dead worker's lease then expires).
TAG_SYNC_LEASE_SECONDS = env.int("CAUCE_TAG_SYNC_LEASE_SECONDS", default=300)
TAG_SYNC_SWEEP_SECONDS = env.float("CAUCE_TAG_SYNC_SWEEP_SECONDS", default=60.0)
TAG_SYNC_SWEEP_BATCH = env.int("CAUCE_TAG_SYNC_SWEEP_BATCH", default=500)
# A queue of their own for tag pushes (e.g. a worker that never waits behind a training);
# empty: the default queue.
TAG_SYNC_QUEUE = env.str("CAUCE_TAG_SYNC_QUEUE", default="")
# How often the tags edited on the runs in MLflow are read back into Cauce.
TAG_SYNC_PULL_SECONDS = env.float("CAUCE_TAG_SYNC_PULL_SECONDS", default=300.0)

# Prediction results (and a failed job's input, kept for a retry) are deleted, files and
# rows, this many days after the job ended; 0 keeps them forever. The periodic sweep runs this
# often and deletes at most PREDICTION_RETENTION_BATCH jobs a run (the rest the next run).
PREDICTION_RETENTION_DAYS = env.int("CAUCE_PREDICTION_RETENTION_DAYS", default=7)
PREDICTION_RETENTION_SWEEP_SECONDS = env.int(
    "CAUCE_PREDICTION_RETENTION_SWEEP_SECONDS", default=3600
)
PREDICTION_RETENTION_BATCH = env.int("CAUCE_PREDICTION_RETENTION_BATCH", default=500)
if PREDICTION_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("CAUCE_PREDICTION_RETENTION_DAYS must be 0 (keep) or more days.")
if PREDICTION_RETENTION_SWEEP_SECONDS < 1 or PREDICTION_RETENTION_BATCH < 1:
    raise ImproperlyConfigured(
        "CAUCE_PREDICTION_RETENTION_SWEEP_SECONDS and CAUCE_PREDICTION_RETENTION_BATCH must be "
        "at least 1."
    )

# Prediction monitoring (cauce.monitoring): a random sample of at most MONITOR_SAMPLE_ROWS input
# rows per version and day for the two-sample tests; records, counts and samples older than
# MONITOR_RETENTION_DAYS are deleted by a beat task, MONITOR_RETENTION_BATCH rows per query.
# False records nothing (the recording bench compares both).
MONITOR_ENABLED = env.bool("CAUCE_MONITOR_ENABLED", default=True)
MONITOR_SAMPLE_ROWS = env.int("CAUCE_MONITOR_SAMPLE_ROWS", default=5000)
MONITOR_RETENTION_DAYS = env.int("CAUCE_MONITOR_RETENTION_DAYS", default=90)
MONITOR_RETENTION_BATCH = env.int("CAUCE_MONITOR_RETENTION_BATCH", default=5000)
# Recording happens off the request: each web or worker process queues what it saw (at most
# MONITOR_QUEUE_MAX predictions; more are dropped, and logged) and a thread writes the queue
# every MONITOR_FLUSH_SECONDS. Without the thread (MONITOR_FLUSH_THREAD false: the tests) the
# queue is written only when ``recording.observations_flush()`` is called.
MONITOR_QUEUE_MAX = env.int("CAUCE_MONITOR_QUEUE_MAX", default=10_000)
MONITOR_FLUSH_SECONDS = env.float("CAUCE_MONITOR_FLUSH_SECONDS", default=1.0)
MONITOR_FLUSH_THREAD = env.bool("CAUCE_MONITOR_FLUSH_THREAD", default=True)
# What a process reduced of the rows it served (the hour's bin counts, the rows sampled, the
# versions seen) is written this often: each merge reads and writes the day's sample.
MONITOR_SAMPLE_FLUSH_SECONDS = env.float("CAUCE_MONITOR_SAMPLE_FLUSH_SECONDS", default=30.0)
# Drift: the beat task recomputes every window this often. A feature is flagged when its PSI
# reaches DRIFT_PSI_ALERT, or its two-sample test's p-value is below DRIFT_P_VALUE_ALERT with at
# least DRIFT_MIN_ROWS sampled rows. These are each project's defaults (MonitoringSettings).
MONITOR_DRIFT_SECONDS = env.int("CAUCE_MONITOR_DRIFT_SECONDS", default=900)
DRIFT_PSI_ALERT = env.float("CAUCE_DRIFT_PSI_ALERT", default=0.2)
DRIFT_P_VALUE_ALERT = env.float("CAUCE_DRIFT_P_VALUE_ALERT", default=0.01)
DRIFT_MIN_ROWS = env.int("CAUCE_DRIFT_MIN_ROWS", default=200)
# An alert's webhook delivery is retried after this many seconds, then twice as long each time.
MONITOR_WEBHOOK_BACKOFF = env.float("CAUCE_MONITOR_WEBHOOK_BACKOFF", default=2.0)
if MONITOR_SAMPLE_ROWS < 1 or MONITOR_RETENTION_DAYS < 1 or MONITOR_RETENTION_BATCH < 1:
    raise ImproperlyConfigured(
        "CAUCE_MONITOR_SAMPLE_ROWS, CAUCE_MONITOR_RETENTION_DAYS and CAUCE_MONITOR_RETENTION_BATCH "
        "must be at least 1."
    )

# Periodic tasks, all in one place (Celery beat; `make run` starts the worker with --beat).
CELERY_BEAT_SCHEDULE = {
    # Expires after its period: a check that waited that long behind busy workers is dropped
    # (the next one comes), and one that runs knows every message sent before it was taken.
    "experiments-watch": {
        "task": "cauce.experiments.tasks.experiments_watch_task",
        "schedule": EXPERIMENT_WATCH_SECONDS,
        "options": {"expires": EXPERIMENT_WATCH_SECONDS},
    },
    "sweeps-watch": {
        "task": "cauce.sweeps.tasks.sweeps_watch_task",
        "schedule": EXPERIMENT_WATCH_SECONDS,
        "options": {"expires": EXPERIMENT_WATCH_SECONDS},
    },
    "tag-sync-sweep": {
        "task": "cauce.experiments.tasks.tag_sync_sweep_task",
        "schedule": TAG_SYNC_SWEEP_SECONDS,
    },
    "tag-sync-pull": {
        "task": "cauce.experiments.tasks.tag_sync_pull_task",
        "schedule": TAG_SYNC_PULL_SECONDS,
    },
    "predictions-expire": {
        "task": "cauce.registry.tasks.prediction_jobs_expire_task",
        "schedule": PREDICTION_RETENTION_SWEEP_SECONDS,
        "options": {"expires": PREDICTION_RETENTION_SWEEP_SECONDS},
    },
    "monitoring-retention": {
        "task": "cauce.monitoring.tasks.monitoring_retention_task",
        "schedule": 3600,
        "options": {"expires": 3600},
    },
    "monitoring-drift": {
        "task": "cauce.monitoring.tasks.monitoring_drift_task",
        "schedule": MONITOR_DRIFT_SECONDS,
        "options": {"expires": MONITOR_DRIFT_SECONDS},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

# --- Artifacts ----------------------------------------------------------------------------
ARTIFACT_PREVIEW_MAX_BYTES = env.int("CAUCE_ARTIFACT_PREVIEW_MAX_BYTES", default=5 * 1024 * 1024)
ARTIFACT_TEXT_PREVIEW_BYTES = env.int("CAUCE_ARTIFACT_TEXT_PREVIEW_BYTES", default=256 * 1024)

# --- Predictions with registered models -------------------------------------------------
# Loaded models kept per process (LRU); each holds a whole scikit-learn pipeline in memory.
REGISTRY_MODEL_CACHE_SIZE = env.int("CAUCE_MODEL_CACHE_SIZE", default=4)
# Each web process remembers which version an alias (or a number) named for this long, and
# predicts without asking MLflow meanwhile. An alias moved through Cauce is followed by the
# next prediction on every process all the same; one moved in MLflow directly within this
# time. 0: ask MLflow on every prediction.
REGISTRY_ALIAS_TTL_SECONDS = env.float("CAUCE_ALIAS_TTL_SECONDS", default=5.0)
# Web processes import MLflow's model loading and scikit-learn when they start, not on their
# first prediction (which otherwise waits seconds for it); costs memory in each web process.
PREDICT_PRELOAD = env.bool("CAUCE_PREDICT_PRELOAD", default=True)
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
        # Token first: an anonymous call then gets 401 with "WWW-Authenticate: Token". DRF's
        # token authentication, with the token and its user read in one plain SQL query.
        "cauce.api.authentication.PlainSqlTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON bodies only (the schema says so); the dataset upload declares multipart itself.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "cauce.api.exceptions.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "cauce.api.pagination.StrictLimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Cauce API",
    "DESCRIPTION": "Projects, datasets and MLflow-tracked experiments.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # JSON Schema 2020-12: patternProperties (a version tag's key rules) are valid there.
    "OAS_VERSION": "3.1.0",
    # Swagger UI served from the sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Request bodies get their own components, with "minLength: 1" on strings that may not be
    # blank (the response components do not need it).
    "COMPONENT_SPLIT_REQUEST": True,
    # Error answers, id bounds and non-blank strings for every operation (cauce/api/schema.py).
    # Experiments' and sweeps' statuses are different choice sets under one field name.
    "ENUM_NAME_OVERRIDES": {
        "StatusEnum": "cauce.experiments.models.MLExperiment.Status",
        "SweepStatusEnum": "cauce.sweeps.models.Sweep.Status",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "cauce.api.schema.postprocess",
    ],
}

# --- Login throttling (django-axes) --------------------------------------------------------
AXES_ENABLED = env.bool("CAUCE_AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("CAUCE_LOGIN_FAILURE_LIMIT", default=5)
# Hours a locked-out user name from one address waits before trying again; 0: until an
# administrator unlocks it (`manage.py axes_reset_username`, or the admin).
AXES_COOLOFF_TIME = env.float("CAUCE_LOGIN_COOLOFF_HOURS", default=0.5) or None
# Lock the user name *from that address*: an attacker elsewhere cannot lock a user out.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "cauce.core.views.locked_out"
# The API's token endpoint answers with these (JSON, no page).
AXES_COOLOFF_MESSAGE = _(
    "Demasiados intentos de acceso fallidos con este usuario. Vuelve a intentarlo más tarde."
)
AXES_PERMALOCK_MESSAGE = _(
    "Demasiados intentos de acceso fallidos con este usuario. "
    "Pide a un administrador que desbloquee la cuenta."
)
AXES_USERNAME_FORM_FIELD = "username"
# The client's address (cauce/core/client_ip.py): behind CAUCE_PROXY_COUNT proxies that each
# append to X-Forwarded-For (compose: the TLS terminator and nginx, 2), the entry the first one
# wrote; with none (make run), the connection's. A wrong count throttles the proxy's address
# (every user together) or one a client wrote itself.
PROXY_COUNT = env.int("CAUCE_PROXY_COUNT", default=0)
if PROXY_COUNT < 0:
    raise ImproperlyConfigured("CAUCE_PROXY_COUNT must be 0 (no proxy) or more.")
AXES_CLIENT_IP_CALLABLE = "cauce.core.client_ip.client_ip"

# --- Content Security Policy (django-csp 4) -------------------------------------------------
# No inline script or style anywhere (htmx's indicator style is off in base.html, its CSS is in
# app.css). Violations are reported to /csp-report/, which logs them.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # Swagger UI draws its icons as data: SVG images.
        "img-src": [SELF, "data:"],
        "object-src": [SELF],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [SELF],
        "report-uri": ["/csp-report/"],
    },
}

# --- Request ids and logs -------------------------------------------------------------------
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "RETURN_HEADER": True,
    "EXPOSE_HEADER": True,
    # A proxy's request id is kept when it is a UUID; anything else gets a new one.
    "VALIDATE_GUID": True,
    # The request id travels with the tasks it enqueues; workers log it too.
    "INTEGRATIONS": [CeleryIntegration(use_django_logging=True, log_parent=False)],
}
LOG_FORMAT = env.str("CAUCE_LOG_FORMAT", default="json" if PRODUCTION else "plain")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(f"CAUCE_LOG_FORMAT must be 'json' or 'plain', not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {
            "()": "django_guid.log_filters.CorrelationId",
            "correlation_id_field": "request_id",
        },
        "task": {"()": "cauce.core.logging.TaskContextFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s %(task_id)s "
            "%(experiment_id)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            # An ISO 8601 UTC "timestamp" field.
            "timestamp": True,
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "task"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "mlflow": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        # One line per request and per task is enough: the libraries' own chatter goes.
        "django_guid": {"level": "WARNING"},
        # Its start banner is noise on every command; lockouts are warnings and stay.
        "axes": {"level": "WARNING"},
    },
}

# A process started by the test suite (the Celery worker) is pointed at the test database.
if env.str("CAUCE_DATABASE_NAME", default=""):
    DATABASES["default"]["NAME"] = env.str("CAUCE_DATABASE_NAME")
