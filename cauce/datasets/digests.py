"""A dataset version's content digest: SHA-256 of the file's bytes as stored, streamed.

Cut to 32 hex characters (128 bits): MLflow refuses a dataset digest longer than 36, and
Cauce passes this same digest to MLflow's dataset inputs, so that
``search_runs(filter_string="dataset.digest = '<digest>'")`` finds the runs of a version.
"""

import hashlib
from collections.abc import Iterable
from typing import IO

DIGEST_LENGTH = 32
CHUNK_BYTES = 1024 * 1024


class StreamDigest:
    """Fed the bytes in order, chunk by chunk (bounded memory)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()[:DIGEST_LENGTH]


def digest_chunks(chunks: Iterable[bytes]) -> str:
    digest = StreamDigest()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def digest_handle(handle: IO[bytes]) -> str:
    """The digest of a binary file read from its start to its end in 1 MB chunks."""
    handle.seek(0)
    return digest_chunks(iter(lambda: handle.read(CHUNK_BYTES), b""))
