"""Spanish for everyone until they choose English with the switch; the choice is kept."""

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

ENGLISH_BROWSER = {"Accept-Language": "en-US,en;q=0.9"}


def _choose(client, language: str):
    return client.post("/i18n/setlang/", {"language": language, "next": "/accounts/login/"})


def test_an_english_browser_gets_spanish_pages(client):
    response = client.get("/accounts/login/", headers=ENGLISH_BROWSER)

    page = response.content.decode()
    assert '<html lang="es">' in page
    assert "<h1>Iniciar sesión</h1>" in page
    assert response["Content-Language"] == "es"
    assert "Accept-Language" not in response.get("Vary", "")


def test_the_switch_chooses_english_and_remembers_it_for_a_year(client):
    switched = _choose(client, "en")

    assert switched.status_code == 302
    cookie = switched.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "en"
    assert cookie["max-age"] == 365 * 24 * 3600
    # Every later page, whatever the browser asks for.
    page = client.get("/accounts/login/", headers={"Accept-Language": "es"}).content.decode()
    assert '<html lang="en">' in page
    assert "<h1>Log in</h1>" in page


def test_choosing_spanish_again_gives_spanish(client):
    _choose(client, "en")
    _choose(client, "es")

    page = client.get("/accounts/login/", headers=ENGLISH_BROWSER).content.decode()
    assert "<h1>Iniciar sesión</h1>" in page


def test_an_unknown_language_in_the_cookie_gives_spanish(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"

    page = client.get("/accounts/login/", headers=ENGLISH_BROWSER).content.decode()
    assert "<h1>Iniciar sesión</h1>" in page


def test_the_choice_outlives_logging_out(owner_client):
    _choose(owner_client, "en")
    owner_client.post("/accounts/logout/")

    assert "<h1>Log in</h1>" in owner_client.get("/accounts/login/").content.decode()


def test_the_api_answers_in_spanish_unless_the_request_asks_for_english(owner_api):
    spanish = owner_api.get("/api/projects/999999/")
    english = owner_api.get("/api/projects/999999/", headers={"Accept-Language": "en"})

    assert spanish.json() == {"message": "No encontrado."}
    assert english.json() == {"message": "Not found."}
    assert "Accept-Language" in english["Vary"]
