"""MLflow's search filters, written the same way by every caller.

MLflow reads a filter's string literal by removing its quotes and nothing else: no escape
is undone. So a value is written between single quotes, or between double quotes when it
holds a single quote, and one that cannot be written so (it holds both quotes, or a
backslash before the closing quote, which the filter's tokenizer takes as an escape) is
refused instead of matching something else.
"""

from __future__ import annotations


def filter_value(value: object) -> str:
    """``value`` as a string literal of a search filter (``tags.`k` = <literal>``), read back
    by MLflow exactly as given; ``ValueError`` when no literal says it."""
    text = str(value)
    quote = "'" if "'" not in text else '"' if '"' not in text else ""
    if not quote or text.endswith("\\") or "\\" + quote in text:
        raise ValueError(f"Not usable in an MLflow search filter: {text!r}")
    return quote + text + quote
