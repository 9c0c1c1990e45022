"""What one training may take from its worker: memory.

The limit (``TRAINING_MEMORY_MB``) is how much the training may add to the memory its process
already uses, counted as Linux counts a process's data (heap and private anonymous mappings:
``RLIMIT_DATA``). It is set in the process that trains (a prefork pool process) for the
training only: an allocation beyond it fails, NumPy, pandas and scikit-learn raise
``MemoryError``, and the experiment ends in ERROR with a message that names the limit, while
the process and the worker live on. Reserved but untouched address space (thread stacks
aside) does not count, so the many arenas of a multithreaded fit do not trip it. Elsewhere
than Linux there is no limit.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from cauce.core.exceptions import ApplicationError

logger = logging.getLogger(__name__)

MIB = 2**20


class TrainingMemoryExceeded(ApplicationError):
    def __init__(self, limit_mb: int) -> None:
        super().__init__(
            _(
                "El entrenamiento superó el límite de memoria de %(limit)d MB y se detuvo. "
                "Pruebe con menos filas o columnas o con un modelo más pequeño (p. ej. menos "
                "árboles o menos profundidad), o pida que se amplíe el límite "
                "(CAUCE_TRAINING_MEMORY_MB)."
            )
            % {"limit": limit_mb}
        )
        self.limit_mb = limit_mb


def _data_bytes() -> int | None:
    """This process's data size now (VmData), or None where /proc does not say."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmData:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) * 1024 if found else None


@contextlib.contextmanager
def training_memory_limit(limit_mb: int | None = None) -> Iterator[None]:
    """Run the block with at most ``limit_mb`` (default ``TRAINING_MEMORY_MB``) more memory;
    going beyond raises ``TrainingMemoryExceeded``. The previous limit is back afterwards."""
    limit_mb = settings.TRAINING_MEMORY_MB if limit_mb is None else limit_mb
    base = _data_bytes() if limit_mb and sys.platform == "linux" else None
    if base is None:
        yield
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = base + limit_mb * MIB
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft != resource.RLIM_INFINITY:
        limit = min(limit, soft)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    try:
        yield
    except MemoryError as exc:
        # The training's frames (and its arrays) go with the traceback, not kept; the limit
        # is lifted (finally, below) before anything else runs.
        exc.__traceback__ = None
        logger.warning("A training went over its memory limit of %d MB", limit_mb)
        raise TrainingMemoryExceeded(limit_mb) from None
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))
