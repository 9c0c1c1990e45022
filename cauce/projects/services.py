"""Writes on projects and their members; the business rules live here, not in views."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext as _

from cauce.core.exceptions import ApplicationError, ConflictError, PermissionDeniedError
from cauce.projects.models import Membership, Project, Role
from cauce.projects.selectors import membership_get


def _require_owner(*, project: Project, actor: AbstractBaseUser) -> None:
    membership = membership_get(user=actor, project=project)
    if membership is None or not membership.allows(Role.OWNER):
        raise PermissionDeniedError(_("Solo los propietarios del proyecto pueden hacer esto."))


def _validate_role(role: str) -> Role:
    if role not in Role.values:
        raise ApplicationError(_("El rol «%(role)s» no existe.") % {"role": role})
    return Role(role)


def _clean_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise ApplicationError(
            _("El nombre del proyecto es obligatorio."), {"name": [_("Este campo es obligatorio.")]}
        )
    return name


def _other_owners_exist(*, membership: Membership) -> bool:
    # Lock the owner rows so two concurrent demotions cannot both see "another owner".
    owners = (
        Membership.objects.select_for_update()
        .filter(project_id=membership.project_id, role=Role.OWNER)
        .exclude(pk=membership.pk)
    )
    return owners.exists()


@transaction.atomic
def project_create(*, name: str, user: AbstractBaseUser, description: str = "") -> Project:
    project = Project(name=_clean_name(name), description=description.strip(), created_by=user)
    project.full_clean()
    project.save()
    membership = Membership(project=project, user=user, role=Role.OWNER)
    membership.full_clean()
    membership.save()
    return project


@transaction.atomic
def project_update(
    *,
    project: Project,
    actor: AbstractBaseUser,
    name: str | None = None,
    description: str | None = None,
) -> Project:
    """Change the name and/or description; None leaves a field as it is."""
    _require_owner(project=project, actor=actor)
    fields = []
    if name is not None:
        project.name = _clean_name(name)
        fields.append("name")
    if description is not None:
        project.description = description.strip()
        fields.append("description")
    if fields:
        project.full_clean()
        project.save(update_fields=[*fields, "updated_at"])
    return project


@transaction.atomic
def membership_add(
    *, project: Project, actor: AbstractBaseUser, username: str, role: str
) -> Membership:
    _require_owner(project=project, actor=actor)
    role = _validate_role(role)
    username = (username or "").strip()
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise ApplicationError(
            _("No existe ningún usuario con el nombre «%(username)s».") % {"username": username},
            {"username": [_("Usuario desconocido.")]},
        )
    if Membership.objects.filter(project=project, user=user).exists():
        raise ApplicationError(
            _("«%(username)s» ya es miembro de este proyecto.") % {"username": username},
            {"username": [_("Ya es miembro.")]},
        )
    membership = Membership(project=project, user=user, role=role)
    membership.full_clean()
    membership.save()
    return membership


@transaction.atomic
def membership_change_role(
    *, membership: Membership, actor: AbstractBaseUser, role: str
) -> Membership:
    _require_owner(project=membership.project, actor=actor)
    role = _validate_role(role)
    if role == membership.role:
        return membership
    if membership.role == Role.OWNER and not _other_owners_exist(membership=membership):
        raise ConflictError(
            _("Un proyecto debe tener al menos un propietario: el último no puede cambiar de rol.")
        )
    membership.role = role
    membership.full_clean()
    membership.save(update_fields=["role", "updated_at"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: AbstractBaseUser) -> None:
    _require_owner(project=membership.project, actor=actor)
    if membership.role == Role.OWNER and not _other_owners_exist(membership=membership):
        raise ConflictError(
            _("Un proyecto debe tener al menos un propietario: no se puede quitar al último.")
        )
    membership.delete()
