"""Static files as production serves them: hashed names, cached for ever, and gzip copies.

whitenoise also writes a brotli copy of every file whenever the ``brotli`` module happens to be
importable. The image does not install it, but a development tool may bring it along (locust
does), and brotli at its highest quality takes minutes of CPU for Cauce's 27 MB of static
files on a 2-core machine. Gzip only, then: ``collectstatic`` does the same work everywhere.
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class GzipManifestStaticFilesStorage(CompressedManifestStaticFilesStorage):
    def create_compressor(self, **kwargs):
        return super().create_compressor(**{**kwargs, "use_brotli": False})
