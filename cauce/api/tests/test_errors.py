"""Every API error is JSON with a readable ``message``."""

import pytest

pytestmark = pytest.mark.django_db


def _is_json_error(response) -> bool:
    return response["Content-Type"].startswith("application/json") and bool(
        response.json().get("message")
    )


def test_not_found_is_json_with_a_message(owner_api):
    response = owner_api.get("/api/projects/999999/")
    assert response.status_code == 404
    assert _is_json_error(response)
    assert response.json()["message"] == "No encontrado."


def test_permission_denied_is_json_with_a_message(editor_api, project):
    response = editor_api.patch(f"/api/projects/{project.pk}/", {"name": "X"}, format="json")
    assert response.status_code == 403
    assert _is_json_error(response)


def test_a_validation_error_names_the_field(owner_api):
    response = owner_api.post("/api/projects/", {}, format="json")
    assert response.status_code == 400
    assert _is_json_error(response)
    assert response.json()["message"].startswith("Datos no válidos")
    assert "name" in response.json()["errors"]


def test_an_application_error_carries_its_message(owner_api, project):
    response = owner_api.post(
        f"/api/projects/{project.pk}/members/", {"username": "nadie"}, format="json"
    )
    assert response.status_code == 400
    assert _is_json_error(response)
    assert response.json()["message"] == "No existe ningún usuario con el nombre «nadie»."


def test_a_method_not_allowed_is_json_with_a_message(owner_api, project):
    response = owner_api.delete(f"/api/projects/{project.pk}/")
    assert response.status_code == 405
    assert _is_json_error(response)


def test_malformed_json_is_a_json_error(owner_api):
    response = owner_api.generic(
        "POST", "/api/projects/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert _is_json_error(response)


def test_errors_follow_the_language_of_the_request(owner_api):
    response = owner_api.get("/api/projects/999999/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    assert response.json()["message"] == "Not found."
