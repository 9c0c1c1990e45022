"""Search-filter literals are read back by MLflow's own filter parser as they were given."""

import uuid

import pytest
from mlflow.utils.search_utils import SearchModelVersionUtils, SearchUtils

from cauce.integrations.mlflow.search import filter_value, search_pages

READABLE = [
    "plain",
    "it's",
    'say "hi"',
    "back\\slash",
    "a\\'b",
    "x\\\\y",
    "100%_like",
    "",
]


@pytest.mark.parametrize("value", READABLE)
def test_mlflows_parser_reads_the_value_back_unchanged(value):
    literal = filter_value(value)

    run_filter = SearchUtils.parse_search_filter(f"tags.`key` = {literal}")
    version_filter = SearchModelVersionUtils.parse_search_filter(f"name = {literal}")

    assert run_filter[0]["value"] == value
    assert version_filter[0]["value"] == value


@pytest.mark.parametrize("value", ["both ' and \"", "ends with a backslash\\"])
def test_a_value_no_literal_can_say_is_refused(value):
    with pytest.raises(ValueError, match="Not usable in an MLflow search filter"):
        filter_value(value)


def test_runs_with_a_quote_or_a_backslash_in_a_tag_are_found_on_a_real_server(mlflow):
    from mlflow.tracking import MlflowClient

    from cauce.integrations.mlflow import runs

    client = MlflowClient(tracking_uri=mlflow)
    experiment_id = client.create_experiment(f"search-{uuid.uuid4().hex}")
    values = ["it's", 'say "hi"', "back\\slash"]
    created = {value: client.create_run(experiment_id, tags={"owner": value}) for value in values}
    client.create_run(experiment_id, tags={"owner": "someone else"})

    for value, run in created.items():
        ended = runs.runs_end_running(experiment_ids=[experiment_id], tag="owner", value=value)
        assert ended == [run.info.run_id]
        assert client.get_run(run.info.run_id).info.status == "FAILED"


def test_every_page_of_a_search_is_read_on_a_real_server(mlflow, monkeypatch):
    from mlflow.tracking import MlflowClient

    from cauce.integrations.mlflow import drift, registry

    client = MlflowClient(tracking_uri=mlflow)
    prefix = f"paged-{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}-{index}" for index in range(5)]
    for name in names:
        client.create_registered_model(name)
    experiment_ids = [client.create_experiment(f"{prefix}-{index}") for index in range(3)]
    monkeypatch.setattr(registry, "_PAGE", 2)
    monkeypatch.setattr(drift, "_PAGE", 2)

    assert sorted(registry.registered_models_get_many(names=names)) == names
    assert set(experiment_ids) <= set(drift.experiments_active_ids())


def test_search_pages_asks_for_each_next_page_until_none():
    answers = {None: ([1, 2], "b"), "b": ([3], "c"), "c": ([], "")}
    asked = []

    def fetch(token):
        asked.append(token)
        return answers[token]

    assert list(search_pages(fetch)) == [1, 2, 3]
    assert asked == [None, "b", "c"]
