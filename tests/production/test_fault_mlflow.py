"""MLflow restarted during runs, registrations and tag edits: the retries and the tag outbox
deliver everything, and no model is left half-registered.

While experiments run on two workers, a writer registers finished experiments' models (a new
name each time, so that registrations cross the moment MLflow stops) and edits every
experiment's tags through the API; the harness's MLflow server is stopped and started again
(its PostgreSQL store and S3 artifacts stay). Afterwards everything is checked with MLflow's own
client: each experiment FINISHED with its run, each experiment's last tags on its run, and
each registration either complete (a READY version of that run) or refused with nothing left.
"""

import threading
import time
import uuid
from dataclasses import dataclass, field

from mlflow.tracking import MlflowClient

from tests.production.faults_support import runs_left_running, wait_for

WORKER_ENV = {
    # An experiment retries every 1-2 s while MLflow is away (the server's boot takes ~20 s).
    "CAUCE_EXPERIMENT_MLFLOW_RETRY_DELAY": "1",
    "CAUCE_EXPERIMENT_MLFLOW_RETRY_MAX_DELAY": "2",
    "CAUCE_EXPERIMENT_MLFLOW_RETRIES": "60",
    "MLFLOW_WORKER_MAX_RETRIES": "0",
    "MLFLOW_WORKER_TIMEOUT": "5",
    # The same for tag pushes.
    "CAUCE_TAG_SYNC_RETRY_DELAY": "1",
    "CAUCE_TAG_SYNC_RETRY_MAX_DELAY": "2",
    "CAUCE_TAG_SYNC_RETRIES": "60",
}
RUNNING_OPTIONS = {"algorithm": "RandomForestClassifier", "hyperparameters": {"n_estimators": 300}}
WRITER_MAX_SECONDS = 150


@dataclass
class Writer:
    """Registers and edits tags in rounds until stopped (at most ``WRITER_MAX_SECONDS``)."""

    harness: object
    seed: object
    registrable: list[str]
    tagged: list[str]
    prefix: str
    registrations: dict[str, tuple[str, int, float]] = field(default_factory=dict)
    last_tags: dict[str, list[str]] = field(default_factory=dict)
    tag_edits: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)

    def start(self) -> "Writer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        deadline = time.monotonic() + WRITER_MAX_SECONDS
        round_number = 0
        while not self._stop.is_set() and time.monotonic() < deadline:
            for index, experiment_id in enumerate(self.registrable):
                name = f"{self.prefix}-{round_number:03d}-{index}"
                sent = time.monotonic()
                response = self.harness.api(
                    self.seed, "POST", f"/api/experiments/{experiment_id}/register-model/",
                    json={"name": name},
                )  # fmt: skip
                self.registrations[name] = (experiment_id, response.status_code, sent)
            tags = [f"ronda-{round_number}", "reinicio-mlflow"]
            for experiment_id in self.tagged:
                response = self.harness.api(
                    self.seed, "PATCH", f"/api/experiments/{experiment_id}/", json={"tags": tags}
                )
                self.tag_edits.append(response.status_code)
                if response.status_code == 200:
                    self.last_tags[experiment_id] = tags
            round_number += 1
            self._stop.wait(0.2)


def test_retries_and_the_outbox_deliver_everything_and_nothing_is_half_registered(harness):
    harness.start_workers(2, env=WORKER_ENV)
    seed = harness.seed()
    client = MlflowClient(tracking_uri=harness.mlflow_url)
    registrable = harness.queue_experiments(seed, 2)
    assert harness.wait_experiments(seed, registrable, timeout=90) == dict.fromkeys(
        registrable, "FINISHED"
    )
    running = harness.queue_experiments(seed, 3, **RUNNING_OPTIONS)
    wait_for(
        lambda: "RUNNING" in {harness.experiment(seed, i)["status"] for i in running},
        60,
        "an experiment running",
        poll=0.1,
    )
    prefix = f"faults-{uuid.uuid4().hex[:6]}"
    writer = Writer(harness, seed, registrable, registrable + running, prefix).start()
    try:
        time.sleep(1)
        down_at = time.monotonic()
        harness.restart_mlflow(down_seconds=2)
        back_at = time.monotonic()

        def registered_after_the_restart() -> bool:
            return any(s == 201 and t > back_at for _, s, t in list(writer.registrations.values()))

        wait_for(registered_after_the_restart, 60, "a registration after the restart")
    finally:
        writer.stop()

    codes = [status for _, status, _ in writer.registrations.values()]
    print(
        f"\nMLflow down {back_at - down_at:.1f} s (stop, 2 s, boot); registrations: "
        f"{len(codes)} ({codes.count(201)} created, {codes.count(503)} refused 503, "
        f"{len(codes) - codes.count(201) - codes.count(503)} other); tag edits: "
        f"{len(writer.tag_edits)} ({writer.tag_edits.count(200)} accepted)"
    )
    assert set(codes) <= {201, 503}, codes
    assert codes.count(503) >= 1, "no registration saw the outage"
    assert set(writer.tag_edits) == {200}  # Cauce keeps tag edits while MLflow is away

    # Every experiment ends FINISHED, none of its runs stays RUNNING.
    everything = registrable + running
    statuses = harness.wait_experiments(seed, everything, timeout=120)
    assert statuses == dict.fromkeys(everything, "FINISHED"), statuses
    rows = harness.experiments(seed)
    mlflow_experiments = {rows[i]["mlflow_experiment_id"] for i in everything}
    assert runs_left_running(harness, mlflow_experiments) == []

    # The outbox delivered each experiment's last tags to its run.
    wait_for(
        lambda: not any(row["tag_sync_pending"] for row in harness.experiments(seed).values()),
        90,
        "every tag change synced",
    )
    rows = harness.experiments(seed)
    for experiment_id, tags in writer.last_tags.items():
        run_tags = client.get_run(rows[experiment_id]["mlflow_run_id"]).data.tags
        assert sorted(rows[experiment_id]["tags"]) == sorted(tags)
        assert run_tags["all_tags"] == ",".join(sorted(tags)), experiment_id
        assert run_tags["tag_count"] == str(len(tags))
        assert {run_tags[f"tag_{i}"] for i in range(len(tags))} == set(tags)

    # Each registration complete, or refused with nothing left (the empty models an outage
    # left are removed by a worker once MLflow answers).
    created = {name for name, (_, status, _) in writer.registrations.items() if status == 201}
    for name in created:
        experiment_id = writer.registrations[name][0]
        versions = client.search_model_versions(f"name='{name}'")
        assert [(v.status, v.run_id) for v in versions] == [
            ("READY", rows[experiment_id]["mlflow_run_id"])
        ], name
        assert harness.api(seed, "GET", f"/api/models/{name}/").status_code == 200

    def only_created_models_left() -> bool:
        found = client.search_registered_models(filter_string=f"name LIKE '{prefix}-%'")
        return {model.name for model in found} == created

    wait_for(only_created_models_left, 60, "the refused registrations' models removed")
    for name in set(writer.registrations) - created:
        assert harness.api(seed, "GET", f"/api/models/{name}/").status_code == 404
