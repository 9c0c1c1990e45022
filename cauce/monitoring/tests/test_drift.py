"""Profiles, binning, sampling and drift statistics on real numbers (no database)."""

import itertools
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from cauce.monitoring import sample as samples
from cauce.monitoring.drift import Thresholds, feature_drift, psi
from cauce.monitoring.profile import profile_build
from cauce.monitoring.recording import frame_reduce

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
            sample=reduced.sample.values[position - 1],
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


def _day_sampled(sizes, *, limit, flush_every, rng):
    """One day of requests of ``sizes`` rows (each row its number in the day), sampled as a
    web process does: each request's rows under the bound of what is known (the pending
    sample, the stored one as last written), the pending merged into the stored one every
    ``flush_every`` requests. The numbers of the rows the stored sample keeps."""
    stored = samples.empty(1)
    pending = samples.empty(1)
    stored_bound = 1.0
    first = 0
    for position, size in enumerate(sizes):
        below = min(stored_bound, pending.bound(limit))
        rows = np.arange(first, first + size, dtype=float)
        part = samples.rows_drawn([rows], rows=size, stamp=0.0, limit=limit, rng=rng, below=below)
        assert len(part) <= limit
        pending = samples.merged([pending, part], limit)
        first += size
        if position % flush_every == flush_every - 1 or position == len(sizes) - 1:
            stored = samples.merged([stored, pending], limit)
            stored_bound = stored.bound(limit)
            pending = samples.empty(1)
    return stored.values[0].astype(int)


def test_the_day_s_sample_keeps_every_row_equally_likely():
    """Requests of very different sizes, merged through pending and stored samples with the
    bound cutting each request short: each request's share of the sample is its share of
    the day's rows, and so is each half of the largest request."""
    rng = np.random.default_rng(5)
    sizes = [3000, 40, 12000, 700, 1, 2500, 60, 9000, 300, 1400]
    limit, trials = 500, 400
    edges = np.cumsum([0, *sizes])
    total = edges[-1]
    picked = np.zeros(total, dtype=np.int64)
    for _ in range(trials):
        kept = _day_sampled(sizes, limit=limit, flush_every=3, rng=rng)
        assert len(kept) == limit and len(set(kept.tolist())) == limit  # no row twice
        picked[kept] += 1
    for start, end in itertools.pairwise(edges):
        for low, high in ((start, end), (start, (start + end) // 2), ((start + end) // 2, end)):
            if high - low < 40:
                continue
            expected = trials * limit * (high - low) / total
            assert abs(picked[low:high].sum() - expected) < 5 * np.sqrt(expected), (low, high)


def test_a_sample_stored_without_keys_merges_in_proportion_to_what_it_saw():
    """A sample stored before keys (100 rows of 900 seen) keyed by ``keys_for_kept``, merged
    with 100 new rows: a tenth of the merged sample comes from the new rows, on average."""
    rng = np.random.default_rng(5)
    from_new = 0
    trials = 600
    for _ in range(trials):
        old = samples.RowSample(
            keys=samples.keys_for_kept(100, 900, rng),
            stamps=np.zeros(100),
            values=[np.zeros(100)],
        )
        new = samples.rows_drawn([np.ones(100)], rows=100, stamp=0.0, limit=100, rng=rng)
        merged = samples.merged([old, new], 100)
        assert len(merged) == 100
        from_new += int(merged.values[0].sum())
    assert from_new / trials == pytest.approx(10, abs=0.6)


def test_a_sample_is_stored_as_one_table_and_read_back_the_same():
    sample = samples.RowSample(
        keys=np.array([0.5, 0.1, 0.7]),
        stamps=np.array([1.5, 2.5, 3.5]),
        values=[
            np.array([1.25, np.nan, -3.0]),
            np.array(["Lima", None, "Quito"], dtype=object),
            np.array([None, None, None], dtype=object),
        ],
    )

    data, texts = samples.encoded(sample, ["x", "city", "empty"])
    read = samples.decoded(memoryview(data), ["x", "city", "empty"], texts)

    assert len(data) == 3 * 5 * 8 and texts == {"city": ["Lima", "Quito"], "empty": []}
    assert read.keys.tolist() == [0.5, 0.1, 0.7] and read.stamps.tolist() == [1.5, 2.5, 3.5]
    np.testing.assert_array_equal(read.values[0], [1.25, np.nan, -3.0])
    assert read.values[1].tolist() == ["Lima", None, "Quito"]
    assert read.values[2].tolist() == [None, None, None]
    assert samples.decoded(b"", ["x"], {}).values[0].tolist() == []


def test_infinities_count_as_missing():
    frame = _frame(1000, seed=1)
    frame.loc[:9, "a"] = np.inf
    profile = profile_build(frame)

    reduced = frame_reduce(profile, frame, at=NOW, limit=5000, rng=np.random.default_rng(1))

    assert profile["features"][0]["missing_rate"] == pytest.approx(0.01)
    assert np.isfinite(profile["features"][0]["edges"]).all()
    assert reduced.missing["a"] == 10


@pytest.mark.parametrize("rows", [1, 999, 1000, 20_000])
def test_numeric_bins_are_the_same_counted_either_way(rows):
    """Few rows are binned by ``searchsorted``, many edge by edge: the same counts, values
    on an edge in the bin above it, missing ones apart."""
    from cauce.monitoring.profile import _numeric_bin_counts_per_edge, feature_bin_counts

    feature = profile_build(_frame(2000, seed=1))["features"][0]
    values = np.random.default_rng(rows).normal(10, 3, rows)
    values[1::5] = feature["edges"][3]
    values[::7] = np.nan
    counts, missing = feature_bin_counts(feature, values)

    present = values[~np.isnan(values)]
    bins = np.searchsorted(feature["edges"], present, side="right")
    assert counts == np.bincount(bins, minlength=10).tolist() and missing == (rows + 6) // 7
    assert _numeric_bin_counts_per_edge(feature, values) == (counts, missing)
