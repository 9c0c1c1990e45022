"""Spanish by default; English through the language switch in the top bar."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_login_page_is_in_spanish_by_default(client):
    response = client.get(reverse("login"))
    body = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="es">' in body
    assert "Iniciar sesión" in body
    assert "Entrar" in body


def test_the_login_page_is_in_english_after_choosing_english(client):
    response = client.post("/i18n/setlang/", {"language": "en", "next": reverse("login")})
    assert response.status_code == 302
    assert response.url == reverse("login")
    body = client.get(reverse("login")).content.decode()
    assert '<html lang="en">' in body
    assert "Log in" in body
    assert "Iniciar sesión" not in body


def test_the_top_bar_offers_both_languages(owner_client, project):
    body = owner_client.get(reverse("projects:project_list")).content.decode()
    assert f'action="{reverse("set_language")}"' in body
    assert 'name="language" value="es"' in body
    assert 'name="language" value="en"' in body
    assert 'name="next" type="hidden" value="/projects/"' in body


def test_the_language_switch_translates_the_project_pages(owner_client, project):
    response = owner_client.post(
        reverse("set_language"), {"language": "en", "next": reverse("projects:project_list")}
    )
    assert response.url == reverse("projects:project_list")
    body = owner_client.get(reverse("projects:project_list")).content.decode()
    assert "New project" in body
    assert "Owner" in body
    assert "Nuevo proyecto" not in body

    owner_client.post(reverse("set_language"), {"language": "es", "next": "/projects/"})
    body = owner_client.get(reverse("projects:project_list")).content.decode()
    assert "Nuevo proyecto" in body


def test_the_members_page_is_translated(owner_client, project):
    owner_client.post(reverse("set_language"), {"language": "en", "next": "/"})
    body = owner_client.get(reverse("projects:project_members", args=[project.pk])).content
    assert "Add member" in body.decode()
    assert "Remove" in body.decode()
