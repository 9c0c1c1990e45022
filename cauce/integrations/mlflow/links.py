"""Addresses in the MLflow UI that a browser can open, built from ``MLFLOW_PUBLIC_URL``.

MLflow 3's UI is a hash-routed app: a run is ``#/experiments/<id>/runs/<run>`` and its
artifacts ``.../runs/<run>/artifacts`` (checked against the 3.17 UI bundle's routes). No
address ("") when the public URL is not set: pages then show no link.
"""

from django.conf import settings


def mlflow_public_url() -> str:
    return (settings.MLFLOW_PUBLIC_URL or "").rstrip("/")


def mlflow_run_url(*, mlflow_experiment_id: str, mlflow_run_id: str, section: str = "") -> str:
    """The run's page in the MLflow UI; ``section`` opens one of its tabs ("artifacts")."""
    public = mlflow_public_url()
    if not (public and mlflow_experiment_id and mlflow_run_id):
        return ""
    url = f"{public}/#/experiments/{mlflow_experiment_id}/runs/{mlflow_run_id}"
    return f"{url}/{section}" if section else url
