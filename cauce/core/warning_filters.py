"""The process's warning filters, fewer and meaning the same (``filters_compact``).

scikit-learn runs each task of its ``Parallel`` (each tree of a forest, even with
``n_jobs=None``) inside ``warnings.catch_warnings()`` and installs every filter of the
process again there, one call each, every call scanning the list
(``sklearn.utils.parallel._FuncWrapper``). With the 15 filters that Python, numpy, scipy,
urllib3 and requests install, that was a quarter of a one-row prediction of a 100-tree
RandomForest (``bench/bench_predict.py``): the web process compacts them once at start.

Python uses the first filter that matches a warning, so two neighbours with the same action
are one filter matching what either matches: neighbours told apart only by their category
(no message, no module) become one filter with a tuple of categories (``issubclass`` takes
one, and so does ``warnings.simplefilter``, which scikit-learn uses for them); neighbours told
apart only by their message become one filter with both patterns as alternatives. Every
warning gets the same action as before.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

Filter = tuple[str, Any, Any, Any, int]  # action, message, category, module, lineno


def filters_compact() -> int:
    """Merge neighbouring filters of the same action that one filter can express; how many
    filters there were before. Without CPython's ``warnings._filters_mutated`` (which makes
    the warnings already seen be looked at again), nothing changes."""
    mutated = getattr(warnings, "_filters_mutated", None)
    before = len(warnings.filters)
    if mutated is None:
        return before
    compact = filters_merged(list(warnings.filters))
    if len(compact) < before:
        warnings.filters[:] = compact
        mutated()
    return before


def filters_merged(filters: list[Filter]) -> list[Filter]:
    merged: list[Filter] = []
    for item in filters:
        joined = _joined(merged[-1], item) if merged else None
        if joined is None:
            merged.append(item)
        else:
            merged[-1] = joined
    return merged


def _joined(first: Filter, second: Filter) -> Filter | None:
    """One filter matching what either matches, when both have the same action; else None."""
    action, message, category, module, lineno = first
    action_2, message_2, category_2, module_2, lineno_2 = second
    if action != action_2 or lineno != lineno_2 or not _same_pattern(module, module_2):
        return None
    if message is None and message_2 is None and module is None:
        categories = tuple(dict.fromkeys([*_categories(category), *_categories(category_2)]))
        return (action, None, categories, None, lineno)
    if (
        category is category_2
        and isinstance(category, type)
        and isinstance(message, re.Pattern)
        and isinstance(message_2, re.Pattern)
        and message.flags == message_2.flags
    ):
        try:
            pattern = re.compile(f"(?:{message.pattern})|(?:{message_2.pattern})", message.flags)
        except re.error:  # e.g. an inline flag, valid only at the start of a pattern
            return None
        return (action, pattern, category, module, lineno)
    return None


def _categories(category: Any) -> tuple[type, ...]:
    return category if isinstance(category, tuple) else (category,)


def _same_pattern(first: Any, second: Any) -> bool:
    """Whether two messages or modules match the same: None, a compiled pattern, or a plain
    string (Python's own default filters name ``__main__`` so, matched whole)."""
    if isinstance(first, re.Pattern) and isinstance(second, re.Pattern):
        return first.pattern == second.pattern and first.flags == second.flags
    return type(first) is type(second) and first == second
