"""MLflow's searches, written the same way by every caller: filters and pages.

MLflow reads a filter's string literal by removing its quotes and nothing else: no escape
is undone. So a value is written between single quotes, or between double quotes when it
holds a single quote, and one that cannot be written so (it holds both quotes, or a
backslash before the closing quote, which the filter's tokenizer takes as an escape) is
refused instead of matching something else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")


def filter_value(value: object) -> str:
    """``value`` as a string literal of a search filter (``tags.`k` = <literal>``), read back
    by MLflow exactly as given; ``ValueError`` when no literal says it."""
    text = str(value)
    quote = "'" if "'" not in text else '"' if '"' not in text else ""
    if not quote or text.endswith("\\") or "\\" + quote in text:
        raise ValueError(f"Not usable in an MLflow search filter: {text!r}")
    return quote + text + quote


def search_pages(
    fetch: Callable[[str | None], tuple[Iterable[Item], str | None]],
) -> Iterator[Item]:
    """Every item of a search MLflow answers page by page: ``fetch(page_token)`` asks for
    one page (the first with None) and returns its items and the next page's token (empty
    or None after the last)."""
    token: str | None = None
    while True:
        items, token = fetch(token)
        yield from items
        if not token:
            return
