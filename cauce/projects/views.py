from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from cauce.core.exceptions import ApplicationError
from cauce.projects import services
from cauce.projects.forms import MembershipAddForm, MembershipRoleForm, ProjectForm
from cauce.projects.models import Role
from cauce.projects.selectors import (
    membership_get_for_project,
    membership_list,
    project_get_for_user,
    project_list_for_user,
)

# How many of the latest experiments the project page shows; the full list has its own page.
DETAIL_EXPERIMENT_LIMIT = 10


@login_required
def project_list(request):
    projects = project_list_for_user(user=request.user)
    context = {"projects": projects, "role_choices": Role.choices}
    return render(request, "projects/project_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request):
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                user=request.user,
            )
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Proyecto «%(name)s» creado.") % {"name": project.name})
            return redirect("projects:project_detail", pk=project.pk)
    return render(request, "projects/project_form.html", {"form": form, "project": None})


@login_required
def project_detail(request, pk: int):
    project, membership = project_get_for_user(user=request.user, project_id=pk)
    datasets = project.datasets.all()
    experiments = project.experiments.prefetch_related("tags")[:DETAIL_EXPERIMENT_LIMIT]
    context = {
        "project": project,
        "membership": membership,
        "can_edit": membership.allows(Role.EDITOR),
        "is_owner": membership.allows(Role.OWNER),
        "datasets": datasets,
        "experiments": experiments,
        "experiment_total": project.experiments.count(),
        "experiment_limit": DETAIL_EXPERIMENT_LIMIT,
    }
    return render(request, "projects/project_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def project_edit(request, pk: int):
    project, _membership = project_get_for_user(user=request.user, project_id=pk, role=Role.OWNER)
    # Not bound to the instance: an invalid POST must not alter the project shown on the page.
    initial = {"name": project.name, "description": project.description}
    form = ProjectForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.project_update(
                project=project,
                actor=request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
            )
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Proyecto actualizado."))
            return redirect("projects:project_detail", pk=project.pk)
    return render(request, "projects/project_form.html", {"form": form, "project": project})


@login_required
@require_http_methods(["GET", "POST"])
def project_members(request, pk: int):
    role_needed = Role.OWNER if request.method == "POST" else Role.VIEWER
    project, membership = project_get_for_user(user=request.user, project_id=pk, role=role_needed)
    form = MembershipAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            added = services.membership_add(
                project=project,
                actor=request.user,
                username=form.cleaned_data["username"],
                role=form.cleaned_data["role"],
            )
        except ApplicationError as error:
            form.add_error("username", error.message)
        else:
            messages.success(
                request,
                _("«%(username)s» se ha unido al proyecto como %(role)s.")
                % {"username": added.user.get_username(), "role": added.get_role_display()},
            )
            return redirect("projects:project_members", pk=project.pk)
    context = {
        "project": project,
        "membership": membership,
        "is_owner": membership.allows(Role.OWNER),
        "members": membership_list(project=project),
        "form": form,
        "role_choices": Role.choices,
    }
    return render(request, "projects/project_members.html", context)


@login_required
@require_POST
def project_member_role(request, pk: int, user_id: int):
    project, _membership = project_get_for_user(user=request.user, project_id=pk, role=Role.OWNER)
    member = membership_get_for_project(project=project, user_id=user_id)
    form = MembershipRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Elija un rol válido."))
        return redirect("projects:project_members", pk=project.pk)
    try:
        services.membership_change_role(
            membership=member, actor=request.user, role=form.cleaned_data["role"]
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("Ahora «%(username)s» es %(role)s.")
            % {"username": member.user.get_username(), "role": member.get_role_display()},
        )
    return redirect("projects:project_members", pk=project.pk)


@login_required
@require_POST
def project_member_remove(request, pk: int, user_id: int):
    project, _membership = project_get_for_user(user=request.user, project_id=pk, role=Role.OWNER)
    member = membership_get_for_project(project=project, user_id=user_id)
    try:
        services.membership_remove(membership=member, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("projects:project_members", pk=project.pk)
    messages.success(
        request,
        _("«%(username)s» ya no es miembro del proyecto.")
        % {"username": member.user.get_username()},
    )
    if member.user_id == request.user.pk:
        # Owners may leave a project that keeps another owner; then it is no longer theirs.
        return redirect("projects:project_list")
    return redirect("projects:project_members", pk=project.pk)
