"""A database out of reach is a clean 503 (a page, or the API's JSON), and the next request
after it is back works. Every outage here is real: the connection is pointed where no
database answers (see ``tests.fixtures.core.database_refusing``)."""

import logging

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from cauce.core.views import server_error
from tests.fixtures.core import database_refusing

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGE_ES = (
    "La base de datos no está disponible en este momento. Inténtelo de nuevo en unos segundos."
)
MESSAGE_EN = "The database is not available right now. Try again in a few seconds."


@pytest.fixture
def browser(owner) -> Client:
    """A logged-in browser whose errors are answered as a server would (no re-raise)."""
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    return client


@pytest.fixture
def token(owner) -> str:
    return Token.objects.create(user=owner).key


def _assert_clean_page(response, message: str) -> None:
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert response["Retry-After"] == "5"
    body = response.content.decode()
    assert message in body
    assert "Traceback" not in body and "OperationalError" not in body


def test_a_page_is_a_503_in_spanish_then_works_once_the_database_is_back(
    browser, project, tmp_path, caplog
):
    with caplog.at_level(logging.INFO, logger="cauce.request"), database_refusing(tmp_path):
        response = browser.get("/projects/")

    _assert_clean_page(response, MESSAGE_ES)
    assert 'lang="es"' in response.content.decode()
    # The access log still has its line, without a user (reading it needs the database).
    (line,) = [r for r in caplog.records if r.name == "cauce.request"]
    assert (line.status, line.path, line.user_id) == (503, "/projects/", None)

    response = browser.get("/projects/")
    assert response.status_code == 200
    assert project.name in response.content.decode()


def test_the_page_follows_the_language_switch(browser, tmp_path):
    browser.cookies["django_language"] = "en"
    with database_refusing(tmp_path):
        response = browser.get("/projects/1/")

    _assert_clean_page(response, MESSAGE_EN)


def test_a_form_post_is_a_503_too(browser, tmp_path):
    with database_refusing(tmp_path):
        response = browser.post("/projects/new/", {"name": "Durante el corte"})

    _assert_clean_page(response, MESSAGE_ES)


def test_the_api_answers_a_json_503_then_works_once_the_database_is_back(token, project, tmp_path):
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {token}")
    with database_refusing(tmp_path):
        response = client.get("/api/projects/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {"message": MESSAGE_ES}

    response = client.get("/api/projects/")
    assert response.status_code == 200
    assert [item["name"] for item in response.json()["results"]] == [project.name]


def test_the_api_error_is_in_english_when_asked(token, tmp_path):
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {token}")
    with database_refusing(tmp_path):
        response = client.get("/api/projects/", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 503
    assert response.json() == {"message": MESSAGE_EN}


def test_any_other_failure_is_still_django_s_plain_500(rf):
    request = rf.get("/projects/")
    try:
        raise ValueError("a bug, not an outage")
    except ValueError:
        response = server_error(request)

    assert response.status_code == 500
    assert "Retry-After" not in response


def test_an_api_bug_is_a_json_500_with_no_traceback(token, project, monkeypatch):
    """Any failure under /api/ is the API's JSON error (a client parses it like the others);
    the details stay in the log."""

    def broken(**_kwargs):
        raise ValueError("a bug, not an outage")

    monkeypatch.setattr("cauce.projects.api.project_list_for_user", broken)
    client = Client(raise_request_exception=False)
    response = client.get("/api/projects/", HTTP_AUTHORIZATION=f"Token {token}")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "message": "Algo falló al atender su petición. El error quedó registrado; inténtelo de "
        "nuevo en unos minutos."
    }
    assert "Retry-After" not in response


def test_a_page_bug_is_a_500_page_in_spanish_with_no_traceback(browser, monkeypatch):
    def broken(**_kwargs):
        raise ValueError("a bug, not an outage")

    monkeypatch.setattr("cauce.projects.views.project_list_for_user", broken)
    response = browser.get("/projects/")

    assert response.status_code == 500
    body = response.content.decode()
    assert "Error del servidor" in body and "inténtelo de nuevo en unos minutos" in body
    assert "Traceback" not in body and "ValueError" not in body
