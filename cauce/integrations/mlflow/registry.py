"""MLflow's model registry over plain REST: registered models, versions, aliases, tags.

The web's short timeouts apply to every call (and a page does not pay for importing the
``mlflow`` package): a registry page or a registration answers within about a second when
MLflow is down. Lists are one search call (plus one for the aliases), never one per version.
Errors come out as ``MlflowUnavailable``, ``MlflowNotFound`` or ``MlflowError`` (whose
``error_code`` is MLflow's own, e.g. ``RESOURCE_ALREADY_EXISTS``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import yaml

from cauce.integrations.mlflow.client import (
    rest_get,
    rest_get_deferred,
    rest_open_stream,
    rest_send,
)
from cauce.integrations.mlflow.errors import MlflowError, MlflowNotFound
from cauce.integrations.mlflow.search import filter_value, search_pages

_RM = "/api/2.0/mlflow/registered-models"
_MV = "/api/2.0/mlflow/model-versions"
# Writes may take the server a little longer than reads; still bounded.
_WRITE_TIMEOUT = 5.0
_PAGE = 1000
# Names per ``name IN (...)`` filter: keeps the query string short.
_NAMES_PER_SEARCH = 50

PENDING = "PENDING_REGISTRATION"
READY = "READY"
FAILED = "FAILED_REGISTRATION"


@dataclass(frozen=True)
class ModelVersionInfo:
    name: str
    version: int
    run_id: str
    source: str
    status: str
    description: str
    tags: dict[str, str]
    aliases: list[str]
    created_at: datetime | None
    status_message: str = ""
    updated_at: datetime | None = None

    @property
    def model_id(self) -> str:
        """The logged model's id when the source is ``models:/<model_id>`` (MLflow 3)."""
        if self.source.startswith("models:/m-"):
            return self.source[len("models:/") :].split("/", 1)[0]
        return ""


@dataclass(frozen=True)
class RegisteredModelInfo:
    name: str
    description: str
    tags: dict[str, str]
    aliases: dict[str, int]  # alias -> version
    latest_version: int | None
    created_at: datetime | None
    updated_at: datetime | None
    latest_run_id: str = ""


@dataclass(frozen=True)
class SignatureColumn:
    name: str
    type: str
    required: bool = True


@dataclass(frozen=True)
class ModelSignature:
    inputs: list[SignatureColumn] = field(default_factory=list)
    outputs: list[SignatureColumn] = field(default_factory=list)


def _time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def _tags(items: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    return {item["key"]: item.get("value", "") for item in items or []}


def _version_info(data: Mapping[str, Any], aliases: list[str] | None = None) -> ModelVersionInfo:
    return ModelVersionInfo(
        name=data["name"],
        version=int(data["version"]),
        run_id=data.get("run_id") or "",
        source=data.get("source") or "",
        status=data.get("status") or READY,
        description=data.get("description") or "",
        tags=_tags(data.get("tags")),
        aliases=sorted(aliases if aliases is not None else data.get("aliases") or []),
        created_at=_time(data.get("creation_timestamp")),
        status_message=data.get("status_message") or "",
        updated_at=_time(data.get("last_updated_timestamp")),
    )


def _model_info(data: Mapping[str, Any]) -> RegisteredModelInfo:
    latest = max(
        data.get("latest_versions") or [], key=lambda item: int(item["version"]), default=None
    )
    return RegisteredModelInfo(
        name=data["name"],
        description=data.get("description") or "",
        tags=_tags(data.get("tags")),
        aliases={item["alias"]: int(item["version"]) for item in data.get("aliases") or []},
        latest_version=int(latest["version"]) if latest else None,
        latest_run_id=(latest.get("run_id") or "") if latest else "",
        created_at=_time(data.get("creation_timestamp")),
        updated_at=_time(data.get("last_updated_timestamp")),
    )


def _search(path: str, key: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    def page(token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        page_params = {**params, "max_results": _PAGE}
        if token:
            page_params["page_token"] = token
        body = rest_get(path, params=page_params)
        return body.get(key) or [], body.get("next_page_token")

    return list(search_pages(page))


# --- registered models ------------------------------------------------------------------------


def registered_model_get(*, name: str) -> RegisteredModelInfo:
    """The registered model (with its aliases and tags); ``MlflowNotFound`` when missing."""
    body = rest_get(f"{_RM}/get", params={"name": name})
    return _model_info(body["registered_model"])


def registered_model_find(*, name: str) -> RegisteredModelInfo | None:
    try:
        return registered_model_get(name=name)
    except MlflowNotFound:
        return None


def registered_models_get_many(*, names: Iterable[str]) -> dict[str, RegisteredModelInfo]:
    """Several registered models by name, in one search call per 50 names."""
    wanted = sorted(set(names))
    found: dict[str, RegisteredModelInfo] = {}
    for start in range(0, len(wanted), _NAMES_PER_SEARCH):
        chunk = wanted[start : start + _NAMES_PER_SEARCH]
        names_filter = ", ".join(filter_value(name) for name in chunk)
        for item in _search(
            f"{_RM}/search", "registered_models", {"filter": f"name IN ({names_filter})"}
        ):
            info = _model_info(item)
            found[info.name] = info
    return found


def registered_model_create(
    *, name: str, tags: Mapping[str, str], description: str = ""
) -> RegisteredModelInfo:
    """Create a registered model; ``MlflowError`` with RESOURCE_ALREADY_EXISTS when taken."""
    body = rest_send(
        "POST",
        f"{_RM}/create",
        body={
            "name": name,
            "description": description,
            "tags": [{"key": key, "value": value} for key, value in tags.items()],
        },
        read_timeout=_WRITE_TIMEOUT,
    )
    return _model_info(body["registered_model"])


def registered_model_update(*, name: str, description: str) -> None:
    rest_send(
        "PATCH",
        f"{_RM}/update",
        body={"name": name, "description": description},
        read_timeout=_WRITE_TIMEOUT,
    )


def registered_model_delete(*, name: str) -> None:
    rest_send("DELETE", f"{_RM}/delete", body={"name": name}, read_timeout=_WRITE_TIMEOUT)


def registered_model_set_tag(*, name: str, key: str, value: str) -> None:
    rest_send(
        "POST",
        f"{_RM}/set-tag",
        body={"name": name, "key": key, "value": value},
        read_timeout=_WRITE_TIMEOUT,
    )


# --- versions ---------------------------------------------------------------------------------


def model_version_create(
    *,
    name: str,
    source: str,
    run_id: str,
    model_id: str = "",
    description: str = "",
    tags: Mapping[str, str] | None = None,
) -> ModelVersionInfo:
    """A new version of ``name`` from ``source`` (``models:/<model_id>``), linked to the run."""
    body: dict[str, Any] = {
        "name": name,
        "source": source,
        "run_id": run_id,
        "description": description,
        "tags": [{"key": key, "value": value} for key, value in (tags or {}).items()],
    }
    if model_id:
        body["model_id"] = model_id
    created = rest_send("POST", f"{_MV}/create", body=body, read_timeout=_WRITE_TIMEOUT)
    return _version_info(created["model_version"], aliases=[])


def logged_model_exists(*, model_id: str) -> bool:
    """Whether MLflow still has this logged model (registering a missing one is a 500)."""
    try:
        rest_get(f"/api/2.0/mlflow/logged-models/{quote(model_id, safe='')}")
    except MlflowNotFound:
        return False
    return True


def model_version_get(*, name: str, version: int | str) -> ModelVersionInfo:
    """One version with its aliases; ``MlflowNotFound`` for an unknown name or version."""
    body = rest_get(f"{_MV}/get", params={"name": name, "version": str(version)})
    return _version_info(body["model_version"])


def model_version_get_by_alias(*, name: str, alias: str) -> ModelVersionInfo:
    """The version an alias points at now; ``MlflowNotFound`` when there is no such alias."""
    try:
        body = rest_get(f"{_RM}/alias", params={"name": name, "alias": alias})
    except MlflowError as error:
        # MLflow answers an unknown alias with INVALID_PARAMETER_VALUE, not with a 404.
        if error.error_code == "INVALID_PARAMETER_VALUE":
            raise MlflowNotFound() from error
        raise
    return _version_info(body["model_version"])


def model_version_lookup(
    *, name: str, alias: str = "", version: int | None = None
) -> Callable[[], ModelVersionInfo]:
    """Ask MLflow now for a version, by alias (``model_version_get_by_alias``) or by number
    (``model_version_get``); the function returned reads the answer, with their errors.

    The caller does its own work while MLflow answers (see ``rest_get_deferred``).
    """
    if alias:
        pending = rest_get_deferred(f"{_RM}/alias", params={"name": name, "alias": alias})
    else:
        pending = rest_get_deferred(f"{_MV}/get", params={"name": name, "version": str(version)})

    def answer() -> ModelVersionInfo:
        try:
            body = pending.result()
        except MlflowError as error:
            if alias and error.error_code == "INVALID_PARAMETER_VALUE":
                raise MlflowNotFound() from error  # as in model_version_get_by_alias
            raise
        return _version_info(body["model_version"])

    return answer


def model_versions_list(
    *, name: str, model: RegisteredModelInfo | None = None
) -> list[ModelVersionInfo]:
    """Every version of a model, newest first, with aliases: one search, plus one get of the
    registered model (for its aliases) unless the caller already has it."""
    if model is None:
        model = registered_model_get(name=name)
    by_version: dict[int, list[str]] = {}
    for alias, version in model.aliases.items():
        by_version.setdefault(version, []).append(alias)
    items = _search(f"{_MV}/search", "model_versions", {"filter": f"name = {filter_value(name)}"})
    versions = [
        _version_info(item, aliases=by_version.get(int(item["version"]), [])) for item in items
    ]
    return sorted(versions, key=lambda version: -version.version)


def model_versions_for_run(*, run_id: str) -> list[ModelVersionInfo]:
    """Versions (of any model) registered from a run, with their aliases; newest first."""
    items = _search(
        f"{_MV}/search", "model_versions", {"filter": f"run_id = {filter_value(run_id)}"}
    )
    if not items:
        return []
    models = registered_models_get_many(names={item["name"] for item in items})
    versions = []
    for item in items:
        model = models.get(item["name"])
        aliases = [
            alias
            for alias, version in (model.aliases.items() if model else ())
            if version == int(item["version"])
        ]
        versions.append(_version_info(item, aliases=aliases))
    return sorted(versions, key=lambda version: (version.name, -version.version))


def model_versions_for_runs(*, run_ids: Iterable[str]) -> list[ModelVersionInfo]:
    """Versions (of any model) registered from any of the runs, with the aliases that serve
    them now: one search per 50 runs (``run_id IN (...)``) and one per 50 model names."""
    wanted = sorted(set(run_ids) - {""})
    items: list[dict[str, Any]] = []
    for start in range(0, len(wanted), _NAMES_PER_SEARCH):
        chunk = ", ".join(
            filter_value(run_id) for run_id in wanted[start : start + _NAMES_PER_SEARCH]
        )
        items.extend(_search(f"{_MV}/search", "model_versions", {"filter": f"run_id IN ({chunk})"}))
    if not items:
        return []
    models = registered_models_get_many(names={item["name"] for item in items})
    versions = []
    for item in items:
        model = models.get(item["name"])
        aliases = sorted(
            alias
            for alias, version in (model.aliases.items() if model else ())
            if version == int(item["version"])
        )
        versions.append(_version_info(item, aliases=aliases))
    return sorted(versions, key=lambda version: (version.name, -version.version))


def model_versions_find(*, name: str, run_id: str) -> list[ModelVersionInfo]:
    """Versions of ``name`` registered from ``run_id`` (aliases not loaded), oldest first."""
    items = _search(
        f"{_MV}/search",
        "model_versions",
        {"filter": f"name = {filter_value(name)} and run_id = {filter_value(run_id)}"},
    )
    return sorted((_version_info(item, aliases=[]) for item in items), key=lambda v: v.version)


def model_version_update(*, name: str, version: int, description: str) -> None:
    rest_send(
        "PATCH",
        f"{_MV}/update",
        body={"name": name, "version": str(version), "description": description},
        read_timeout=_WRITE_TIMEOUT,
    )


def model_version_set_tags(
    *, name: str, version: int, tags: Mapping[str, str], delete: Iterable[str] = ()
) -> None:
    """Set and remove version tags (MLflow has no batch call for them: one call each)."""
    for key, value in tags.items():
        rest_send(
            "POST",
            f"{_MV}/set-tag",
            body={"name": name, "version": str(version), "key": key, "value": value},
            read_timeout=_WRITE_TIMEOUT,
        )
    for key in delete:
        rest_send(
            "DELETE",
            f"{_MV}/delete-tag",
            body={"name": name, "version": str(version), "key": key},
            read_timeout=_WRITE_TIMEOUT,
        )


def model_version_delete(*, name: str, version: int) -> None:
    rest_send(
        "DELETE",
        f"{_MV}/delete",
        body={"name": name, "version": str(version)},
        read_timeout=_WRITE_TIMEOUT,
    )


# --- aliases ----------------------------------------------------------------------------------


def alias_set(*, name: str, alias: str, version: int) -> None:
    """Point ``alias`` at ``version`` (moving it if it pointed elsewhere)."""
    rest_send(
        "POST",
        f"{_RM}/alias",
        body={"name": name, "alias": alias, "version": str(version)},
        read_timeout=_WRITE_TIMEOUT,
    )


def alias_delete(*, name: str, alias: str) -> None:
    rest_send(
        "DELETE", f"{_RM}/alias", body={"name": name, "alias": alias}, read_timeout=_WRITE_TIMEOUT
    )


# --- what a version's run and model hold (comparisons) ------------------------------------------


@dataclass(frozen=True)
class RunData:
    run_id: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]


def run_data_get(*, run_id: str) -> RunData:
    """A run's params, latest metrics and tags (MLflow's own ``mlflow.*`` tags left out)."""
    run = rest_get("/api/2.0/mlflow/runs/get", params={"run_id": run_id})["run"]
    data = run.get("data") or {}
    return RunData(
        run_id=run_id,
        params={item["key"]: item.get("value", "") for item in data.get("params") or []},
        metrics={item["key"]: float(item["value"]) for item in data.get("metrics") or []},
        tags={
            key: value
            for key, value in _tags(data.get("tags")).items()
            if not key.startswith("mlflow.")
        },
    )


def _mlmodel_root(source: str) -> str | None:
    if source.startswith("models:/m-"):
        model_id = source[len("models:/") :].split("/", 1)[0]
        model = rest_get(f"/api/2.0/mlflow/logged-models/{quote(model_id, safe='')}")
        uri = model["model"]["info"]["artifact_uri"]
    else:
        uri = source
    if not uri.startswith("mlflow-artifacts:/"):
        return None
    return uri[len("mlflow-artifacts:/") :].strip("/")


def _columns(spec: Any) -> list[SignatureColumn]:
    if not spec:
        return []
    items = json.loads(spec) if isinstance(spec, str) else spec
    columns = []
    for index, item in enumerate(items):
        kind = item.get("type", "")
        if kind == "tensor":
            kind = f"tensor({item.get('tensor-spec', {}).get('dtype', '')})"
        columns.append(
            SignatureColumn(
                name=item.get("name") or str(index),
                type=kind,
                required=bool(item.get("required", True)),
            )
        )
    return columns


def model_signature_get(*, source: str) -> ModelSignature | None:
    """The input/output signature in the version's MLmodel file; None when it has none."""
    root = _mlmodel_root(source)
    if root is None:
        return None
    path = "/".join(quote(part, safe="") for part in f"{root}/MLmodel".split("/"))
    response = rest_open_stream(f"/api/2.0/mlflow-artifacts/artifacts/{path}", read_timeout=2.0)
    with response:
        content = response.raw.read(1_000_000, decode_content=True)
    try:
        mlmodel = yaml.safe_load(content) or {}
    except yaml.YAMLError:
        return None
    signature = mlmodel.get("signature") if isinstance(mlmodel, dict) else None
    if not signature:
        return None
    try:
        return ModelSignature(
            inputs=_columns(signature.get("inputs")), outputs=_columns(signature.get("outputs"))
        )
    except (ValueError, TypeError, AttributeError):
        return None
