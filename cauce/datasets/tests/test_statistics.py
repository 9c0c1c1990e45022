"""Column statistics read in chunks: the same figures as the whole table, in bounded memory."""

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from cauce.datasets import column_statistics as statistics
from cauce.datasets.inference import profile_file
from cauce.datasets.services import dataset_statistics_compute
from cauce.datasets.tests.samples import parquet_bytes


def _compute(content: bytes) -> dict:
    profile = profile_file(io.BytesIO(content))
    return dataset_statistics_compute(
        io.BytesIO(content),
        file_format=profile.file_format,
        encoding=profile.encoding,
        delimiter=profile.delimiter,
        schema=profile.schema,
    )


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    size = 1000
    values = rng.normal(50, 12, size).round(3)
    values[::17] = np.nan
    return pd.DataFrame(
        {
            "value": values,
            "city": rng.choice(["Madrid", "Sevilla", "Bilbao"], size, p=[0.6, 0.3, 0.1]),
            "label": rng.choice([0, 1], size),
            "code": [f"id-{index}" for index in range(size)],
        }
    )


def test_chunks_give_the_figures_of_the_whole_column(frame, monkeypatch):
    # Chunks of 64 rows: the merge of partial means and deviations must be exact.
    monkeypatch.setattr(statistics, "CHUNK_ROWS", 64)
    result = _compute(frame.to_csv(index=False).encode())
    value = result["value"]
    column = frame["value"].dropna()
    assert value["min"] == column.min() and value["max"] == column.max()
    assert value["mean"] == pytest.approx(column.mean(), rel=1e-12)
    assert value["std"] == pytest.approx(column.std(), rel=1e-12)  # sample deviation (n - 1)
    counts = frame["city"].value_counts()
    assert result["city"] == {
        "top": [[name, int(counts[name])] for name in ("Madrid", "Sevilla", "Bilbao")],
        "distinct": 3,
    }
    # An integer column with few values is counted too (a class target may be one).
    assert [value for value, _count in result["label"]["top"]] == sorted(
        ["0", "1"], key=lambda name: -int((frame["label"].astype(str) == name).sum())
    )
    assert result["label"]["mean"] == pytest.approx(frame["label"].mean())


def test_only_the_ten_most_frequent_values_are_kept(frame):
    frame["letter"] = [chr(ord("a") + index % 15) for index in range(len(frame))]
    result = _compute(frame.to_csv(index=False).encode())
    assert len(result["letter"]["top"]) == statistics.TOP_VALUES == 10
    assert result["letter"]["distinct"] == 15


def test_a_column_of_too_many_distinct_values_is_not_counted(frame, monkeypatch):
    monkeypatch.setattr(statistics, "MAX_COUNTED_VALUES", 100)
    result = _compute(frame.to_csv(index=False).encode())
    assert result["code"] == {}  # 1000 identifiers: no counts kept, nothing to show
    assert "top" not in result["value"]


def test_parquet_columns_get_the_same_statistics():
    content = parquet_bytes(
        pa.table({"x": [1.0, 2.0, 4.0, None], "y": ["a", "b", "a", "a"], "z": [True] * 4})
    )
    result = _compute(content)
    assert result["x"]["mean"] == pytest.approx(7 / 3)
    assert (result["x"]["min"], result["x"]["max"]) == (1.0, 4.0)
    assert result["y"]["top"] == [["a", 3], ["b", 1]]
    assert result["z"]["top"] == [["True", 4]]


def test_a_single_value_has_no_spread():
    result = _compute(b"a,b\n3,x\n")
    assert result["a"]["std"] == 0.0 and result["a"]["mean"] == 3.0
