import pytest
from rest_framework.test import APIClient

from tests.fixtures.core import assert_authentication_required

pytestmark = pytest.mark.django_db


def test_token_is_given_for_a_right_password(api_client, owner):
    response = api_client.post(
        "/api/token/", {"username": "olga", "password": "pw-olga"}, format="json"
    )
    assert response.status_code == 200
    assert set(response.json()) == {"token"}
    assert len(response.json()["token"]) == 40


def test_the_token_authenticates_api_calls(api_client, owner, project):
    token = api_client.post(
        "/api/token/", {"username": "olga", "password": "pw-olga"}, format="json"
    ).json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get("/api/projects/")
    assert response.status_code == 200
    assert [p["id"] for p in response.json()["results"]] == [project.pk]


def test_a_wrong_password_gives_a_json_error_with_a_message(api_client, owner):
    response = api_client.post(
        "/api/token/", {"username": "olga", "password": "wrong"}, format="json"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "credenciales" in response.json()["message"]
    assert "token" not in response.json()


def test_an_unknown_token_is_refused_with_a_message(project):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    response = client.get("/api/projects/")
    assert_authentication_required(response)


def test_anonymous_calls_are_refused_with_a_message():
    response = APIClient().get("/api/projects/")
    assert_authentication_required(response)
