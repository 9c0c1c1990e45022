import dataclasses
import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from cauce.core.exceptions import ApplicationError
from cauce.experiments import services
from cauce.experiments.forms import (
    BULK_ADD,
    DEFAULT_PER_PAGE,
    BulkTagForm,
    ExperimentCreateForm,
    ExperimentEditForm,
    ExperimentFilterForm,
    initial_from_query,
)
from cauce.experiments.liveness import experiment_fail_if_stale
from cauce.experiments.mlflow_links import mlflow_tag_search_url
from cauce.experiments.models import MLExperiment
from cauce.experiments.pipeline.metric_names import metric_pairs
from cauce.experiments.selectors import (
    ExperimentFilters,
    experiment_filter_choices,
    experiment_get_for_user,
    experiment_list,
    experiment_list_for_user,
    experiment_plot_paths,
    experiment_queue_position,
    experiment_tag_counts,
    experiment_tag_names,
    experiment_tag_sync_status,
    experiment_timings,
    ordering_parse,
)
from cauce.integrations.mlflow.links import mlflow_run_url
from cauce.projects.models import Project, Role
from cauce.projects.selectors import membership_roles, project_get_for_user, projects_for_user

COLUMN_FIELDS_ID = "column-fields"  # the part of the creation form that follows the dataset
MODEL_FIELDS_ID = "model-fields"  # the part that follows the target, task and algorithm


def _service_error_to_form(form, error: ApplicationError) -> None:
    """Show a service's error on the field it names, or above the form."""
    fields = [name for name in error.extra if name in form.fields]
    if fields:
        form.add_error(fields[0], str(error.message))
    else:
        form.add_error(None, str(error.message))


def _mlflow_run_url(experiment: MLExperiment) -> str:
    return mlflow_run_url(
        mlflow_experiment_id=experiment.mlflow_experiment_id,
        mlflow_run_id=experiment.mlflow_run_id,
    )


PLOT_TITLES = {
    "plots/confusion_matrix.png": gettext_lazy("Matriz de confusión"),
    "plots/residuals.png": gettext_lazy("Residuos"),
    "plots/feature_importance.png": gettext_lazy("Importancia de las variables"),
}


def _plots(paths: list[str] | None) -> list[tuple[str, Any]]:
    """(path, title) of the plots the run logged, in the order they were logged."""
    return [(path, PLOT_TITLES.get(path, path.rsplit("/", 1)[-1])) for path in paths or []]


def _list_filters(request, form: ExperimentFilterForm) -> ExperimentFilters:
    """The filters of the query string, with the list's sort (kept in every link)."""
    return dataclasses.replace(
        form.to_filters(), ordering=ordering_parse(request.GET.get("ordering"))
    )


def _list_page(
    request,
    *,
    experiments: QuerySet[MLExperiment],
    form: ExperimentFilterForm,
    filters: ExperimentFilters,
    roles: dict[int, str],
) -> dict[str, Any]:
    """What both lists show: one page of experiments, the tag chips and the filter's links."""
    page = Paginator(experiments, form.per_page_value).get_page(request.GET.get("page"))
    parts = [filters.query()]
    if form.per_page_value != DEFAULT_PER_PAGE:
        parts.append(f"per_page={form.per_page_value}")
    list_query = "&".join(part for part in parts if part)
    editable = {pk for pk, role in roles.items() if role in (Role.EDITOR, Role.OWNER)}
    return {
        "filters": filters,
        "filter_form": form,
        "filtered": filters.active,
        "page": page,
        "experiments": page.object_list,
        "list_query": list_query,
        "per_page_query": parts[1] if len(parts) > 1 else "",
        "tag_counts": experiment_tag_counts(experiments=experiments, chosen=filters.tags),
        "tag_names": form.tag_names,
        "editable_project_ids": editable,
        # Any experiment can be marked to compare it; only editors' ones get tagged.
        "selectable": True,
        "next_url": request.get_full_path(),
    }


@login_required
@require_GET
def ml_experiment_list(request, project_pk: int):
    project, membership = project_get_for_user(user=request.user, project_id=project_pk)
    choices = experiment_filter_choices(projects=Project.objects.filter(pk=project.pk))
    form = ExperimentFilterForm(request.GET, choices=choices)
    filters = _list_filters(request, form)
    experiments = experiment_list(project=project, filters=filters)
    context = {
        "project": project,
        "membership": membership,
        "can_edit": membership.allows(Role.EDITOR),
        "mlflow_search_url": mlflow_tag_search_url(
            mlflow_experiment_id=project.mlflow_experiment_id, filters=filters
        ),
        **_list_page(
            request,
            experiments=experiments,
            form=form,
            filters=filters,
            roles={project.pk: membership.role},
        ),
    }
    return render(request, "experiments/experiment_list.html", context)


@login_required
@require_GET
def ml_experiment_all(request):
    """The "Experimentos" page: every project of the user's at once."""
    projects = projects_for_user(user=request.user)
    roles = membership_roles(user=request.user)
    project_options = list(projects.order_by("name", "pk").values_list("pk", "name"))
    form = ExperimentFilterForm(
        request.GET,
        choices=experiment_filter_choices(projects=projects),
        projects=project_options,
    )
    filters = _list_filters(request, form)
    experiments = experiment_list_for_user(user=request.user, filters=filters)
    mlflow_search_url = ""
    if filters.project_id is not None:
        chosen = Project.objects.filter(pk=filters.project_id, pk__in=roles).first()
        if chosen is not None:
            mlflow_search_url = mlflow_tag_search_url(
                mlflow_experiment_id=chosen.mlflow_experiment_id, filters=filters
            )
    context = {
        "show_project": True,
        "mlflow_search_url": mlflow_search_url,
        **_list_page(request, experiments=experiments, form=form, filters=filters, roles=roles),
    }
    return render(request, "experiments/experiment_all.html", context)


def _names(experiments: list[MLExperiment]) -> str:
    return ", ".join(f"«{experiment.name}»" for experiment in experiments)


def _bulk_tag_messages(result: services.BulkTagResult) -> list[tuple[int, str]]:
    """How many changed, and each experiment that did not with its reason."""
    added = result.action == BULK_ADD
    out: list[tuple[int, str]] = []
    count = len(result.changed)
    if count:
        if added:
            text = ngettext(
                "Etiqueta «%(tag)s» añadida a %(count)d experimento.",
                "Etiqueta «%(tag)s» añadida a %(count)d experimentos.",
                count,
            )
        else:
            text = ngettext(
                "Etiqueta «%(tag)s» quitada de %(count)d experimento.",
                "Etiqueta «%(tag)s» quitada de %(count)d experimentos.",
                count,
            )
        out.append((messages.SUCCESS, text % {"tag": result.tag, "count": count}))
    if result.unchanged:
        text = _("Ya la tenían: %(names)s.") if added else _("No la tenían: %(names)s.")
        out.append((messages.INFO, text % {"names": _names(result.unchanged)}))
    for experiment, reason in result.refused:
        out.append(
            (
                messages.WARNING,
                _("No se cambió «%(name)s»: %(reason)s.")
                % {"name": experiment.name, "reason": reason},
            )
        )
    for experiment, reason in result.failed:
        out.append(
            (
                messages.ERROR,
                _("No se pudo cambiar «%(name)s»: %(reason)s")
                % {"name": experiment.name, "reason": reason.rstrip(".") + "."},
            )
        )
    if result.missing:
        text = ngettext(
            "%(count)d experimento seleccionado no existe o no es de sus proyectos: no se cambió.",
            "%(count)d experimentos seleccionados no existen o no son de sus proyectos: no se "
            "cambiaron.",
            result.missing,
        )
        out.append((messages.WARNING, text % {"count": result.missing}))
    return out


@login_required
@require_POST
def ml_experiment_bulk_tags(request):
    """Add or remove one tag on the selected experiments; each is changed on its own."""
    form = BulkTagForm(request.POST)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("experiments:ml_experiment_all")
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    try:
        result = services.experiment_tags_bulk_change(
            user=request.user,
            experiment_ids=form.cleaned_data["experiments"],
            tag=form.cleaned_data["tag"],
            action=form.cleaned_data["action"],
        )
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect(back)
    for level, text in _bulk_tag_messages(result):
        messages.add_message(request, level, text)
    return redirect(back)


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
    return initial_from_query(request.GET, ExperimentCreateForm.base_fields)


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
                form.add_service_error(error)
            else:
                if run_now:
                    messages.success(request, _("Experimento creado y en cola."))
                else:
                    messages.success(request, _("Experimento guardado como borrador."))
                return redirect("experiments:ml_experiment_detail", pk=experiment.pk)
    else:
        form = ExperimentCreateForm(initial=_create_initial(request, project), project=project)
        context = {
            "form": form,
            "column_fields_id": COLUMN_FIELDS_ID,
            "model_fields_id": MODEL_FIELDS_ID,
        }
        if request.htmx and request.htmx.target == COLUMN_FIELDS_ID:
            # The target decides the task, so the model's fields come along (out of band).
            return render(request, "experiments/_column_fields_response.html", context)
        if request.htmx and request.htmx.target == MODEL_FIELDS_ID:
            return render(request, "experiments/_model_fields.html", context)
    context = {
        "project": project,
        "form": form,
        "column_fields_id": COLUMN_FIELDS_ID,
        "model_fields_id": MODEL_FIELDS_ID,
        "tag_names": experiment_tag_names(projects=project),
    }
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
        "metrics": metric_pairs(experiment.metrics, main=experiment.main_metric_name),
        "plots": _plots(experiment.plots),
        "timings": experiment_timings(experiment=experiment),
        "tag_sync": experiment_tag_sync_status(experiment=experiment),
        "queue_position": experiment_queue_position(experiment=experiment),
    }
    return render(request, "experiments/experiment_detail.html", context)


@login_required
@require_GET
def ml_experiment_plots(request, pk):
    """The plots of a run finished before Cauce recorded them: looked up once in MLflow."""
    experiment, _membership = experiment_get_for_user(user=request.user, experiment_id=pk)
    try:
        paths = experiment_plot_paths(experiment=experiment)
    except ApplicationError as error:
        if not request.htmx:
            messages.error(request, error.message)
            return redirect("experiments:ml_experiment_detail", pk=experiment.pk)
        context = {"experiment": experiment, "error": error.message}
        return render(request, "experiments/_plots.html", context)
    if experiment.plots is None and experiment.status == MLExperiment.Status.FINISHED:
        services.experiment_plots_record(experiment=experiment, plots=paths)
    if not request.htmx:  # without JavaScript: the page, now with the plots it lists
        return redirect("experiments:ml_experiment_detail", pk=experiment.pk)
    context = {"experiment": experiment, "plots": _plots(paths)}
    return render(request, "experiments/_plots.html", context)


@never_cache
@login_required
@require_GET
def ml_experiment_tag_sync(request, pk):
    """Whether the run's tags are synced yet (polled by the page while a change is pending)."""
    experiment, _membership = experiment_get_for_user(user=request.user, experiment_id=pk)
    context = {
        "experiment": experiment,
        "tag_sync": experiment_tag_sync_status(experiment=experiment),
    }
    return render(request, "experiments/_tag_sync.html", context)


@never_cache
@login_required
@require_GET
def ml_experiment_status(request, pk):
    """The live status block; once the run is over, htmx reloads the whole page."""
    experiment, _membership = experiment_get_for_user(user=request.user, experiment_id=pk)
    experiment_fail_if_stale(experiment=experiment)
    if request.htmx and not experiment.is_active:
        return HttpResponseClientRefresh()
    context = {
        "experiment": experiment,
        "queue_position": experiment_queue_position(experiment=experiment),
        # Out-of-band swaps for the page's badge and run id (the page itself includes them).
        "oob": True,
        "mlflow_run_url": _mlflow_run_url(experiment),
    }
    return render(request, "experiments/_status.html", context)


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
    context = {
        "experiment": experiment,
        "project": experiment.project,
        "form": form,
        "tag_names": experiment_tag_names(projects=experiment.project),
    }
    return render(request, "experiments/experiment_edit.html", context)
