import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("ada", password="pw-ada")
    client.force_login(admin)
    return client


def test_the_project_admin_shows_members_inline(admin_user_client, project):
    response = admin_user_client.get(f"/admin/projects/project/{project.pk}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Iris lab" in body
    assert 'name="memberships-TOTAL_FORMS" value="3"' in body


def test_the_admin_lists_projects_and_memberships(admin_user_client, project):
    assert "Iris lab" in admin_user_client.get("/admin/projects/project/").content.decode()
    body = admin_user_client.get("/admin/projects/membership/?q=vera").content.decode()
    assert "vera" in body
