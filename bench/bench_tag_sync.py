"""One tag sync of an experiment with 50 tags, against one bare ``set_tags`` of the same tags.

Sync: ``tag_sync_push`` after a change of one of the 50 tags (no key to remove), as the Celery
task runs it: the outbox claim, the write, the compare-and-set, on SQLite in a temporary data
dir, against a real MLflow server started here. Baseline: the same tags (the 50 ``tag_i``, the
50 ``cauce.tag.*``, ``all_tags``, ``tag_count``, run name, note, user, source, url, ids)
written with ``log_batch`` — what MLflow's ``set_tags`` sends, 100 tags per request — by a
plain ``MlflowClient`` on another run, each round right after the sync, with the values the
sync wrote.

The MLflow requests of each sync are counted at the HTTP level and printed: two ``log_batch``
(110 keys) and one ``delete_tag`` (the renamed tag's old ``cauce.tag.*`` key, which the
baseline removes too); with deletions (50 → 45 tags) one more per removed key (a ``tag_i`` and
a ``cauce.tag.*`` per tag). Times are the medians of
ROUNDS alternating rounds after a warm-up. It prints, never asserts.

    .venv/bin/python bench/bench_tag_sync.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.artifacts_support import bench_environment  # noqa: E402

ROUNDS = 40
TAGS = 50
TARGET = 1.5


class RequestCounter:
    """Counts the HTTP requests this process makes to MLflow (they still go out)."""

    def __init__(self, base_url: str) -> None:
        import requests

        self.base_url = base_url
        self.made: list[str] = []
        original = requests.Session.request

        def spy(session, method, url, *args, **kwargs):
            if str(url).startswith(base_url):
                self.made.append(f"{method} {str(url)[len(base_url) :]}")
            return original(session, method, url, *args, **kwargs)

        requests.Session.request = spy

    def take(self) -> list[str]:
        made, self.made = self.made, []
        return made


def main() -> None:
    with bench_environment() as bench:
        from django.contrib.auth import get_user_model
        from mlflow.entities import RunTag
        from mlflow.tracking import MlflowClient

        from cauce.datasets.models import Dataset
        from cauce.experiments import services
        from cauce.experiments.models import MLExperiment
        from cauce.experiments.runner import experiment_mlflow_tags, run_start
        from cauce.experiments.tag_sync import tag_sync_push
        from cauce.integrations.mlflow import client as mlflow_client
        from cauce.integrations.mlflow import tracking
        from cauce.projects.models import Project

        mlflow_client.use_worker_profile()  # as in the Celery worker that runs the push
        user, _created = get_user_model().objects.get_or_create(username="bench")
        project = Project.objects.create(name="Bench tags", created_by=user)
        dataset = Dataset.objects.create(
            project=project,
            name="d",
            file="d.csv",
            original_filename="d.csv",
            file_format="csv",
            size_bytes=1,
            row_count=1,
            column_count=1,
            schema=[],
        )
        names = [f"etiqueta-{index:02d}" for index in range(TAGS)]
        experiment = MLExperiment.objects.create(
            project=project,
            dataset=dataset,
            name="Bench",
            description="Cincuenta etiquetas",
            target_column="y",
            task_type=MLExperiment.TaskType.CLASSIFICATION,
            algorithm="LogisticRegression",
            created_by=user,
        )
        services.experiment_tags_set(experiment=experiment, tags=names)
        mlflow_experiment_id = tracking.experiment_ensure(name="bench-tags")
        run_start(experiment, mlflow_experiment_id=mlflow_experiment_id)

        plain = MlflowClient(tracking_uri=bench.mlflow_url)
        baseline_run = plain.create_run(mlflow_experiment_id, run_name="baseline").info.run_id
        counter = RequestCounter(bench.mlflow_url)

        def one_sync(round_index: int) -> tuple[float, list[str]]:
            # Rename one tag: still 50, so no tag_i to remove; the old name's cauce.tag.* key
            # goes (one delete_tag).
            renamed = [*names[:-1], f"ultima-{round_index}"]
            services.experiment_tags_set(experiment=experiment, tags=renamed)
            counter.take()
            started = time.perf_counter()
            tag_sync_push(experiment_id=experiment.pk)
            return time.perf_counter() - started, counter.take()

        written: dict[str, str] = {}

        def one_set_tags() -> tuple[float, list[str]]:
            # The very tags the sync just wrote (one value changed since the last round, as
            # for the sync, so the server does the same work), and the same key removed: the
            # fewest requests that reach the same state.
            desired = experiment_mlflow_tags(MLExperiment.objects.get(pk=experiment.pk))
            items = [RunTag(key, value) for key, value in desired.items()]
            stale = [key for key in written if key not in desired]
            counter.take()
            started = time.perf_counter()
            for start in range(0, len(items), 100):
                plain.log_batch(baseline_run, tags=items[start : start + 100])
            for key in stale:
                plain.delete_tag(baseline_run, key)
            elapsed = time.perf_counter() - started
            written.clear()
            written.update(desired)
            return elapsed, counter.take()

        run_tags = len(experiment_mlflow_tags(MLExperiment.objects.get(pk=experiment.pk)))
        one_sync(-1)
        one_set_tags()
        sync_times, plain_times = [], []
        sync_requests: list[str] = []
        plain_requests: list[str] = []
        for round_index in range(ROUNDS):
            elapsed, sync_requests = one_sync(round_index)
            sync_times.append(elapsed)
            elapsed, plain_requests = one_set_tags()
            plain_times.append(elapsed)

        services.experiment_tags_set(experiment=experiment, tags=names[:45])
        counter.take()
        tag_sync_push(experiment_id=experiment.pk)
        deleting_requests = counter.take()

        sync_median = statistics.median(sync_times) * 1000
        plain_median = statistics.median(plain_times) * 1000
        ratio = sync_median / plain_median
        print(f"Tag sync of an experiment with {TAGS} tags ({ROUNDS} rounds, medians)")
        print(
            f"  requests, {TAGS} tags, one renamed: {len(sync_requests)} "
            f"({', '.join(sync_requests)})"
        )
        print(
            f"  requests, {TAGS} -> 45 tags (10 keys removed): {len(deleting_requests)} "
            f"({deleting_requests.count('POST /api/2.0/mlflow/runs/log-batch')} log-batch, "
            f"{deleting_requests.count('POST /api/2.0/mlflow/runs/delete-tag')} delete-tag)"
        )
        print(f"  baseline requests (bare set_tags): {len(plain_requests)}")
        print(f"  sync (tag_sync_push, {run_tags} run tags): {sync_median:.1f} ms")
        print(f"  bare set_tags (log_batch of 100, same tags, same delete): {plain_median:.1f} ms")
        print(f"  ratio sync / set_tags: {ratio:.2f} (target <= {TARGET})")


if __name__ == "__main__":
    main()
