# syntax=docker/dockerfile:1
# One image serves web (gunicorn), worker (Celery) and scheduler (Celery beat): target "runtime".
# Target "mlflow" is the tracking server's image (mlflow with psycopg2 and boto3).
# Base images are pinned to an exact release; pin them to a digest too where you mirror them.

# --- build: the virtualenv, compiled translations and collected static files -----------------
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
    && apt-get install --yes --no-install-recommends build-essential gettext \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
RUN pip install --requirement /tmp/requirements.txt
WORKDIR /app
COPY . .
RUN python manage.py compilemessages --ignore=.venv --verbosity 0
# Hashed names and compressed copies, as production serves them (CAUCE_ENV=production uses the
# same storage). No secret is needed to collect: the development settings are used here.
RUN STATICFILES_BACKEND=cauce.core.storage.GzipManifestStaticFilesStorage \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    python manage.py collectstatic --noinput --verbosity 0

# --- runtime: web, worker and scheduler -----------------------------------------------------
FROM python:3.11.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    CAUCE_ENV=production \
    CAUCE_DATA_DIR=/data \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    MPLCONFIGDIR=/tmp/matplotlib
RUN groupadd --system --gid 10001 cauce \
    && useradd --system --uid 10001 --gid cauce --home-dir /app --shell /usr/sbin/nologin cauce \
    && mkdir -p /data \
    && chown cauce:cauce /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=root:root /app /app
WORKDIR /app
USER cauce
EXPOSE 8000
# The process answers (no database, broker or MLflow call): see /health/ready for those.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"]
# WEB_CONCURRENCY sets gunicorn's number of workers (gunicorn reads it itself).
# No gunicorn access log: Cauce logs each request itself (JSON, with its request id).
# gthread (config/web_worker.py: gunicorn's, which also serves a request it has already read
# instead of waiting on the socket for it): a long artifact download streams in one thread
# without blocking the others, and --timeout leaves it time (the same choice as `make run`). --keep-alive: gunicorn's default
# (2 s) closes an idle connection while a client or proxy that reuses it may be sending the
# next request, which then fails with "connection reset" (measured under load: see
# tests/production/load.py); idle connections wait in gthread's poller, not in a thread, so
# keeping them longer than a proxy's idle timeout (60 s for nginx and most load balancers)
# costs nothing.
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--worker-class", "config.web_worker.ThreadWorker", "--threads", "4", "--timeout", "120", "--graceful-timeout", "30", "--keep-alive", "75"]

# --- mlflow: the tracking server ---------------------------------------------------------------
FROM python:3.11.11-slim-bookworm AS mlflow
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
    MLFLOW_DISABLE_TELEMETRY=true
COPY requirements-mlflow.txt /tmp/requirements-mlflow.txt
RUN pip install --requirement /tmp/requirements-mlflow.txt \
    && groupadd --system --gid 10002 mlflow \
    && useradd --system --uid 10002 --gid mlflow --create-home --shell /usr/sbin/nologin mlflow
USER mlflow
WORKDIR /home/mlflow
EXPOSE 5000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4)"]
# The stores come from MLFLOW_BACKEND_STORE_URI and MLFLOW_ARTIFACTS_DESTINATION (environment).
# Alone, the image runs two processes on one socket; compose runs replicas of one process each
# behind nginx instead (deploy/mlflow-proxy/), which sends each request to the least busy one.
CMD ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000", "--workers", "2", "--serve-artifacts"]
