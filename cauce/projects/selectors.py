"""Reads scoped to the user: anything outside the user's projects does not exist for them."""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404

from cauce.projects.models import Membership, Project, Role


def projects_for_user(*, user: AbstractBaseUser) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    return Project.objects.filter(memberships__user=user)


def _count_of(model_label: str) -> Coalesce:
    # A correlated subquery per count: joining datasets and experiments at once would
    # multiply their rows (datasets x experiments) before counting.
    from django.apps import apps

    model = apps.get_model(model_label)
    counts = (
        model.objects.filter(project=OuterRef("pk"))
        .order_by()
        .values("project")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


def project_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Project]:
    """The user's projects with ``dataset_count``, ``experiment_count`` and the user's ``role``."""
    role = Membership.objects.filter(project=OuterRef("pk"), user_id=user.pk).values("role")[:1]
    return projects_for_user(user=user).annotate(
        dataset_count=_count_of("datasets.Dataset"),
        experiment_count=_count_of("experiments.MLExperiment"),
        role=Subquery(role),
    )


def membership_roles(*, user: AbstractBaseUser) -> dict[int, str]:
    """The user's role in each of their projects: {project id: role}."""
    if not user.is_authenticated:
        return {}
    return dict(Membership.objects.filter(user=user).values_list("project_id", "role"))


def membership_list(*, project: Project) -> QuerySet[Membership]:
    return Membership.objects.filter(project=project).select_related("user")


def membership_get_for_project(*, project: Project, user_id: int) -> Membership:
    """A member of the project by user id; 404 when that user is not a member."""
    membership = membership_list(project=project).filter(user_id=user_id).first()
    if membership is None:
        raise Http404
    return membership


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
