"""The registry API's schema states the rules its code applies (names, aliases, tag keys).

Each value goes to the API (a real MLflow server behind it) and to the pattern the served
OpenAPI schema gives for it, checked with jsonschema-rs (the validator schemathesis uses, with
JSON Schema's ECMA-262 patterns): what one accepts the other accepts.
"""

import jsonschema_rs
import pytest
from django.urls import reverse

from cauce.registry import services
from cauce.registry.models import RegisteredModel

pytestmark = pytest.mark.django_db

NAME = "Iris_lab-Iris_base"


@pytest.fixture
def schema(client):
    return client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def _parameter(schema, path: str, method: str, name: str) -> dict:
    parameters = schema["paths"][path][method]["parameters"]
    return next(p["schema"] for p in parameters if p["name"] == name)


def _valid(string_schema: dict, value: str) -> bool:
    """As schemathesis reads an OpenAPI 3.0 schema: JSON Schema draft 4, ECMA-262 patterns."""
    return jsonschema_rs.Draft4Validator({"type": "string", **string_schema}).is_valid(value)


@pytest.fixture
def registered(finished_experiment, editor):
    services.model_version_register(experiment=finished_experiment(), user=editor)


TAG_KEYS = {
    "equipo": True,
    "equipo/datos": True,
    "a..b": True,
    "clave con espacios": True,
    "origen:csv": True,
    "año-ñandú_2": True,
    "": False,
    ".oculta": False,
    "/a": False,
    "a/": False,
    "a//b": False,
    "a/./b": False,
    "a/../b": False,
    " a": False,
    "a,b": False,
    "mlflow.note": False,
    "cauce.project_id": False,
    "k" * 250: True,
    "k" * 251: False,
}


def test_version_tag_keys(editor_api, registered, schema, mlflow_client):
    component = schema["components"]["schemas"]["PatchedVersionUpdateRequest"]
    tags = jsonschema_rs.Draft4Validator(component["properties"]["tags"])
    url = reverse("api-model-version", kwargs={"name": NAME, "version": 1})
    outcomes = {}
    for key in TAG_KEYS:
        status = editor_api.patch(url, {"tags": {key: "v"}}, format="json").status_code
        outcomes[key] = (status == 200, tags.is_valid({key: "v"}))
    assert outcomes == {key: (ok, ok) for key, ok in TAG_KEYS.items()}
    # Each PATCH replaces the version's own tags: the last accepted key is the one in MLflow.
    assert mlflow_client.get_model_version(NAME, "1").tags.get("k" * 250) == "v"


ALIASES = {
    "champion": True,
    "campeón": True,
    "v1a": True,
    "latest2": True,
    "latest": False,
    "LaTeSt": False,
    "v1": False,
    "V22": False,
    " champion": False,
    "champion ": False,
    "a b": False,
    "a.b": False,
    "x" * 256: False,
}


def test_aliases(editor_api, registered, schema):
    alias_schema = _parameter(schema, "/api/models/{name}/aliases/{alias}/", "put", "alias")
    outcomes = {}
    for alias in ALIASES:
        url = reverse("api-model-alias", kwargs={"name": NAME, "alias": alias})
        status = editor_api.put(url, {"version": 1}, format="json").status_code
        outcomes[alias] = (status == 200, _valid(alias_schema, alias))
    assert outcomes == {alias: (ok, ok) for alias, ok in ALIASES.items()}


def test_model_names(editor_api, finished_experiment, schema):
    component = schema["components"]["schemas"]["RegisterInputRequest"]
    name_schema = component["properties"]["name"]["oneOf"][0]
    assert _valid(name_schema, "modelo-ñandú.v2")
    experiment = finished_experiment()
    url = reverse("api-experiment-register-model", kwargs={"pk": experiment.pk})
    for name in (" iris", "iris ", ".iris", "iris/2", "iris:2", "n" * 257):
        assert not _valid(name_schema, name), name
        assert editor_api.post(url, {"name": name}, format="json").status_code == 400, name
    assert not RegisteredModel.objects.exists()
    path_schema = _parameter(schema, "/api/models/{name}/", "get", "name")
    assert path_schema["pattern"] == name_schema["pattern"]
