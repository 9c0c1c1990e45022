"""``manage.py monitoring_profiles``: profiles for experiments trained before profiles."""

import json
from pathlib import Path

from django.core.management import call_command
from mlflow.tracking import MlflowClient

from cauce.experiments.models import MLExperiment
from cauce.experiments.tests.runner_support import queued_experiment
from cauce.integrations.mlflow import runs, tracking
from cauce.monitoring.models import ReferenceProfile
from tests.fixtures.data import IRIS_FEATURES


def test_it_builds_the_missing_profiles_from_the_dataset_and_logs_them(
    mlflow, iris_dataset, capsys
):
    experiment_id = tracking.experiment_ensure(name="profiles-command")
    run_id = tracking.run_create(experiment_id=experiment_id, run_name="old", tags={})
    runs.run_end(run_id=run_id)
    old = queued_experiment(iris_dataset, status=MLExperiment.Status.FINISHED, mlflow_run_id=run_id)
    queued_experiment(iris_dataset, name="Sin terminar")  # QUEUED: no profile

    call_command("monitoring_profiles")

    stored = ReferenceProfile.objects.get()
    assert stored.experiment == old and stored.run_id == run_id
    assert stored.profile["rows"] == 150
    assert [feature["name"] for feature in stored.profile["features"]] == IRIS_FEATURES
    local = MlflowClient(tracking_uri=mlflow).download_artifacts(
        run_id, "monitoring/reference_profile.json"
    )
    assert json.loads(Path(local).read_text()) == stored.profile
    assert "built: 1 (1 logged to their MLflow run), failed: 0" in capsys.readouterr().out

    call_command("monitoring_profiles")  # nothing left to build

    assert ReferenceProfile.objects.count() == 1
    assert "built: 0" in capsys.readouterr().out
