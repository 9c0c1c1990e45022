"""An upload kept for a retry: a prediction refused (a wrong column, a bad value) gives the page
back with the user's choices, and a browser cannot refill a file input. The file waits in
Django's storage under a signed, short-lived reference for the next submit of the same user
and model; taking it removes it, and anything older than ``KEEP_SECONDS`` is swept when the
next file is kept.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import PurePath

from django.core import signing
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone

KEPT_DIR = "predictions/kept"
KEEP_SECONDS = 3600
SALT = "cauce.registry.predict.kept"


def upload_keep(*, upload: UploadedFile, user_id: int, model_id: int) -> str:
    """Store ``upload``; the reference to send back with the page."""
    _sweep()
    original = PurePath(upload.name or "datos.csv").name[:200]
    upload.seek(0)
    path = default_storage.save(f"{KEPT_DIR}/{uuid.uuid4().hex}", upload)
    return signing.dumps(
        {"path": path, "name": original, "user": user_id, "model": model_id}, salt=SALT
    )


def kept_name(reference: str, *, user_id: int, model_id: int) -> str | None:
    """The original file name behind ``reference``, if it is still valid for them."""
    data = _load(reference, user_id=user_id, model_id=model_id)
    return data["name"] if data else None


def upload_take(reference: str, *, user_id: int, model_id: int) -> File | None:
    """The kept file (opened; named as the user's file), or None if gone, expired or not theirs.

    The caller reads it, then calls ``upload_forget``."""
    data = _load(reference, user_id=user_id, model_id=model_id)
    if data is None or not default_storage.exists(data["path"]):
        return None
    return File(default_storage.open(data["path"], "rb"), name=data["name"])


def upload_forget(reference: str, *, user_id: int, model_id: int) -> None:
    data = _load(reference, user_id=user_id, model_id=model_id)
    if data is not None:
        default_storage.delete(data["path"])


def _load(reference: str, *, user_id: int, model_id: int) -> dict | None:
    try:
        data = signing.loads(reference, salt=SALT, max_age=KEEP_SECONDS)
    except signing.BadSignature:
        return None
    if data.get("user") != user_id or data.get("model") != model_id:
        return None
    if not str(data.get("path", "")).startswith(f"{KEPT_DIR}/"):
        return None
    return data


def _sweep() -> None:
    try:
        _folders, names = default_storage.listdir(KEPT_DIR)
    except FileNotFoundError:
        return
    cutoff = timezone.now() - timedelta(seconds=KEEP_SECONDS)
    for name in names:
        path = f"{KEPT_DIR}/{name}"
        try:
            if default_storage.get_modified_time(path) < cutoff:
                default_storage.delete(path)
        except (FileNotFoundError, NotImplementedError):
            continue
