"""Storage backends of Cauce's own.

Static files as production serves them: hashed names, cached for ever, and gzip copies.
whitenoise also writes a brotli copy of every file whenever the ``brotli`` module happens to be
importable. The image does not install it, but a development tool may bring it along (locust
does), and brotli at its highest quality takes minutes of CPU for Cauce's 27 MB of static
files on a 2-core machine. Gzip only, then: ``collectstatic`` does the same work everywhere.

Kept files (datasets, predictions) on the data dir behave as in a bucket: a bucket has no
folders, so deleting a folder's last file leaves no empty folder behind.
"""

import contextlib
import os

from django.core.files.storage import FileSystemStorage
from whitenoise.storage import CompressedManifestStaticFilesStorage


class GzipManifestStaticFilesStorage(CompressedManifestStaticFilesStorage):
    def create_compressor(self, **kwargs):
        return super().create_compressor(**{**kwargs, "use_brotli": False})


class DataFileSystemStorage(FileSystemStorage):
    """The data dir's media folder, where a folder lives only as long as it holds a file."""

    def delete(self, name: str) -> None:
        super().delete(name)
        root = os.path.realpath(self.location)
        folder = os.path.dirname(self.path(name))
        while os.path.realpath(folder).startswith(root + os.sep):
            with contextlib.suppress(OSError):  # not empty (or gone): the folders above stay
                os.rmdir(folder)
            if os.path.isdir(folder):
                return
            folder = os.path.dirname(folder)
