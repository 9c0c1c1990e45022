"""Reads scoped to the user: anything outside the user's projects does not exist for them."""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import Http404

from cauce.projects.models import Membership, Project, Role


def projects_for_user(*, user: AbstractBaseUser) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    return Project.objects.filter(memberships__user=user)


def project_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Project]:
    return projects_for_user(user=user).annotate(
        dataset_count=Count("datasets", distinct=True),
        experiment_count=Count("experiments", distinct=True),
    )


def membership_get(*, user: AbstractBaseUser, project: Project) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(project=project, user=user).first()


def project_get_for_user(
    *, user: AbstractBaseUser, project_id: int, role: str = Role.VIEWER
) -> tuple[Project, Membership]:
    """The project and the user's membership; 404 for outsiders, 403 for too low a role."""
    membership = (
        Membership.objects.select_related("project")
        .filter(project_id=project_id, user_id=getattr(user, "pk", None))
        .first()
    )
    if membership is None:
        raise Http404
    if not membership.allows(role):
        raise PermissionDenied
    return membership.project, membership


def require_role(*, user: AbstractBaseUser, project: Project, role: str) -> Membership:
    """Check the user's role on a project already loaded (e.g. through an experiment)."""
    membership = membership_get(user=user, project=project)
    if membership is None:
        raise Http404
    if not membership.allows(role):
        raise PermissionDenied
    return membership
