from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cauce.core.exceptions import ApplicationError
from cauce.datasets import services
from cauce.datasets.forms import DatasetUploadForm
from cauce.datasets.kinds import KIND_LABELS
from cauce.datasets.selectors import dataset_experiments, dataset_get_for_user
from cauce.projects.models import Role
from cauce.projects.selectors import membership_get, project_get_for_user

DELIMITER_LABELS = {
    ",": gettext_lazy("coma (,)"),
    ";": gettext_lazy("punto y coma (;)"),
    "\t": gettext_lazy("tabulador"),
    "|": gettext_lazy("barra vertical (|)"),
}


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
            return redirect("datasets:dataset_detail", pk=dataset.pk)
    context = {"form": form, "project": project}
    return render(request, "datasets/dataset_form.html", context)


@login_required
@require_GET
def dataset_detail(request, pk: int):
    dataset = dataset_get_for_user(user=request.user, dataset_id=pk)
    membership = membership_get(user=request.user, project=dataset.project)
    rows = dataset.row_count or 0
    columns = [
        {
            **column,
            "kind_label": KIND_LABELS.get(column.get("kind"), column.get("kind")),
            "missing_pct": 100 * column["missing"] / rows if rows else 0,
        }
        for column in dataset.schema
    ]
    context = {
        "dataset": dataset,
        "project": dataset.project,
        "columns": columns,
        "delimiter_label": DELIMITER_LABELS.get(dataset.delimiter, dataset.delimiter),
        "preview": dataset.preview,
        "experiments": dataset_experiments(dataset=dataset),
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
