"""Prediction monitoring's costs: the recording's overhead on a prediction, and the drift
computation over 90 days of samples.

1. Recording on ÷ off. The predict bench's set-up (``bench_predict``: a real MLflow server,
   the iris RandomForest registered as ``champion``, gunicorn with the production worker),
   with the version's reference profile stored so that each request's rows are binned and
   sampled. Two web servers at once, one with ``CAUCE_MONITOR_ENABLED=false``; the same
   1-row body (and a 10,000-row one) is sent to each in turn, N times, and the p50 and p95
   compared. The overhead is p95(on) - p95(off) (target <= 2 ms).
   Also, in this process: the thread CPU (``time.thread_time``) of reducing one 10,000-row
   request as the recording thread does (bin counts, the rows that may join the day's
   sample, merged into the hour's counts and the day's pending sample), with the day's
   sample already full (every request but the day's first) and without: the web process's
   interpreter time a large request costs.
2. Drift. One version with 90 days of traffic: a full 5,000-row sample per day and the
   hourly bin counts of 4 features. Timed: computing its three windows (1 h, 24 h, 7 d:
   PSI, KS, missing rate, stored), and the KS test on all 90 days pooled (450,000 rows).

    .venv/bin/python bench/bench_monitoring.py [--repetitions N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

import numpy as np  # noqa: E402
import requests  # noqa: E402

from bench.artifacts_support import api_token, bench_environment, web_server  # noqa: E402
from bench.bench_predict import (  # noqa: E402
    FEATURES,
    PRODUCTION_WORKER,
    iris_frame,
    process_tree_cpu,
    registered_champion,
    rows_to_predict,
)

OVERHEAD_TARGET_MS = 2.0
DRIFT_TARGET_S = 5.0
DAYS = 90
SAMPLE_ROWS = 5000


def _p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


def recording_overhead(
    bench, repetitions: int, cpu: dict[int, dict[str, float]]
) -> dict[int, dict[str, list[float]]]:
    """Wall-clock times per request (ms) of each server; ``cpu`` gets each server's CPU per
    request (ms, its processes' threads from /proc, the recording thread's later flush
    included): a figure the machine's load hardly moves."""
    from cauce.experiments.models import MLExperiment
    from cauce.monitoring.profile import profile_build
    from cauce.monitoring.services import reference_profile_store

    user, name, _version = registered_champion(bench)
    experiment = MLExperiment.objects.get(name="bench")
    reference_profile_store(
        experiment=experiment,
        run_id=experiment.mlflow_run_id,
        profile=profile_build(iris_frame()[FEATURES]),
    )
    os.environ["MLFLOW_TRACKING_URI"] = bench.mlflow_url
    os.environ["CAUCE_DATABASE_CONN_MAX_AGE"] = "60"
    headers = {"Authorization": f"Token {api_token(user)}", "Content-Type": "application/json"}
    results: dict[int, dict[str, list[float]]] = {}
    os.environ["CAUCE_MONITOR_ENABLED"] = "true"
    with web_server(bench, PRODUCTION_WORKER) as on:
        os.environ["CAUCE_MONITOR_ENABLED"] = "false"
        with web_server(bench, PRODUCTION_WORKER) as off:
            pids = {"on": on.master.pid, "off": off.master.pid}
            urls = {
                "on": f"{on.url}/api/models/{name}/predict/?alias=champion",
                "off": f"{off.url}/api/models/{name}/predict/?alias=champion",
            }
            sessions = {key: requests.Session() for key in urls}
            for rows, count in ((1, repetitions * 5), (10_000, repetitions)):
                frame = rows_to_predict(rows)
                body = json.dumps(
                    {"dataframe_split": {"columns": FEATURES, "data": frame.to_numpy().tolist()}}
                ).encode()
                times: dict[str, list[float]] = {"on": [], "off": []}
                for key in urls:  # warm: the model loaded, the profile read
                    for _ in range(3):
                        sessions[key].post(urls[key], data=body, headers=headers, timeout=120)
                time.sleep(1.5)  # the warm-up's observations written
                cpu_before = {key: process_tree_cpu(pid) for key, pid in pids.items()}
                for _ in range(count):
                    for key, url in urls.items():
                        started = time.perf_counter()
                        response = sessions[key].post(url, data=body, headers=headers, timeout=120)
                        times[key].append((time.perf_counter() - started) * 1000)
                        if response.status_code != 200:
                            raise SystemExit(f"{key}: {response.status_code} {response.text[:500]}")
                time.sleep(1.5)  # the recording thread writes what the loop queued
                cpu[rows] = {
                    key: (process_tree_cpu(pid) - cpu_before[key]) * 1000 / count
                    for key, pid in pids.items()
                }
                results[rows] = times
            time.sleep(2)  # the recording thread writes its last batch
    return results


def reduction_cpu(repetitions: int, *, full: bool) -> list[float]:
    """Thread CPU (ms) of reducing one 10,000-row request, as ``observations_write`` does:
    bin counts, the rows that may join the day's sample, merged into the hour's counts and
    the day's pending sample. ``full``: the day's sample already holds ``SAMPLE_ROWS`` rows
    (every request after the first of the day), so only rows under its bound are kept."""
    from django.utils import timezone

    from cauce.monitoring import recording
    from cauce.monitoring.profile import profile_build

    profile = profile_build(iris_frame()[FEATURES])
    frame = rows_to_predict(10_000)
    rng = np.random.default_rng(5)
    day = recording.Reduced()
    times = []
    for position in range(repetitions + 10):
        if not full:
            day = recording.Reduced()
        started = time.thread_time()
        reduced = recording.frame_reduce(
            profile,
            frame,
            at=timezone.now(),
            limit=SAMPLE_ROWS,
            rng=rng,
            below=day.bound(SAMPLE_ROWS),
        )
        recording.Reduced().add(reduced, limit=SAMPLE_ROWS, sample=False)
        day.add(reduced, limit=SAMPLE_ROWS)
        if position >= 10:  # warm
            times.append((time.thread_time() - started) * 1000)
    return times


def drift_time() -> tuple[float, float, int]:
    from django.utils import timezone

    from cauce.monitoring import sample as samples
    from cauce.monitoring.models import FeatureCounts, MonitoredVersion, ReservoirSample
    from cauce.monitoring.profile import feature_bin_counts, profile_build
    from cauce.monitoring.windows import monitored_version_compute
    from cauce.registry.models import RegisteredModel

    model = RegisteredModel.objects.get(name="bench-iris")
    experiment_id = model.project.experiments.get(name="bench").pk
    profile = profile_build(iris_frame()[FEATURES])
    rng = np.random.default_rng(3)
    now = timezone.now()
    counts = []
    stored = []
    for day in range(DAYS):
        moment = now - timedelta(days=day)
        values = rng.normal(
            [5.8, 3.0, 3.7, 1.2], [0.8, 0.4, 1.7, 0.7], size=(SAMPLE_ROWS, len(FEATURES))
        ).round(3)
        table, texts = samples.encoded(
            samples.RowSample(
                keys=rng.random(SAMPLE_ROWS) / 10,
                stamps=np.full(SAMPLE_ROWS, moment.timestamp()),
                values=list(values.T),
            ),
            FEATURES,
        )
        stored.append(
            ReservoirSample(
                registered_model=model, version=1, day=moment.date(), columns=FEATURES,
                table=table, texts=texts, seen=SAMPLE_ROWS * 10,
            )
        )  # fmt: skip
        for hour in range(24):
            at = (moment - timedelta(hours=hour)).replace(minute=0, second=0, microsecond=0)
            for position, feature in enumerate(profile["features"]):
                bins, missing = feature_bin_counts(feature, values[hour * 200 :, position][:200])
                counts.append(
                    FeatureCounts(
                        registered_model=model, version=1, hour=at, feature=feature["name"],
                        counts=bins, missing=missing, rows=200,
                    )
                )  # fmt: skip
    ReservoirSample.objects.filter(registered_model=model).delete()
    FeatureCounts.objects.filter(registered_model=model).delete()
    ReservoirSample.objects.bulk_create(stored, batch_size=10)
    FeatureCounts.objects.bulk_create(counts, batch_size=2000, ignore_conflicts=True)
    monitored, _created = MonitoredVersion.objects.update_or_create(
        registered_model=model, version=1,
        defaults={"experiment_id": experiment_id, "last_seen_at": now},
    )  # fmt: skip
    monitored_version_compute(monitored, now=now)  # warm
    started = time.perf_counter()
    monitored_version_compute(monitored, now=now)
    windows = time.perf_counter() - started

    from scipy import stats

    started = time.perf_counter()
    pooled = np.concatenate(
        [
            samples.decoded(sample.table, sample.columns, sample.texts).values[2]
            for sample in ReservoirSample.objects.filter(registered_model=model)
        ]
    )
    stats.ks_2samp(np.asarray(profile["features"][2]["sample"]), pooled)
    pooled_seconds = time.perf_counter() - started
    return windows, pooled_seconds, len(pooled)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=30)
    args = parser.parse_args()

    with bench_environment() as bench:
        load_before = os.getloadavg()[0]
        cpu: dict[int, dict[str, float]] = {}
        overhead = recording_overhead(bench, args.repetitions, cpu)
        from cauce.monitoring.models import PredictionRecord

        recorded = PredictionRecord.objects.count()
        windows, pooled, pooled_rows = drift_time()
        reduction = reduction_cpu(max(args.repetitions, 100), full=True)
        reduction_first = reduction_cpu(max(args.repetitions, 100), full=False)
        load_after = os.getloadavg()[0]

    print(f"prediction monitoring; load average {load_before:.1f} before, {load_after:.1f} after")
    print("  recording on / off, one request to each in turn (gunicorn, production worker):")
    for rows, times in overhead.items():
        p50 = {key: statistics.median(value) for key, value in times.items()}
        p95 = {key: _p95(value) for key, value in times.items()}
        print(
            f"    {rows:>6,} row{'s' if rows > 1 else ' '} x{len(times['on'])}: "
            f"p50 {p50['on']:.2f} / {p50['off']:.2f} ms, p95 {p95['on']:.2f} / {p95['off']:.2f} ms,"
            f" overhead p95 {p95['on'] - p95['off']:+.2f} ms (target <= {OVERHEAD_TARGET_MS})"
        )
        print(
            f"           CPU per request (web server's processes): {cpu[rows]['on']:.2f} / "
            f"{cpu[rows]['off']:.2f} ms, recording {cpu[rows]['on'] - cpu[rows]['off']:+.2f} ms"
            f" (target <= {OVERHEAD_TARGET_MS})"
        )
    print(f"    predictions recorded by the 'on' server: {recorded}")
    for label, times in (("day's sample full", reduction), ("first of the day", reduction_first)):
        print(
            f"  reducing one 10,000-row request (recording thread's CPU), {label}, "
            f"x{len(times)}: p50 {statistics.median(times):.2f} ms, p95 {_p95(times):.2f} ms "
            f"(target <= {OVERHEAD_TARGET_MS})"
        )
    print(f"  drift, {DAYS} days of {SAMPLE_ROWS:,}-row samples and hourly counts, 4 features:")
    print(
        f"    windows 1 h, 24 h, 7 d computed and stored: {windows:.2f} s "
        f"(target <= {DRIFT_TARGET_S})"
    )
    print(f"    KS on all {DAYS} days pooled ({pooled_rows:,} rows), read included: {pooled:.2f} s")


if __name__ == "__main__":
    main()
