"""Drift statistics of one feature: plain numpy and scipy on bounded inputs.

Why not evidently: it computes the same tests (PSI, KS, chi-squared) but from two whole
DataFrames, reference and current, and brings a large dependency tree (its own pinned
pandas, plotly, nltk...). Cauce never keeps the training data or the raw inputs: it has a
profile (bins, counts, a bounded reference sample) and hourly bin counts plus a bounded
reservoir sample. On those, each statistic is a few lines of numpy or one scipy call, with
memory bounded by the sample sizes, whatever the traffic.

- PSI: sum over the reference bins of (current share - reference share) * ln(current share /
  reference share), each share at least ``PSI_FLOOR`` so that an empty bin is finite.
- Numeric features: the two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``)
  between the profile's reference sample (at most 1,000 training values drawn at training
  time) and the window's sampled values.
- Categorical features: the chi-squared goodness-of-fit test (``scipy.stats.chisquare``) of
  the window's sampled category counts against the reference's frequencies (top 50 and
  "other"); categories the reference never saw fall into "other".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from cauce.monitoring.profile import NUMERIC, feature_bin_counts, feature_values

PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class Thresholds:
    psi: float = 0.2
    p_value: float = 0.01
    min_rows: int = 200


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str
    rows: int
    sample_rows: int
    psi: float | None
    test: str
    p_value: float | None
    missing_rate: float | None
    missing_rate_change: float | None
    flagged: bool
    reference: list[float]
    current: list[float]


def shares(counts: list[int] | np.ndarray) -> np.ndarray:
    values = np.asarray(counts, dtype=float)
    total = values.sum()
    return values / total if total else values


def psi(reference_counts: list[int], current_counts: list[int]) -> float | None:
    """The population stability index of the current counts against the reference's; None
    when either has no rows."""
    reference, current = np.asarray(reference_counts, float), np.asarray(current_counts, float)
    if reference.sum() == 0 or current.sum() == 0 or len(reference) != len(current):
        return None
    expected = np.maximum(shares(reference), PSI_FLOOR)
    actual = np.maximum(shares(current), PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def two_sample_p_value(feature: dict[str, Any], values: np.ndarray) -> tuple[str, float | None]:
    """(test name, p-value) of the window's sampled values of ``feature`` (read by
    ``profile.feature_values``) against the reference; None without values to test."""
    if feature["kind"] == NUMERIC:
        present = values[~np.isnan(values)]
        reference = np.asarray(feature.get("sample") or [], dtype=float)
        if len(present) == 0 or len(reference) == 0:
            return "ks", None
        return "ks", float(stats.ks_2samp(reference, present).pvalue)
    counts, _missing = feature_bin_counts(feature, values)
    observed = np.asarray(counts, dtype=float)
    if observed.sum() == 0:
        return "chi2", None
    expected = shares(feature["counts"]) * observed.sum()
    # A category the reference never had (share 0) cannot be tested cell by cell: rows seen
    # there anyway make the difference certain, otherwise the cell is left out.
    seen = expected > 0
    if (observed[~seen] > 0).any():
        return "chi2", 0.0
    if seen.sum() < 2:
        return "chi2", 1.0
    return "chi2", float(stats.chisquare(observed[seen], expected[seen]).pvalue)


def _finite(value: float | None) -> float | None:
    return value if value is not None and np.isfinite(value) else None


def feature_drift(
    feature: dict[str, Any],
    *,
    counts: list[int] | None,
    missing: int,
    rows: int,
    sample: np.ndarray | list[Any],
    thresholds: Thresholds,
) -> FeatureDrift:
    """The drift of one feature over a window: its binned ``counts`` and ``missing`` over
    ``rows`` rows, and the window's ``sample`` of its values (NaN or None when missing)."""
    if feature["kind"] == NUMERIC:
        values = (
            sample.astype(float, copy=False)
            if isinstance(sample, np.ndarray) and sample.dtype.kind == "f"
            else np.array([np.nan if v is None else v for v in sample], dtype=float)
        )
    else:
        values = feature_values(feature, np.array(sample, dtype=object))
    index = _finite(psi(feature["counts"], counts) if counts is not None else None)
    test, p_value = two_sample_p_value(feature, values)
    p_value = _finite(p_value)
    missing_rate = missing / rows if rows else None
    change = missing_rate - feature["missing_rate"] if missing_rate is not None else None
    # With few rows a PSI over 10 bins is noise (about 9 / rows when nothing moved): both
    # the PSI and the test flag only from ``min_rows`` rows (sampled rows, for the test).
    psi_flag = index is not None and index >= thresholds.psi and rows >= thresholds.min_rows
    test_flag = (
        p_value is not None and p_value < thresholds.p_value and len(sample) >= thresholds.min_rows
    )
    flagged = psi_flag or test_flag
    return FeatureDrift(
        feature=feature["name"],
        kind=feature["kind"],
        rows=rows,
        sample_rows=len(sample),
        psi=index,
        test=test,
        p_value=p_value,
        missing_rate=missing_rate,
        missing_rate_change=change,
        flagged=bool(flagged),
        reference=[round(float(s), 6) for s in shares(feature["counts"])],
        current=[round(float(s), 6) for s in shares(counts or [])],
    )
