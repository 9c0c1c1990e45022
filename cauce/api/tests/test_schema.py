import pytest

from cauce.api.schema import NO_NUL_PATTERN

pytestmark = pytest.mark.django_db


def test_the_schema_is_an_openapi_document_with_the_projects_paths(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    # 3.1: JSON Schema 2020-12, whose patternProperties state a version tag's key rules.
    assert schema["openapi"] == "3.1.0"
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


FIELD_MEDIA_TYPES = {"application/json", "multipart/form-data", "application/x-www-form-urlencoded"}


def _strings(schema: dict, components: dict, where: str):
    """(where, schema) of every string without a format or a list of values it holds."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    kind = schema.get("type")
    is_string = "string" in kind if isinstance(kind, list) else kind == "string"
    if is_string and "format" not in schema and "enum" not in schema:
        yield where, schema
    for name, held in schema.get("properties", {}).items():
        yield from _strings(held, components, f"{where}.{name}")
    for pattern, held in schema.get("patternProperties", {}).items():
        yield from _strings(held, components, f"{where}.<{pattern}>")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _strings(schema[key], components, f"{where}.{key}")
    for key in ("anyOf", "oneOf"):
        for index, member in enumerate(schema.get(key, [])):
            yield from _strings(member, components, f"{where}<{key}{index}>")


def test_no_string_a_request_may_carry_allows_a_nul_character(client):
    """DRF refuses NUL in any text (400): the schema says so for every body field and query
    parameter, beside the string's own pattern."""
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    where = f"{method} {path} ?{parameter['name']}"
                    found += _strings(parameter["schema"], components, where)
            for kind, media in operation.get("requestBody", {}).get("content", {}).items():
                if kind in FIELD_MEDIA_TYPES:
                    found += _strings(media["schema"], components, f"{method} {path} {kind}")
    assert len(found) > 20  # the walk above reached the API's strings
    for where, string in found:
        patterns = [string.get("pattern"), *(p.get("pattern") for p in string.get("allOf", []))]
        assert NO_NUL_PATTERN in patterns, where


def test_a_nul_character_is_refused_with_a_message_and_creates_nothing(owner_api):
    from cauce.projects.models import Project

    before = Project.objects.count()
    response = owner_api.post("/api/projects/", {"name": "Iris\x00"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["name"]
    assert Project.objects.count() == before


def test_the_schema_is_valid_openapi(tmp_path):
    """drf-spectacular's validation against the OpenAPI meta-schema (3.0 had no way to say a
    version tag's key rules, and failed on them)."""
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", tmp_path / "s.yaml")
    assert (tmp_path / "s.yaml").read_text().startswith("openapi: 3.1.0")


def test_one_thread_at_a_time_generates_the_schema(monkeypatch, rf):
    """drf-spectacular's first generation in a process is not thread-safe (a 500 for one of
    two requests at once, under gunicorn's threads): the view lets one thread in at a time."""
    import threading

    from drf_spectacular.views import SpectacularAPIView

    from cauce.api.views import SchemaView

    inside, most, both_waiting = [0], [0], threading.Barrier(2, timeout=5)
    lock = threading.Lock()

    def generate(view, request):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        threading.Event().wait(0.2)  # long enough for the other thread to come in
        with lock:
            inside[0] -= 1
        return "schema"

    monkeypatch.setattr(SpectacularAPIView, "_get_schema_response", generate)

    def request():
        both_waiting.wait()
        return SchemaView()._get_schema_response(rf.get("/api/schema/"))

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert most[0] == 1
