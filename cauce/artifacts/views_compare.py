"""Compare one artifact path across the runs of two or more experiments of a project."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from cauce.artifacts.compare import (
    DISTINCT_CAP,
    artifact_compare,
    compare_candidates,
    compare_experiments_get,
    compare_path_choices,
)
from cauce.artifacts.paths import InvalidArtifactPath, clean_artifact_path
from cauce.core.exceptions import ApplicationError
from cauce.projects.selectors import project_get_for_user


@login_required
@require_GET
def artifact_compare_view(request, project_pk: int):
    project, _membership = project_get_for_user(user=request.user, project_id=project_pk)
    chosen = compare_experiments_get(project=project, ids=request.GET.getlist("experiments"))
    selected = [experiment for experiment in chosen if experiment.mlflow_run_id]
    context = {
        "project": project,
        "distinct_cap": DISTINCT_CAP,
        "candidates": compare_candidates(project=project),
        "selected": selected,
        "selected_ids": {str(experiment.pk) for experiment in selected},
        "without_run": [experiment for experiment in chosen if not experiment.mlflow_run_id],
    }
    try:
        path = context["path"] = clean_artifact_path(request.GET.get("path"))
    except InvalidArtifactPath as error:
        context["error"] = error.message
        return render(request, "artifacts/compare.html", context, status=400)
    if len(selected) < 2:
        # A path chosen already (e.g. from a preview) waits in the form for more experiments.
        context["message"] = _("Elija al menos dos experimentos con run para comparar.")
        return render(request, "artifacts/compare.html", context)
    try:
        context["choices"] = compare_path_choices(experiments=selected)
        if path:
            context["comparison"] = artifact_compare(experiments=selected, path=path)
    except ApplicationError as error:  # MLflow down, or a run it no longer has
        context["error"] = error.message
    return render(request, "artifacts/compare.html", context)
