"""Small experiments queued at once, with 1 Celery worker and then with 2 (issue 8).

Shared by ``test_throughput.py`` (which asserts that none is lost and none runs twice, and
prints the times) and ``bench/bench_throughput.py`` (which only prints them). A phase's time
runs from the first experiment queued to the last one finished, as Cauce's database records
them (``queued_at``, ``finished_at``): the workers are started and warm (one warm-up
experiment each, which also creates the project's MLflow experiment) before it begins.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from mlflow.tracking import MlflowClient

from tests.production.harness import Harness, Seed

EXPERIMENTS = 40
TARGET_RATIO = 0.65
PHASE_TIMEOUT = 600
READ_TIMEOUT = 30


@dataclass
class Phase:
    workers: int
    ids: list[str]
    statuses: dict[str, str]
    seconds: float


@dataclass
class Throughput:
    phases: list[Phase]
    warm_up_ids: list[str]

    @property
    def all_ids(self) -> list[str]:
        return [*self.warm_up_ids, *(i for phase in self.phases for i in phase.ids)]

    @property
    def ratio(self) -> float:
        one, two = self.phases
        return two.seconds / one.seconds

    def report(self) -> str:
        one, two = self.phases
        return (
            f"{len(one.ids)} small experiments queued at once: "
            f"1 worker {one.seconds:.1f} s, 2 workers {two.seconds:.1f} s, "
            f"ratio 2/1 {self.ratio:.2f} (target <= {TARGET_RATIO})"
        )


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _phase(harness: Harness, seed: Seed, workers: int, n: int) -> Phase:
    ids = harness.create_experiments(seed, n, name_prefix=f"{workers}w")
    harness.run_experiments(seed, ids)
    # Only these are in the project's queue: a light poll until none is left, then the list
    # (polling the whole list every second took CPU from the two workers being measured).
    harness.wait_idle(seed, timeout=PHASE_TIMEOUT)
    # Normally one read; a read that fails is tried again for a while, not a second phase.
    statuses = harness.wait_experiments(seed, ids, timeout=READ_TIMEOUT)
    rows = harness.experiments(seed)
    queued = [_time(rows[i]["queued_at"]) for i in ids if rows[i]["queued_at"]]
    finished = [_time(rows[i]["finished_at"]) for i in ids if rows[i]["finished_at"]]
    seconds = (max(finished) - min(queued)).total_seconds() if finished and queued else 0.0
    return Phase(workers, ids, statuses, seconds)


def _warm_up(harness: Harness, seed: Seed, n: int) -> list[str]:
    ids = harness.queue_experiments(seed, n, name_prefix="warm-up")
    statuses = harness.wait_experiments(seed, ids, timeout=PHASE_TIMEOUT)
    assert set(statuses.values()) == {"FINISHED"}, statuses
    return ids


def measure(harness: Harness, seed: Seed, n: int = EXPERIMENTS) -> Throughput:
    """1 worker: warm-up, ``n`` experiments; a 2nd worker: warm-up, ``n`` more. Workers are
    stopped at the end."""
    phases, warm_up_ids = [], []
    try:
        for workers in (1, 2):
            harness.start_workers(1)
            warm_up_ids += _warm_up(harness, seed, workers)
            phases.append(_phase(harness, seed, workers, n))
    finally:
        harness.stop_workers()
    return Throughput(phases, warm_up_ids)


def mlflow_runs_by_experiment(harness: Harness, mlflow_experiment_id: str) -> dict[str, list]:
    """Cauce experiment id -> its runs in MLflow (tag ``cauce.experiment_id``)."""
    client = MlflowClient(tracking_uri=harness.mlflow_url)
    runs = client.search_runs([mlflow_experiment_id], max_results=5000)
    by_experiment: dict[str, list] = {}
    for run in runs:
        by_experiment.setdefault(run.data.tags.get("cauce.experiment_id", ""), []).append(run)
    return by_experiment


def deliveries(harness: Harness, ids: list[str]) -> dict[str, Counter]:
    """Experiment id -> how often the workers' logs say its task was received, succeeded..."""
    task_ids = harness.task_ids()
    events = harness.task_events()
    return {
        experiment_id: Counter(
            {
                event: count
                for (task_id, event), count in events.items()
                if task_id == task_ids.get(experiment_id)
            }
        )
        for experiment_id in ids
    }
