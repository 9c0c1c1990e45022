"""Writes on projects and their members; the business rules live here, not in views."""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext as _

from cauce.core.exceptions import ApplicationError, ConflictError, PermissionDeniedError
from cauce.projects.models import Membership, Project, Role
from cauce.projects.selectors import membership_get

logger = logging.getLogger(__name__)


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
    renamed = False
    if name is not None:
        name = _clean_name(name)
        renamed = name != project.name
        project.name = name
        fields.append("name")
    if description is not None:
        project.description = description.strip()
        fields.append("description")
    if fields:
        project.full_clean()
        project.save(update_fields=[*fields, "updated_at"])
    if renamed and project.mlflow_experiment_id:
        project_id = project.pk
        transaction.on_commit(lambda: project_mlflow_rename_enqueue(project_id=project_id))
    return project


# --- the project's MLflow experiment ------------------------------------------------------------


def project_mlflow_experiment_ensure(*, project: Project) -> str:
    """The id of the project's MLflow experiment (worker): found or created, named after the
    project (``Project.mlflow_experiment_name``), tagged ``cauce.project_id``, and kept on the
    project. An experiment of the old name (``cauce-project-<id>``) is renamed."""
    from cauce.integrations.mlflow import tracking

    # The name as committed now: a rename since the project was read must not be undone.
    project.refresh_from_db(fields=["name", "mlflow_experiment_id"])
    experiment_id = tracking.project_experiment_ensure(
        project_id=str(project.pk),
        name=project.mlflow_experiment_name,
        known_id=project.mlflow_experiment_id,
        legacy_name=project.mlflow_legacy_experiment_name,
    )
    if project.mlflow_experiment_id != experiment_id:
        project.mlflow_experiment_id = experiment_id
        project.save(update_fields=["mlflow_experiment_id", "updated_at"])
    return experiment_id


def project_mlflow_rename(*, project_id: int) -> None:
    """Give the project's MLflow experiment the project's current name (a replay, or an
    older message arriving late, writes the same latest name). Nothing to do before the
    first run created it; an experiment deleted in MLflow is left alone."""
    from cauce.integrations.mlflow import MlflowNotFound, tracking

    project = Project.objects.filter(pk=project_id).first()
    if project is None or not project.mlflow_experiment_id:
        return
    try:
        tracking.project_experiment_rename(
            experiment_id=project.mlflow_experiment_id,
            project_id=str(project.pk),
            name=project.mlflow_experiment_name,
        )
    except MlflowNotFound:
        logger.warning(
            "Project %s: its MLflow experiment %s no longer exists; the next run finds or "
            "creates one",
            project.pk,
            project.mlflow_experiment_id,
        )


def project_mlflow_rename_enqueue(*, project_id: int) -> None:
    """Send the rename; a broker that refuses it fails nothing (the project's next run
    renames the experiment)."""
    from cauce.projects.tasks import project_mlflow_rename_task

    try:
        project_mlflow_rename_task.apply_async(
            args=[project_id], queue=settings.TAG_SYNC_QUEUE or None
        )
    except Exception:
        logger.exception("Could not send the MLflow rename of project %s", project_id)


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
