"""A run's data in MLflow (dataset inputs), and the lineage from a dataset version to the
aliases that serve the models trained on it: against a real MLflow server."""

import json
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from mlflow.tracking import MlflowClient

from cauce.datasets.services import dataset_version_create
from cauce.experiments.models import MLExperiment
from cauce.experiments.runner import experiment_execute
from cauce.experiments.tests.runner_support import queued_experiment
from cauce.registry import services as registry_services
from cauce.registry.models import RegisteredModel

pytestmark = pytest.mark.usefixtures("worker_profile")


@pytest.fixture(autouse=True)
def _no_heartbeat_writes_inside_the_test_transaction(settings):
    settings.EXPERIMENT_HEARTBEAT_SECONDS = 3600


def _run(experiment: MLExperiment) -> MLExperiment:
    experiment_execute(experiment_id=str(experiment.pk))
    experiment.refresh_from_db()
    assert experiment.status == MLExperiment.Status.FINISHED, experiment.error
    return experiment


def test_runs_log_their_splits_as_dataset_inputs_mlflow_can_search(
    mlflow, iris_dataset, iris_csv_bytes, editor, settings
):
    settings.CAUCE_BASE_URL = "https://cauce.example.org"
    # Version 2: the first 100 rows. An experiment on version 1 keeps training on all 150.
    head = b"".join(iris_csv_bytes.splitlines(keepends=True)[:101])
    second = dataset_version_create(
        dataset=iris_dataset, user=editor, file=SimpleUploadedFile("iris-100.csv", head)
    ).version
    first = iris_dataset.versions.get(version=1)
    on_first = _run(queued_experiment(iris_dataset, dataset_version=first, name="Sobre v1"))
    on_second = _run(queued_experiment(iris_dataset, dataset_version=second, name="Sobre v2"))

    client = MlflowClient(tracking_uri=mlflow)
    run = client.get_run(on_second.mlflow_run_id)
    assert run.data.params["rows_total"] == "100"  # it trained on its version's file
    assert client.get_run(on_first.mlflow_run_id).data.params["rows_total"] == "150"
    assert run.data.params["dataset_version"] == "2"
    assert run.data.params["dataset_digest"] == second.digest
    inputs = {
        {tag.key: tag.value for tag in item.tags}["mlflow.data.context"]: item.dataset
        for item in run.inputs.dataset_inputs
    }
    assert set(inputs) == {"training", "evaluation"}
    for context, dataset in inputs.items():
        assert dataset.name == f"Iris v2 · {context}"
        assert dataset.digest == second.digest
        assert dataset.source_type == "http"
        url = f"https://cauce.example.org/datasets/{iris_dataset.pk}/versions/2/"
        assert json.loads(dataset.source) == {"url": url}
        schema = json.loads(dataset.schema)["mlflow_colspec"]
        assert [column["name"] for column in schema][-1] == "species"
    assert json.loads(inputs["training"].profile)["num_rows"] == 80
    assert json.loads(inputs["evaluation"].profile)["num_rows"] == 20

    found = client.search_runs(
        [on_second.mlflow_experiment_id], filter_string=f"dataset.digest = '{second.digest}'"
    )
    assert [item.info.run_id for item in found] == [on_second.mlflow_run_id]
    found = client.search_runs(
        [on_first.mlflow_experiment_id], filter_string=f"dataset.digest = '{first.digest}'"
    )
    assert on_first.mlflow_run_id in {item.info.run_id for item in found}
    assert on_second.mlflow_run_id not in {item.info.run_id for item in found}


def test_a_versions_lineage_reaches_the_aliases_serving_its_models(
    mlflow, iris_dataset, editor, editor_client, editor_api
):
    experiment = _run(queued_experiment(iris_dataset, name="Para registrar"))
    name = f"lineage-{uuid.uuid4().hex[:8]}"
    registration = registry_services.model_version_register(
        experiment=experiment, user=editor, name=name
    )
    model = RegisteredModel.objects.get(name=name)
    registry_services.alias_set(
        model=model, alias="produccion", version=registration.version.version
    )

    body = editor_api.get(f"/api/datasets/{iris_dataset.pk}/versions/1/lineage/").json()

    assert [item["id"] for item in body["experiments"]] == [str(experiment.pk)]
    assert body["model_versions"] == [
        {
            "name": name,
            "version": registration.version.version,
            "status": "READY",
            "aliases": ["produccion"],
            "run_id": experiment.mlflow_run_id,
            "experiment": str(experiment.pk),
            "in_cauce": True,
        }
    ]
    section = editor_client.get(f"/datasets/{iris_dataset.pk}/versions/1/models/")
    assert (
        f'data-model-version="{name} v{registration.version.version}"' in section.content.decode()
    )
    assert "@produccion" in section.content.decode()
    # The model version's page names the dataset version it was trained on.
    page = editor_client.get(
        f"/models/{name}/versions/{registration.version.version}/"
    ).content.decode()
    assert f'href="/datasets/{iris_dataset.pk}/versions/1/">Iris v1</a>' in page
