"""Search-filter literals are read back by MLflow's own filter parser as they were given."""

import uuid

import pytest
from mlflow.utils.search_utils import SearchModelVersionUtils, SearchUtils

from cauce.integrations.mlflow.search import filter_value

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

    from cauce.integrations.mlflow import tracking

    client = MlflowClient(tracking_uri=mlflow)
    experiment_id = client.create_experiment(f"search-{uuid.uuid4().hex}")
    values = ["it's", 'say "hi"', "back\\slash"]
    runs = {value: client.create_run(experiment_id, tags={"owner": value}) for value in values}
    client.create_run(experiment_id, tags={"owner": "someone else"})

    for value, run in runs.items():
        ended = tracking.runs_end_running(experiment_ids=[experiment_id], tags={"owner": value})
        assert ended == [run.info.run_id]
        assert client.get_run(run.info.run_id).info.status == "FAILED"
