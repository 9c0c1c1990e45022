"""Per-column statistics of a dataset, computed once (at upload) by reading the file in chunks.

Memory stays bounded whatever the file's length: numbers keep a count, a mean and a sum of
squared deviations merged chunk by chunk (Chan et al.'s parallel form of Welford's method),
plus min and max; other columns keep their value counts only when the schema says they have
few distinct values (at most MAX_COUNTED_VALUES), so a column of identifiers is never counted.
Pure: no ORM, no request.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from typing import IO, Any

import pandas as pd
import pyarrow.parquet as pq

from cauce.datasets.inference import CSV, PARQUET

CHUNK_ROWS = 50_000
TOP_VALUES = 10
# Columns with more distinct values than this get no value counts (nor a class balance).
MAX_COUNTED_VALUES = 1000


class _Numbers:
    def __init__(self) -> None:
        self.count, self.mean, self.m2 = 0, 0.0, 0.0
        self.min: float | None = None
        self.max: float | None = None

    def add(self, values: pd.Series) -> None:
        values = values.dropna()
        count = len(values)
        if not count:
            return
        mean = float(values.mean())
        m2 = float(((values - mean) ** 2).sum())
        total = self.count + count
        delta = mean - self.mean
        self.m2 += m2 + delta * delta * self.count * count / total
        self.mean += delta * count / total
        self.count = total
        low, high = float(values.min()), float(values.max())
        self.min = low if self.min is None else min(self.min, low)
        self.max = high if self.max is None else max(self.max, high)

    def result(self) -> dict[str, Any]:
        if not self.count:
            return {}
        std = math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 0.0
        return {"min": self.min, "max": self.max, "mean": self.mean, "std": std}


def _key(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _chunks(
    handle: IO[bytes], *, file_format: str, encoding: str, delimiter: str, columns: list[str]
) -> Iterator[pd.DataFrame]:
    """The file's rows, CHUNK_ROWS at a time, typed by pandas as the profile reads them."""
    handle.seek(0)
    if file_format == PARQUET:
        for batch in pq.ParquetFile(handle).iter_batches(batch_size=CHUNK_ROWS, columns=columns):
            yield batch.to_pandas()
        return
    if file_format != CSV:
        return
    text = io.TextIOWrapper(handle, encoding=encoding or "utf-8", newline="")
    try:
        wanted = set(columns)
        reader = pd.read_csv(
            text,
            sep=delimiter or ",",
            index_col=False,
            engine="c",
            usecols=wanted.__contains__,
            chunksize=CHUNK_ROWS,
        )
        with reader:
            yield from reader
    finally:
        text.detach()
        handle.seek(0)


def dataset_statistics(
    handle: IO[bytes],
    *,
    file_format: str,
    encoding: str,
    delimiter: str,
    schema: list[dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """``{column: {"min", "max", "mean", "std"} for numbers, "top": [[value, count], ...]
    (most frequent first, at most TOP_VALUES), "distinct": n}`` for the columns of ``schema``.

    Only the columns with something to compute are read."""
    numbers = {c["name"]: _Numbers() for c in schema if c.get("kind") == "numeric"}
    counted: dict[str, dict[str, int]] = {
        c["name"]: {}
        for c in schema
        if int(c.get("unique", MAX_COUNTED_VALUES + 1)) <= MAX_COUNTED_VALUES
    }
    wanted = [c["name"] for c in schema if c["name"] in numbers or c["name"] in counted]
    if wanted:
        chunks = _chunks(
            handle,
            file_format=file_format,
            encoding=encoding,
            delimiter=delimiter,
            columns=wanted,
        )
        for chunk in chunks:
            for name, accumulator in numbers.items():
                if name in chunk:
                    accumulator.add(pd.to_numeric(chunk[name], errors="coerce").astype(float))
            for name, counts in counted.items():
                if name not in chunk:
                    continue
                # Counted on the raw values; only the few distinct ones become text.
                for value, count in chunk[name].value_counts(dropna=True).items():
                    key = _key(value.item() if hasattr(value, "item") else value)
                    counts[key] = counts.get(key, 0) + int(count)
    statistics: dict[str, dict[str, Any]] = {}
    for column in schema:
        name = column["name"]
        entry: dict[str, Any] = dict(numbers[name].result()) if name in numbers else {}
        if name in counted:
            ranked = sorted(counted[name].items(), key=lambda item: (-item[1], item[0]))
            entry["top"] = [[value, count] for value, count in ranked[:TOP_VALUES]]
            entry["distinct"] = len(ranked)
        statistics[name] = entry
    return statistics
