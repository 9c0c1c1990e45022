from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cauce.core.exceptions import ApplicationError
from cauce.datasets import services
from cauce.datasets.charts import class_balance_svg
from cauce.datasets.forms import DatasetUploadForm, DatasetVersionUploadForm
from cauce.datasets.kinds import KIND_LABELS
from cauce.datasets.selectors import (
    dataset_experiments,
    dataset_get_for_user,
    dataset_version_get_for_user,
    dataset_version_identical,
    dataset_version_previous,
    dataset_versions,
    schema_diff,
)
from cauce.projects.models import Role
from cauce.projects.selectors import membership_get, project_get_for_user

DELIMITER_LABELS = {
    ",": gettext_lazy("coma (,)"),
    ";": gettext_lazy("punto y coma (;)"),
    "\t": gettext_lazy("tabulador"),
    "|": gettext_lazy("barra vertical (|)"),
}


def _identical_message(version):
    """The new dataset's file is that of «name» vN (a link to it)."""
    link = format_html(
        '<a href="{}" data-identical-to>«{}» v{}</a>',
        reverse("datasets:dataset_version_detail", args=[version.dataset_id, version.version]),
        version.dataset.name,
        version.version,
    )
    return format_html(
        _("Su contenido es idéntico al de {version} de este proyecto (la misma huella SHA-256)."),
        version=link,
    )


@login_required
@require_http_methods(["GET", "POST"])
def dataset_create(request, project_pk: int):
    project, _membership = project_get_for_user(
        user=request.user, project_id=project_pk, role=Role.EDITOR
    )
    form = DatasetUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            dataset = services.dataset_create(
                project=project,
                user=request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                file=form.cleaned_data["file"],
            )
        except ApplicationError as error:
            form.add_error("file", str(error.message))
        else:
            messages.success(
                request,
                _("Conjunto de datos «%(name)s» subido: %(rows)d filas, %(columns)d columnas.")
                % {
                    "name": dataset.name,
                    "rows": dataset.row_count,
                    "columns": dataset.column_count,
                },
            )
            identical = dataset_version_identical(dataset=dataset)
            if identical is not None:
                messages.info(request, _identical_message(identical))
            return redirect("datasets:dataset_detail", pk=dataset.pk)
    context = {"form": form, "project": project}
    return render(request, "datasets/dataset_form.html", context)


def _schema_rows(data) -> list[dict]:
    """The schema table's rows of a dataset or a version."""
    rows = data.row_count or 0
    return [
        {
            **column,
            "kind_label": KIND_LABELS.get(column.get("kind"), column.get("kind")),
            "missing_pct": 100 * column["missing"] / rows if rows else 0,
        }
        for column in data.schema
    ]


def _statistics_rows(dataset) -> list[dict]:
    """Each column's statistics as the page shows them (numbers, then the top values)."""
    rows = []
    for column in dataset.schema:
        stats = dataset.statistics.get(column["name"])
        if stats is None:
            continue
        rows.append(
            {
                "name": column["name"],
                "numeric": "mean" in stats,
                "numbers": [stats.get(key) for key in ("min", "max", "mean", "std")],
                "top": stats.get("top", []) if "mean" not in stats else [],
                "distinct": stats.get("distinct"),
            }
        )
    return rows


def _class_balances(dataset, experiments) -> list[dict]:
    """A bar chart of each column an experiment predicts as classes (its value counts)."""
    targets = []
    for experiment in experiments:
        if experiment.task_type == "classification" and experiment.target_column not in targets:
            targets.append(experiment.target_column)
    charts = []
    for target in targets:
        top = dataset.statistics.get(target, {}).get("top")
        if not top:
            continue
        counts = [(str(value), int(count), number_format(count)) for value, count in top]
        title = _("Balance de clases de «%(column)s»") % {"column": target}
        distinct = dataset.statistics[target].get("distinct", len(top))
        charts.append(
            {
                "column": target,
                "svg": class_balance_svg(counts=counts, title=title),
                "more": max(distinct - len(top), 0),
            }
        )
    return charts


@login_required
@require_GET
def dataset_detail(request, pk: int):
    dataset = dataset_get_for_user(user=request.user, dataset_id=pk)
    membership = membership_get(user=request.user, project=dataset.project)
    columns = _schema_rows(dataset)
    experiments = dataset_experiments(dataset=dataset)
    context = {
        "dataset": dataset,
        "project": dataset.project,
        "columns": columns,
        "statistics": _statistics_rows(dataset),
        "balances": _class_balances(dataset, experiments),
        "delimiter_label": DELIMITER_LABELS.get(dataset.delimiter, dataset.delimiter),
        "preview": dataset.preview,
        "experiments": experiments,
        "versions": dataset_versions(dataset=dataset),
        "can_edit": membership.allows(Role.EDITOR),
    }
    return render(request, "datasets/dataset_detail.html", context)


@login_required
@require_GET
def dataset_download(request, pk: int):
    dataset = dataset_get_for_user(user=request.user, dataset_id=pk)
    try:
        handle = dataset.file.open("rb")
    except FileNotFoundError as error:
        raise Http404(_("El archivo del conjunto de datos ya no está disponible.")) from error
    return FileResponse(handle, as_attachment=True, filename=dataset.original_filename)


@login_required
@require_POST
def dataset_delete(request, pk: int):
    dataset = dataset_get_for_user(user=request.user, dataset_id=pk, role=Role.EDITOR)
    project = dataset.project
    try:
        services.dataset_delete(dataset=dataset, user=request.user)
    except ApplicationError as error:
        messages.error(request, str(error.message))
        return redirect("datasets:dataset_detail", pk=pk)
    messages.success(request, _("Conjunto de datos «%(name)s» eliminado.") % {"name": dataset.name})
    return redirect("projects:project_detail", pk=project.pk)


# --- versions ---------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def dataset_version_create(request, pk: int):
    dataset = dataset_get_for_user(user=request.user, dataset_id=pk, role=Role.EDITOR)
    form = DatasetVersionUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            upload = services.dataset_version_create(
                dataset=dataset, user=request.user, file=form.cleaned_data["file"]
            )
        except ApplicationError as error:
            form.add_error("file", str(error.message))
        else:
            version = upload.version
            if upload.created:
                messages.success(
                    request,
                    _("Versión %(version)d de «%(name)s» subida: %(rows)d filas, %(columns)d "
                      "columnas.")
                    % {
                        "version": version.version,
                        "name": dataset.name,
                        "rows": version.row_count,
                        "columns": version.column_count,
                    },
                )  # fmt: skip
            else:
                messages.info(
                    request,
                    _("El archivo es idéntico a la versión %(version)d: no se ha creado ninguna "
                      "versión nueva.") % {"version": version.version},
                )  # fmt: skip
            return redirect(
                "datasets:dataset_version_detail", pk=dataset.pk, version=version.version
            )
    context = {"form": form, "dataset": dataset, "project": dataset.project}
    return render(request, "datasets/version_form.html", context)


@login_required
@require_GET
def dataset_version_detail(request, pk: int, version: int):
    found = dataset_version_get_for_user(user=request.user, dataset_id=pk, version=version)
    dataset = found.dataset
    membership = membership_get(user=request.user, project=dataset.project)
    previous = dataset_version_previous(version=found)
    experiments = found.experiments.prefetch_related("tags").order_by("-created_at")
    # The sweeps by the relation's name (cauce.registry.lineage lists the same for the API).
    sweeps = found.sweeps.order_by("-created_at", "pk")
    context = {
        "dataset": dataset,
        "project": dataset.project,
        "version": found,
        "previous": previous,
        "diff": schema_diff(before=previous, after=found) if previous else None,
        "columns": _schema_rows(found),
        "delimiter_label": DELIMITER_LABELS.get(found.delimiter, found.delimiter),
        "experiments": experiments,
        "sweeps": sweeps,
        "is_latest": dataset.latest_version_id == found.pk,
        "is_only": dataset.versions.count() == 1,
        "can_edit": membership.allows(Role.EDITOR),
    }
    return render(request, "datasets/version_detail.html", context)


@login_required
@require_GET
def dataset_version_download(request, pk: int, version: int):
    found = dataset_version_get_for_user(user=request.user, dataset_id=pk, version=version)
    try:
        handle = found.file.open("rb")
    except FileNotFoundError as error:
        raise Http404(_("El archivo del conjunto de datos ya no está disponible.")) from error
    return FileResponse(handle, as_attachment=True, filename=found.original_filename)


@login_required
@require_POST
def dataset_version_delete(request, pk: int, version: int):
    found = dataset_version_get_for_user(
        user=request.user, dataset_id=pk, version=version, role=Role.EDITOR
    )
    try:
        services.dataset_version_delete(version=found, user=request.user)
    except ApplicationError as error:
        messages.error(request, str(error.message))
        return redirect("datasets:dataset_version_detail", pk=pk, version=version)
    messages.success(
        request,
        _("Versión %(version)d de «%(name)s» eliminada.")
        % {"version": found.version, "name": found.dataset.name},
    )
    return redirect("datasets:dataset_detail", pk=pk)
