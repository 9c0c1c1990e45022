"""The preview panel of one artifact: an htmx partial inside the tab, or a page of its own."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from cauce.artifacts.paths import clean_artifact_path
from cauce.artifacts.previews import artifact_preview, artifact_preview_url, page_number
from cauce.artifacts.selectors import artifact_experiment_get
from cauce.core.exceptions import ApplicationError


@login_required
@require_GET
def artifact_preview_view(request, pk):
    experiment = artifact_experiment_get(user=request.user, experiment_id=pk)
    model_id = request.GET.get("model") or None
    page = page_number(request.GET.get("page"))
    template = "artifacts/preview_panel.html" if request.htmx else "artifacts/preview.html"
    context = {
        "experiment": experiment,
        "project": experiment.project,
        "model_id": model_id,
        "path": request.GET.get("path", ""),
        "text_limit": settings.ARTIFACT_TEXT_PREVIEW_BYTES,
        "preview_limit": settings.ARTIFACT_PREVIEW_MAX_BYTES,
    }
    try:
        path = context["path"] = clean_artifact_path(request.GET.get("path"))
        preview = artifact_preview(experiment=experiment, path=path, model_id=model_id, page=page)
    except ApplicationError as error:
        # Bad path 400, missing file 404, MLflow down 503: the panel says which. htmx swaps
        # only 2xx answers, so inside the tab the notice comes with a 200.
        status = 200 if request.htmx else error.status_code
        return render(request, template, {**context, "error": error.message}, status=status)
    context["preview"] = preview
    if preview.table is not None:
        urls = {"experiment": experiment, "path": path, "model_id": model_id}
        if page > 1:
            context["previous_url"] = artifact_preview_url(**urls, page=page - 1)
        if preview.table.has_next:
            context["next_url"] = artifact_preview_url(**urls, page=page + 1)
    return render(request, template, context)
