"""Exact tag search in MLflow: one ``cauce.tag.<tag>`` run tag per tag, beside the seed's keys.

The keys are checked against MLflow's own key rules, and searched with MLflow's client on the
session's real server.
"""

import pytest
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import _validate_tag_name

from cauce.experiments.mlflow_links import mlflow_tag_search_filter
from cauce.experiments.runner import run_start
from cauce.experiments.tags import tag_from_mlflow_key, tag_mlflow_key
from cauce.experiments.tests.web_support import create_experiment
from cauce.integrations.mlflow import tracking

TRICKY = [
    "rf",
    "surf",
    "RF-2",
    "a_b",
    "a__b",
    "_x2f_",
    "c++",
    "a/b",
    "a//b",
    "x/..",
    "..",
    "k:v",
    "producción",
    "random forest",
    "tab`tick\"quote'",
    "emoji 🚀",
    "é̃",
    "🚀" * 100,
]


@pytest.mark.parametrize("tag", TRICKY)
def test_every_key_is_one_mlflow_accepts_and_gives_back_its_tag(tag):
    key = tag_mlflow_key(tag)
    _validate_tag_name(key)  # raises on a key MLflow refuses
    assert len(key) <= 250
    assert key.startswith("cauce.tag.")
    if len(tag) < 100:
        assert tag_from_mlflow_key(key) == tag.lower()
    else:
        assert key.startswith("cauce.tag._sha256.")
        assert tag_from_mlflow_key(key) is None


def test_keys_ignore_case_and_never_collide():
    assert tag_mlflow_key("Producción") == tag_mlflow_key("producción") == "cauce.tag.producción"
    assert tag_mlflow_key("RF") == "cauce.tag.rf"
    keys = {tag_mlflow_key(tag) for tag in TRICKY}
    assert len(keys) == len(TRICKY)
    assert tag_mlflow_key("a_b") == "cauce.tag.a__b"
    assert tag_mlflow_key("a/b") == "cauce.tag.a_x2f_b"
    assert tag_from_mlflow_key("cauce.tag.a_b") is None  # not a key Cauce writes
    assert tag_from_mlflow_key("tag_0") is None


def test_the_filter_is_one_exact_clause_per_tag():
    assert mlflow_tag_search_filter(("iris", "RF")) == (
        "tags.`cauce.tag.iris` = 'true' AND tags.`cauce.tag.rf` = 'true'"
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("end_runs")
def test_mlflows_client_finds_exactly_the_runs_with_a_tag(
    mlflow, media_root, project, iris_dataset, editor
):
    mlflow_experiment_id = tracking.experiment_ensure(name=project.mlflow_experiment_name)
    runs = {}
    for name, tags in [
        ("con-rf", ["rf", "iris"]),
        ("con-surf", ["surf", "iris"]),
        ("raras", ["RF", "a_b", "c++", "producción", "random forest", "k:v", "a/b"]),
    ]:
        experiment = create_experiment(
            project=project, dataset=iris_dataset, user=editor, tags=tags
        )
        experiment.name = name
        experiment.save(update_fields=["name"])
        runs[name] = run_start(experiment, mlflow_experiment_id=mlflow_experiment_id)
    client = MlflowClient(tracking_uri=mlflow)

    def found(*tags: str) -> set[str]:
        result = client.search_runs(
            [mlflow_experiment_id], filter_string=mlflow_tag_search_filter(tags)
        )
        return {
            run.data.tags["mlflow.runName"] for run in result if run.info.run_id in runs.values()
        }

    assert found("rf") == {"con-rf", "raras"}  # "surf" is not "rf"; "RF" is
    assert found("surf") == {"con-surf"}
    assert found("iris") == {"con-rf", "con-surf"}
    assert found("rf", "iris") == {"con-rf"}
    for tag in ("A_B", "c++", "Producción", "random forest", "k:v", "a/b"):
        assert found(tag) == {"raras"}, tag
    assert found("a") == set()

    # The seed's keys are still there, as the specification has them.
    tags = client.get_run(runs["raras"]).data.tags
    assert [tags[f"tag_{index}"] for index in range(7)] == sorted(
        ["RF", "a_b", "c++", "producción", "random forest", "k:v", "a/b"]
    )
    assert tags["all_tags"] == "RF,a/b,a_b,c++,k:v,producción,random forest"
    assert tags["tag_count"] == "7"
