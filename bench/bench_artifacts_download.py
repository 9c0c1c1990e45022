"""Benchmark (b): a 200 MB artifact downloaded through Cauce vs straight from MLflow.

Starts its own MLflow server and a gunicorn web process (one sync worker); prints the
throughput ratio Cauce ÷ MLflow's proxied-artifact endpoint (target >= 0.8) and the web
worker's peak RSS growth (VmHWM from /proc, target < 50 MB), measured in the same run.
Usage: .venv/bin/python bench/bench_artifacts_download.py [size_mb]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
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

ROUNDS = 3


def main() -> None:
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with bench_environment() as bench, tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp)
        write_random_file(local / "big.bin", size_mb * MB)
        (local / "small.txt").write_bytes(b"warm-up\n")
        experiment, user = make_experiment(bench, local)
        (local / "big.bin").unlink()
        headers = {"Authorization": f"Token {api_token(user)}"}

        from cauce.integrations.mlflow.artifacts import run_artifacts_info

        root = run_artifacts_info(run_id=experiment.mlflow_run_id).root
        direct = f"{bench.mlflow_url}/api/2.0/mlflow-artifacts/artifacts/{quote(root)}/big.bin"
        with web_server(bench) as web:
            base = f"{web.url}/api/experiments/{experiment.pk}/artifacts/download/?path="
            timed_get(base + "small.txt", headers)  # imports and connections: not measured
            before = memory_kb(web.worker_pid)
            cauce_times, direct_times = [], []
            for _round in range(ROUNDS):
                received, seconds = timed_get(direct)
                assert received == size_mb * MB
                direct_times.append(seconds)
                received, seconds = timed_get(base + "big.bin", headers)
                assert received == size_mb * MB
                cauce_times.append(seconds)
            after = memory_kb(web.worker_pid)

        cauce_rate = size_mb / statistics.median(cauce_times)
        direct_rate = size_mb / statistics.median(direct_times)
        growth_mb = (after["VmHWM"] - before["VmHWM"]) / 1024
        print(f"bench_artifacts_download: {size_mb} MB file, median of {ROUNDS}, gunicorn 1 worker")
        print(f"  straight from MLflow   {direct_rate:8.1f} MB/s")
        print(f"  through Cauce          {cauce_rate:8.1f} MB/s")
        print(f"  throughput ratio       {cauce_rate / direct_rate:8.2f}  (target >= 0.8)")
        print(
            f"  web worker peak RSS    {before['VmHWM'] / 1024:.1f} MB before, "
            f"{after['VmHWM'] / 1024:.1f} MB after: growth {growth_mb:.1f} MB  (target < 50)"
        )


if __name__ == "__main__":
    main()
