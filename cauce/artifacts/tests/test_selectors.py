import pytest
from mlflow.tracking import MlflowClient

from cauce.artifacts.selectors import (
    artifact_children,
    artifact_entry,
    artifact_totals,
    artifact_tree,
    experiment_artifacts,
)
from cauce.artifacts.tests.conftest import MODEL_FILES, RUN_FILES
from cauce.core.exceptions import NotFoundError


def _mlflow_walk(client: MlflowClient, run_id: str, path=None) -> dict[str, int]:
    files = {}
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            files.update(_mlflow_walk(client, run_id, info.path))
        else:
            files[info.path] = info.file_size
    return files


def test_the_tree_equals_mlflows_recursive_listing(mlflow, run_experiment):
    client = MlflowClient(tracking_uri=mlflow)

    tree = artifact_tree(experiment=run_experiment)

    expected = _mlflow_walk(client, run_experiment.mlflow_run_id)
    assert {entry.path: entry.size for entry in tree} == expected
    assert set(expected) == set(RUN_FILES)
    assert all(not entry.is_dir for entry in tree)


def test_it_lists_one_level_with_folders_first(mlflow, run_experiment):
    children = artifact_children(experiment=run_experiment)

    assert [(entry.path, entry.is_dir) for entry in children] == [
        ("data", True),
        ("plots", True),
        ("metrics.json", False),
        ("report.html", False),
    ]
    nested = artifact_children(experiment=run_experiment, path="data")
    assert [entry.path for entry in nested] == ["data/deep", "data/résumé ñ.txt", "data/数据.csv"]


def test_it_finds_the_logged_model_outside_the_run(mlflow, run_experiment):
    info = experiment_artifacts(experiment=run_experiment)

    assert [model.model_id for model in info.models] == [run_experiment.mlflow_model_id]
    model_tree = artifact_tree(experiment=run_experiment, model_id=run_experiment.mlflow_model_id)
    assert {entry.path: entry.size for entry in model_tree} == {
        path: len(content) for path, content in MODEL_FILES.items()
    }
    totals = artifact_totals(experiment=run_experiment)
    assert totals.files == len(RUN_FILES) + len(MODEL_FILES)
    assert totals.bytes == sum(map(len, RUN_FILES.values())) + sum(map(len, MODEL_FILES.values()))


def test_a_model_id_that_is_not_the_runs_is_not_found(mlflow, run_experiment, make_run_experiment):
    other = make_run_experiment({"x.txt": b"x"}, model_files={"MLmodel": b"x: 1\n"})

    with pytest.raises(NotFoundError):
        artifact_children(experiment=run_experiment, model_id=other.mlflow_model_id)
    with pytest.raises(NotFoundError):
        artifact_entry(experiment=run_experiment, path="", model_id="m-guessed")


def test_an_entry_is_found_in_its_parents_listing_and_a_missing_one_is_not(mlflow, run_experiment):
    entry = artifact_entry(experiment=run_experiment, path="data/deep/nested/blob.bin")
    folder = artifact_entry(experiment=run_experiment, path="data/deep")

    assert (entry.is_dir, entry.size) == (False, 1024)
    assert folder.is_dir
    with pytest.raises(NotFoundError):
        artifact_entry(experiment=run_experiment, path="data/missing.txt")
    with pytest.raises(NotFoundError):
        artifact_entry(experiment=run_experiment, path="nowhere/at/all")
