"""The "Artefactos de MLflow" tab: browse a run's artifacts, download them, or ZIP them.

Every view checks the project role first (outsiders get 404), cleans the path before
MLflow is asked, and never waits long on MLflow: when it is down the tab says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from cauce.artifacts import streaming
from cauce.artifacts.paths import artifact_content_type, clean_artifact_path
from cauce.artifacts.selectors import (
    ArtifactEntry,
    artifact_children,
    artifact_entry,
    artifact_experiment_get,
    artifact_totals,
    experiment_artifacts,
)
from cauce.core.exceptions import ApplicationError
from cauce.integrations.mlflow import MlflowError, MlflowNotFound, MlflowUnavailable
from cauce.integrations.mlflow.client import reset_availability
from cauce.integrations.mlflow.links import mlflow_run_url


@dataclass(frozen=True)
class ArtifactRow:
    """One line of the tree: the entry plus what the template shows and links with."""

    entry: ArtifactEntry
    content_type: str
    query: str  # "path=...&model=..." for the download, preview and ZIP links


def _rows(entries: list[ArtifactEntry], model_id: str | None) -> list[ArtifactRow]:
    rows = []
    for entry in entries:
        params = {"path": entry.path, **({"model": model_id} if model_id else {})}
        rows.append(
            ArtifactRow(
                entry=entry,
                content_type="" if entry.is_dir else artifact_content_type(entry.path),
                query=urlencode(params),
            )
        )
    return rows


def _render(request, partial: str, context: dict, status: int = 200):
    """The partial for htmx; a whole page (base.html around the partial) otherwise."""
    if request.htmx:
        return render(request, partial, context, status=status)
    return render(request, "artifacts/page.html", {**context, "partial": partial}, status=status)


def _shows_errors(view):
    """Application errors (bad path, missing file, MLflow down) as a readable page."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except ApplicationError as error:
            # htmx swaps only 2xx answers: a folder that fails to open shows the notice inline.
            status = 200 if request.htmx else error.status_code
            context = {"message": error.message}
            return _render(request, "artifacts/_error.html", context, status=status)

    return wrapped


def _model_id(request) -> str | None:
    return request.GET.get("model") or None


def _mlflow_run_url(experiment) -> str:
    return mlflow_run_url(
        mlflow_experiment_id=experiment.mlflow_experiment_id,
        mlflow_run_id=experiment.mlflow_run_id,
        section="artifacts",
    )


@login_required
@require_GET
def tab(request, pk):
    experiment = artifact_experiment_get(user=request.user, experiment_id=pk)
    context = {"experiment": experiment, "state": "ok"}
    if not experiment.mlflow_run_id:
        context["state"] = "no_run"
        return _render(request, "artifacts/tab.html", context)
    context["mlflow_run_url"] = _mlflow_run_url(experiment)
    if request.GET.get("retry"):
        reset_availability()
    try:
        info = experiment_artifacts(experiment=experiment)
        context["rows"] = _rows(artifact_children(experiment=experiment), None)
        context["models"] = [
            {
                "ref": model,
                "rows": _rows(
                    artifact_children(experiment=experiment, model_id=model.model_id),
                    model.model_id,
                ),
            }
            for model in info.models
        ]
        context["totals"] = artifact_totals(experiment=experiment)
        context["run_status"] = info.status
    except MlflowUnavailable:
        context["state"] = "unavailable"
    except MlflowNotFound:
        context["state"] = "run_missing"
    except MlflowError as error:
        context["state"] = "error"
        context["message"] = error.message
    return _render(request, "artifacts/tab.html", context)


@login_required
@require_GET
@_shows_errors
def folder(request, pk):
    experiment = artifact_experiment_get(user=request.user, experiment_id=pk)
    path = clean_artifact_path(request.GET.get("path", ""))
    model_id = _model_id(request)
    entry = artifact_entry(experiment=experiment, path=path, model_id=model_id)
    if not entry.is_dir:
        raise ApplicationError(_("«%(path)s» no es una carpeta.") % {"path": path})
    entries = artifact_children(experiment=experiment, path=path, model_id=model_id)
    context = {"experiment": experiment, "rows": _rows(entries, model_id), "model_id": model_id}
    return _render(request, "artifacts/_folder.html", context)


@login_required
@require_GET
@_shows_errors
def download(request, pk):
    experiment = artifact_experiment_get(user=request.user, experiment_id=pk)
    path = clean_artifact_path(request.GET.get("path", ""))
    return streaming.artifact_download_response(
        experiment=experiment,
        path=path,
        model_id=_model_id(request),
        inline=request.GET.get("inline") == "1",
    )


def _selection(data) -> tuple[list[str], list[tuple[str, str]]]:
    """Run paths and (model id, path) pairs of a posted selection, every path cleaned."""
    paths = [clean_artifact_path(raw) for raw in data.getlist("paths")]
    model_paths = []
    for raw in data.getlist("model_paths"):
        model_id, _slash, path = raw.partition("/")
        model_paths.append((model_id, clean_artifact_path(path)))
    return paths, model_paths


@login_required
@require_http_methods(["GET", "POST"])
@_shows_errors
def zip_download(request, pk):
    experiment = artifact_experiment_get(user=request.user, experiment_id=pk)
    data = request.POST if request.method == "POST" else request.GET
    if request.method == "POST" or "paths" in data or "model_paths" in data:
        paths, model_paths = _selection(data)
        return streaming.artifact_selection_zip_response(
            experiment=experiment, paths=paths, model_paths=model_paths
        )
    path = clean_artifact_path(data.get("path", ""))
    return streaming.artifact_zip_response(
        experiment=experiment, path=path, model_id=_model_id(request)
    )
