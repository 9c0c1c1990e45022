"""Benchmark: what a user waits for when MLflow is down (refusing) or silent (never answering).

The tests assert what the code controls (the timeouts passed, one call and no retry, no call
at all from the experiment page); the times themselves are measured here. Each page is timed
with MLflow up (the baseline, measured in the same run) and then out; every figure is the
median of ROUNDS cold views (no remembered outage, no cache).

Then an outage that lasts: the artifacts tab asked every 50 ms while MLflow (behind a proxy,
the same URI throughout) is silent for OUTAGE_SECONDS, then back. The half-open cool-down lets
one request at a time probe MLflow, spaced by ``MLFLOW_DOWN_PROBE_INTERVAL_SECONDS`` from the
last failure: the requests that waited a timeout are counted, and the time from MLflow back
to the first tab that lists the artifacts again is measured.
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

from tests.fixtures.mlflow_server import MlflowProxy, free_port

ROUNDS = 5
OUTAGE_SECONDS = 4.0


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
        address, headers = pages["artifacts tab"]
        lasting_outage(bench.mlflow_url, address, headers, client)


def lasting_outage(mlflow_url: str, address: str, headers: dict, client) -> None:
    """Requests in a row through an outage and MLflow's return, the cool-down not reset."""
    from django.conf import settings
    from django.core.cache import cache

    from cauce.integrations.mlflow import client as mlflow_client

    read_timeout = settings.MLFLOW_WEB_READ_TIMEOUT
    interval = settings.MLFLOW_DOWN_PROBE_INTERVAL_SECONDS
    proxy = MlflowProxy(mlflow_url)
    settings.MLFLOW_TRACKING_URI = proxy.url
    mlflow_client.reset_availability()
    try:
        proxy.delay = 3600.0  # silent: every request waits the client's read timeout
        waited = asked = 0
        started = time.perf_counter()
        while time.perf_counter() - started < OUTAGE_SECONDS:
            cache.clear()
            before = time.perf_counter()
            client.get(address, **headers)
            waited += time.perf_counter() - before > read_timeout / 2
            asked += 1
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        proxy.delay = 0.0
        back = time.perf_counter()
        while True:
            cache.clear()
            client.get(address, **headers)
            if not mlflow_client._outages:
                break
            time.sleep(0.05)
        recovered = time.perf_counter() - back
    finally:
        proxy.close()
    most = int(elapsed / (interval + read_timeout)) + 1
    print(
        f"  MLflow silent for {elapsed:.1f} s, the tab asked every 50 ms (probe interval "
        f"{interval} s, cool-down {settings.MLFLOW_DOWN_COOLDOWN_SECONDS} s):"
    )
    print(f"    requests that waited a timeout: {waited} of {asked}  (target <= {most})")
    limit = interval + read_timeout + 0.2
    print(
        f"    MLflow back: the tab lists again after {recovered:5.2f} s  (target <= {limit:.1f} s)"
    )


if __name__ == "__main__":
    main()
