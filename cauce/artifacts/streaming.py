"""Artifact bytes from MLflow to the browser, streamed: never a whole file in memory.

A download pipes MLflow's proxied-artifact response chunk by chunk into a
``StreamingHttpResponse``. A ZIP is written by ``zipfile`` into a sink that hands each
written piece straight to the response, so memory stays flat whatever the archive's size;
members are stored (not compressed): measured in ``bench/bench_artifacts_zip.py``, stored
keeps the download at MLflow's speed, and most artifacts (images, pickles, parquet) would
barely shrink anyway.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Iterable, Iterator

import requests
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from cauce.artifacts import selectors
from cauce.artifacts.paths import artifact_content_type
from cauce.artifacts.selectors import ZipMember
from cauce.core.exceptions import ApplicationError
from cauce.integrations.mlflow.artifacts import artifact_open

# Measured (bench/bench_artifacts_download.py, 200 MB): 64 KiB chunks relay at ~0.6 of
# MLflow's own speed, 1 MiB chunks at ~0.9, for 1 MiB of memory per download.
CHUNK_SIZE = 1024 * 1024
# Waiting for the first byte of a large file from a remote store may take a while;
# a slow listing never reaches here (the page's reads keep the sub-second timeouts).
DOWNLOAD_READ_TIMEOUT = 10.0

# An SVG or HTML artifact must never run script in Cauce's origin.
ARTIFACT_CSP = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"
INLINE_CONTENT_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/svg+xml",
        "application/pdf",
        "text/plain",
        "text/html",
    }
)


class DirectoryDownloadError(ApplicationError):
    # The path exists but is a folder: a conflict with what was asked, not a malformed request.
    status_code = 409


class NotInlineError(ApplicationError):
    status_code = 400


def _secure(response: StreamingHttpResponse) -> StreamingHttpResponse:
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = ARTIFACT_CSP
    return response


class _UpstreamBody:
    """Iterates an MLflow response in chunks; Django calls ``close()`` when it is done."""

    def __init__(self, upstream: requests.Response):
        self._upstream = upstream

    def __iter__(self) -> Iterator[bytes]:
        return self._upstream.raw.stream(CHUNK_SIZE, decode_content=True)

    def close(self) -> None:
        self._upstream.close()


def file_response(
    *, root: str, path: str, is_dir: bool, inline: bool = False
) -> StreamingHttpResponse:
    """A streamed download of one file of ``root`` (already checked to exist)."""
    if is_dir:
        raise DirectoryDownloadError(
            _("«%(path)s» es una carpeta: descárguela como ZIP.") % {"path": path}
        )
    content_type = artifact_content_type(path)
    if inline and content_type not in INLINE_CONTENT_TYPES:
        raise NotInlineError(_("Este tipo de archivo no se puede mostrar en la página."))
    upstream = artifact_open(root=root, path=path, read_timeout=DOWNLOAD_READ_TIMEOUT)
    response = StreamingHttpResponse(_UpstreamBody(upstream), content_type=content_type)
    length = upstream.headers.get("Content-Length")
    if length and "Content-Encoding" not in upstream.headers:
        response["Content-Length"] = length
    name = path.rsplit("/", 1)[-1]
    response["Content-Disposition"] = content_disposition_header(not inline, name)
    if inline:
        # The preview page frames HTML and PDF artifacts; nothing else may.
        response["X-Frame-Options"] = "SAMEORIGIN"
    return _secure(response)


class _Sink:
    """A write-only file for ``zipfile``: keeps what was written until it is drained."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []

    def write(self, data: bytes) -> int:
        if data:
            self._pieces.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> Iterator[bytes]:
        pieces, self._pieces = self._pieces, []
        yield from pieces


def zip_chunks(members: Iterable[ZipMember]) -> Iterator[bytes]:
    """The ZIP archive of ``members``, yielded as it is written, one member at a time."""
    sink = _Sink()
    stamp = time.localtime()[:6]
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for member in members:
            info = zipfile.ZipInfo(member.arcname, date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            info.file_size = member.size or 0
            upstream = artifact_open(
                root=member.root, path=member.path, read_timeout=DOWNLOAD_READ_TIMEOUT
            )
            try:
                with zf.open(info, mode="w", force_zip64=member.size is None) as target:
                    for chunk in upstream.raw.stream(CHUNK_SIZE, decode_content=True):
                        target.write(chunk)
                        yield from sink.drain()
            finally:
                upstream.close()
            yield from sink.drain()
    yield from sink.drain()


def zip_response(*, members: list[ZipMember], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(zip_chunks(members), content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return _secure(response)


def zip_filename(*, experiment) -> str:
    return f"{get_valid_filename(experiment.name) or 'experimento'}-artifacts.zip"


# --- what the views and the API call ------------------------------------------------------


def artifact_download_response(
    *, experiment, path: str, model_id: str | None = None, inline: bool = False
) -> StreamingHttpResponse:
    """A checked, streamed download of one artifact file (404 missing, 400 a folder)."""
    if path == "":
        raise DirectoryDownloadError(_("Indique el archivo que quiere descargar."))
    info = selectors.experiment_artifacts(experiment=experiment)
    root = selectors.artifact_root(info=info, model_id=model_id)
    entry = selectors.artifact_entry(experiment=experiment, path=path, model_id=model_id)
    return file_response(root=root, path=path, is_dir=entry.is_dir, inline=inline)


def artifact_zip_response(
    *, experiment, path: str = "", model_id: str | None = None
) -> StreamingHttpResponse:
    """A folder (or the whole run with its logged models, for "") as a streamed ZIP."""
    members = selectors.artifact_zip_members(experiment=experiment, path=path, model_id=model_id)
    return zip_response(members=members, filename=zip_filename(experiment=experiment))


def artifact_selection_zip_response(
    *, experiment, paths: list[str], model_paths: list[tuple[str, str]]
) -> StreamingHttpResponse:
    members = selectors.artifact_selection_members(
        experiment=experiment, paths=paths, model_paths=model_paths
    )
    return zip_response(members=members, filename=zip_filename(experiment=experiment))
