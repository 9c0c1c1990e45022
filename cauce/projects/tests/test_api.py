import pytest

from cauce.projects.models import Membership, Project, Role
from tests.fixtures.core import assert_authentication_required

pytestmark = pytest.mark.django_db


def _project_url(project) -> str:
    return f"/api/projects/{project.pk}/"


def _members_url(project) -> str:
    return f"/api/projects/{project.pk}/members/"


def _member_url(project, user) -> str:
    return f"/api/projects/{project.pk}/members/{user.pk}/"


# --- /api/projects/ ----------------------------------------------------------------------


def test_list_requires_authentication(api_client, project):
    response = api_client.get("/api/projects/")
    assert_authentication_required(response)


def test_list_returns_only_the_users_projects(owner_api, project, other_project):
    response = owner_api.get("/api/projects/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [item] = body["results"]
    assert item["id"] == project.pk
    assert item["name"] == "Iris lab"
    assert item["role"] == Role.OWNER
    assert (item["dataset_count"], item["experiment_count"]) == (0, 0)


def test_list_is_empty_for_a_user_without_projects(api_client, django_user_model, project):
    api_client.force_authenticate(django_user_model.objects.create_user("nadie"))
    assert api_client.get("/api/projects/").json()["count"] == 0


def test_create_makes_the_user_owner(outsider_api, outsider):
    response = outsider_api.post(
        "/api/projects/", {"name": " Churn ", "description": "Bajas"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    project = Project.objects.get(pk=body["id"])
    assert (project.name, body["name"], body["role"]) == ("Churn", "Churn", Role.OWNER)
    assert Membership.objects.get(project=project).user == outsider


def test_create_rejects_a_blank_name_with_a_message(outsider_api):
    response = outsider_api.post("/api/projects/", {"name": "  "}, format="json")
    assert response.status_code == 400
    assert response.json()["message"]
    assert not Project.objects.exists()


def test_create_requires_authentication(api_client):
    response = api_client.post("/api/projects/", {"name": "X"}, format="json")
    assert_authentication_required(response)
    assert not Project.objects.exists()


# --- /api/projects/{id}/ -----------------------------------------------------------------


def test_detail_is_404_for_an_outsider(outsider_api, project):
    response = outsider_api.get(_project_url(project))
    assert response.status_code == 404
    assert response.json()["message"]


def test_detail_requires_authentication(api_client, project):
    response = api_client.get(_project_url(project))
    assert_authentication_required(response)


def test_detail_returns_the_project_with_the_users_role(editor_api, project):
    response = editor_api.get(_project_url(project))
    assert response.status_code == 200
    assert response.json()["id"] == project.pk
    assert response.json()["role"] == Role.EDITOR


def test_patch_updates_the_given_fields(owner_api, project):
    response = owner_api.patch(_project_url(project), {"description": "Flores"}, format="json")
    assert response.status_code == 200
    assert response.json()["description"] == "Flores"
    project.refresh_from_db()
    assert (project.name, project.description) == ("Iris lab", "Flores")


def test_patch_is_403_for_an_editor(editor_api, project):
    response = editor_api.patch(_project_url(project), {"name": "Otro"}, format="json")
    assert response.status_code == 403
    assert response.json()["message"]
    project.refresh_from_db()
    assert project.name == "Iris lab"


def test_patch_is_404_for_an_outsider(outsider_api, project):
    response = outsider_api.patch(_project_url(project), {"name": "Otro"}, format="json")
    assert response.status_code == 404
    project.refresh_from_db()
    assert project.name == "Iris lab"


def test_patch_rejects_a_blank_name(owner_api, project):
    response = owner_api.patch(_project_url(project), {"name": " "}, format="json")
    assert response.status_code == 400
    assert response.json()["message"]


def test_put_and_delete_are_not_allowed(owner_api, project):
    assert owner_api.put(_project_url(project), {"name": "X"}, format="json").status_code == 405
    assert owner_api.delete(_project_url(project)).status_code == 405
    assert Project.objects.filter(pk=project.pk).exists()


# --- /api/projects/{id}/members/ ---------------------------------------------------------


def test_members_lists_every_member_to_a_member(api_client, viewer, project):
    api_client.force_authenticate(viewer)
    response = api_client.get(_members_url(project))
    assert response.status_code == 200
    assert {(m["username"], m["role"]) for m in response.json()} == {
        ("olga", Role.OWNER),
        ("eduardo", Role.EDITOR),
        ("vera", Role.VIEWER),
    }


def test_members_is_404_for_an_outsider(outsider_api, project):
    assert outsider_api.get(_members_url(project)).status_code == 404
    response = outsider_api.post(_members_url(project), {"username": "otto"}, format="json")
    assert response.status_code == 404
    assert response.json()["message"]


def test_members_requires_authentication(api_client, project):
    response = api_client.get(_members_url(project))
    assert_authentication_required(response)


def test_members_add_by_username(owner_api, project, outsider):
    response = owner_api.post(
        _members_url(project), {"username": "otto", "role": "editor"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["user_id"] == outsider.pk
    assert response.json()["role"] == Role.EDITOR
    assert project.memberships.get(user=outsider).role == Role.EDITOR


def test_members_add_is_403_for_an_editor(editor_api, project, outsider):
    response = editor_api.post(_members_url(project), {"username": "otto"}, format="json")
    assert response.status_code == 403
    assert response.json()["message"]
    assert not project.memberships.filter(user=outsider).exists()


def test_members_add_reports_an_unknown_user(owner_api, project):
    response = owner_api.post(_members_url(project), {"username": "nadie"}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "No existe ningún usuario con el nombre «nadie»."
    assert response.json()["errors"]["username"]


def test_members_add_reports_an_existing_member(owner_api, project):
    response = owner_api.post(_members_url(project), {"username": "vera"}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "«vera» ya es miembro de este proyecto."


def test_members_add_rejects_an_unknown_role(owner_api, project):
    response = owner_api.post(
        _members_url(project), {"username": "otto", "role": "admin"}, format="json"
    )
    assert response.status_code == 400
    assert "role" in response.json()["errors"]


# --- /api/projects/{id}/members/{user_id}/ -----------------------------------------------


def test_member_delete_removes_the_member(owner_api, project, viewer):
    response = owner_api.delete(_member_url(project, viewer))
    assert response.status_code == 204
    assert not project.memberships.filter(user=viewer).exists()


def test_member_delete_refuses_the_last_owner(owner_api, project, owner):
    response = owner_api.delete(_member_url(project, owner))
    assert response.status_code == 409
    assert "al menos un propietario" in response.json()["message"]
    assert project.memberships.filter(user=owner).exists()


def test_member_delete_is_404_for_an_outsider(outsider_api, project, viewer):
    response = outsider_api.delete(_member_url(project, viewer))
    assert response.status_code == 404
    assert project.memberships.filter(user=viewer).exists()


def test_member_delete_is_403_for_an_editor(editor_api, project, viewer):
    response = editor_api.delete(_member_url(project, viewer))
    assert response.status_code == 403
    assert project.memberships.filter(user=viewer).exists()


def test_member_delete_is_404_for_a_user_who_is_not_a_member(owner_api, project, outsider):
    assert owner_api.delete(_member_url(project, outsider)).status_code == 404


def test_member_delete_requires_authentication(api_client, project, viewer):
    response = api_client.delete(_member_url(project, viewer))
    assert_authentication_required(response)
    assert project.memberships.filter(user=viewer).exists()


def test_member_patch_changes_the_role(owner_api, project, viewer):
    response = owner_api.patch(_member_url(project, viewer), {"role": "editor"}, format="json")
    assert response.status_code == 200
    assert response.json()["role"] == Role.EDITOR
    assert project.memberships.get(user=viewer).role == Role.EDITOR


def test_member_patch_refuses_to_demote_the_last_owner(owner_api, project, owner):
    response = owner_api.patch(_member_url(project, owner), {"role": "viewer"}, format="json")
    assert response.status_code == 409
    assert project.memberships.get(user=owner).role == Role.OWNER


def test_member_patch_is_404_for_an_outsider(outsider_api, project, viewer):
    response = outsider_api.patch(_member_url(project, viewer), {"role": "owner"}, format="json")
    assert response.status_code == 404
    assert project.memberships.get(user=viewer).role == Role.VIEWER


def test_the_projects_routes_leave_nested_paths_to_other_apps():
    from django.urls import Resolver404, resolve

    try:
        match = resolve("/api/projects/1/datasets/")
    except Resolver404:
        return
    assert not match.func.__module__.startswith("cauce.projects")
