"""Writes made by the training worker: experiments, runs, params, metrics, artifacts, models."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

from cauce.integrations.mlflow.client import get_client, tracking_uri, translate_errors
from cauce.integrations.mlflow.errors import MlflowError, MlflowNotFound, MlflowUnavailable
from cauce.integrations.mlflow.search import filter_value, search_pages

logger = logging.getLogger(__name__)

# log_batch limits of the tracking server.
_MAX_PARAMS_PER_BATCH = 100
_MAX_TAGS_PER_BATCH = 100
_MAX_PARAM_VALUE = 6000
_MAX_RUN_IDS_PER_SEARCH = 100


@dataclass(frozen=True)
class LoggedModelInfo:
    model_id: str
    model_uri: str
    artifact_location: str


def experiment_ensure(*, name: str) -> str:
    """The id of the MLflow experiment with this name, created if missing.

    Two pool processes may start the first runs of one project at once: the one whose
    create loses finds the experiment the other created."""
    from mlflow.exceptions import MlflowException

    client = get_client()
    with translate_errors(what="get_experiment_by_name"):
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        try:
            return client.create_experiment(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise MlflowNotFound()
        return experiment.experiment_id


# The experiment tag that says which Cauce project an MLflow experiment belongs to: the link
# never depends on the name, which follows the project's.
PROJECT_TAG = "cauce.project_id"
# What MLflow's UI shows an experiment as: without it, MLflow 3 opens a project's experiment
# in its GenAI view (traces, "Evaluations"), not its model-training one.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
# Names tried, in turn, when the wanted one is held by an experiment that is not the
# project's (made outside Cauce, or deleted: MLflow keeps a deleted experiment's name).
_NAME_VARIANTS = 9


def _name_candidates(name: str) -> list[str]:
    return [name, *(f"{name} ({number})" for number in range(2, _NAME_VARIANTS + 1))]


def _belongs(experiment: Any, project_id: str) -> bool:
    """An experiment the project may use: tagged with its id, or not tagged at all (made by
    an earlier Cauce, or its tag lost)."""
    return experiment.tags.get(PROJECT_TAG, project_id) == project_id


def _project_experiment_find(
    client: Any, *, project_id: str, known_id: str, legacy_name: str
) -> Any:
    """The project's MLflow experiment, or None: by the id Cauce keeps, then by the tag, then
    by the old name (``cauce-project-<id>``). One request when the kept id is right (the
    common case); an untagged one of the wanted name is found when creating it fails."""
    from mlflow.entities import ViewType

    if known_id:
        try:
            with translate_errors(what="get_experiment"):
                experiment = client.get_experiment(known_id)
        except MlflowNotFound:
            experiment = None
        if experiment is not None and _belongs(experiment, project_id):
            return experiment
    with translate_errors(what="search_experiments(project)"):
        tagged = client.search_experiments(
            view_type=ViewType.ALL,
            filter_string=f"tags.`{PROJECT_TAG}` = {filter_value(project_id)}",
            max_results=10,
        )
    if tagged:
        # An active one first: a deleted experiment is kept only when nothing else is left.
        return sorted(tagged, key=lambda e: (e.lifecycle_stage != "active", e.experiment_id))[0]
    if legacy_name:
        with translate_errors(what="get_experiment_by_name"):
            experiment = client.get_experiment_by_name(legacy_name)
        if experiment is not None and _belongs(experiment, project_id):
            return experiment
    return None


def _holder_id(client: Any, name: str) -> str | None:
    with translate_errors(what="get_experiment_by_name"):
        experiment = client.get_experiment_by_name(name)
    return experiment.experiment_id if experiment is not None else None


def _project_experiment_name(client: Any, experiment: Any, *, project_id: str, name: str) -> None:
    """Tag the project's experiment with its id and give it ``name`` (or a variant of it, when
    the name is held by another experiment); a deleted experiment is left as it is."""
    if experiment.lifecycle_stage != "active":
        return
    if experiment.tags.get(PROJECT_TAG) != project_id:
        with translate_errors(what="set_experiment_tag"):
            client.set_experiment_tag(experiment.experiment_id, PROJECT_TAG, project_id)
    if EXPERIMENT_KIND_TAG not in experiment.tags:  # a kind chosen in MLflow's UI is kept
        with translate_errors(what="set_experiment_tag"):
            client.set_experiment_tag(
                experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND
            )
    candidates = _name_candidates(name)
    if experiment.name in candidates:
        return
    for candidate in candidates:
        try:
            with translate_errors(what="rename_experiment"):
                client.rename_experiment(experiment.experiment_id, candidate)
            return
        except MlflowUnavailable:
            raise
        except MlflowError:
            # MLflow says only "bad request" for a name already taken: look who holds it.
            holder = _holder_id(client, candidate)
            if holder == experiment.experiment_id:
                return  # another worker renamed it first
            if holder is None:
                raise
    logger.warning(
        "MLflow experiment %s keeps its name %r: %r and its variants are taken",
        experiment.experiment_id,
        experiment.name,
        name,
    )


def project_experiment_ensure(
    *, project_id: str, name: str, known_id: str = "", legacy_name: str = ""
) -> str:
    """The id of the project's MLflow experiment, found or created, named ``name`` and
    tagged ``cauce.project_id``.

    Found by ``known_id`` (what Cauce keeps), the tag, ``legacy_name`` (the name it had
    before, renamed now) or ``name`` (an untagged one is tagged); created otherwise, with its
    tag in the same request: a project's first run asks three times (tag, old name, create).
    A name held by an experiment that is not the project's (MLflow's names are unique, a
    deleted experiment's included) gets `` (2)``, `` (3)``... Two workers creating it at once
    end with one experiment: the loser finds the winner's by its name and tag.
    """
    project_id = str(project_id)
    client = get_client()
    experiment = _project_experiment_find(
        client, project_id=project_id, known_id=known_id, legacy_name=legacy_name
    )
    if experiment is not None:
        _project_experiment_name(client, experiment, project_id=project_id, name=name)
        return experiment.experiment_id
    from mlflow.exceptions import MlflowException

    for candidate in _name_candidates(name):
        with translate_errors(what="create_experiment"):
            try:
                return client.create_experiment(
                    candidate, tags={PROJECT_TAG: project_id, EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
                )
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            existing = client.get_experiment_by_name(candidate)
        if existing is not None and _belongs(existing, project_id):
            _project_experiment_name(client, existing, project_id=project_id, name=name)
            return existing.experiment_id
    raise MlflowError(
        _("Ningún nombre libre en MLflow para el experimento «%(name)s».") % {"name": name}
    )


def project_experiment_rename(*, experiment_id: str, project_id: str, name: str) -> None:
    """Give the project's existing MLflow experiment its (new) name and its tag;
    ``MlflowNotFound`` when it no longer exists."""
    client = get_client()
    with translate_errors(what="get_experiment"):
        experiment = client.get_experiment(experiment_id)
    _project_experiment_name(client, experiment, project_id=str(project_id), name=name)


def run_create(*, experiment_id: str, run_name: str, tags: Mapping[str, str]) -> str:
    """A new run carrying ``tags``: up to 100 in the ``create_run`` call, the rest batched."""
    items = list(tags.items())
    first, rest = dict(items[:_MAX_TAGS_PER_BATCH]), dict(items[_MAX_TAGS_PER_BATCH:])
    with translate_errors(what="create_run"):
        run = get_client().create_run(experiment_id, run_name=run_name, tags=first)
    if rest:
        run_tags_sync(run_id=run.info.run_id, desired=rest)
    return run.info.run_id


def _params(values: Mapping[str, Any]) -> list:
    """As text, cut at MLflow's limit for a param's value."""
    from mlflow.entities import Param

    return [Param(key, str(value)[:_MAX_PARAM_VALUE]) for key, value in values.items()]


def run_log_params(*, run_id: str, params: Mapping[str, Any]) -> None:
    items = _params(params)
    with translate_errors(what="log_batch(params)"):
        for start in range(0, len(items), _MAX_PARAMS_PER_BATCH):
            get_client().log_batch(run_id, params=items[start : start + _MAX_PARAMS_PER_BATCH])


def _metrics(values: Mapping[str, float], now: int, model_id: str | None = None) -> list:
    """Finite values only (MLflow refuses NaN and infinities in a batch), at step 0."""
    return _metrics_at(values, now, 0, model_id)


def _metrics_at(
    values: Mapping[str, float], now: int, step: int, model_id: str | None = None
) -> list:
    from mlflow.entities import Metric

    return [
        Metric(key, float(value), now, step, model_id=model_id)
        for key, value in values.items()
        if value is not None and math.isfinite(float(value))
    ]


def run_log_results(
    *,
    run_id: str,
    model_id: str,
    model_metrics: Mapping[str, float],
    metrics: Mapping[str, float],
    params: Mapping[str, Any],
) -> None:
    """A trained run's results in one ``log_batch``: ``model_metrics`` are also the logged
    model's (MLflow lists them on it), ``metrics`` only the run's, and ``params``.

    Logged after the model: ``log_model`` copies the run's metrics of that moment to the model
    with one request per metric (and one more to write them), none when there are none yet.
    """
    import time

    now = int(time.time() * 1000)
    items = [*_metrics(model_metrics, now, model_id or None), *_metrics(metrics, now)]
    with translate_errors(what="log_batch(results)"):
        get_client().log_batch(run_id, metrics=items, params=_params(params))


def run_tags_sync(*, run_id: str, desired: Mapping[str, str], delete: Iterable[str] = ()) -> int:
    """Write the desired tags in batches of MLflow's 100 and remove ``delete``; the request count.

    One ``log_batch`` per 100 tags (``mlflow.runName`` among them renames the run in the same
    request), then one ``delete_tag`` per key: MLflow has no batch delete. A key already gone
    is not an error, so a replay ends in the same state.
    """
    from mlflow.entities import RunTag

    client = get_client()
    items = [RunTag(key, value) for key, value in desired.items()]
    requests_made = 0
    with translate_errors(what="log_batch(tags)"):
        for start in range(0, len(items), _MAX_TAGS_PER_BATCH):
            client.log_batch(run_id, tags=items[start : start + _MAX_TAGS_PER_BATCH])
            requests_made += 1
    for key in delete:
        requests_made += 1
        try:
            with translate_errors(what="delete_tag"):
                client.delete_tag(run_id, key)
        except MlflowNotFound:
            pass
    return requests_made


def run_tags(*, run_id: str) -> dict[str, str]:
    """The run's current tags (``MlflowNotFound`` for no such run)."""
    with translate_errors(what="get_run(tags)"):
        return dict(get_client().get_run(run_id).data.tags)


def runs_tags(*, experiment_ids: list[str], run_ids: list[str]) -> dict[str, dict[str, str]]:
    """Tags of many runs in few requests: ``search_runs`` over 100 run ids at a time.

    Runs that no longer exist (or were deleted) are simply absent from the answer.
    """
    found: dict[str, dict[str, str]] = {}
    if not run_ids or not experiment_ids:
        return found
    client = get_client()
    with translate_errors(what="search_runs(tags)"):
        for start in range(0, len(run_ids), _MAX_RUN_IDS_PER_SEARCH):
            chunk = run_ids[start : start + _MAX_RUN_IDS_PER_SEARCH]
            quoted = ", ".join(filter_value(run_id) for run_id in chunk)

            def page(token: str | None, quoted: str = quoted) -> tuple[Any, str | None]:
                runs = client.search_runs(
                    experiment_ids=experiment_ids,
                    filter_string=f"attributes.run_id IN ({quoted})",
                    max_results=_MAX_RUN_IDS_PER_SEARCH,
                    page_token=token,
                )
                return runs, runs.token

            for run in search_pages(page):
                found[run.info.run_id] = dict(run.data.tags)
    return found


def run_log_artifacts(*, run_id: str, local_dir: Path) -> None:
    with translate_errors(what="log_artifacts"):
        get_client().log_artifacts(run_id, str(local_dir))


def run_log_sklearn_model(
    *,
    run_id: str,
    experiment_id: str,
    model: Any,
    input_example: Any,
    signature_input: Any,
    signature_output: Any,
    pip_requirements: list[str],
) -> LoggedModelInfo:
    """Log a fitted scikit-learn model as the run's ``model`` (MLflow 3: a LoggedModel).

    The flavor's ``log_model`` has no client argument; ``_use_tracking_uri`` scopes the URI
    to this call instead of setting it for the whole process. The LoggedModel is created first
    with the client, because ``log_model`` alone files it under the process's *active*
    experiment (the default one), not the run's.
    """
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    signature = infer_signature(signature_input, signature_output)
    client = get_client()
    with translate_errors(what="log_model"), _use_tracking_uri(tracking_uri()):
        created = client.create_logged_model(
            experiment_id=experiment_id, name="model", source_run_id=run_id, model_type="sklearn"
        )
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            run_id=run_id,
            model_id=created.model_id,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            # skops refuses our pipelines without a list of trusted types per estimator;
            # cloudpickle loads any of them, and only Cauce's own workers write these files.
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        )
    return LoggedModelInfo(
        model_id=info.model_id,
        model_uri=info.model_uri,
        artifact_location=created.artifact_location,
    )


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    experiment_id: str
    status: str
    artifact_uri: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    model_ids: list[str]


def run_get(*, run_id: str) -> RunSummary:
    with translate_errors(what="get_run"):
        run = get_client().get_run(run_id)
    outputs = getattr(run, "outputs", None)
    model_ids = [output.model_id for output in (outputs.model_outputs if outputs else [])]
    return RunSummary(
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        status=run.info.status,
        artifact_uri=run.info.artifact_uri,
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        tags=dict(run.data.tags),
        model_ids=model_ids,
    )
