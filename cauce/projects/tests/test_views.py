import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from cauce.projects.models import Membership, Project, Role

pytestmark = pytest.mark.django_db


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _url(name: str, *args) -> str:
    return reverse(f"projects:{name}", args=args)


# --- project_list ------------------------------------------------------------------------


def test_list_redirects_anonymous_users_to_login(client):
    response = client.get(_url("project_list"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_list_shows_only_the_users_projects_with_a_create_button(
    owner_client, project, other_project
):
    response = owner_client.get(_url("project_list"))
    assert response.status_code == 200
    assert [p.pk for p in response.context["projects"]] == [project.pk]
    assert b"Iris lab" in response.content
    assert b"Outsider" not in response.content
    assert _url("project_create").encode() in response.content
    assert "Propietario" in response.content.decode()


def test_list_shows_the_dataset_and_experiment_counts(owner_client, project):
    response = owner_client.get(_url("project_list"))
    listed = response.context["projects"][0]
    assert (listed.dataset_count, listed.experiment_count) == (0, 0)


def test_list_says_so_when_the_user_has_no_projects(outsider_client):
    response = outsider_client.get(_url("project_list"))
    assert "Todavía no participa en ningún proyecto" in response.content.decode()


# --- project_create ----------------------------------------------------------------------


def test_create_redirects_anonymous_users_to_login(client):
    response = client.post(_url("project_create"), {"name": "X"})
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert not Project.objects.exists()


def test_create_shows_the_form(outsider_client):
    response = outsider_client.get(_url("project_create"))
    assert response.status_code == 200
    assert b'name="name"' in response.content


def test_create_makes_the_user_owner_and_redirects_to_the_project(outsider_client, outsider):
    response = outsider_client.post(
        _url("project_create"), {"name": "  Churn  ", "description": "Bajas"}
    )
    project = Project.objects.get(name="Churn")
    assert response.status_code == 302
    assert response.url == _url("project_detail", project.pk)
    assert Membership.objects.get(project=project).user == outsider
    assert Membership.objects.get(project=project).role == Role.OWNER
    assert _messages(response) == ["Proyecto «Churn» creado."]


def test_create_rejects_a_blank_name(outsider_client):
    response = outsider_client.post(_url("project_create"), {"name": "   "})
    assert response.status_code == 200
    assert response.context["form"].errors["name"]
    assert not Project.objects.exists()


# --- project_detail ----------------------------------------------------------------------


def test_detail_redirects_anonymous_users_to_login(client, project):
    response = client.get(_url("project_detail", project.pk))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_detail_is_404_for_an_outsider(outsider_client, project):
    assert outsider_client.get(_url("project_detail", project.pk)).status_code == 404


def test_detail_is_404_for_a_project_that_does_not_exist(owner_client, project):
    assert owner_client.get(_url("project_detail", project.pk + 1000)).status_code == 404


def test_detail_shows_the_description_and_empty_sections(owner_client, project):
    project.description = "Clasificar flores"
    project.save()
    response = owner_client.get(_url("project_detail", project.pk))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Clasificar flores" in body
    assert "Todavía no hay conjuntos de datos." in body
    assert "Todavía no hay experimentos." in body


def test_detail_shows_edit_and_members_links_to_the_owner(owner_client, project):
    body = owner_client.get(_url("project_detail", project.pk)).content.decode()
    assert _url("project_edit", project.pk) in body
    assert _url("project_members", project.pk) in body


def test_detail_hides_the_edit_link_from_a_viewer(viewer_client, project):
    response = viewer_client.get(_url("project_detail", project.pk))
    body = response.content.decode()
    assert response.status_code == 200
    assert _url("project_edit", project.pk) not in body
    assert _url("project_members", project.pk) in body
    assert response.context["can_edit"] is False


def test_detail_lets_an_editor_create_but_not_edit_the_project(editor_client, project):
    response = editor_client.get(_url("project_detail", project.pk))
    assert response.context["can_edit"] is True
    assert response.context["is_owner"] is False
    assert _url("project_edit", project.pk) not in response.content.decode()


# --- project_edit ------------------------------------------------------------------------


def test_edit_redirects_anonymous_users_to_login(client, project):
    response = client.get(_url("project_edit", project.pk))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_edit_is_404_for_an_outsider(outsider_client, project):
    assert outsider_client.post(_url("project_edit", project.pk), {"name": "X"}).status_code == 404


def test_edit_is_403_for_an_editor(editor_client, project):
    assert editor_client.get(_url("project_edit", project.pk)).status_code == 403


def test_edit_is_403_for_a_viewer_posting(viewer_client, project):
    response = viewer_client.post(_url("project_edit", project.pk), {"name": "Hackeado"})
    assert response.status_code == 403
    project.refresh_from_db()
    assert project.name == "Iris lab"


def test_edit_shows_the_current_values(owner_client, project):
    response = owner_client.get(_url("project_edit", project.pk))
    assert response.status_code == 200
    assert 'value="Iris lab"' in response.content.decode()


def test_edit_updates_the_project(owner_client, project):
    response = owner_client.post(
        _url("project_edit", project.pk), {"name": "Iris 2", "description": "Nueva"}
    )
    assert response.status_code == 302
    assert response.url == _url("project_detail", project.pk)
    project.refresh_from_db()
    assert (project.name, project.description) == ("Iris 2", "Nueva")
    assert _messages(response) == ["Proyecto actualizado."]


def test_edit_rejects_a_blank_name_and_keeps_the_old_one(owner_client, project):
    response = owner_client.post(_url("project_edit", project.pk), {"name": " "})
    assert response.status_code == 200
    assert response.context["form"].errors["name"]
    assert response.context["project"].name == "Iris lab"
    project.refresh_from_db()
    assert project.name == "Iris lab"


# --- project_members ---------------------------------------------------------------------


def test_members_redirects_anonymous_users_to_login(client, project):
    response = client.get(_url("project_members", project.pk))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_members_is_404_for_an_outsider(outsider_client, project):
    assert outsider_client.get(_url("project_members", project.pk)).status_code == 404


def test_members_lists_every_member_to_a_viewer_without_controls(viewer_client, project):
    response = viewer_client.get(_url("project_members", project.pk))
    body = response.content.decode()
    assert response.status_code == 200
    for username in ("olga", "eduardo", "vera"):
        assert username in body
    assert "Añadir miembro" not in body
    assert "Quitar" not in body


def test_members_shows_add_change_and_remove_to_the_owner(owner_client, project, editor):
    body = owner_client.get(_url("project_members", project.pk)).content.decode()
    assert "Añadir miembro" in body
    assert _url("project_member_role", project.pk, editor.pk) in body
    assert _url("project_member_remove", project.pk, editor.pk) in body


def test_members_add_is_403_for_a_viewer(viewer_client, project, outsider):
    response = viewer_client.post(
        _url("project_members", project.pk), {"username": "otto", "role": Role.OWNER}
    )
    assert response.status_code == 403
    assert not project.memberships.filter(user=outsider).exists()


def test_members_add_is_403_for_an_editor(editor_client, project, outsider):
    response = editor_client.post(
        _url("project_members", project.pk), {"username": "otto", "role": Role.VIEWER}
    )
    assert response.status_code == 403
    assert not project.memberships.filter(user=outsider).exists()


def test_members_add_adds_the_user_with_the_role(owner_client, project, outsider):
    response = owner_client.post(
        _url("project_members", project.pk), {"username": "otto", "role": Role.EDITOR}
    )
    assert response.status_code == 302
    assert project.memberships.get(user=outsider).role == Role.EDITOR
    assert _messages(response) == ["«otto» se ha unido al proyecto como Editor."]


def test_members_add_reports_an_unknown_username(owner_client, project):
    response = owner_client.post(
        _url("project_members", project.pk), {"username": "nadie", "role": Role.VIEWER}
    )
    assert response.status_code == 200
    assert "No existe ningún usuario con el nombre «nadie»." in response.content.decode()
    assert project.memberships.count() == 3


def test_members_add_reports_an_existing_member(owner_client, project):
    response = owner_client.post(
        _url("project_members", project.pk), {"username": "vera", "role": Role.OWNER}
    )
    assert response.status_code == 200
    assert "«vera» ya es miembro de este proyecto." in response.content.decode()
    assert project.memberships.get(user__username="vera").role == Role.VIEWER


def test_member_role_is_404_for_an_outsider(outsider_client, project, viewer):
    response = outsider_client.post(
        _url("project_member_role", project.pk, viewer.pk), {"role": Role.OWNER}
    )
    assert response.status_code == 404
    assert project.memberships.get(user=viewer).role == Role.VIEWER


def test_member_role_is_403_for_a_viewer(viewer_client, project, viewer):
    response = viewer_client.post(
        _url("project_member_role", project.pk, viewer.pk), {"role": Role.OWNER}
    )
    assert response.status_code == 403
    assert project.memberships.get(user=viewer).role == Role.VIEWER


def test_member_role_rejects_get(owner_client, project, viewer):
    assert owner_client.get(_url("project_member_role", project.pk, viewer.pk)).status_code == 405


def test_member_role_is_404_for_a_user_outside_the_project(owner_client, project, outsider):
    response = owner_client.post(
        _url("project_member_role", project.pk, outsider.pk), {"role": Role.EDITOR}
    )
    assert response.status_code == 404


def test_member_role_changes_the_role(owner_client, project, viewer):
    response = owner_client.post(
        _url("project_member_role", project.pk, viewer.pk), {"role": Role.EDITOR}
    )
    assert response.status_code == 302
    assert response.url == _url("project_members", project.pk)
    assert project.memberships.get(user=viewer).role == Role.EDITOR
    assert _messages(response) == ["Ahora «vera» es Editor."]


def test_member_role_refuses_to_demote_the_last_owner(owner_client, project, owner):
    response = owner_client.post(
        _url("project_member_role", project.pk, owner.pk), {"role": Role.VIEWER}
    )
    assert response.status_code == 302
    assert project.memberships.get(user=owner).role == Role.OWNER
    assert "al menos un propietario" in _messages(response)[0]


def test_member_role_rejects_an_unknown_role(owner_client, project, viewer):
    response = owner_client.post(
        _url("project_member_role", project.pk, viewer.pk), {"role": "admin"}
    )
    assert response.status_code == 302
    assert project.memberships.get(user=viewer).role == Role.VIEWER
    assert _messages(response) == ["Elija un rol válido."]


def test_member_remove_is_404_for_an_outsider(outsider_client, project, viewer):
    response = outsider_client.post(_url("project_member_remove", project.pk, viewer.pk))
    assert response.status_code == 404
    assert project.memberships.filter(user=viewer).exists()


def test_member_remove_is_403_for_an_editor(editor_client, project, viewer):
    response = editor_client.post(_url("project_member_remove", project.pk, viewer.pk))
    assert response.status_code == 403
    assert project.memberships.filter(user=viewer).exists()


def test_member_remove_removes_the_member(owner_client, project, viewer):
    response = owner_client.post(_url("project_member_remove", project.pk, viewer.pk))
    assert response.status_code == 302
    assert not project.memberships.filter(user=viewer).exists()
    assert _messages(response) == ["«vera» ya no es miembro del proyecto."]


def test_member_remove_refuses_to_remove_the_last_owner(owner_client, project, owner):
    response = owner_client.post(_url("project_member_remove", project.pk, owner.pk))
    assert response.status_code == 302
    assert response.url == _url("project_members", project.pk)
    assert project.memberships.filter(user=owner).exists()
    assert "no se puede quitar al último" in _messages(response)[0]


def test_an_owner_who_leaves_goes_back_to_the_project_list(owner_client, project, owner, editor):
    project.memberships.filter(user=editor).update(role=Role.OWNER)
    response = owner_client.post(_url("project_member_remove", project.pk, owner.pk))
    assert response.status_code == 302
    assert response.url == _url("project_list")
    assert not project.memberships.filter(user=owner).exists()


@pytest.mark.parametrize("name", ["project_member_role", "project_member_remove"])
def test_member_changes_redirect_anonymous_users_to_login(client, project, viewer, name):
    response = client.post(_url(name, project.pk, viewer.pk), {"role": Role.OWNER})
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert project.memberships.get(user=viewer).role == Role.VIEWER
