"""Searches of the experiments' tags in the MLflow UI (the run's own address is
``cauce.integrations.mlflow.links.mlflow_run_url``).

The runs table of an experiment reads its search box from ``?searchFilter=`` on
``#/experiments/<id>/runs`` (checked against the 3.17 UI bundle's routes).
"""

from urllib.parse import quote

from cauce.experiments.selectors import TAGS_ALL, ExperimentFilters
from cauce.experiments.tags import TAG_KEY_VALUE, tag_mlflow_key
from cauce.integrations.mlflow.links import mlflow_public_url


def mlflow_tag_search_filter(tags: tuple[str, ...]) -> str:
    """MLflow's run search for runs carrying every tag: ``tags.`cauce.tag.<tag>` = 'true'``
    for each (MLflow's search has AND but no OR).

    Exact, and ignoring case like Cauce: each tag has a run tag of its own, its key the tag
    lower-cased and escaped (``tags.tag_mlflow_key``), so "rf" never finds "surf". A key
    never holds a backtick or a quote, so it is always written as is.
    """
    return " AND ".join(f"tags.`{tag_mlflow_key(tag)}` = '{TAG_KEY_VALUE}'" for tag in tags)


def mlflow_tag_search_url(*, mlflow_experiment_id: str, filters: ExperimentFilters) -> str:
    """The project's runs in the MLflow UI, searched for the filter's tags ("" if it can't be).

    Only "all of" filters translate (MLflow has no OR).
    """
    public = mlflow_public_url()
    if not (public and mlflow_experiment_id and filters.tags):
        return ""
    if filters.tags_mode != TAGS_ALL and len(filters.tags) > 1:
        return ""
    search = quote(mlflow_tag_search_filter(filters.tags), safe="")
    return f"{public}/#/experiments/{mlflow_experiment_id}/runs?searchFilter={search}"
