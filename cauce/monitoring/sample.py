"""The day's reservoir sample of a version's input rows: a bottom-k sample, and its stored form.

Every row offered gets a random key, uniform in [0, 1) and independent of its values; the
sample is the ``MONITOR_SAMPLE_ROWS`` rows with the smallest keys. Whichever rows those are,
every set of that many rows of the day is equally likely: a uniform sample without
replacement, as reservoir sampling gives. Its use here is that samples merge by their keys
alone: the smallest keys of two samples' rows are the smallest keys of all the rows behind
them, whichever process or request sampled them, in any order, with no count to weigh. And a
row whose key is not below the largest key of a full sample can never enter it: once the
day's sample is full, a request keeps only the few rows under that key (about
``limit * rows / seen``), not a sample of its own.

Plain numpy (no ORM). A ``RowSample`` holds its rows column by column: the keys, the moment
of each row (epoch seconds) and one array per feature (floats with NaN when missing, or text
with None). Stored (``ReservoirSample.table``), it is one float64 array, column after column
(keys, moments, then each feature); a text column is stored as codes into the distinct
values listed in ``ReservoirSample.texts`` (NaN when missing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

STORED_DTYPE = np.dtype("<f8")
# Columns of a stored table before the features'.
LEADING = 2


@dataclass
class RowSample:
    """Rows column by column: ``keys`` and ``stamps`` (float64), ``values`` one per feature."""

    keys: np.ndarray
    stamps: np.ndarray
    values: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.keys)

    def take(self, picks: np.ndarray) -> RowSample:
        return RowSample(
            keys=self.keys[picks],
            stamps=self.stamps[picks],
            values=[column[picks] for column in self.values],
        )

    def smallest(self, limit: int) -> RowSample:
        """The ``limit`` rows with the smallest keys (all of them when there are fewer)."""
        if len(self) <= limit:
            return self
        return self.take(np.argpartition(self.keys, limit - 1)[:limit])

    def bound(self, limit: int) -> float:
        """A key no row of the final sample can reach: the largest key when the sample is
        full (``limit`` rows), 1.0 otherwise (any row can still enter)."""
        return float(self.keys.max()) if len(self) >= limit else 1.0

    def since(self, stamp: float) -> RowSample:
        """The rows sampled at ``stamp`` or later."""
        if not len(self) or self.stamps.min() >= stamp:
            return self
        return self.take(np.flatnonzero(self.stamps >= stamp))


def empty(width: int) -> RowSample:
    return RowSample(
        keys=np.empty(0), stamps=np.empty(0), values=[np.empty(0) for _ in range(width)]
    )


def rows_drawn(
    columns: list[np.ndarray],
    *,
    rows: int,
    stamp: float,
    limit: int,
    rng: np.random.Generator,
    below: float = 1.0,
) -> RowSample:
    """The rows of one request (``columns``, one array per feature) that may belong to the
    day's sample: each gets a key; kept are those with a key under ``below`` (the bound of a
    sample already full), at most the ``limit`` with the smallest keys."""
    if below < 1.0:
        # Only the rows under ``below`` matter: how many there are is binomial, which they
        # are a uniform choice, and their keys uniform under ``below``. The same rows and
        # keys as drawing every row's key, without drawing them (a full sample's bound is
        # small: a 10,000-row request keeps some dozens of rows).
        picks = rng.choice(rows, size=rng.binomial(rows, below), replace=False)
        keys = rng.random(len(picks)) * below
        if len(picks) > limit:
            kept = np.argpartition(keys, limit - 1)[:limit]
            picks, keys = picks[kept], keys[kept]
        columns = [column[picks] for column in columns]
        return RowSample(keys=keys, stamps=np.full(len(keys), stamp), values=list(columns))
    keys = rng.random(rows)
    if rows > limit:
        picks = np.argpartition(keys, limit - 1)[:limit]
        keys = keys[picks]
        columns = [column[picks] for column in columns]
    return RowSample(keys=keys, stamps=np.full(len(keys), stamp), values=list(columns))


def merged(parts: list[RowSample], limit: int) -> RowSample:
    """The ``limit`` rows with the smallest keys of all the parts' rows (text columns stay
    text if any part has them as text)."""
    width = len(parts[0].values) if parts else 0
    parts = [part for part in parts if len(part)]
    if not parts:
        return empty(width)
    if len(parts) == 1:
        return parts[0].smallest(limit)
    values = []
    for position in range(width):
        columns = [part.values[position] for part in parts]
        if any(column.dtype.kind != "f" for column in columns):
            columns = [_as_objects(column) for column in columns]
        values.append(np.concatenate(columns))
    together = RowSample(
        keys=np.concatenate([part.keys for part in parts]),
        stamps=np.concatenate([part.stamps for part in parts]),
        values=values,
    )
    return together.smallest(limit)


def _as_objects(column: np.ndarray) -> np.ndarray:
    if column.dtype.kind != "f":
        return column
    cells = column.astype(object)
    cells[np.isnan(column)] = None
    return cells


def encoded(sample: RowSample, columns: list[str]) -> tuple[bytes, dict[str, list[str]]]:
    """The stored form of ``sample``: (its table as bytes, the distinct values of each text
    column, which its codes index)."""
    table = np.empty((LEADING + len(columns), len(sample)), dtype=STORED_DTYPE)
    table[0] = sample.keys
    table[1] = sample.stamps
    texts: dict[str, list[str]] = {}
    for position, (name, column) in enumerate(zip(columns, sample.values, strict=True)):
        if column.dtype.kind == "f":
            table[LEADING + position] = column
            continue
        codes, distinct = pd.factorize(column)  # None: -1
        table[LEADING + position] = np.where(codes < 0, np.nan, codes)
        texts[name] = [str(value) for value in distinct]
    return table.tobytes(), texts


def decoded(data: bytes | memoryview | None, columns: list[str], texts: dict) -> RowSample:
    """A stored sample (``encoded``'s bytes and texts) as a ``RowSample``; its float columns
    are read-only views of ``data``."""
    if not data:
        return empty(len(columns))
    table = np.frombuffer(data, dtype=STORED_DTYPE).reshape(LEADING + len(columns), -1)
    values = []
    for position, name in enumerate(columns):
        column = table[LEADING + position]
        distinct = texts.get(name)
        if distinct is not None:
            lookup = np.array([*distinct, None], dtype=object)
            codes = np.where(np.isnan(column), len(distinct), column).astype(np.intp)
            column = lookup[codes]
        values.append(column)
    return RowSample(keys=table[0], stamps=table[1], values=values)


def keys_for_kept(kept: int, seen: int, rng: np.random.Generator) -> np.ndarray:
    """Keys for ``kept`` rows drawn uniformly from ``seen`` rows without keys (samples stored
    before keys): the ``kept`` smallest of ``seen`` uniform keys are distributed as the
    largest of them, Beta(kept, seen - kept + 1), and the others uniform below it. Keyed so,
    the rows merge with new ones exactly as if they had been keyed when offered."""
    if kept == 0:
        return np.empty(0)
    seen = max(seen, kept)
    largest = rng.beta(kept, seen - kept + 1)
    keys = rng.random(kept) * largest
    keys[rng.integers(kept)] = largest
    return keys
