"""Benchmark (c): a ZIP of 500 MB of artifacts streamed through Cauce.

Starts its own MLflow server and a gunicorn web process (one sync worker); prints the ZIP's
throughput beside downloading the same files straight from MLflow, and the web worker's
peak RSS growth (VmHWM from /proc, target < 50 MB: memory flat). Also times zipfile's
stored vs deflate writing of mixed artifacts in this process, the measure behind storing.
Usage: .venv/bin/python bench/bench_artifacts_zip.py [total_mb]
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from urllib.parse import quote

from artifacts_support import (
    MB,
    api_token,
    bench_environment,
    make_experiment,
    memory_kb,
    timed_get,
    web_server,
    write_random_file,
)

FILES = 5


def compression_rates(sample_mb: int = 32) -> dict[str, tuple[float, float]]:
    """MB/s and output ratio of zipfile writing half random bytes, half CSV-like text."""
    text = b"".join(b"%d,%f,clase_%d\n" % (i, i / 7, i % 3) for i in range(200_000))
    data = os.urandom(sample_mb * MB // 2) + (text * (sample_mb * MB // 2 // len(text) + 1))
    data = data[: sample_mb * MB]
    results = {}
    for label, method in (("stored", zipfile.ZIP_STORED), ("deflate", zipfile.ZIP_DEFLATED)):
        sink = io.BytesIO()
        started = time.perf_counter()
        with (
            zipfile.ZipFile(sink, "w", compression=method) as archive,
            archive.open("sample.bin", "w") as member,
        ):
            for start in range(0, len(data), MB):
                member.write(data[start : start + MB])
        seconds = time.perf_counter() - started
        results[label] = (sample_mb / seconds, sink.tell() / len(data))
    return results


def main() -> None:
    total_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    each = total_mb * MB // FILES
    with bench_environment() as bench, tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp)
        for index in range(FILES):
            write_random_file(local / "bundle" / f"part_{index}.bin", each)
        (local / "small.txt").write_bytes(b"warm-up\n")
        experiment, user = make_experiment(bench, local)
        for index in range(FILES):
            (local / "bundle" / f"part_{index}.bin").unlink()
        headers = {"Authorization": f"Token {api_token(user)}"}

        from cauce.integrations.mlflow.artifacts import run_artifacts_info

        root = run_artifacts_info(run_id=experiment.mlflow_run_id).root
        with web_server(bench) as web:
            api = f"{web.url}/api/experiments/{experiment.pk}/artifacts"
            timed_get(f"{api}/zip/?path=small.txt", headers)  # warm-up: not measured
            before = memory_kb(web.worker_pid)
            directs = [
                f"{bench.mlflow_url}/api/2.0/mlflow-artifacts/artifacts/"
                f"{quote(root)}/bundle/part_{index}.bin"
                for index in range(FILES)
            ]
            for direct in directs:  # the same disk cache for both ways: not measured
                timed_get(direct)
            direct_seconds = sum(timed_get(direct)[1] for direct in directs)
            received, zip_seconds = timed_get(f"{api}/zip/?path=bundle", headers)
            after = memory_kb(web.worker_pid)

        assert received >= FILES * each
        growth_mb = (after["VmHWM"] - before["VmHWM"]) / 1024
        direct_rate = FILES * each / MB / direct_seconds
        zip_rate = received / MB / zip_seconds
        print(f"bench_artifacts_zip: {FILES} files, {FILES * each / MB:.0f} MB, gunicorn 1 worker")
        print(f"  ZIP size               {received / MB:8.1f} MB (stored members)")
        print(f"  files straight from MLflow {direct_rate:6.1f} MB/s")
        print(f"  ZIP through Cauce          {zip_rate:6.1f} MB/s")
        print(f"  throughput ratio           {zip_rate / direct_rate:6.2f}")
        print(
            f"  web worker peak RSS    {before['VmHWM'] / 1024:.1f} MB before, "
            f"{after['VmHWM'] / 1024:.1f} MB after: growth {growth_mb:.1f} MB  (target < 50)"
        )
    rates = compression_rates()
    for label, (rate, ratio) in rates.items():
        print(f"  zipfile {label:8s} {rate:8.1f} MB/s, output {ratio:.2f} of input (mixed sample)")


if __name__ == "__main__":
    main()
