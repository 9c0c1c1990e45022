"""Searches of the experiments' tags in the MLflow UI (the run's own address is
``cauce.integrations.mlflow.links.mlflow_run_url``).

The runs table of an experiment reads its search box from ``?searchFilter=`` on
``#/experiments/<id>/runs`` (checked against the 3.17 UI bundle's routes).
"""

from urllib.parse import quote

from cauce.experiments.selectors import TAGS_ALL, ExperimentFilters
from cauce.integrations.mlflow.links import mlflow_public_url


def mlflow_tag_search_filter(tags: tuple[str, ...]) -> str:
    """MLflow's run search for runs carrying every tag, on their ``all_tags`` run tag (the
    experiment's tags, comma-joined).

    MLflow's search has AND but no OR, and ``all_tags`` is comma-joined, so each tag becomes
    ``tags.all_tags ILIKE '%tag%'``: it also finds tags that merely contain the text (the
    page says so). ILIKE because Cauce matches tags ignoring case too.
    """
    clauses = []
    for tag in tags:
        quote_char = '"' if "'" in tag else "'"
        clauses.append(f"tags.all_tags ILIKE {quote_char}%{tag}%{quote_char}")
    return " AND ".join(clauses)


def mlflow_tag_search_url(*, mlflow_experiment_id: str, filters: ExperimentFilters) -> str:
    """The project's runs in the MLflow UI, searched for the filter's tags ("" if it can't be).

    Only "all of" filters translate (MLflow has no OR); a tag holding both quote characters
    cannot be written in MLflow's syntax.
    """
    public = mlflow_public_url()
    if not (public and mlflow_experiment_id and filters.tags):
        return ""
    if filters.tags_mode != TAGS_ALL and len(filters.tags) > 1:
        return ""
    if any("'" in tag and '"' in tag for tag in filters.tags):
        return ""
    search = quote(mlflow_tag_search_filter(filters.tags), safe="")
    return f"{public}/#/experiments/{mlflow_experiment_id}/runs?searchFilter={search}"
