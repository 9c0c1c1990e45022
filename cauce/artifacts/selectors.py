"""Reads of an experiment's MLflow artifacts: run info, one-level listings, the whole tree.

A run that has ended (FINISHED, FAILED, KILLED) no longer changes, so its info and listings
are kept in Django's cache, keyed by run id, root and path: a second view of the same run
asks MLflow nothing. Runs still going are always read fresh.

Paths given here must already be cleaned (``cauce.artifacts.paths.clean_artifact_path``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.http import Http404
from django.utils.translation import gettext as _

from cauce.core.cache import cached
from cauce.core.exceptions import ApplicationError, NotFoundError
from cauce.experiments.models import MLExperiment
from cauce.integrations.mlflow.artifacts import (
    ArtifactEntry,
    LoggedModelRef,
    RunArtifactsInfo,
    artifacts_list,
    run_artifacts_info,
)
from cauce.projects.models import Role
from cauce.projects.selectors import require_role

__all__ = [
    "ArtifactEntry",
    "ArtifactTotals",
    "LoggedModelRef",
    "RunArtifactsInfo",
    "ZipMember",
    "artifact_children",
    "artifact_entry",
    "artifact_experiment_get",
    "artifact_root",
    "artifact_selection_members",
    "artifact_totals",
    "artifact_tree",
    "artifact_zip_members",
    "experiment_artifacts",
]

TERMINAL_RUN_STATUSES = frozenset({"FINISHED", "FAILED", "KILLED"})
_CACHE_PREFIX = "cauce:artifacts:v1"


def _cache_seconds() -> int:
    return getattr(settings, "ARTIFACT_CACHE_SECONDS", 24 * 3600)


def _cache_key(kind: str, *parts: str) -> str:
    # Paths may hold spaces and any unicode: hash them so every cache backend accepts the key.
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    return f"{_CACHE_PREFIX}:{kind}:{digest}"


def artifact_experiment_get(
    *, user: AbstractBaseUser, experiment_id, role: str = Role.VIEWER
) -> MLExperiment:
    """The experiment, if the user may read it; 404 for outsiders, 403 for too low a role."""
    experiment = MLExperiment.objects.select_related("project").filter(pk=experiment_id).first()
    if experiment is None:
        raise Http404
    require_role(user=user, project=experiment.project, role=role)
    return experiment


def experiment_artifacts(*, experiment: MLExperiment) -> RunArtifactsInfo:
    """The run's artifact root and its logged models (MLflow 3 keeps them outside the run)."""
    run_id = experiment.mlflow_run_id
    if not run_id:
        raise NotFoundError(_("Este experimento todavía no tiene un run de MLflow."))
    return cached(
        _cache_key("run", run_id),
        lambda: run_artifacts_info(run_id=run_id),
        _cache_seconds(),
        keep=_is_frozen,
    )


def _is_frozen(info: RunArtifactsInfo) -> bool:
    return info.status in TERMINAL_RUN_STATUSES


def artifact_root(*, info: RunArtifactsInfo, model_id: str | None = None) -> str:
    """The run's root, or the root of one of ITS logged models (any other id is a 404)."""
    if not model_id:
        return info.root
    for model in info.models:
        if model.model_id == model_id:
            return model.root
    raise NotFoundError(_("Este run no tiene ese modelo registrado."))


def _listing(*, info: RunArtifactsInfo, root: str, path: str) -> list[ArtifactEntry]:
    if not _is_frozen(info):
        return artifacts_list(root=root, path=path)
    return cached(
        _cache_key("list", info.run_id, root, path),
        lambda: artifacts_list(root=root, path=path),
        _cache_seconds(),
    )


def artifact_children(
    *, experiment: MLExperiment, path: str = "", model_id: str | None = None
) -> list[ArtifactEntry]:
    """One level below ``path`` (folders first). A missing folder lists as empty."""
    info = experiment_artifacts(experiment=experiment)
    root = artifact_root(info=info, model_id=model_id)
    return _listing(info=info, root=root, path=path)


def _walk(*, info: RunArtifactsInfo, root: str, path: str) -> list[ArtifactEntry]:
    files = []
    for entry in _listing(info=info, root=root, path=path):
        if entry.is_dir:
            files.extend(_walk(info=info, root=root, path=entry.path))
        else:
            files.append(entry)
    return files


def artifact_tree(
    *, experiment: MLExperiment, model_id: str | None = None, path: str = ""
) -> list[ArtifactEntry]:
    """Every file below ``path`` (the whole run by default), depth first, folders first."""
    info = experiment_artifacts(experiment=experiment)
    root = artifact_root(info=info, model_id=model_id)
    if not _is_frozen(info):
        return _walk(info=info, root=root, path=path)
    return cached(
        _cache_key("tree", info.run_id, root, path),
        lambda: _walk(info=info, root=root, path=path),
        _cache_seconds(),
    )


def artifact_entry(
    *, experiment: MLExperiment, path: str, model_id: str | None = None
) -> ArtifactEntry:
    """The entry at ``path`` ("" is the root folder); NotFoundError when it does not exist.

    MLflow lists a missing folder as empty, so an entry is looked up in its parent's listing.
    """
    if path == "":
        # Resolve the root (and the model id) so that a wrong model id is a 404 here too.
        artifact_root(info=experiment_artifacts(experiment=experiment), model_id=model_id)
        return ArtifactEntry(path="", is_dir=True)
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    for entry in artifact_children(experiment=experiment, path=parent, model_id=model_id):
        if entry.path == path:
            return entry
    raise NotFoundError(_("No existe el artefacto «%(path)s».") % {"path": path})


@dataclass(frozen=True)
class ZipMember:
    arcname: str  # the name inside the archive
    root: str  # the MLflow artifact root it is read from
    path: str  # its path below that root
    size: int | None


@dataclass(frozen=True)
class ArtifactTotals:
    files: int
    bytes: int


def artifact_totals(*, experiment: MLExperiment) -> ArtifactTotals:
    """How many files the run and its logged models hold, and their total size."""
    info = experiment_artifacts(experiment=experiment)
    files = list(artifact_tree(experiment=experiment))
    for model in info.models:
        files.extend(artifact_tree(experiment=experiment, model_id=model.model_id))
    return ArtifactTotals(files=len(files), bytes=sum(entry.size or 0 for entry in files))


def _model_prefix(*, info: RunArtifactsInfo, model: LoggedModelRef, run_files) -> str:
    # "model/" as MLflow 2 had it, unless the run itself already holds a "model" folder.
    base = "model"
    if any(entry.path.split("/", 1)[0] == "model" for entry in run_files):
        base = "logged-model"
    return base if len(info.models) == 1 else f"{base}/{model.model_id}"


def artifact_zip_members(
    *, experiment: MLExperiment, path: str = "", model_id: str | None = None
) -> list[ZipMember]:
    """The files a ZIP of ``path`` holds; the whole run (with its logged models) for ""."""
    info = experiment_artifacts(experiment=experiment)
    root = artifact_root(info=info, model_id=model_id)
    entry = artifact_entry(experiment=experiment, path=path, model_id=model_id)
    files = (
        artifact_tree(experiment=experiment, model_id=model_id, path=path)
        if entry.is_dir
        else [entry]
    )
    members = [ZipMember(arcname=f.path, root=root, path=f.path, size=f.size) for f in files]
    if path == "" and not model_id:
        for model in info.models:
            prefix = _model_prefix(info=info, model=model, run_files=files)
            for f in artifact_tree(experiment=experiment, model_id=model.model_id):
                members.append(
                    ZipMember(
                        arcname=f"{prefix}/{f.path}", root=model.root, path=f.path, size=f.size
                    )
                )
    return members


def artifact_selection_members(
    *, experiment: MLExperiment, paths: list[str], model_paths: list[tuple[str, str]] = ()
) -> list[ZipMember]:
    """The files of a selection: run paths, and (model id, path) pairs of its logged models.

    Folders in a selection bring their files along; a path chosen twice is zipped once.
    """
    if not paths and not model_paths:
        raise ApplicationError(_("Seleccione al menos un archivo para descargar."))
    info = experiment_artifacts(experiment=experiment)
    members: dict[str, ZipMember] = {}
    for path in paths:
        for member in artifact_zip_members(experiment=experiment, path=path):
            members.setdefault(member.arcname, member)
    run_files = artifact_tree(experiment=experiment) if model_paths else []
    for model_id, path in model_paths:
        model = next((m for m in info.models if m.model_id == model_id), None)
        if model is None:
            raise NotFoundError(_("Este run no tiene ese modelo registrado."))
        prefix = _model_prefix(info=info, model=model, run_files=run_files)
        for member in artifact_zip_members(experiment=experiment, path=path, model_id=model_id):
            arcname = f"{prefix}/{member.arcname}"
            members.setdefault(arcname, ZipMember(arcname, member.root, member.path, member.size))
    return list(members.values())
