"""Artifact paths that come from users: checked here, before MLflow is ever asked.

MLflow's own artifact handlers had a dozen path-traversal CVEs (CVE-2023-1177, CVE-2023-6909,
CVE-2024-1560, CVE-2024-3848...), most of them through encoded or double-encoded ``..``.
So a path is decoded until it stops changing, and only then checked segment by segment.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from urllib.parse import unquote

from django.utils.translation import gettext_lazy as _

from cauce.core.exceptions import ApplicationError

# Longer than any real artifact path; bounds the work done on hostile input.
MAX_PATH_LENGTH = 1024
_MAX_DECODE_ROUNDS = 5
_DRIVE = re.compile(r"^[A-Za-z]:")
_FORBIDDEN_CHARACTERS = ("\\", "#", "?")


class InvalidArtifactPath(ApplicationError):
    status_code = 400

    def __init__(self, message=None, extra=None):
        super().__init__(message or _("La ruta del artefacto no es válida."), extra)


def _fully_decoded(raw: str) -> str:
    value = raw
    for _round in range(_MAX_DECODE_ROUNDS):
        decoded = unquote(value, errors="strict")
        if decoded == value:
            return value
        value = decoded
    # Still changing after several rounds: nobody encodes a real path that many times.
    raise InvalidArtifactPath(_("La ruta del artefacto está codificada demasiadas veces."))


def clean_artifact_path(raw: str | None) -> str:
    """The normalized relative path ("" for the root), or InvalidArtifactPath.

    Rejects ``..`` and ``.`` segments, absolute paths (``/x``, ``C:``), backslashes, ``#``,
    ``?``, NUL and other control characters, and empty segments (``a//b``), in plain,
    encoded and double-encoded forms. One trailing ``/`` (a folder typed by hand) is allowed.
    """
    if raw is None:
        return ""
    if len(raw) > MAX_PATH_LENGTH:
        raise InvalidArtifactPath(_("La ruta del artefacto es demasiado larga."))
    try:
        path = _fully_decoded(raw)
    except UnicodeDecodeError as exc:
        raise InvalidArtifactPath() from exc
    if path == "":
        return ""
    if any(unicodedata.category(char) == "Cc" for char in path):
        raise InvalidArtifactPath(_("La ruta del artefacto contiene caracteres de control."))
    for char in _FORBIDDEN_CHARACTERS:
        if char in path:
            raise InvalidArtifactPath(
                _("La ruta del artefacto no puede contener «%(char)s».") % {"char": char}
            )
    if path.startswith("/") or _DRIVE.match(path):
        raise InvalidArtifactPath(_("La ruta del artefacto debe ser relativa al run."))
    if path.endswith("/"):
        path = path[:-1]
    segments = path.split("/")
    if any(segment == "" for segment in segments):
        raise InvalidArtifactPath(_("La ruta del artefacto tiene un tramo vacío («//»)."))
    if any(segment in (".", "..") for segment in segments):
        raise InvalidArtifactPath(_("La ruta del artefacto no puede contener «..» ni «.»."))
    return path


# Artifact kinds mimetypes does not know (MLflow's own files among them).
_EXTRA_TYPES = {
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".md": "text/markdown",
    ".log": "text/plain",
    ".tsv": "text/tab-separated-values",
    ".parquet": "application/vnd.apache.parquet",
    ".pkl": "application/octet-stream",
    ".webp": "image/webp",
}
_EXTRA_NAMES = {"MLmodel": "application/yaml"}


def artifact_content_type(path: str) -> str:
    """The MIME type of an artifact, from its name (never from its bytes)."""
    name = path.rsplit("/", 1)[-1]
    if name in _EXTRA_NAMES:
        return _EXTRA_NAMES[name]
    dot = name.rfind(".")
    extension = name[dot:].lower() if dot > 0 else ""
    if extension in _EXTRA_TYPES:
        return _EXTRA_TYPES[extension]
    guessed, _encoding = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"
