"""Profiles, binning, sampling and drift statistics on real numbers (no database)."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from cauce.monitoring.drift import Thresholds, feature_drift, psi
from cauce.monitoring.profile import profile_build
from cauce.monitoring.recording import frame_reduce, sample_merge

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def _frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(10, 2, rows),
            "b": rng.normal(0, 1, rows) + shift,
            "c": rng.exponential(3, rows),
            "city": rng.choice(["Lima", "Quito", "Bogotá", "Cusco"], rows, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


def _drift(profile, frame):
    reduced = frame_reduce(profile, frame, at=NOW, limit=5000, rng=np.random.default_rng(1))
    results = {}
    for position, feature in enumerate(profile["features"], start=1):
        results[feature["name"]] = feature_drift(
            feature,
            counts=reduced.counts[feature["name"]],
            missing=reduced.missing[feature["name"]],
            rows=reduced.rows,
            sample=[row[position] for row in reduced.sample],
            thresholds=Thresholds(),
        )
    return results


def test_a_profile_has_ten_quantile_bins_and_the_top_categories():
    frame = _frame(2000, seed=1)
    frame.loc[:99, "a"] = np.nan

    profile = profile_build(frame)

    a, _b, _c, city = profile["features"]
    assert (a["kind"], city["kind"]) == ("numeric", "categorical")
    assert len(a["edges"]) == 9 and len(a["counts"]) == 10
    assert sum(a["counts"]) == 1900 and max(a["counts"]) - min(a["counts"]) <= 2
    assert a["missing_rate"] == pytest.approx(0.05)
    assert a["mean"] == pytest.approx(frame["a"].mean()) and len(a["sample"]) == 1000
    assert city["categories"][0] == "Lima" and city["counts"][-1] == 0  # no "other"
    assert sum(city["counts"]) == 2000


def test_one_feature_shifted_one_sd_is_flagged_and_the_others_are_not():
    profile = profile_build(_frame(5000, seed=1))

    results = _drift(profile, _frame(1000, seed=2, shift=1.0))

    shifted = results["b"]
    assert shifted.flagged and shifted.psi > 0.2 and shifted.p_value < 0.01
    assert shifted.test == "ks"
    for name in ("a", "c", "city"):
        assert results[name].psi < 0.1, name
        assert not results[name].flagged, name
    assert results["city"].test == "chi2"


def test_a_new_category_flags_a_categorical_feature():
    profile = profile_build(_frame(5000, seed=1))
    frame = _frame(1000, seed=3)
    frame.loc[:399, "city"] = "Caracas"

    result = _drift(profile, frame)["city"]

    assert result.flagged and result.psi > 0.2 and result.p_value < 0.01


def test_few_rows_never_flag():
    profile = profile_build(_frame(5000, seed=1))

    results = _drift(profile, _frame(50, seed=2, shift=3.0))

    assert results["b"].psi > 0.2 and not results["b"].flagged


def test_missing_values_change_the_missing_rate():
    profile = profile_build(_frame(5000, seed=1))
    frame = _frame(1000, seed=2)
    frame.loc[:299, "c"] = np.nan

    result = _drift(profile, frame)["c"]

    assert result.missing_rate == pytest.approx(0.3)
    assert result.missing_rate_change == pytest.approx(0.3)


def test_psi_is_zero_for_the_same_shares_and_none_without_rows():
    assert psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0)
    assert psi([10, 20, 30], [0, 0, 0]) is None


def test_merged_samples_keep_every_row_equally_likely():
    rng = np.random.default_rng(5)
    from_second = 0
    for _ in range(300):
        merged = sample_merge(
            [("a", i) for i in range(100)], 900, [("b", i) for i in range(100)], 100,
            limit=100, rng=rng,
        )  # fmt: skip
        assert len(merged) == 100
        from_second += sum(1 for source, _ in merged if source == "b")
    # 100 of 1000 rows came from the second set: a tenth of the sample, on average.
    assert from_second / 300 == pytest.approx(10, abs=1.0)


def test_infinities_count_as_missing():
    frame = _frame(1000, seed=1)
    frame.loc[:9, "a"] = np.inf
    profile = profile_build(frame)

    reduced = frame_reduce(profile, frame, at=NOW, limit=5000, rng=np.random.default_rng(1))

    assert profile["features"][0]["missing_rate"] == pytest.approx(0.01)
    assert np.isfinite(profile["features"][0]["edges"]).all()
    assert reduced.missing["a"] == 10
