"""The web process's warning filters, compacted: fewer, and every warning meets the same fate."""

import re
import warnings

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from cauce.core.warning_filters import filters_compact


class FirstWarning(UserWarning):
    pass


class SecondWarning(UserWarning):
    pass


class ThirdWarning(UserWarning):
    pass


def _install(filters):
    warnings.resetwarnings()
    for action, message, category, module in reversed(filters):
        warnings.filterwarnings(action, message=message, category=category, module=module)


# Neighbours of one action told apart by category or by message merge; the others stay.
FILTERS = [
    ("error", "", FirstWarning, ""),
    ("error", "", SecondWarning, ""),
    ("ignore", "", ThirdWarning, "quiet"),
    ("ignore", "size changed", RuntimeWarning, ""),
    ("ignore", "matrix subclass", RuntimeWarning, ""),
    ("error", "", RuntimeWarning, ""),
    ("ignore", "", DeprecationWarning, ""),
    ("ignore", "", PendingDeprecationWarning, ""),
    ("error", "", UserWarning, ""),
    ("ignore", "", Warning, ""),
]
CATEGORIES = (FirstWarning, SecondWarning, ThirdWarning, UserWarning, RuntimeWarning)
PROBES = [
    (category, message, module)
    for category in (*CATEGORIES, DeprecationWarning, PendingDeprecationWarning, ResourceWarning)
    for message in ("size changed here", "Matrix subclass", "other", "numpy size changed")
    for module in ("quiet", "loud")
]


def _fates():
    fates = []
    for category, message, module in PROBES:
        try:
            warnings.warn_explicit(message, category, "f.py", 1, module=module, registry={})
        except Warning:
            fates.append("error")
        else:
            fates.append("ignored")
    return fates


def test_compacted_filters_are_fewer_and_decide_every_warning_as_before():
    with warnings.catch_warnings():
        _install(FILTERS)
        before = _fates()
        assert filters_compact() == len(FILTERS)
        assert len(warnings.filters) == len(FILTERS) - 3
        assert _fates() == before
        assert "error" in before and "ignored" in before
        merged = warnings.filters[2]
        assert merged[0] == "ignore" and merged[1].match("MATRIX SUBCLASS")
        assert warnings.filters[0][2] == (FirstWarning, SecondWarning)


def test_scikit_learn_predicts_under_compacted_filters():
    """scikit-learn installs each filter again around each tree (a tuple of categories with
    ``simplefilter``): a forest predicts as before, and the filters are left as they were."""
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, [0, 0, 1, 1])
    expected = forest.predict_proba(x).tolist()
    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        warnings.filterwarnings("ignore", message="numpy.dtype size changed")
        warnings.filterwarnings("ignore", message="numpy.ufunc size changed")
        filters_compact()
        assert len(warnings.filters) == 2
        compacted = list(warnings.filters)
        assert forest.predict_proba(x).tolist() == expected
        assert warnings.filters == compacted


@pytest.mark.parametrize("pattern", ["(?i)first", "plain"])
def test_messages_that_cannot_be_joined_stay_apart(pattern):
    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.filters[:] = [
            ("ignore", re.compile(pattern), Warning, None, 0),
            ("ignore", re.compile("second", re.I), Warning, None, 0),
        ]
        filters_compact()
        assert len(warnings.filters) == 2
