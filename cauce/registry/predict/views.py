"""Predict pages: choose a version or an alias, upload a CSV or paste rows, read the result.

Predicting changes nothing in MLflow, so viewers may predict; outsiders get 404. A result
belongs to the model's project and is downloaded only through here.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from cauce.core.exceptions import ApplicationError
from cauce.integrations.mlflow import MlflowNotFound, MlflowUnavailable
from cauce.registry.models import PredictionJob
from cauce.registry.predict import kept, selectors, services
from cauce.registry.predict.forms import PredictForm
from cauce.registry.predict.frames import type_label
from cauce.registry.predict.selectors import (
    prediction_job_get_for_user,
    prediction_job_of_model,
    prediction_jobs_recent,
    prediction_signature,
    prediction_versions,
)
from cauce.registry.selectors import registered_model_get_for_user

RECENT_JOBS = 10
# The alias the page starts from when the address names neither a version nor an alias.
DEFAULT_ALIAS = "champion"


def predict_url(name: str, *, version: int | None = None, alias: str = "") -> str:
    query = {"alias": alias} if alias else {"version": version} if version else {}
    url = reverse("registry:predict", kwargs={"name": name})
    return f"{url}?{urlencode(query)}" if query else url


def _choices(versions) -> tuple[list[int], dict[str, int]]:
    numbers = sorted((info.version for info in versions), reverse=True)
    aliases = {alias: info.version for info in versions for alias in info.aliases}
    return numbers, dict(sorted(aliases.items()))


@login_required
@require_http_methods(["GET", "POST"])
def predict(request, name: str):
    model, _membership = registered_model_get_for_user(user=request.user, name=name)
    params = request.POST if request.method == "POST" else request.GET
    version, alias = params.get("version", ""), params.get("alias", "")
    context = {
        "model": model,
        "project": model.project,
        "page_title": _("Predecir"),
        "async_threshold": settings.PREDICT_ASYNC_THRESHOLD_BYTES,
        "mlflow_available": True,
        "target": None,
        "jobs": prediction_jobs_recent(model=model, limit=RECENT_JOBS),
    }
    status = 200
    try:
        versions = prediction_versions(model=model)
        context["numbers"], context["aliases"] = _choices(versions)
        if not version and not alias:
            # The model's champion when it has one (what people mean by "the model"), else
            # its newest version.
            if DEFAULT_ALIAS in context["aliases"]:
                alias = DEFAULT_ALIAS
            elif context["numbers"]:
                version = context["numbers"][0]
        if version or alias:
            target = selectors.predict_target_resolve(model=model, version=version, alias=alias)
            context["target"] = target
            signature = prediction_signature(version=target.version)
            context["signature"] = [
                {"column": column, "label": type_label(column.type)}
                for column in (signature.inputs if signature else [])
            ]
    except MlflowUnavailable:
        context["mlflow_available"] = False
    except (MlflowNotFound, ApplicationError) as error:
        context["target_error"] = error.message
        status = error.status_code
    context.update(selected_version=str(version), selected_alias=alias)

    form = PredictForm(request.POST or None, request.FILES or None)
    target = context["target"]
    owner = {"user_id": request.user.pk, "model_id": model.pk}
    if request.method == "POST" and target is not None and form.is_valid():
        upload, reference = form.cleaned_data["file"], form.cleaned_data["kept"]
        if upload is None and not form.cleaned_data["rows"]:
            upload = kept.upload_take(reference, **owner)
        try:
            if upload is None and not form.cleaned_data["rows"]:
                raise ApplicationError(_("El archivo elegido antes ya no está: elíjalo de nuevo."))
            job = services.prediction_job_create(
                target=target,
                user=request.user,
                upload=upload,
                pasted=form.cleaned_data["rows"],
                probabilities=form.cleaned_data["probabilities"],
            )
        except ApplicationError as error:
            form.add_error(None, error.message)
            status = 400
            if form.cleaned_data["file"] is not None:  # a new file: kept for the next try
                _keep_in_form(form, kept.upload_keep(upload=upload, **owner))
        else:
            if reference and form.cleaned_data["file"] is None:
                kept.upload_forget(reference, **owner)
            return redirect(job_url(job))
        finally:
            if upload is not None and form.cleaned_data["file"] is None:
                upload.close()
    elif request.method == "POST":
        status = 400 if status == 200 else status
    if form.is_bound and not form.data.get("rows"):
        context["kept_name"] = kept.kept_name(form.data.get("kept", ""), **owner)
    context["form"] = form
    return render(request, "registry/predict.html", context, status=status)


def _keep_in_form(form: PredictForm, reference: str) -> None:
    """The page comes back with the kept file's reference in its hidden field."""
    form.data = form.data.copy()
    form.data["kept"] = reference


def job_url(job: PredictionJob) -> str:
    return reverse(
        "registry:prediction_detail",
        kwargs={"name": job.registered_model.name, "job_id": job.pk},
    )


def _job_or_gone(request, name: str, job_id):
    """(job, None), or (None, a 404 page saying the job does not exist or expired)."""
    model, _membership = registered_model_get_for_user(user=request.user, name=name)
    job = prediction_job_of_model(model=model, job_id=job_id)
    if job is not None:
        return job, None
    message = _(
        "Esta predicción no existe o ya caducó: las predicciones se eliminan %(days)d días "
        "después de terminar."
    ) % {"days": settings.PREDICTION_RETENTION_DAYS}
    if not settings.PREDICTION_RETENTION_DAYS:
        message = _("Esta predicción no existe.")
    return None, _gone(request, model, message, status=404)


def _gone(request, model, message: str, *, status: int):
    context = {
        "model": model,
        "project": model.project,
        "page_title": _("Predicción no disponible"),
        "message": message,
        "back_url": predict_url(model.name),
    }
    return render(request, "registry/prediction_gone.html", context, status=status)


@login_required
@require_GET
def prediction_detail(request, name: str, job_id):
    job, gone = _job_or_gone(request, name, job_id)
    if job is None:
        return gone
    context = {
        "model": job.registered_model,
        "project": job.registered_model.project,
        "page_title": _("Predicción"),
        "job": job,
        "result": None,
        "back_url": predict_url(job.registered_model.name, version=job.version, alias=job.alias),
    }
    try:
        context["result"] = selectors.prediction_result_page(job=job, page=request.GET.get("page"))
    except selectors.PredictionGoneError as error:
        context["result_gone"] = error.message
    return render(request, "registry/prediction_detail.html", context)


@login_required
@require_POST
def prediction_retry(request, name: str, job_id):
    """Queue a failed job again (whoever may predict on the model may retry its jobs)."""
    job = prediction_job_get_for_user(user=request.user, name=name, job_id=job_id)
    try:
        services.prediction_job_retry(job=job)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Predicción en cola de nuevo con el mismo archivo."))
    return redirect(job_url(job))


@login_required
@require_GET
def prediction_status(request, name: str, job_id):
    """The live progress block; once the job is over, htmx reloads the whole page."""
    job = prediction_job_get_for_user(user=request.user, name=name, job_id=job_id)
    if request.htmx and not job.is_active:
        return HttpResponseClientRefresh()
    # Fetched on its own (not by htmx), the block links to the page that shows the result.
    return render(request, "registry/_prediction_status.html", {"job": job, "standalone": True})


@login_required
@require_GET
def prediction_download(request, name: str, job_id):
    job, gone = _job_or_gone(request, name, job_id)
    if job is None:
        return gone
    try:
        handle = selectors.prediction_result_open(job=job)
    except selectors.PredictionGoneError as error:
        return _gone(request, job.registered_model, error.message, status=410)
    if handle is None:
        raise Http404
    filename = f"{job.registered_model.name}-v{job.version}-predicciones.csv"
    return FileResponse(
        handle, as_attachment=True, filename=filename, content_type="text/csv; charset=utf-8"
    )
