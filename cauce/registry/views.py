"""Registry pages: the models of the user's projects, one model's versions, a version, compare.

MLflow holds versions, aliases, tags and descriptions; a page whose MLflow part does not
answer still renders, with the "MLflow no disponible" notice, from what Cauce keeps.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cauce.core.exceptions import ApplicationError, NotFoundError
from cauce.datasets.selectors import dataset_version_get_for_user
from cauce.experiments.models import MLExperiment
from cauce.experiments.selectors import experiment_get_for_user
from cauce.integrations.mlflow import MlflowNotFound, MlflowUnavailable
from cauce.projects.models import Role
from cauce.projects.selectors import project_get_for_user
from cauce.registry import services
from cauce.registry.charts import metric_chart_svg
from cauce.registry.compare import MAX_COMPARED, versions_compare
from cauce.registry.forms import (
    AliasForm,
    CompareForm,
    DescriptionForm,
    RegisterForm,
    VersionEditForm,
)
from cauce.registry.lineage import dataset_version_model_versions
from cauce.registry.selectors import (
    experiment_model_versions,
    model_version_get_for_model,
    model_version_rows,
    registered_model_get_for_user,
    registered_model_info_get,
    registered_model_list_for_user,
    registered_model_rows,
)


def _model_url(model_name: str) -> str:
    return reverse("registry:model_detail", kwargs={"name": model_name})


def _version_url(model_name: str, version: int) -> str:
    return reverse("registry:version_detail", kwargs={"name": model_name, "version": version})


# --- lists ------------------------------------------------------------------------------------


@login_required
@require_GET
def model_list(request):
    models = registered_model_list_for_user(user=request.user)
    rows, available = registered_model_rows(models=models)
    return render(
        request, "registry/model_list.html", {"rows": rows, "mlflow_available": available}
    )


@login_required
@require_GET
def project_models(request, project_pk: int):
    """The project page's "Modelos" section (loaded by htmx), or a page of its own."""
    project, _membership = project_get_for_user(user=request.user, project_id=project_pk)
    models = registered_model_list_for_user(user=request.user, project=project)
    rows, available = registered_model_rows(models=models)
    context = {"rows": rows, "mlflow_available": available, "project": project}
    if request.htmx:
        return render(request, "registry/_model_table.html", context)
    return render(request, "registry/model_list.html", context)


# --- one model --------------------------------------------------------------------------------


def _chart(model, rows, metric: str):
    names = sorted({name for row in rows for name in row.metrics})
    if metric not in names:
        metric = model.main_metric if model.main_metric in names else (names[0] if names else "")
    points = [
        (row.info.version, float(row.metrics[metric]))
        for row in rows
        if metric and row.metrics.get(metric) is not None
    ]
    svg = None
    if points:
        title = _("%(metric)s por versión de %(name)s") % {"metric": metric, "name": model.name}
        svg = metric_chart_svg(metric=metric, points=points, title=title)
    return {"names": names, "metric": metric, "svg": svg}


@login_required
@require_GET
def model_detail(request, name: str):
    model, membership = registered_model_get_for_user(user=request.user, name=name)
    context = {
        "model": model,
        "project": model.project,
        "can_edit": membership.allows(Role.EDITOR),
        "mlflow_available": True,
        "rows": [],
        "info": None,
    }
    try:
        context["info"] = registered_model_info_get(model=model)
        rows = model_version_rows(model=model, info=context["info"])
    except MlflowUnavailable:
        context["mlflow_available"] = False
    except MlflowNotFound:
        context["missing_in_mlflow"] = True
    else:
        context["rows"] = rows
        context["chart"] = _chart(model, rows, request.GET.get("metric", ""))
        numbers = [row.info.version for row in rows]
        context["alias_form"] = AliasForm(versions=numbers)
        context["description_form"] = DescriptionForm(
            initial={"description": context["info"].description}
        )
    return render(request, "registry/model_detail.html", context)


def _editor_model(request, name: str):
    model, _membership = registered_model_get_for_user(
        user=request.user, name=name, role=Role.EDITOR
    )
    return model


def _report(request, error: ApplicationError) -> None:
    messages.error(request, error.message)


@login_required
@require_POST
def model_edit(request, name: str):
    model = _editor_model(request, name)
    form = DescriptionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("La descripción no es válida."))
        return redirect(_model_url(model.name))
    try:
        services.registered_model_update(model=model, description=form.cleaned_data["description"])
    except ApplicationError as error:
        _report(request, error)
    else:
        messages.success(request, _("Descripción del modelo guardada."))
    return redirect(_model_url(model.name))


@login_required
@require_POST
def alias_set(request, name: str):
    model = _editor_model(request, name)
    try:
        alias, version = services.alias_set(
            model=model,
            alias=(request.POST.get("alias") or "").strip(),
            version=request.POST.get("version"),
        )
    except ApplicationError as error:
        _report(request, error)
    else:
        messages.success(
            request,
            _("El alias «%(alias)s» apunta ahora a la versión %(version)s.")
            % {"alias": alias, "version": version},
        )
    return redirect(_model_url(model.name))


@login_required
@require_POST
def alias_delete(request, name: str, alias: str):
    model = _editor_model(request, name)
    try:
        services.alias_delete(model=model, alias=alias)
    except ApplicationError as error:
        _report(request, error)
    else:
        messages.success(request, _("Alias «%(alias)s» eliminado.") % {"alias": alias})
    return redirect(_model_url(model.name))


# --- one version ------------------------------------------------------------------------------


def _version_or_404(model, version: int):
    try:
        return model_version_get_for_model(model=model, version=version)
    except NotFoundError:
        raise Http404 from None


@login_required
@require_GET
def version_detail(request, name: str, version: int):
    model, membership = registered_model_get_for_user(user=request.user, name=name)
    context = {
        "model": model,
        "project": model.project,
        "number": version,
        "can_edit": membership.allows(Role.EDITOR),
        "mlflow_available": True,
    }
    try:
        info = _version_or_404(model, version)
    except MlflowUnavailable:
        context["mlflow_available"] = False
    else:
        experiment = (
            MLExperiment.objects.filter(project=model.project, mlflow_run_id=info.run_id)
            .select_related("dataset", "dataset_version")
            .first()
            if info.run_id
            else None
        )
        user_tags = {
            key: value
            for key, value in info.tags.items()
            if not key.startswith(("mlflow.", "cauce."))
        }
        context.update(
            info=info,
            experiment=experiment,
            user_tags=user_tags,
            edit_form=VersionEditForm(
                initial={
                    "description": info.description,
                    "tags": VersionEditForm.tags_text(user_tags),
                }
            ),
        )
    return render(request, "registry/version_detail.html", context)


@login_required
@require_POST
def version_edit(request, name: str, version: int):
    model = _editor_model(request, name)
    form = VersionEditForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, errors[0])
        return redirect(_version_url(model.name, version))
    try:
        services.model_version_update(
            model=model,
            version=version,
            description=form.cleaned_data["description"],
            tags=form.cleaned_data["tags"],
        )
    except ApplicationError as error:
        _report(request, error)
    else:
        messages.success(request, _("Versión %(version)s guardada.") % {"version": version})
    return redirect(_version_url(model.name, version))


@login_required
@require_http_methods(["GET", "POST"])
def version_delete(request, name: str, version: int):
    model = _editor_model(request, name)
    if request.method == "POST":
        try:
            services.model_version_delete(model=model, version=version)
        except ApplicationError as error:
            _report(request, error)
            return redirect(_model_url(model.name))
        messages.success(
            request,
            _("Versión %(version)s de «%(name)s» eliminada.")
            % {"version": version, "name": model.name},
        )
        return redirect(_model_url(model.name))
    context = {"model": model, "project": model.project, "number": version}
    try:
        context["info"] = _version_or_404(model, version)
    except MlflowUnavailable:
        context["mlflow_available"] = False
    return render(request, "registry/version_delete.html", context)


# --- compare ----------------------------------------------------------------------------------


@login_required
@require_GET
def versions_compare_view(request, name: str):
    model, _membership = registered_model_get_for_user(user=request.user, name=name)
    context = {"model": model, "project": model.project, "mlflow_available": True}
    try:
        rows = model_version_rows(model=model)
    except MlflowUnavailable:
        context["mlflow_available"] = False
        return render(request, "registry/compare.html", context)
    by_number = {row.info.version: row.info for row in rows}
    data = request.GET
    if "versions" not in data and len(by_number) >= 2:
        # Opened without a choice (a link, the address typed): the two newest versions, checked
        # in the picker, rather than an empty page.
        data = data.copy()
        data.setlist("versions", [str(number) for number in sorted(by_number)[-2:]])
    form = CompareForm(data or None, versions=sorted(by_number))
    context["form"] = form
    if form.is_bound and form.is_valid():
        chosen = form.cleaned_data["versions"][:MAX_COMPARED]
        try:
            context["comparison"] = versions_compare(
                model=model, versions=[by_number[number] for number in chosen]
            )
        except MlflowUnavailable:
            context["mlflow_available"] = False
    return render(request, "registry/compare.html", context)


# --- the experiment page's section -----------------------------------------------------------


def _experiment_section_context(request, experiment, membership) -> dict:
    can_edit = membership.allows(Role.EDITOR)
    context = {
        "experiment": experiment,
        "can_register": can_edit and experiment.status == MLExperiment.Status.FINISHED,
        "register_form": RegisterForm(
            initial={"name": services.registered_model_default_name(experiment=experiment)}
        ),
        "mlflow_available": True,
        "versions": None,
    }
    try:
        context["versions"] = experiment_model_versions(experiment=experiment, user=request.user)
    except MlflowUnavailable:
        context["mlflow_available"] = False
    return context


@login_required
@require_GET
def experiment_registry(request, pk):
    """The "Versiones registradas" list of an experiment (loaded by htmx after the page)."""
    experiment, membership = experiment_get_for_user(user=request.user, experiment_id=pk)
    context = _experiment_section_context(request, experiment, membership)
    return render(request, "registry/_experiment_versions.html", context)


@login_required
@require_POST
def experiment_register_model(request, pk):
    """Register the experiment's model in MLflow ("Registrar Modelo en MLflow"): POST only,
    editors; htmx swaps the section."""
    experiment, membership = experiment_get_for_user(
        user=request.user, experiment_id=pk, role=Role.EDITOR
    )
    form = RegisterForm(request.POST)
    name = form.cleaned_data["name"] if form.is_valid() else request.POST.get("name")
    level, message = messages.SUCCESS, ""
    try:
        registration = services.model_version_register(
            experiment=experiment, user=request.user, name=name
        )
    except ApplicationError as error:
        level, message = messages.ERROR, error.message
    else:
        version = registration.version
        url = _version_url(registration.model.name, version.version)
        if not registration.created:
            level = messages.INFO
            message = format_html(
                _("Este run ya está registrado como «{name}» versión {version}: {link}"),
                name=registration.model.name,
                version=version.version,
                link=format_html('<a href="{}">{}</a>', url, _("ver la versión")),
            )
        elif not registration.ready:
            level = messages.WARNING
            message = _(
                "«%(name)s» versión %(version)s está registrada, pero MLflow aún no la tiene "
                "lista (%(status)s)."
            ) % {
                "name": registration.model.name,
                "version": version.version,
                "status": version.status,
            }
        else:
            message = format_html(
                "{} {}",
                _("Modelo registrado exitosamente como '%(name)s' versión %(version)s")
                % {"name": registration.model.name, "version": version.version},
                format_html('<a href="{}">{}</a>', url, _("Ver en el registro")),
            )
    if request.htmx:
        context = _experiment_section_context(request, experiment, membership)
        context.update(result_level=messages.DEFAULT_TAGS[level], result_message=message)
        if level == messages.ERROR and name:
            context["register_form"] = RegisterForm(initial={"name": name})
        return render(request, "registry/_experiment_registry.html", context)
    messages.add_message(request, level, message)
    return redirect("experiments:ml_experiment_detail", pk=experiment.pk)


# --- a dataset version's lineage -------------------------------------------------------------


@login_required
@require_GET
def dataset_version_models(request, pk: int, version: int):
    """The model versions trained on a dataset version (loaded by htmx into its page)."""
    found = dataset_version_get_for_user(user=request.user, dataset_id=pk, version=version)
    context = {"mlflow_available": True, "model_versions": []}
    try:
        context["model_versions"] = dataset_version_model_versions(version=found, user=request.user)
    except MlflowUnavailable:
        context["mlflow_available"] = False
    return render(request, "registry/_dataset_version_models.html", context)
