import pytest

pytestmark = pytest.mark.django_db


def test_the_schema_is_an_openapi_document_with_the_projects_paths(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Cauce API"
    for path in (
        "/api/projects/",
        "/api/projects/{id}/",
        "/api/projects/{id}/members/",
        "/api/projects/{id}/members/{user_id}/",
    ):
        assert path in schema["paths"]
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_the_docs_page_serves_swagger_ui_without_a_cdn(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "swagger-ui" in body
    assert "drf_spectacular_sidecar/swagger-ui-dist/" in body
    for cdn in ("cdn.jsdelivr", "unpkg", "cdnjs"):
        assert cdn not in body


def test_the_swagger_ui_assets_are_served_locally(client):
    response = client.get("/api/docs/")
    script = next(
        part.split('"')[0]
        for part in response.content.decode().split('src="')[1:]
        if "swagger-ui-bundle" in part
    )
    asset = client.get(script)
    assert asset.status_code == 200
    assert asset["Content-Type"].startswith("text/javascript")
    assert b"SwaggerUIBundle" in b"".join(asset.streaming_content)
