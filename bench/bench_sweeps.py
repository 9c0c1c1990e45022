"""Sweeps: parallel speed-up, per-trial cost against a bare script, a grid on two workers, and
what pruning saves. Prints each figure with its target; never asserts.

Starts a private MLflow server and Celery workers (a private queue) on the database and broker
of the environment (``DATABASE_URL`` and ``CELERY_BROKER_URL``: PostgreSQL and Redis as in
production, or the SQLite file and the filesystem broker of ``make run`` when unset; with
PostgreSQL, the database named by ``DATABASE_URL`` is used as is, so give it a scratch one).

1. A 40-trial random sweep of small trials on one worker process, then on two (prefork): the
   ratio of the times from creation to the end (target <= 0.60). With where each run's time
   went (start, trials, end), how many of the machine's cores were busy (/proc/stat: the
   workers, MLflow's server, PostgreSQL, Redis), and the lowest ratio the 2-worker run's CPU
   seconds allow on this machine's cores. 1b: the same sweep on 20,000 rows, where training
   outweighs what each trial costs MLflow's server and the database (no target). 1c: the
   sweep of 1. with MLflow on 2 server processes, as compose deploys it (no target).
2. Per trial, Cauce (the one-worker sweep) against a bare script that runs the same Optuna
   study (same sampler and seed, the same storage) and logs the same child runs to MLflow
   with MLflow's client: the ratio (target <= 1.3). The workers keep their database
   connection between tasks as production's do (``CAUCE_DATABASE_CONN_MAX_AGE=60``), as the
   bare script keeps its own. 2b: the bare script on two processes sharing its study, against
   one: how far the same work scales on this machine without Cauce (no target).
3. A 40-configuration grid on two workers: distinct configurations and child runs, counted
   with MLflow's client (target: 40 and 40).
4. A TPE sweep with 5-fold cross-validation, pruned and unpruned (the same seed): the fold
   fits pruning saved and the best value's loss (target: fits saved > 0, loss <= 0.01).

    .venv/bin/python bench/bench_sweeps.py [--trials 40]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from tests.fixtures.mlflow_server import (  # noqa: E402
    free_port,
    start_mlflow_server,
    stop_process,
    wait_healthy,
)

ROWS = 600
# Larger trials, where training outweighs what every trial costs MLflow's server and the
# database: how the engine scales when the per-trial overhead is not the bulk of the work.
ROWS_LARGE = 20_000
SPACE = {
    "max_depth": {"type": "int", "low": 1, "high": 12},
    "min_samples_leaf": {"type": "int", "low": 1, "high": 30, "log": True},
    "criterion": {"type": "categorical", "choices": ["gini", "entropy"]},
}
GRID = {
    "max_depth": {"type": "int", "low": 1, "high": 20},
    "criterion": {"type": "categorical", "choices": ["gini", "entropy"]},
}


def _setup(root: Path, mlflow_url: str) -> None:
    os.environ.update(
        {
            "CAUCE_DATA_DIR": str(root / "data"),
            "MLFLOW_TRACKING_URI": mlflow_url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "LOG_LEVEL": "WARNING",
            "CELERY_TASK_DEFAULT_QUEUE": f"bench-sweeps-{uuid.uuid4().hex[:8]}",
            # The workers (which inherit this environment) keep their database connection
            # between tasks, as production's do (CONN_MAX_AGE 60 there), and as the bare
            # script keeps its own; the development default opens one per task (a trial).
            "CAUCE_DATABASE_CONN_MAX_AGE": "60",
        }
    )
    (root / "data").mkdir(parents=True)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _busy_seconds() -> float:
    """CPU seconds all cores of this machine spent busy so far (/proc/stat: every process,
    the workers, MLflow's server, PostgreSQL and Redis alike)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _dataset(project, user, rows: int, name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from cauce.datasets.services import dataset_create
    from tests.fixtures.data import slow_classification_csv

    return dataset_create(
        project=project,
        user=user,
        name=name,
        file=SimpleUploadedFile(f"{name}.csv", slow_classification_csv(rows), "text/csv"),
    )


def _fixtures():
    from django.contrib.auth import get_user_model

    from cauce.projects.services import project_create

    user, _created = get_user_model().objects.get_or_create(username="bench-sweeps")
    project = project_create(name=f"Bench sweeps {uuid.uuid4().hex[:6]}", user=user)
    return user, project, _dataset(project, user, ROWS, "Sintético")


class Workers:
    def __init__(self, root: Path, mlflow_url: str) -> None:
        self.root, self.mlflow_url, self.process = root, mlflow_url, None

    def start(self, concurrency: int, **env: str) -> None:
        from tests.fixtures.worker import start_worker, wait_ready

        self.stop()
        log = self.root / f"worker-{concurrency}-{time.monotonic_ns()}.log"
        self.process = start_worker(
            self.mlflow_url,
            log,
            pool="prefork",
            concurrency=concurrency,
            extra_env={
                "LOG_LEVEL": "INFO",
                "CAUCE_SWEEP_PARALLEL_TRIALS": str(concurrency),
                **env,
            },
        )
        wait_ready(self.process, log, timeout=600)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


def _sweep(project, user, dataset, **options):
    """Create a sweep and wait for its end: (sweep, seconds from creation to the end)."""
    from cauce.sweeps.models import Sweep
    from cauce.sweeps.services import sweep_create

    started, busy = time.perf_counter(), _busy_seconds()
    sweep = sweep_create(
        project=project,
        user=user,
        dataset=dataset,
        target_column="label",
        algorithm="DecisionTreeClassifier",
        metric="accuracy",
        **options,
    )
    deadline = time.monotonic() + 1800
    while sweep.status in Sweep.ACTIVE_STATUSES and time.monotonic() < deadline:
        time.sleep(0.1)
        sweep.refresh_from_db()
    seconds = time.perf_counter() - started
    _BUSY[sweep.pk] = _busy_seconds() - busy
    return sweep, seconds


# CPU seconds the machine spent busy during each sweep (by its id).
_BUSY: dict = {}


def _scaling(one, one_s: float, two, two_s: float) -> str:
    """Cores busy in each run, and the lowest ratio those CPU seconds allow: all the 2-worker
    run's CPU spread over every core for the whole run, against the 1-worker time."""
    cores = os.cpu_count() or 1
    floor = _BUSY[two.pk] / cores / one_s
    return (
        f"cores busy: 1 worker {_BUSY[one.pk] / one_s:.2f}, 2 workers {_BUSY[two.pk] / two_s:.2f} "
        f"of {cores}; the 2-worker run's CPU on {cores} cores at full use gives a ratio of "
        f"{floor:.2f}, so it used {floor / (two_s / one_s):.0%} of what the cores had"
    )


def _one_then_two(workers: Workers, project, user, dataset, common: dict, name: str):
    """The sweep on 1 worker process, then on 2, each after a 4-trial warm-up:
    (one, seconds, two, seconds)."""
    workers.start(1)
    _sweep(project, user, dataset, name=f"{name}: calentamiento", **{**common, "n_trials": 4})
    one, one_s = _sweep(project, user, dataset, name=f"{name}: 1 proceso", **common)
    workers.start(2)
    _sweep(project, user, dataset, name=f"{name}: calentamiento 2", **{**common, "n_trials": 4})
    two, two_s = _sweep(project, user, dataset, name=f"{name}: 2 procesos", **common)
    return one, one_s, two, two_s


def _phases(sweep, total_s: float) -> str:
    """Where a sweep's time went, from its rows: creation to start, start to the last trial's
    end, that end to FINISHED; and the trials' mean wall time and busy share."""
    from cauce.sweeps.models import Trial

    rows = list(
        Trial.objects.filter(
            sweep=sweep, started_at__isnull=False, finished_at__isnull=False
        ).values_list("started_at", "finished_at")
    )
    if not rows or sweep.started_at is None or sweep.finished_at is None:
        return "no phases"
    last_end = max(end for _start, end in rows)
    busy = sum((end - start).total_seconds() for start, end in rows)
    trials_s = (last_end - sweep.started_at).total_seconds()
    return (
        f"start {(sweep.started_at - sweep.created_at).total_seconds():.2f} s, trials "
        f"{trials_s:.2f} s, end {(sweep.finished_at - last_end).total_seconds():.2f} s, "
        f"observed {total_s:.2f} s; trial mean {busy / len(rows) * 1000:.0f} ms"
    )


def _bare_trials(study_name: str, experiment_id: str, parent: str, split, mlflow_url: str,
                 distributions, trials: int, seed: int) -> None:  # fmt: skip
    """``trials`` trials of the shared study, as a script would run them, in this process."""
    import optuna
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.tree import DecisionTreeClassifier

    from cauce.sweeps import study as cauce_study

    x_train, x_test, y_train, y_test = split
    client = MlflowClient(tracking_uri=mlflow_url)
    study = optuna.load_study(
        study_name=study_name,
        storage=cauce_study.storage(),
        sampler=optuna.samplers.RandomSampler(seed=seed),
    )
    for _ in range(trials):
        trial = study.ask(distributions)
        began = time.perf_counter()
        run = client.create_run(
            experiment_id,
            run_name=f"bare #{trial.number}",
            tags={"mlflow.parentRunId": parent},
        ).info.run_id
        params = [Param(f"hp.{k}", str(v)) for k, v in trial.params.items()]
        client.log_batch(run, params=[*params, Param("trial_number", str(trial.number))])
        model = DecisionTreeClassifier(random_state=seed, **trial.params).fit(x_train, y_train)
        predicted = model.predict(x_test)
        value = accuracy_score(y_test, predicted)
        now = int(time.time() * 1000)
        metrics = {
            "accuracy": value,
            "f1_macro": f1_score(y_test, predicted, average="macro"),
            "duration_s": time.perf_counter() - began,
        }
        client.log_batch(run, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()])
        client.log_batch(run, tags=[RunTag("cauce.trial_state", "COMPLETE")])
        client.set_terminated(run, "FINISHED")
        study.tell(trial, value)


def _bare(dataset, mlflow_url: str, trials: int, seed: int, processes: int = 1) -> float:
    """The same study and child runs, by hand: seconds for ``trials`` trials, run by
    ``processes`` processes sharing the study (as Optuna's docs run a study on several: each
    process with its own sampler seed), each a share of the trials."""
    import multiprocessing

    import optuna
    from django.db import connections
    from mlflow.tracking import MlflowClient
    from sklearn.model_selection import train_test_split

    from cauce.datasets.selectors import dataset_dataframe
    from cauce.sweeps import study as cauce_study
    from cauce.sweeps.models import Sweep
    from cauce.sweeps.space import search_space_validate

    space, _size = search_space_validate(
        algorithm="DecisionTreeClassifier",
        search_space=SPACE,
        fixed_hyperparameters={},
        sampler="random",
    )
    distributions = cauce_study.distributions(Sweep(search_space=space))
    client = MlflowClient(tracking_uri=mlflow_url)
    experiment_id = client.create_experiment(f"bare-{uuid.uuid4().hex[:8]}")
    started = time.perf_counter()
    frame = dataset_dataframe(dataset=dataset, columns=None)
    x, y = frame.drop(columns=["label"]), frame["label"]
    split = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    parent = client.create_run(experiment_id, run_name="bare").info.run_id
    study_name = f"bare-{uuid.uuid4().hex}"
    optuna.create_study(storage=cauce_study.storage(), study_name=study_name, direction="maximize")
    shares = [trials // processes + (index < trials % processes) for index in range(processes)]
    arguments = [
        (study_name, experiment_id, parent, split, mlflow_url, distributions, share, seed + index)
        for index, share in enumerate(shares)
    ]
    if processes == 1:
        _bare_trials(*arguments[0])
    else:
        connections.close_all()  # the children open their own
        context = multiprocessing.get_context("fork")
        children = [context.Process(target=_bare_trials, args=args) for args in arguments]
        for child in children:
            child.start()
        for child in children:
            child.join()
    client.set_terminated(parent, "FINISHED")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cauce-bench-sweeps-"))
    port = free_port()
    mlflow_process = start_mlflow_server(root / "mlflow", port)
    mlflow_url = f"http://127.0.0.1:{port}"
    workers = Workers(root, mlflow_url)
    try:
        wait_healthy(mlflow_url, mlflow_process)
        _setup(root, mlflow_url)
        from django.conf import settings
        from mlflow.tracking import MlflowClient

        from cauce.sweeps.models import Trial

        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        print(
            f"database {database}, broker {settings.CELERY_BROKER_URL.split(':', 1)[0]}, "
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start"
        )
        user, project, dataset = _fixtures()
        common = {"search_space": SPACE, "n_trials": args.trials, "sampler": "random", "seed": 7}

        one, one_s, two, two_s = _one_then_two(workers, project, user, dataset, common, "pequeño")
        print(
            f"1. {args.trials}-trial sweep: 1 worker {one_s:.1f} s ({one.status}), "
            f"2 workers {two_s:.1f} s ({two.status}); "
            f"ratio {two_s / one_s:.2f} (target <= 0.60); load average "
            f"{os.getloadavg()[0]:.1f}"
        )
        print(f"   1 worker: {_phases(one, one_s)}")
        print(f"   2 workers: {_phases(two, two_s)}")
        print(f"   {_scaling(one, one_s, two, two_s)}")

        large = _dataset(project, user, ROWS_LARGE, "Grande")
        two_large, two_large_s = _sweep(project, user, large, name="grande 2", **common)
        workers.start(1)
        _sweep(project, user, large, name="calentamiento grande", **{**common, "n_trials": 2})
        one_large, one_large_s = _sweep(project, user, large, name="grande 1", **common)
        workers.start(2)
        print(
            f"1b. the same sweep on {ROWS_LARGE:,} rows (training outweighs each trial's MLflow "
            f"and database work): 1 worker {one_large_s:.1f} s ({one_large.status}), "
            f"2 workers {two_large_s:.1f} s ({two_large.status}); ratio "
            f"{two_large_s / one_large_s:.2f} (no target; for comparison with 1.)"
        )
        print(f"   {_scaling(one_large, one_large_s, two_large, two_large_s)}")

        # MLflow as compose deploys it: more than one server process (MLFLOW_SERVERS=2).
        port_two = free_port()
        mlflow_two = start_mlflow_server(root / "mlflow-2", port_two, workers=2)
        url_two = f"http://127.0.0.1:{port_two}"
        try:
            wait_healthy(url_two, mlflow_two)
            workers.stop()
            on_two = Workers(root, url_two)
            try:
                # A project of its own: its MLflow experiment is on this server.
                _user, project_two, dataset_two = _fixtures()
                one_c, one_c_s, two_c, two_c_s = _one_then_two(
                    on_two, project_two, user, dataset_two, common, "MLflow x2"
                )
            finally:
                on_two.stop()
        finally:
            stop_process(mlflow_two)
        print(
            f"1c. the sweep of 1. with MLflow on 2 server processes, as compose deploys it: "
            f"1 worker {one_c_s:.1f} s ({one_c.status}), 2 workers {two_c_s:.1f} s "
            f"({two_c.status}); ratio {two_c_s / one_c_s:.2f} (no target; for comparison with 1.)"
        )
        print(f"   {_scaling(one_c, one_c_s, two_c, two_c_s)}")
        workers.start(2)

        bare_s = _bare(dataset, mlflow_url, args.trials, seed=7)
        print(
            f"2. per trial: Cauce {one_s / args.trials * 1000:.0f} ms, bare Optuna + MLflow "
            f"script {bare_s / args.trials * 1000:.0f} ms; ratio {one_s / bare_s:.2f} "
            "(target <= 1.3)"
        )
        bare_two_s = _bare(dataset, mlflow_url, args.trials, seed=7, processes=2)
        print(
            f"2b. the bare script on 2 processes sharing its study: {bare_two_s:.1f} s against "
            f"{bare_s:.1f} s on 1, ratio {bare_two_s / bare_s:.2f} (Cauce's in 1.: "
            f"{two_s / one_s:.2f}; no target: how far the same work scales on this machine "
            "without Cauce)"
        )

        grid, grid_s = _sweep(
            project, user, dataset, name="rejilla", search_space=GRID, n_trials=500,
            sampler="grid", seed=7,
        )  # fmt: skip
        configurations = {
            json.dumps(params, sort_keys=True)
            for params in Trial.objects.filter(sweep=grid).values_list("params", flat=True)
        }
        client = MlflowClient(tracking_uri=mlflow_url)
        children = client.search_runs(
            [grid.mlflow_experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{grid.mlflow_run_id}'",
            max_results=1000,
        )
        print(
            f"3. grid of {grid.n_trials} configurations on 2 workers ({grid_s:.1f} s, "
            f"{grid.status}): {len(configurations)} distinct configurations, {len(children)} "
            "child runs in MLflow (target: 40 and 40)"
        )

        cv = {"search_space": SPACE, "n_trials": args.trials, "sampler": "tpe", "cv_folds": 5}
        pruned, pruned_s = _sweep(project, user, dataset, name="poda", seed=11, **cv)
        workers.start(2, CAUCE_SWEEP_PRUNING="0")
        full, full_s = _sweep(project, user, dataset, name="sin poda", seed=11, **cv)

        def fits(sweep) -> int:
            rows = Trial.objects.filter(sweep=sweep).values_list("status", "fold_scores")
            return sum(5 if status == "COMPLETE" else len(scores) for status, scores in rows)

        saved = fits(full) - fits(pruned)
        loss = (full.best_value or 0) - (pruned.best_value or 0)
        print(
            f"4. 5-fold CV, {args.trials} TPE trials: pruned {fits(pruned)} fold fits "
            f"({pruned_s:.1f} s), unpruned {fits(full)} ({full_s:.1f} s): {saved} fits saved "
            f"({saved / max(fits(full), 1):.0%}); best accuracy {pruned.best_value:.4f} pruned vs "
            f"{full.best_value:.4f} unpruned, loss {loss:.4f} (target: fits saved > 0, "
            "loss <= 0.01)"
        )
    finally:
        workers.stop()
        stop_process(mlflow_process)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
