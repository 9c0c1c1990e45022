"""Django's cache, as a help that never fails a request.

What Cauce keeps there (an ended run's artifact listings, MLflow's status for a few seconds) can
always be read again from where it came from. With a shared cache (``CACHE_URL``, e.g. the
Redis of compose) a cache that is down or slow must not turn a page into an error: a read
that fails is a miss, a write that fails is skipped, and both are logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import cache

logger = logging.getLogger(__name__)

T = TypeVar("T")
_MISSING = object()


def cache_get(key: str, default: Any = None) -> Any:
    """``cache.get``; ``default`` when the cache cannot be read."""
    try:
        return cache.get(key, default)
    except Exception as exc:  # any backend's error: a connection refused, a timeout...
        logger.warning("Cache unavailable, read skipped: %r", exc)
        return default


def cache_set(key: str, value: Any, timeout: float | None) -> None:
    """``cache.set``; nothing when the cache cannot be written."""
    try:
        cache.set(key, value, timeout)
    except Exception as exc:
        logger.warning("Cache unavailable, write skipped: %r", exc)


def cached(
    key: str,
    compute: Callable[[], T],
    timeout: float | None,
    keep: Callable[[T], bool] | None = None,
) -> T:
    """The cached value, or ``compute()``, kept unless ``keep(value)`` says not to."""
    value = cache_get(key, _MISSING)
    if value is _MISSING:
        value = compute()
        if keep is None or keep(value):
            cache_set(key, value, timeout)
    return value
