"""Read access to run and logged-model artifacts, through the tracking server's proxy.

Everything goes through ``/api/2.0/mlflow-artifacts/...`` (the server's proxied artifact
store): listings are one level each, downloads are streamed and never buffered whole. The
roots handled here are the part of an artifact URI after ``mlflow-artifacts:/``, e.g.
``1/<run_id>/artifacts`` for a run or ``1/models/<model_id>/artifacts`` for a logged model.
Paths passed in must already be checked by the caller (see ``cauce.artifacts.paths``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

import requests
from django.utils.translation import gettext as _

from cauce.integrations.mlflow.client import rest_get, rest_open_stream
from cauce.integrations.mlflow.errors import MlflowError

_PROXY_SCHEME = "mlflow-artifacts:/"
_LIST = "/api/2.0/mlflow-artifacts/artifacts"


@dataclass(frozen=True)
class ArtifactEntry:
    path: str  # relative to its root, "/"-separated, no leading slash
    is_dir: bool
    size: int | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class LoggedModelRef:
    model_id: str
    name: str
    root: str


@dataclass(frozen=True)
class RunArtifactsInfo:
    run_id: str
    experiment_id: str
    status: str
    root: str
    models: list[LoggedModelRef] = field(default_factory=list)


def _proxied_root(artifact_uri: str) -> str:
    if not artifact_uri.startswith(_PROXY_SCHEME):
        raise MlflowError(
            _(
                "El servidor MLflow no sirve los artefactos de este run a través de su proxy "
                "(arránquelo con --serve-artifacts)."
            )
        )
    return artifact_uri[len(_PROXY_SCHEME) :].strip("/")


def _join(root: str, path: str) -> str:
    return f"{root}/{path}".rstrip("/") if path else root


def _quoted(path: str) -> str:
    return "/".join(quote(segment, safe="") for segment in path.split("/"))


def run_artifacts_info(*, run_id: str) -> RunArtifactsInfo:
    """Where a run's artifacts live, and the logged models it produced (MLflow 3)."""
    run = rest_get("/api/2.0/mlflow/runs/get", params={"run_id": run_id})["run"]
    info = run["info"]
    models = []
    for output in (run.get("outputs") or {}).get("model_outputs") or []:
        model = rest_get(f"/api/2.0/mlflow/logged-models/{quote(output['model_id'], safe='')}")
        model_info = model["model"]["info"]
        models.append(
            LoggedModelRef(
                model_id=model_info["model_id"],
                name=model_info.get("name") or "model",
                root=_proxied_root(model_info["artifact_uri"]),
            )
        )
    return RunArtifactsInfo(
        run_id=info["run_id"],
        experiment_id=info["experiment_id"],
        status=info["status"],
        root=_proxied_root(info["artifact_uri"]),
        models=models,
    )


def artifacts_list(*, root: str, path: str = "") -> list[ArtifactEntry]:
    """One level below ``path`` (folders first, then files, each by name).

    MLflow answers an empty listing for a folder that does not exist; callers that need
    to tell "empty" from "missing" look the path up in its parent's listing.
    """
    body = rest_get(_LIST, params={"path": _join(root, path)})
    entries = []
    for item in body.get("files") or []:
        size = item.get("file_size")
        entries.append(
            ArtifactEntry(
                path=f"{path}/{item['path']}" if path else item["path"],
                is_dir=bool(item.get("is_dir")),
                size=None if size is None else int(size),
            )
        )
    entries.sort(key=lambda entry: (not entry.is_dir, entry.path.lower()))
    return entries


def artifact_open(*, root: str, path: str, read_timeout: float = 30.0) -> requests.Response:
    """A streamed response for one file; raises MlflowNotFound. The caller closes it."""
    return rest_open_stream(f"{_LIST}/{_quoted(_join(root, path))}", read_timeout=read_timeout)
