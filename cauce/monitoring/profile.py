"""A reference profile of a model's training inputs, and the binning of new rows against it.

Plain functions on pandas and numpy (no ORM, no MLflow), used by the runner at training time
and by the recording thread for each prediction. The profile is a JSON document:

- numeric feature: ``edges`` (the 9 inner decile edges of the training values: 10 bins, the
  outer two open-ended, fewer when values repeat), ``counts`` per bin, ``mean``, ``std``,
  ``missing_rate`` and ``sample``: up to ``REFERENCE_SAMPLE_ROWS`` training values drawn at
  random. The two-sample Kolmogorov-Smirnov test needs the reference's values, not only its
  deciles: the sample is what lets the test run from the profile alone, bounded in size.
- categorical feature: ``categories`` (the 50 most frequent, as text) and ``counts`` for each,
  then one more count for every other value ("other"), and ``missing_rate``.

A feature's bins (``feature_bin_counts``) are the profile's: its ``counts`` list and the
counts of new rows line up index by index, and the PSI compares them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

PROFILE_FORMAT = 1
# Where the runner logs it in the run's artifacts.
REFERENCE_PROFILE_ARTIFACT = "monitoring/reference_profile.json"
QUANTILE_BINS = 10
TOP_CATEGORIES = 50
REFERENCE_SAMPLE_ROWS = 1000
NUMERIC = "numeric"
CATEGORICAL = "categorical"


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _finite(numbers: np.ndarray) -> np.ndarray:
    """Infinities count as missing: JSON (and PostgreSQL's jsonb) has no infinity. A copy
    only when there are any (the array is read, never written)."""
    infinite = np.isinf(numbers)
    if not infinite.any():
        return numbers
    numbers = numbers.copy()
    numbers[infinite] = np.nan
    return numbers


def _numeric_feature(name: str, values: pd.Series, rng: np.random.Generator) -> dict[str, Any]:
    numbers = _finite(pd.to_numeric(values, errors="coerce").to_numpy(dtype=float))
    present = numbers[~np.isnan(numbers)]
    missing_rate = float(1 - len(present) / len(numbers)) if len(numbers) else 0.0
    if len(present) == 0:
        edges: list[float] = []
        counts = [0]
        mean = std = None
        sample: list[float] = []
    else:
        inner = np.quantile(present, np.linspace(0, 1, QUANTILE_BINS + 1)[1:-1])
        edges = [float(edge) for edge in np.unique(inner)]
        counts = np.bincount(
            np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1
        ).tolist()
        mean, std = float(present.mean()), float(present.std())
        take = min(REFERENCE_SAMPLE_ROWS, len(present))
        sample = [float(v) for v in rng.choice(present, size=take, replace=False)]
    return {
        "name": name,
        "kind": NUMERIC,
        "edges": edges,
        "counts": [int(count) for count in counts],
        "mean": mean,
        "std": std,
        "missing_rate": missing_rate,
        "sample": sample,
    }


def _categorical_feature(name: str, values: pd.Series) -> dict[str, Any]:
    present = values.dropna().astype(str)
    missing_rate = float(1 - len(present) / len(values)) if len(values) else 0.0
    frequencies = present.value_counts()
    top = frequencies.head(TOP_CATEGORIES)
    return {
        "name": name,
        "kind": CATEGORICAL,
        "categories": [str(category) for category in top.index],
        "counts": [int(count) for count in top.to_numpy()] + [int(len(present) - top.sum())],
        "missing_rate": missing_rate,
    }


def profile_build(frame: pd.DataFrame, *, seed: int = 0) -> dict[str, Any]:
    """The profile of ``frame``'s columns (the model's inputs, as it was trained on them)."""
    rng = np.random.default_rng(seed)
    features = [
        _numeric_feature(str(name), frame[name], rng)
        if _is_numeric(frame[name])
        else _categorical_feature(str(name), frame[name])
        for name in frame.columns
    ]
    return {"format": PROFILE_FORMAT, "rows": len(frame), "features": features}


def feature_values(feature: dict[str, Any], values: pd.Series) -> np.ndarray:
    """A column of new rows as the profile's kind reads it: floats (NaN when missing or not
    a number) or text (None when missing)."""
    if feature["kind"] == NUMERIC:
        dtype = getattr(values, "dtype", None)
        if isinstance(values, pd.Series) and isinstance(dtype, np.dtype) and dtype.kind in "fiu":
            return _finite(values.to_numpy(dtype=float))  # numbers already: nothing to parse
        return _finite(pd.to_numeric(values, errors="coerce").to_numpy(dtype=float))
    series = pd.Series(values)
    text = series.astype(str).to_numpy(dtype=object)
    text[series.isna().to_numpy()] = None
    return text


def feature_bin_counts(feature: dict[str, Any], values: np.ndarray) -> tuple[list[int], int]:
    """(counts per reference bin, missing count) of a column read by ``feature_values``."""
    if feature["kind"] == NUMERIC:
        if len(values) >= _COUNTED_PER_EDGE:
            return _numeric_bin_counts_per_edge(feature, values)
        missing = np.isnan(values)
        edges = np.asarray(feature["edges"], dtype=float)
        bins = np.searchsorted(edges, values[~missing], side="right")
        counts = np.bincount(bins, minlength=len(feature["counts"]))
        return [int(c) for c in counts], int(missing.sum())
    other = len(feature["categories"])
    missing = pd.isna(values)
    positions = pd.Index(feature["categories"], dtype=object).get_indexer(values[~missing])
    positions[positions < 0] = other
    counts = np.bincount(positions, minlength=other + 1)
    return [int(c) for c in counts], int(missing.sum())


# From this many rows, numeric bins are counted edge by edge (below, one ``searchsorted``
# costs fewer calls).
_COUNTED_PER_EDGE = 1000


def _numeric_bin_counts_per_edge(
    feature: dict[str, Any], values: np.ndarray
) -> tuple[list[int], int]:
    """``feature_bin_counts`` of many numbers: a value's bin is the number of edges at or
    below it (``searchsorted``'s "right"), so a bin's count is the rows at or above its lower
    edge less those at or above the next, counted edge by edge with no bin index per row
    (4 features of 10,000 rows: 0.1 ms of CPU instead of 0.85 with ``searchsorted`` and
    ``bincount``). NaN is never at or above an edge."""
    missing = int(np.count_nonzero(np.isnan(values)))
    above = [len(values) - missing]
    above += [int(np.count_nonzero(values >= edge)) for edge in feature["edges"]]
    above.append(0)
    counts = [above[i] - above[i + 1] for i in range(len(above) - 1)]
    counts += [0] * (len(feature["counts"]) - len(counts))
    return counts, missing
