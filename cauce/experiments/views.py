import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from cauce.core.exceptions import ApplicationError
from cauce.experiments import services
from cauce.experiments.forms import ExperimentCreateForm, ExperimentEditForm, ExperimentFilterForm
from cauce.experiments.liveness import experiment_fail_if_stale
from cauce.experiments.models import MLExperiment
from cauce.experiments.selectors import (
    experiment_get_for_user,
    experiment_list,
    experiment_tag_names,
)
from cauce.projects.models import Role
from cauce.projects.selectors import project_get_for_user

COLUMN_FIELDS_ID = "column-fields"  # the part of the creation form that follows the dataset


def _service_error_to_form(form, error: ApplicationError) -> None:
    """Show a service's error on the field it names, or above the form."""
    fields = [name for name in error.extra if name in form.fields]
    if fields:
        form.add_error(fields[0], str(error.message))
    else:
        form.add_error(None, str(error.message))


def _mlflow_run_url(experiment: MLExperiment) -> str:
    public = settings.MLFLOW_PUBLIC_URL.rstrip("/")
    if not (public and experiment.mlflow_experiment_id and experiment.mlflow_run_id):
        return ""
    return (
        f"{public}/#/experiments/{experiment.mlflow_experiment_id}/runs/{experiment.mlflow_run_id}"
    )


def _plots(experiment: MLExperiment) -> list[tuple[str, Any]]:
    """The PNG plots the pipeline logs under plots/ in the run."""
    if experiment.status != MLExperiment.Status.FINISHED:
        return []
    if experiment.task_type == MLExperiment.TaskType.CLASSIFICATION:
        first = ("plots/confusion_matrix.png", gettext_lazy("Matriz de confusión"))
    else:
        first = ("plots/residuals.png", gettext_lazy("Residuos"))
    return [first, ("plots/feature_importance.png", gettext_lazy("Importancia de las variables"))]


def _metrics(experiment: MLExperiment) -> list[tuple[str, Any, bool]]:
    """(name, value, is_main), the main metric first."""
    main = experiment.main_metric_name
    names = sorted(experiment.metrics, key=lambda name: (name != main, name))
    return [(name, experiment.metrics[name], name == main) for name in names]


@login_required
@require_GET
def ml_experiment_list(request, project_pk: int):
    project, membership = project_get_for_user(user=request.user, project_id=project_pk)
    filters = ExperimentFilterForm(request.GET, tag_names=experiment_tag_names(project=project))
    chosen = filters.cleaned_data if filters.is_valid() else {}
    experiments = experiment_list(
        project=project, status=chosen.get("status") or None, tag=chosen.get("tag") or None
    )
    context = {
        "project": project,
        "membership": membership,
        "can_edit": membership.allows(Role.EDITOR),
        "filters": filters,
        "filtered": bool(chosen.get("status") or chosen.get("tag")),
        "experiments": experiments,
    }
    return render(request, "experiments/experiment_list.html", context)


def _create_initial(request, project) -> dict[str, Any]:
    """Initial values from ?copy=<experiment> or from the query (the no-JS column reload)."""
    copy_from = request.GET.get("copy")
    if copy_from:
        try:
            source_id = uuid.UUID(copy_from)
        except ValueError:
            raise Http404 from None
        source, _membership = experiment_get_for_user(user=request.user, experiment_id=source_id)
        if source.project_id != project.pk:
            raise Http404
        return ExperimentCreateForm.initial_from(source)
    initial: dict[str, Any] = {}
    for name in ExperimentCreateForm.base_fields:
        if name == "feature_columns":
            if request.GET.getlist(name):
                initial[name] = request.GET.getlist(name)
        elif name in request.GET:
            initial[name] = request.GET[name]
    return initial


@login_required
@require_http_methods(["GET", "POST"])
def ml_experiment_create(request, project_pk: int):
    project, _membership = project_get_for_user(
        user=request.user, project_id=project_pk, role=Role.EDITOR
    )
    if request.method == "POST":
        form = ExperimentCreateForm(request.POST, project=project)
        if form.is_valid():
            run_now = "run" in request.POST
            try:
                with transaction.atomic():
                    experiment = services.experiment_create(
                        project=project, user=request.user, **form.service_arguments()
                    )
                    if run_now:
                        services.experiment_enqueue(experiment=experiment, user=request.user)
            except ApplicationError as error:
                _service_error_to_form(form, error)
            else:
                if run_now:
                    messages.success(request, _("Experimento creado y en cola."))
                else:
                    messages.success(request, _("Experimento guardado como borrador."))
                return redirect("experiments:ml_experiment_detail", pk=experiment.pk)
    else:
        form = ExperimentCreateForm(initial=_create_initial(request, project), project=project)
        if request.htmx and request.htmx.target == COLUMN_FIELDS_ID:
            return render(request, "experiments/_column_fields.html", {"form": form})
    context = {"project": project, "form": form, "column_fields_id": COLUMN_FIELDS_ID}
    return render(request, "experiments/experiment_form.html", context)


@login_required
@require_GET
def ml_experiment_detail(request, pk):
    experiment, membership = experiment_get_for_user(user=request.user, experiment_id=pk)
    experiment_fail_if_stale(experiment=experiment)
    can_edit = membership.allows(Role.EDITOR)
    context = {
        "experiment": experiment,
        "project": experiment.project,
        "membership": membership,
        "can_edit": can_edit,
        "can_run": can_edit and experiment.status in services.ENQUEUEABLE_STATUSES,
        "can_cancel": can_edit and experiment.status in services.CANCELLABLE_STATUSES,
        "mlflow_run_url": _mlflow_run_url(experiment),
        "metrics": _metrics(experiment),
        "plots": _plots(experiment),
    }
    return render(request, "experiments/experiment_detail.html", context)


@never_cache
@login_required
@require_GET
def ml_experiment_status(request, pk):
    """The live status block; once the run is over, htmx reloads the whole page."""
    experiment, _membership = experiment_get_for_user(user=request.user, experiment_id=pk)
    experiment_fail_if_stale(experiment=experiment)
    if request.htmx and not experiment.is_active:
        return HttpResponseClientRefresh()
    return render(request, "experiments/_status.html", {"experiment": experiment})


@login_required
@require_POST
def ml_experiment_run(request, pk):
    experiment, _membership = experiment_get_for_user(
        user=request.user, experiment_id=pk, role=Role.EDITOR
    )
    try:
        services.experiment_enqueue(experiment=experiment, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Experimento en cola."))
    return redirect("experiments:ml_experiment_detail", pk=experiment.pk)


@login_required
@require_POST
def ml_experiment_cancel(request, pk):
    experiment, _membership = experiment_get_for_user(
        user=request.user, experiment_id=pk, role=Role.EDITOR
    )
    try:
        services.experiment_cancel(experiment=experiment, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Experimento cancelado."))
    return redirect("experiments:ml_experiment_detail", pk=experiment.pk)


@login_required
@require_http_methods(["GET", "POST"])
def ml_experiment_edit(request, pk):
    experiment, _membership = experiment_get_for_user(
        user=request.user, experiment_id=pk, role=Role.EDITOR
    )
    initial = {
        "name": experiment.name,
        "description": experiment.description,
        "tags": [tag.name for tag in experiment.tags.all()],
    }
    form = ExperimentEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.experiment_update(
                experiment=experiment, user=request.user, **form.cleaned_data
            )
        except ApplicationError as error:
            _service_error_to_form(form, error)
        else:
            messages.success(request, _("Experimento actualizado."))
            return redirect("experiments:ml_experiment_detail", pk=experiment.pk)
    context = {"experiment": experiment, "project": experiment.project, "form": form}
    return render(request, "experiments/experiment_edit.html", context)
