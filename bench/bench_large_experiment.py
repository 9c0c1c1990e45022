"""A HistGradientBoosting experiment on a large table in Cauce, against a plain script.

The table: 500,000 rows and 10 columns (7 float, 2 integer, 1 text; ~80 MB of CSV),
generated with a fixed seed in a temporary directory and uploaded as a dataset.

Cauce: ``experiment_enqueue`` → FINISHED, through a warm real Celery worker (embedded
file-system broker, SQLite) and a real MLflow server started here on a free port. Plain: one
function in this process that reads the same CSV, fits the same pipeline (median imputation,
one-hot encoding, ``HistGradientBoostingRegressor``) and logs the same things to MLflow:
params, metrics, the residuals and permutation-importance plots, the importance CSV, the
first 10,000 test predictions, metrics.json and the model with its signature.

Both sides fit with one OpenMP thread (``OMP_NUM_THREADS=1``, set here for this process and
the worker): on a shared machine, threads spinning against other processes make a fit's time
vary several-fold, which would hide what this compares, Cauce's own overhead. Each side is
warmed up once on a small table, then runs N times alternately; the script prints each
stage's time as Cauce stored it, the medians and their ratio. It prints, never asserts.

    .venv/bin/python bench/bench_large_experiment.py [--repetitions N] [--rows N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = "1"
BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ["CELERY_TASK_DEFAULT_QUEUE"] = f"cauce-bench-{uuid.uuid4().hex[:8]}"

from bench.artifacts_support import (  # noqa: E402
    bench_environment,
    log_plain_model,
    start_bench_worker,
    stop_process,
)

TARGET = "target"
ALGORITHM = "HistGradientBoostingRegressor"
TIMEOUT_SECONDS = 900
PERMUTATION_ROWS = 2000
PERMUTATION_REPEATS = 5
PREDICTION_ROWS = 10_000
SCATTER_POINTS = 5000


def large_csv(path: Path, rows: int, seed: int = 42) -> None:
    """7 float columns, 2 integer columns, 1 text column and a float target."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    # Values like -0.0435310113934902 (full float precision), as measurements are exported.
    frame = pd.DataFrame({f"x{index}": rng.normal(size=rows) / 7 for index in range(6)})
    frame["count_a"] = rng.integers(0, 1000, size=rows)
    frame["count_b"] = rng.integers(0, 50, size=rows)
    frame["region"] = rng.choice([f"region_{letter}" for letter in "abcdefgh"], size=rows)
    frame[TARGET] = (
        frame["x0"] * 14
        + np.sin(frame["x1"] * 7)
        + frame["count_b"] * 0.1
        + (frame["region"] == "region_c")
        + rng.normal(size=rows)
    )
    frame.to_csv(path, index=False)


# --- the plain script ----------------------------------------------------------------------


def plain_run(csv_path: Path, mlflow_url: str, experiment_name: str) -> float:
    """What a data scientist would write by hand; returns its wall time in seconds."""
    import json
    import tempfile

    import mlflow.sklearn  # noqa: F401 - imported before the clock starts, as a warm worker has it
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient
    from sklearn import metrics
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    started = time.perf_counter()
    client = MlflowClient(tracking_uri=mlflow_url)
    experiment = client.get_experiment_by_name(experiment_name)
    experiment_id = (
        experiment.experiment_id if experiment else client.create_experiment(experiment_name)
    )
    run_id = client.create_run(experiment_id, run_name="plain").info.run_id
    frame = pd.read_csv(csv_path)
    features = [name for name in frame.columns if name != TARGET]
    numeric = [name for name in features if name != "region"]
    params = {"algorithm": ALGORITHM, "target": TARGET, "features": ",".join(features)}
    client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])
    x_train, x_test, y_train, y_test = train_test_split(
        frame[features], frame[TARGET], test_size=0.2, random_state=42
    )
    preprocess = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median"), numeric),
            (
                "cat",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                ["region"],
            ),
        ]
    )
    model = Pipeline(
        [("preprocess", preprocess), ("model", HistGradientBoostingRegressor(random_state=42))]
    ).fit(x_train, y_train)
    predictions = model.predict(x_test)
    values = {
        "r2": metrics.r2_score(y_test, predictions),
        "mae": metrics.mean_absolute_error(y_test, predictions),
        "rmse": metrics.root_mean_squared_error(y_test, predictions),
    }
    sample = x_test.sample(n=min(PERMUTATION_ROWS, len(x_test)), random_state=42)
    importance = permutation_importance(
        model, sample, y_test.loc[sample.index], n_repeats=PERMUTATION_REPEATS, random_state=42
    )
    importances = pd.Series(importance.importances_mean, index=features).sort_values()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "plots").mkdir()
        (out / "data").mkdir()
        residuals = y_test.to_numpy() - predictions
        shown = np.random.default_rng(0).choice(
            len(residuals), min(SCATTER_POINTS, len(residuals)), replace=False
        )
        figure = Figure(figsize=(10, 4.5), layout="constrained")
        scatter, histogram = figure.subplots(1, 2)
        scatter.scatter(predictions[shown], residuals[shown], s=14, alpha=0.7)
        histogram.hist(residuals, bins=30)
        figure.savefig(out / "plots/residuals.png")
        figure = Figure(figsize=(10, 5), layout="constrained")
        figure.subplots().barh(importances.index, importances.to_numpy())
        figure.savefig(out / "plots/feature_importance.png")
        importances.rename("importance").to_csv(out / "data/feature_importance.csv")
        x_test.head(PREDICTION_ROWS).assign(
            y_true=y_test.head(PREDICTION_ROWS), y_pred=predictions[:PREDICTION_ROWS]
        ).to_csv(out / "data/test_predictions.csv", index=False)
        (out / "metrics.json").write_text(json.dumps(values))
        now = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in values.items()])
        client.log_artifacts(run_id, str(out))
    log_plain_model(
        client,
        mlflow_url,
        experiment_id=experiment_id,
        run_id=run_id,
        model=model,
        signature_input=x_train.head(1000),
        signature_output=predictions[:1000],
        input_example=x_train.head(5),
    )
    client.set_terminated(run_id, "FINISHED")
    return time.perf_counter() - started


# --- Cauce ---------------------------------------------------------------------------------


def cauce_run(project, dataset, user, index: int) -> tuple[float, dict[str, float]]:
    """Enqueue an experiment and wait for FINISHED; the wall time and the stored timings."""
    from cauce.experiments.models import MLExperiment
    from cauce.experiments.services import experiment_create, experiment_enqueue

    experiment = experiment_create(
        project=project,
        user=user,
        name=f"bench {index}",
        dataset=dataset,
        target_column=TARGET,
        feature_columns=[name for name in dataset.column_names if name != TARGET],
        task_type="regression",
        algorithm=ALGORITHM,
        hyperparameters={},
        test_size=0.2,
        random_state=42,
        tags=["bench"],
    )
    started = time.perf_counter()
    experiment_enqueue(experiment=experiment, user=user)
    deadline = started + TIMEOUT_SECONDS
    while time.perf_counter() < deadline:
        status, error = (
            MLExperiment.objects.filter(pk=experiment.pk).values_list("status", "error").get()
        )
        if status == MLExperiment.Status.FINISHED:
            elapsed = time.perf_counter() - started
            experiment.refresh_from_db()
            return elapsed, experiment.timings
        if status == MLExperiment.Status.ERROR:
            raise RuntimeError(f"experiment failed: {error}")
        time.sleep(0.05)
    raise RuntimeError(f"experiment not finished after {TIMEOUT_SECONDS} s")


def upload(project, user, path: Path, name: str):
    from django.core.files.uploadedfile import UploadedFile

    from cauce.datasets.services import dataset_create

    with path.open("rb") as handle:
        file = UploadedFile(handle, name=path.name, size=path.stat().st_size)
        return dataset_create(project=project, user=user, name=name, file=file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--rows", type=int, default=500_000)
    args = parser.parse_args()

    with bench_environment() as bench:
        from django.conf import settings
        from django.contrib.auth import get_user_model

        from cauce.integrations.mlflow import client as mlflow_client
        from cauce.projects.models import Membership, Project, Role

        settings.DATASET_MAX_UPLOAD_MB = max(settings.DATASET_MAX_UPLOAD_MB, 1024)
        mlflow_client.use_worker_profile()
        small_path, large_path = bench.root / "small.csv", bench.root / "large.csv"
        large_csv(small_path, rows=2000)
        large_csv(large_path, rows=args.rows)
        user = get_user_model().objects.create_user("bench")
        project = Project.objects.create(name="Bench", created_by=user)
        Membership.objects.create(project=project, user=user, role=Role.OWNER)
        started = time.perf_counter()
        large = upload(project, user, large_path, "Large")
        upload_seconds = time.perf_counter() - started
        small = upload(project, user, small_path, "Small")
        size_mb = large_path.stat().st_size / 1024 / 1024
        print(
            f"table: {large.row_count} rows x {large.column_count} columns, {size_mb:.1f} MB; "
            f"upload with schema inference {upload_seconds:.2f} s"
        )

        worker_log = bench.root / "worker.log"
        worker = start_bench_worker(bench, worker_log)
        try:
            print(f"MLflow {bench.mlflow_url}; worker ready; {args.repetitions} repetitions")
            # Warm-up: imports in the worker and in this process, MLflow experiments created.
            cauce_run(project, small, user, 0)
            plain_run(small_path, bench.mlflow_url, "plain-bench")
            cauce_times, plain_times = [], []
            for index in range(1, args.repetitions + 1):
                seconds, timings = cauce_run(project, large, user, index)
                cauce_times.append(seconds)
                plain_times.append(plain_run(large_path, bench.mlflow_url, "plain-bench"))
                stages = ", ".join(f"{name} {value:.2f}" for name, value in timings.items())
                print(
                    f"  #{index}: cauce {cauce_times[-1]:.2f} s ({stages}), "
                    f"plain {plain_times[-1]:.2f} s"
                )
        finally:
            stop_process(worker)

    cauce = statistics.median(cauce_times)
    plain = statistics.median(plain_times)
    print(f"median cauce (enqueue → FINISHED via worker): {cauce:.2f} s")
    print(f"median plain script (same fit, same MLflow logging): {plain:.2f} s")
    print(f"ratio cauce / plain: {cauce / plain:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
