import pytest
from django.core.exceptions import ValidationError

from cauce.core.exceptions import ApplicationError, PermissionDeniedError
from cauce.projects import services
from cauce.projects.models import Membership, Project, Role

pytestmark = pytest.mark.django_db


def test_project_create_makes_the_user_its_owner(owner):
    project = services.project_create(name="  Churn  ", description=" Clientes ", user=owner)
    assert project.name == "Churn"
    assert project.description == "Clientes"
    assert project.created_by == owner
    membership = Membership.objects.get(project=project)
    assert (membership.user, membership.role) == (owner, Role.OWNER)


def test_project_create_rejects_a_blank_name(owner):
    with pytest.raises(ApplicationError, match="obligatorio"):
        services.project_create(name="   ", user=owner)
    assert not Project.objects.exists()


def test_project_create_rejects_a_name_too_long(owner):
    with pytest.raises(ValidationError) as excinfo:
        services.project_create(name="x" * 121, user=owner)
    assert "name" in excinfo.value.message_dict
    assert not Project.objects.exists()
    assert not Membership.objects.exists()


def test_project_update_changes_only_the_given_fields(project, owner):
    project.description = "Antes"
    project.save()
    services.project_update(project=project, actor=owner, name=" Iris 2 ")
    project.refresh_from_db()
    assert (project.name, project.description) == ("Iris 2", "Antes")


def test_project_update_refuses_an_editor(project, editor):
    with pytest.raises(PermissionDeniedError):
        services.project_update(project=project, actor=editor, name="Otro")
    project.refresh_from_db()
    assert project.name == "Iris lab"


def test_membership_add_adds_a_user_with_the_role(project, owner, outsider):
    membership = services.membership_add(
        project=project, actor=owner, username=" otto ", role=Role.EDITOR
    )
    assert (membership.user, membership.role) == (outsider, Role.EDITOR)


def test_membership_add_rejects_an_unknown_username(project, owner):
    with pytest.raises(ApplicationError, match="No existe ningún usuario con el nombre «nadie»"):
        services.membership_add(project=project, actor=owner, username="nadie", role=Role.VIEWER)


def test_membership_add_rejects_an_existing_member(project, owner):
    with pytest.raises(ApplicationError, match="«vera» ya es miembro"):
        services.membership_add(project=project, actor=owner, username="vera", role=Role.EDITOR)
    assert project.memberships.get(user__username="vera").role == Role.VIEWER


def test_membership_add_rejects_an_unknown_role(project, owner, outsider):
    with pytest.raises(ApplicationError, match="rol"):
        services.membership_add(project=project, actor=owner, username="otto", role="admin")
    assert not project.memberships.filter(user=outsider).exists()


def test_membership_add_refuses_a_non_owner(project, editor, outsider):
    with pytest.raises(PermissionDeniedError):
        services.membership_add(project=project, actor=editor, username="otto", role=Role.OWNER)
    assert not project.memberships.filter(user=outsider).exists()


def test_membership_change_role_changes_it(project, owner, viewer):
    membership = project.memberships.get(user=viewer)
    services.membership_change_role(membership=membership, actor=owner, role=Role.EDITOR)
    membership.refresh_from_db()
    assert membership.role == Role.EDITOR


def test_membership_change_role_refuses_to_demote_the_last_owner(project, owner):
    membership = project.memberships.get(user=owner)
    with pytest.raises(ApplicationError, match="al menos un propietario"):
        services.membership_change_role(membership=membership, actor=owner, role=Role.EDITOR)
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_an_owner_can_step_down_when_another_owner_remains(project, owner, editor):
    services.membership_change_role(
        membership=project.memberships.get(user=editor), actor=owner, role=Role.OWNER
    )
    mine = project.memberships.get(user=owner)
    services.membership_change_role(membership=mine, actor=owner, role=Role.VIEWER)
    mine.refresh_from_db()
    assert mine.role == Role.VIEWER


def test_membership_remove_removes_a_member(project, owner, editor):
    services.membership_remove(membership=project.memberships.get(user=editor), actor=owner)
    assert not project.memberships.filter(user=editor).exists()


def test_membership_remove_refuses_to_remove_the_last_owner(project, owner):
    with pytest.raises(ApplicationError, match="no se puede quitar al último"):
        services.membership_remove(membership=project.memberships.get(user=owner), actor=owner)
    assert project.memberships.filter(user=owner, role=Role.OWNER).exists()


def test_membership_remove_allows_removing_an_owner_when_another_remains(project, owner, editor):
    services.membership_change_role(
        membership=project.memberships.get(user=editor), actor=owner, role=Role.OWNER
    )
    services.membership_remove(membership=project.memberships.get(user=owner), actor=editor)
    assert list(project.memberships.filter(role=Role.OWNER).values_list("user", flat=True)) == [
        editor.pk
    ]


def test_membership_remove_refuses_a_viewer(project, viewer, editor):
    with pytest.raises(PermissionDeniedError):
        services.membership_remove(membership=project.memberships.get(user=editor), actor=viewer)
    assert project.memberships.filter(user=editor).exists()
