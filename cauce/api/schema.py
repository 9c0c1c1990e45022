"""What every operation of the OpenAPI schema says beyond its own ``extend_schema``.

A drf-spectacular postprocessing hook, so that an endpoint added later is described the same
way without repeating it: the error answers every API view can give (through the API's
exception handler, always ``{"message": ..., "errors": ...}``), bounds on integer ids in paths,
non-blank strings where blank ones are refused, no NUL character in a request's strings, and
closed objects (``CLOSED``).
"""

from __future__ import annotations

from typing import Any

# Python's str.strip() removes these (DRF trims strings with it); a non-blank string must hold
# at least one other character. Written for both Python's and ECMAScript's regular expressions.
BLANK_CHARACTERS = (
    "\\t\\n\\u000b\\f\\r \\u001c-\\u001f\\u0085\\u00a0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000"
)
NON_BLANK_PATTERN = f"[^{BLANK_CHARACTERS}]"
# DRF refuses a NUL character in any text it parses (ProhibitNullCharactersValidator): every
# string a request may carry says so, beside any pattern of its own.
NO_NUL_PATTERN = "^[^\\u0000]*$"
# An object that refuses properties it does not declare (the serializer says so with
# ``extend_schema_serializer(extensions={CLOSED: True})``): ``additionalProperties: false``.
CLOSED = "x-closed"
# Bodies of named fields (a CSV or Parquet body is the file itself, checked by its reader).
FIELD_MEDIA_TYPES = {
    "application/json",
    "multipart/form-data",
    "application/x-www-form-urlencoded",
}
# The database's integer keys (64-bit); a larger id in a path is refused, not looked up.
MAX_ID = 2**63 - 1

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "description": "What went wrong, in the user's language."},
        "errors": {
            "type": "object",
            "additionalProperties": True,
            "description": "Per field, for invalid data.",
        },
    },
    "required": ["message"],
}

ERRORS = {
    "400": "Invalid data or parameters",
    "401": "No valid credentials (token or session)",
    "403": "The user's role in the project is too low",
    "404": "No such object for this user (other projects' objects are not found either)",
    "405": "Method not allowed",
    "409": "The object's state does not allow it (e.g. in use, or the last owner)",
    "415": "Unsupported media type",
    "503": "MLflow (or another part Cauce depends on) is unavailable",
}


def _is(schema: dict[str, Any], kind: str) -> bool:
    """OpenAPI 3.1 writes a nullable type as a list (``["string", "null"]``)."""
    declared = schema.get("type")
    return kind in declared if isinstance(declared, list) else declared == kind


def _json_error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _non_blank(schema: dict[str, Any], components: dict[str, Any]) -> None:
    """Required strings DRF refuses when blank get a pattern saying so."""
    if "$ref" in schema:
        schema = components.get(schema["$ref"].rsplit("/", 1)[-1], {})
    for prop in schema.get("properties", {}).values():
        if _is(prop, "string") and prop.get("minLength") == 1 and "format" not in prop:
            prop.setdefault("pattern", NON_BLANK_PATTERN)


def _no_nul(schema: dict[str, Any], components: dict[str, Any]) -> None:
    """Strings without a format or a list of values, in this schema and the ones it holds
    (properties, pattern or additional properties, array items, allOf/anyOf/oneOf), get
    ``NO_NUL_PATTERN``."""
    if "$ref" in schema:
        schema = components.get(schema["$ref"].rsplit("/", 1)[-1], {})
    if _is(schema, "string") and "format" not in schema and "enum" not in schema:
        patterns = [schema.get("pattern")]
        patterns += [member.get("pattern") for member in schema.get("allOf", [])]
        if NO_NUL_PATTERN not in patterns:
            if schema.get("pattern") is None:
                schema["pattern"] = NO_NUL_PATTERN
            else:
                schema.setdefault("allOf", []).append({"pattern": NO_NUL_PATTERN})
    held = [*schema.get("properties", {}).values(), *schema.get("patternProperties", {}).values()]
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            held.append(schema[key])
    for key in ("allOf", "anyOf", "oneOf"):
        # Not the bare ``{"pattern": ...}`` parts of a string's allOf: schemas of their own.
        held.extend(m for m in schema.get(key, []) if "type" in m or "$ref" in m)
    for member in held:
        _no_nul(member, components)


def postprocess(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for component in components.values():
        if component.pop(CLOSED, False):
            component["additionalProperties"] = False
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            errors = dict(ERRORS)
            if path == "/api/token/":
                # Anyone may ask for a token; repeated wrong passwords lock the name out a while.
                del errors["401"], errors["403"]
                errors["429"] = "Too many failed attempts for this user name: locked out for now"
            for code, description in errors.items():
                documented = responses.setdefault(code, _json_error(description))
                documented.setdefault("content", _json_error(description)["content"])
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if parameter.get("in") == "path" and _is(schema, "integer"):
                    schema.setdefault("minimum", 1)
                    schema.setdefault("maximum", MAX_ID)
                if parameter.get("in") == "query":
                    _no_nul(schema, components)
            body = operation.get("requestBody", {})
            for kind, media in body.get("content", {}).items():
                schema = media.get("schema", {})
                _non_blank(schema, components)
                if kind in FIELD_MEDIA_TYPES:
                    _no_nul(schema, components)
                if schema.get("anyOf") or schema.get("required"):
                    body["required"] = True  # a body that must hold something must be sent
    return result
