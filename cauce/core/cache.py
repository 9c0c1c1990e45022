"""Django's cache, as a help that never fails a request.

What Cauce keeps there (an ended run's artifact listings, MLflow's status for a few seconds) can
always be read again from where it came from. With a shared cache (``CACHE_URL``, e.g. the
Redis of compose) a cache that is down or slow must not turn a page into an error: a read
that fails is a miss, a write that fails is skipped, and both are logged. After a failure the
process leaves the cache alone for ``CACHE_PAUSE_SECONDS``: a cache that hangs costs one
timeout per pause, not one per read and write of every page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

T = TypeVar("T")
_MISSING = object()
# Cache location -> time.monotonic() until which it is left alone (this process).
_paused_until: dict[str, float] = {}


def _location() -> str:
    default = settings.CACHES.get("default", {})
    return f"{default.get('BACKEND', '')} {default.get('LOCATION', '')}"


def _paused() -> bool:
    return time.monotonic() < _paused_until.get(_location(), 0.0)


def _failed(action: str, exc: Exception) -> None:
    pause = settings.CACHE_PAUSE_SECONDS
    _paused_until[_location()] = time.monotonic() + pause
    logger.warning("Cache unavailable, %s skipped (left alone for %s s): %r", action, pause, exc)


def reset_pause() -> None:
    """Use the cache again at once (tests; a cache known to be back)."""
    _paused_until.clear()


def cache_get(key: str, default: Any = None) -> Any:
    """``cache.get``; ``default`` when the cache cannot be read, or was not a moment ago."""
    if _paused():
        return default
    try:
        return cache.get(key, default)
    except Exception as exc:  # any backend's error: a connection refused, a timeout...
        _failed("read", exc)
        return default


def cache_set(key: str, value: Any, timeout: float | None) -> None:
    """``cache.set``; nothing when the cache cannot be written, or was not a moment ago."""
    if _paused():
        return
    try:
        cache.set(key, value, timeout)
    except Exception as exc:
        _failed("write", exc)


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
