"""What the content digest adds to a dataset upload: the upload's work (validation, schema
inference, statistics) with the digest against the same work without it.

The digest (SHA-256 of the bytes, ``cauce.datasets.digests``) is computed in the first pass
over the file, the one that checks its encoding; "without" replaces the hashing with nothing,
everything else equal. A CSV of about M MB (default 80) of numbers, categories and an
identifier goes through ``_upload_profile`` (what ``dataset_create`` and
``dataset_version_create`` do before storing) R times each way, in pairs whose order
alternates (median). It prints, never asserts.

    .venv/bin/python bench/bench_upload_digest.py [--megabytes M] [--repetitions R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

TARGET_RATIO = 1.1  # the upload with the digest takes at most 1.1 times as long
BYTES_PER_ROW = 50  # of the CSV below, about


def _csv(megabytes: int) -> bytes:
    import numpy as np
    import pandas as pd

    rows = megabytes * 1_000_000 // BYTES_PER_ROW
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"x{index}": rng.normal(index, 1, rows).round(4) for index in range(5)})
    frame["city"] = rng.choice(["Madrid", "Sevilla", "Bilbao", "València"], rows)
    frame["code"] = np.arange(rows)
    return frame.to_csv(index=False).encode()


class _NoDigest:
    def update(self, chunk: bytes) -> None:
        pass

    def hexdigest(self) -> str:
        return ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=80)
    parser.add_argument("--repetitions", type=int, default=5)
    arguments = parser.parse_args()

    import django

    django.setup()
    from unittest import mock

    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test.utils import override_settings

    from cauce.datasets import inference
    from cauce.datasets.services import _upload_profile

    content = _csv(arguments.megabytes)

    def upload() -> float:
        file = SimpleUploadedFile("big.csv", content)
        started = time.perf_counter()
        _upload_profile(file)
        return time.perf_counter() - started

    with_digest, without_digest = [], []
    with override_settings(DATASET_MAX_UPLOAD_MB=10_000, DATASET_MAX_EXPANDED_MB=10_000):
        for repetition in range(arguments.repetitions):
            # Which goes first alternates: the second of a pair finds the first's garbage.
            for digest in (True, False) if repetition % 2 == 0 else (False, True):
                if digest:
                    with_digest.append(upload())
                else:
                    with mock.patch.object(inference, "StreamDigest", _NoDigest):
                        without_digest.append(upload())
    with_s, without_s = statistics.median(with_digest), statistics.median(without_digest)
    print(f"file: {len(content) / 1e6:.1f} MB CSV, {arguments.repetitions} uploads each way")
    print(f"upload with the digest:    {with_s:.2f} s")
    print(f"upload without the digest: {without_s:.2f} s")
    print(f"ratio with/without:        {with_s / without_s:.3f} (target <= {TARGET_RATIO})")


if __name__ == "__main__":
    main()
