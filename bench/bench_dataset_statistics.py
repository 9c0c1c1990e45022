"""What the column statistics add to a dataset upload: the profile (schema inference, which
reads the whole table) against the statistics (a second read of the same file in chunks).

A CSV of N rows (default 500,000; ~30 MB) with six numeric columns, two categorical ones and
an identifier, profiled with ``profile_file`` and then given its statistics with
``dataset_statistics_compute``, as ``dataset_create`` does. Both are timed R times (median),
one after the other; then the peak memory of each, from tracemalloc (the statistics' is bounded
by the chunks, the profile's grows with the table). It prints, never asserts.

    .venv/bin/python bench/bench_dataset_statistics.py [--rows N] [--repetitions R]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

TARGET_RATIO = 1.0  # the statistics cost at most as much as the profile


def _csv(rows: int) -> bytes:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"x{index}": rng.normal(index, 1, rows).round(4) for index in range(6)})
    frame["city"] = rng.choice(["Madrid", "Sevilla", "Bilbao", "València"], rows)
    frame["label"] = rng.choice(["caro", "barato"], rows)
    frame["code"] = [f"id-{index}" for index in range(rows)]
    return frame.to_csv(index=False).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repetitions", type=int, default=3)
    arguments = parser.parse_args()

    import django

    django.setup()
    from django.test.utils import override_settings

    from cauce.datasets.inference import profile_file
    from cauce.datasets.services import dataset_statistics_compute

    content = _csv(arguments.rows)

    def profile():
        return profile_file(io.BytesIO(content))

    def compute(profiled):
        return dataset_statistics_compute(
            io.BytesIO(content),
            file_format=profiled.file_format,
            encoding=profiled.encoding,
            delimiter=profiled.delimiter,
            schema=profiled.schema,
        )

    def peak(function, *args) -> float:
        tracemalloc.start()
        function(*args)
        value = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return value / 1e6

    profile_times, statistics_times = [], []
    with override_settings(DATASET_MAX_EXPANDED_MB=10_000):
        for _ in range(arguments.repetitions):
            started = time.perf_counter()
            profiled = profile()
            profile_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            compute(profiled)
            statistics_times.append(time.perf_counter() - started)
        profile_peak, statistics_peak = peak(profile), peak(compute, profiled)
    profile_s = statistics.median(profile_times)
    statistics_s = statistics.median(statistics_times)
    print(f"file: {arguments.rows} rows, {len(content) / 1e6:.1f} MB")
    print(f"profile (schema inference): {profile_s:.2f} s, peak {profile_peak:.0f} MB")
    print(f"statistics (chunks):        {statistics_s:.2f} s, peak {statistics_peak:.0f} MB")
    print(f"ratio statistics/profile:   {statistics_s / profile_s:.2f} (target <= {TARGET_RATIO})")


if __name__ == "__main__":
    main()
