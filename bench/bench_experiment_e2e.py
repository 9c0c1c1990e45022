"""End-to-end time of an iris RandomForest experiment in Cauce, against a plain script.

Cauce: ``experiment_enqueue`` → FINISHED, through a warm real Celery worker (the embedded
file-system broker, SQLite in a temporary data dir) and a real MLflow server started here on
a free port. Plain: one function in this process that reads the same CSV, trains the same
RandomForest, draws the same plots and makes the same MLflow calls (experiment, run with
tags, params, metrics, artifacts, logged model, end), with no queue and no database.

Both run N times in the same process run, after one warm-up each; the script prints the
median of each and their ratio (target: Cauce / plain ≤ 1.5). It prints, never asserts.

Cauce's runs log the training and test splits as MLflow dataset inputs. The same number of
Cauce runs without them (an experiment with no dataset version logs none: the runner skips
them) run alternately in the same process run, and the script prints that ratio too
(target: with inputs / without ≤ 1.05).

    .venv/bin/python bench/bench_experiment_e2e.py [--repetitions N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

# A queue of its own, set before Django reads the settings (bench_environment sets it up).
os.environ["CELERY_TASK_DEFAULT_QUEUE"] = f"cauce-bench-{uuid.uuid4().hex[:8]}"

from bench.artifacts_support import (  # noqa: E402
    bench_environment,
    log_plain_model,
    start_bench_worker,
    stop_process,
)

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
TARGET = "species"
HYPERPARAMETERS = {"n_estimators": 100, "max_depth": 5}
TIMEOUT_SECONDS = 180


def iris_csv() -> bytes:
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    frame = iris.data.copy()
    frame.columns = FEATURES
    frame[TARGET] = iris.target.map(dict(enumerate(iris.target_names)))
    return frame.to_csv(index=False).encode("utf-8")


# --- the plain script ----------------------------------------------------------------------


def plain_run(csv_path: Path, mlflow_url: str, experiment_name: str) -> float:
    """What a data scientist would write by hand; returns its wall time in seconds."""
    import json

    import mlflow.sklearn  # noqa: F401 - imported before the clock starts, as a warm worker has it
    import pandas as pd
    from matplotlib.figure import Figure
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient
    from sklearn import metrics
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    started = time.perf_counter()
    client = MlflowClient(tracking_uri=mlflow_url)
    frame = pd.read_csv(csv_path)
    x, y = frame[FEATURES], frame[TARGET]
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=42, stratify=y
    )
    experiment = client.get_experiment_by_name(experiment_name)
    experiment_id = (
        experiment.experiment_id if experiment else client.create_experiment(experiment_name)
    )
    tags = {"tag_0": "bench", "all_tags": "bench", "tag_count": "1"}
    run_id = client.create_run(experiment_id, run_name="plain", tags=tags).info.run_id
    params = {"algorithm": "RandomForestClassifier", "target": TARGET, "test_size": 0.2}
    params.update({f"hp.{key}": value for key, value in HYPERPARAMETERS.items()})
    client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])

    model = RandomForestClassifier(random_state=42, **HYPERPARAMETERS).fit(x_train, y_train)
    predictions = model.predict(x_test)
    probabilities = model.predict_proba(x_test)
    values = {
        "accuracy": metrics.accuracy_score(y_test, predictions),
        "precision_macro": metrics.precision_score(y_test, predictions, average="macro"),
        "recall_macro": metrics.recall_score(y_test, predictions, average="macro"),
        "f1_macro": metrics.f1_score(y_test, predictions, average="macro"),
        "roc_auc": metrics.roc_auc_score(y_test, probabilities, multi_class="ovr"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "plots").mkdir()
        (out / "data").mkdir()
        figure = Figure()
        axes = figure.subplots()
        axes.imshow(metrics.confusion_matrix(y_test, predictions))
        figure.savefig(out / "plots/confusion_matrix.png")
        figure = Figure()
        figure.subplots().barh(FEATURES, model.feature_importances_)
        figure.savefig(out / "plots/feature_importance.png")
        x_test.assign(y_true=y_test, y_pred=predictions).to_csv(out / "data/test_predictions.csv")
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
        signature_input=x_train,
        signature_output=predictions,
        input_example=x_train.head(5),
    )
    client.log_batch(run_id, tags=[RunTag("done", "yes")])
    client.set_terminated(run_id, "FINISHED")
    return time.perf_counter() - started


# --- Cauce ---------------------------------------------------------------------------------


def cauce_run(project, dataset, user, index: int, *, inputs: bool = True) -> float:
    """Enqueue an experiment and wait for FINISHED; returns the wall time in seconds.

    ``inputs=False``: the experiment has no dataset version, so its run logs no dataset
    inputs (it trains on the dataset's file, the same one)."""
    from cauce.experiments.models import MLExperiment
    from cauce.experiments.services import experiment_create, experiment_enqueue

    experiment = experiment_create(
        project=project,
        user=user,
        name=f"bench {index}",
        dataset=dataset,
        target_column=TARGET,
        feature_columns=FEATURES,
        algorithm="RandomForestClassifier",
        hyperparameters=HYPERPARAMETERS,
        test_size=0.2,
        random_state=42,
        tags=["bench"],
    )
    if not inputs:
        MLExperiment.objects.filter(pk=experiment.pk).update(dataset_version=None)
        experiment.dataset_version = None
    started = time.perf_counter()
    experiment_enqueue(experiment=experiment, user=user)
    deadline = started + TIMEOUT_SECONDS
    while time.perf_counter() < deadline:
        status, error = (
            MLExperiment.objects.filter(pk=experiment.pk).values_list("status", "error").get()
        )
        if status == MLExperiment.Status.FINISHED:
            return time.perf_counter() - started
        if status == MLExperiment.Status.ERROR:
            raise RuntimeError(f"experiment failed: {error}")
        time.sleep(0.02)
    raise RuntimeError(f"experiment not finished after {TIMEOUT_SECONDS} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()

    with bench_environment() as bench:
        from django.contrib.auth import get_user_model
        from django.core.files.uploadedfile import SimpleUploadedFile

        from cauce.datasets.services import dataset_create
        from cauce.integrations.mlflow import client as mlflow_client
        from cauce.projects.models import Membership, Project, Role

        mlflow_client.use_worker_profile()
        content = iris_csv()
        csv_path = bench.root / "iris.csv"
        csv_path.write_bytes(content)
        user = get_user_model().objects.create_user("bench")
        project = Project.objects.create(name="Bench", created_by=user)
        Membership.objects.create(project=project, user=user, role=Role.OWNER)
        dataset = dataset_create(
            project=project, user=user, name="Iris", file=SimpleUploadedFile("iris.csv", content)
        )

        worker_log = bench.root / "worker.log"
        worker = start_bench_worker(bench, worker_log)
        try:
            print(f"MLflow {bench.mlflow_url}; worker ready; {args.repetitions} repetitions")
            # Warm-up: imports in the worker and in this process, MLflow experiments created.
            cauce_run(project, dataset, user, 0)
            plain_run(csv_path, bench.mlflow_url, "plain-bench")
            cauce_times, bare_times, plain_times = [], [], []
            for index in range(1, args.repetitions + 1):
                # Which Cauce run goes first alternates, so neither always follows the plain one.
                order = (True, False) if index % 2 else (False, True)
                for inputs in order:
                    elapsed = cauce_run(project, dataset, user, index, inputs=inputs)
                    (cauce_times if inputs else bare_times).append(elapsed)
                plain_times.append(plain_run(csv_path, bench.mlflow_url, "plain-bench"))
                print(
                    f"  #{index}: cauce {cauce_times[-1]:.3f} s, without dataset inputs "
                    f"{bare_times[-1]:.3f} s, plain {plain_times[-1]:.3f} s"
                )
        finally:
            stop_process(worker)

    cauce = statistics.median(cauce_times)
    bare = statistics.median(bare_times)
    plain = statistics.median(plain_times)
    print(f"median cauce (enqueue → FINISHED via worker): {cauce:.3f} s")
    print(f"median cauce without dataset inputs: {bare:.3f} s")
    print(f"median plain script (same model, same MLflow calls): {plain:.3f} s")
    print(f"ratio cauce / plain: {cauce / plain:.2f} (target ≤ 1.5)")
    print(f"ratio with dataset inputs / without: {cauce / bare:.3f} (target ≤ 1.05)")


if __name__ == "__main__":
    main()
