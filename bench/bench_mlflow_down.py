"""Benchmark: what a user waits for when MLflow is down (refusing) or silent (never answering).

The tests assert what the code controls (the timeouts passed, one call and no retry, no call
at all from the experiment page); the times themselves are measured here. Each page is timed
with MLflow up (the baseline, measured in the same run) and then out; every figure is the
median of ROUNDS cold views (no remembered outage, no cache).
Usage: .venv/bin/python bench/bench_mlflow_down.py
"""

from __future__ import annotations

import contextlib
import logging
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from artifacts_support import bench_environment, make_experiment

from tests.fixtures.mlflow_server import free_port

ROUNDS = 5


@contextlib.contextmanager
def silent_socket() -> Iterator[str]:
    """An address that accepts connections and never answers (a hung server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in accepted:
            conn.close()
        listener.close()


def main() -> None:
    with bench_environment() as bench, tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp)
        for index in range(10):
            (local / f"file_{index:02d}.txt").write_bytes(b"x" * 1024)
        experiment, user = make_experiment(bench, local)

        from django.conf import settings
        from django.core.cache import cache
        from django.test import Client
        from django.urls import reverse

        from cauce.integrations.mlflow import client as mlflow_client

        # The outages are on purpose: their warnings would bury the figures.
        logging.disable(logging.ERROR)

        client = Client()
        client.force_login(user)
        pages = {
            "experiment page": (
                reverse("experiments:ml_experiment_detail", args=[experiment.pk]),
                {},
            ),
            "artifacts tab": (
                reverse("artifacts:tab", args=[experiment.pk]),
                {"HTTP_HX_REQUEST": "true"},
            ),
            "MLflow notice": (reverse("mlflow_status"), {}),
            "/health/": ("/health/", {}),
        }

        def median_seconds(uri: str, address: str, headers: dict) -> float:
            settings.MLFLOW_TRACKING_URI = uri
            times = []
            for _round in range(ROUNDS):
                cache.clear()
                mlflow_client.reset_availability()
                started = time.perf_counter()
                client.get(address, **headers)
                times.append(time.perf_counter() - started)
            return statistics.median(times)

        for address, headers in pages.values():  # imports, templates, connections: not measured
            client.get(address, **headers)

        read_timeout = settings.MLFLOW_WEB_READ_TIMEOUT
        connect_timeout = settings.MLFLOW_WEB_CONNECT_TIMEOUT
        print(f"bench_mlflow_down: median of {ROUNDS} cold views, in-process (Django test client)")
        print(f"  web timeouts: connect {connect_timeout} s, read {read_timeout} s, no retry")
        with silent_socket() as silent:
            outages = {"down": f"http://127.0.0.1:{free_port()}", "silent": silent}
            for name, (address, headers) in pages.items():
                up = median_seconds(bench.mlflow_url, address, headers)
                print(f"  {name}: MLflow up {up * 1000:7.1f} ms (baseline)")
                for outage, uri in outages.items():
                    out = median_seconds(uri, address, headers)
                    if outage == "down" or name == "experiment page":
                        # Refused at once, or never asked: no slower than with MLflow up.
                        print(
                            f"    MLflow {outage:6} {out * 1000:7.1f} ms, "
                            f"ratio {outage} / up {out / up:6.2f}  (target <= 1.2)"
                        )
                    else:
                        # A hung server costs one read timeout, once, then nothing.
                        limit = read_timeout + 0.2
                        print(
                            f"    MLflow {outage:6} {out * 1000:7.1f} ms, "
                            f"ratio {outage} / up {out / up:6.2f}, "
                            f"{out:5.2f} s  (target <= {limit:.1f} s)"
                        )


if __name__ == "__main__":
    main()
