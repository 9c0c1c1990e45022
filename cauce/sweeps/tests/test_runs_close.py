"""The end of a sweep's runs in MLflow, on a real MLflow server, without a worker: the
controller's end (``sweep_fill``) and the watch's (``sweep_runs_close``) end every child run in
its trial's state, with a failed trial's reason, before the parent; a trial's retried close
afterwards changes nothing; a trial the watch failed while it trained ends its run FAILED."""

import pytest
from mlflow.tracking import MlflowClient

from cauce.integrations.mlflow import client as mlflow_client
from cauce.integrations.mlflow import runs, tracking
from cauce.integrations.mlflow import sweeps as mlflow_sweeps
from cauce.projects.services import project_mlflow_experiment_ensure
from cauce.sweeps import engine, liveness
from cauce.sweeps import study as optuna_study
from cauce.sweeps.models import Sweep, Trial

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _study_storage_closed():
    """Optuna's connections closed after the test, so the test database can be dropped."""
    yield
    optuna_study.storage_dispose()


LONG_ERROR = "La prueba falló (MemoryError). " + "x" * 9000


def _running_with_runs(sweep) -> Sweep:
    """The sweep RUNNING with its parent run in MLflow."""
    experiment_id = project_mlflow_experiment_ensure(project=sweep.project)
    parent = tracking.run_create(
        experiment_id=experiment_id,
        run_name=sweep.name,
        tags={liveness.SWEEP_ID_TAG: str(sweep.pk)},
    )
    Sweep.objects.filter(pk=sweep.pk).update(
        status=Sweep.Status.RUNNING,
        mlflow_experiment_id=experiment_id,
        mlflow_run_id=parent,
        n_trials=3,
    )
    sweep.refresh_from_db()
    return sweep


def _child(sweep, name: str) -> str:
    return mlflow_sweeps.child_run_create(
        experiment_id=sweep.mlflow_experiment_id,
        parent_run_id=sweep.mlflow_run_id,
        run_name=name,
        tags={liveness.SWEEP_ID_TAG: str(sweep.pk)},
    )


def _trials_ended_with_closes_pending(sweep) -> tuple[Trial, Trial, Trial, str]:
    """Trial 0 COMPLETE and trial 1 FAIL, each with its child run still RUNNING and its close
    pending (MLflow was down when they ended: their tasks retry it); trial 2 PRUNED, closed;
    and a child run of an attempt no trial points to, left RUNNING."""
    complete = Trial.objects.create(
        sweep=sweep,
        number=0,
        optuna_trial_id=1,
        status=Trial.Status.COMPLETE,
        value=0.9,
        metrics={"accuracy": 0.9},
        duration_seconds=1.5,
        mlflow_run_id=_child(sweep, "#0"),
    )
    failed = Trial.objects.create(
        sweep=sweep,
        number=1,
        optuna_trial_id=2,
        status=Trial.Status.FAIL,
        error=LONG_ERROR,
        duration_seconds=0.5,
        mlflow_run_id=_child(sweep, "#1"),
    )
    pruned_run = _child(sweep, "#2")
    runs.run_end(run_id=pruned_run, status="FINISHED")
    pruned = Trial.objects.create(
        sweep=sweep,
        number=2,
        optuna_trial_id=3,
        status=Trial.Status.PRUNED,
        mlflow_run_id=pruned_run,
        run_closed=True,
    )
    return complete, failed, pruned, _child(sweep, "#1 (an attempt given up)")


def _assert_runs_in_their_trials_states(client, sweep, complete, failed, pruned, stray):
    complete_run = client.get_run(complete.mlflow_run_id)
    failed_run = client.get_run(failed.mlflow_run_id)
    children = [complete_run, failed_run, client.get_run(pruned.mlflow_run_id)]
    children.append(client.get_run(stray))
    assert [run.info.status for run in children] == ["FINISHED", "FAILED", "FINISHED", "FAILED"]
    parent = client.get_run(sweep.mlflow_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.info.end_time >= max(run.info.end_time for run in children)
    return complete_run, failed_run


def test_the_controller_closes_pending_child_runs_in_their_trials_states_before_the_parent(
    mlflow, sweep
):
    sweep = _running_with_runs(sweep)
    optuna_study.study_create(sweep)
    complete, failed, pruned, stray = _trials_ended_with_closes_pending(sweep)

    engine.sweep_fill(sweep_id=sweep.pk)  # every trial done: the controller ends the sweep

    sweep.refresh_from_db()
    assert (sweep.status, sweep.mlflow_closed) == (Sweep.Status.FINISHED, True)
    client = MlflowClient(tracking_uri=mlflow)
    complete_run, failed_run = _assert_runs_in_their_trials_states(
        client, sweep, complete, failed, pruned, stray
    )
    # Closed with their results, as their tasks would have: the close's one log_batch.
    assert complete_run.data.metrics["objective_accuracy"] == pytest.approx(0.9)
    assert complete_run.data.metrics["duration_s"] == pytest.approx(1.5)
    assert complete_run.data.tags["cauce.trial_state"] == "COMPLETE"
    assert "cauce.trial_error" not in complete_run.data.tags
    assert failed_run.data.tags["cauce.trial_state"] == "FAIL"
    assert failed_run.data.tags["cauce.trial_error"] == LONG_ERROR[:8000]
    assert set(Trial.objects.filter(sweep=sweep).values_list("number", "run_closed")) == {
        (0, True),
        (1, True),
        (2, True),
    }

    # The trial's task retrying its close afterwards finds it closed: no state changes.
    ended = client.get_run(complete.mlflow_run_id).info.end_time
    engine.trial_execute(sweep_id=sweep.pk, number=complete.number)
    again = client.get_run(complete.mlflow_run_id)
    assert (again.info.status, again.info.end_time) == ("FINISHED", ended)


def test_with_mlflow_down_at_the_end_the_watch_ends_each_child_in_its_trials_state(
    mlflow, sweep, settings
):
    sweep = _running_with_runs(sweep)
    optuna_study.study_create(sweep)
    complete, failed, pruned, stray = _trials_ended_with_closes_pending(sweep)
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"  # nothing listens there
    settings.MLFLOW_WORKER_MAX_RETRIES = 0
    mlflow_client.reset_availability()

    engine.sweep_fill(sweep_id=sweep.pk)

    sweep.refresh_from_db()
    assert (sweep.status, sweep.mlflow_closed) == (Sweep.Status.FINISHED, False)
    client = MlflowClient(tracking_uri=mlflow)
    assert client.get_run(sweep.mlflow_run_id).info.status == "RUNNING"  # not before them
    settings.MLFLOW_TRACKING_URI = mlflow
    mlflow_client.reset_availability()

    assert liveness.sweeps_close_runs() == 1

    sweep.refresh_from_db()
    assert sweep.mlflow_closed
    _assert_runs_in_their_trials_states(client, sweep, complete, failed, pruned, stray)
    # Then the trial's own retried close adds its results, in the same state.
    engine.trial_execute(sweep_id=sweep.pk, number=complete.number)
    run = client.get_run(complete.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["objective_accuracy"] == pytest.approx(0.9)


def test_a_trial_the_watch_failed_while_it_trained_ends_its_child_run_failed(
    mlflow, sweep, monkeypatch
):
    """The watch's verdict (no heartbeat: FAIL, its run FAILED) stands in MLflow too: the
    trial, ending well after it, does not turn its child run FINISHED."""
    sweep = _running_with_runs(sweep)
    Sweep.objects.filter(pk=sweep.pk).update(n_trials=1)
    sweep.refresh_from_db()
    optuna_study.study_create(sweep)
    asked = optuna_study.study_load(sweep, next_number=0).ask(optuna_study.distributions(sweep))
    trial = Trial.objects.create(
        sweep=sweep,
        number=asked.number,
        optuna_trial_id=asked._trial_id,
        params=optuna_study.params_of(asked.params),
    )
    train = engine.trial_train

    def trained_then_failed_by_the_watch(frame, **options):
        scores = train(frame, **options)
        assert liveness.trial_fail_lost(
            Trial.objects.get(pk=trial.pk), message=liveness.worker_lost_message()
        )
        return scores

    monkeypatch.setattr(engine, "trial_train", trained_then_failed_by_the_watch)

    engine.trial_execute(sweep_id=sweep.pk, number=trial.number)

    trial.refresh_from_db()
    assert (trial.status, trial.run_closed) == (Trial.Status.FAIL, True)
    assert trial.error == "El proceso de trabajo se detuvo durante la prueba."
    run = MlflowClient(tracking_uri=mlflow).get_run(trial.mlflow_run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["cauce.trial_state"] == "FAIL"
    assert run.data.tags["cauce.trial_error"] == trial.error
    assert "objective_accuracy" not in run.data.metrics


def test_two_closes_of_one_child_run_leave_one_point_per_metric_and_step(mlflow, sweep):
    """The controller's close and the trial's retried close, both made (they can run at the
    same moment): the second logs nothing MLflow does not already hold."""
    from django.utils import timezone

    sweep = _running_with_runs(sweep)
    trial = Trial.objects.create(
        sweep=sweep,
        number=0,
        optuna_trial_id=1,
        params={"max_depth": 3},
        status=Trial.Status.COMPLETE,
        value=0.8,
        metrics={"accuracy": 0.8, "f1_macro": 0.75},
        fold_scores=[0.7, 0.8, 0.9],
        duration_seconds=2.0,
        mlflow_run_id=_child(sweep, "#0"),
        finished_at=timezone.now(),
    )
    for _ in range(2):
        trial.refresh_from_db()
        assert engine._trial_run_close(trial, sweep=sweep, run_status="FINISHED")

    client = MlflowClient(tracking_uri=mlflow)
    history = {
        key: client.get_metric_history(trial.mlflow_run_id, key)
        for key in ("objective_accuracy", "accuracy", "duration_s", "fold_accuracy")
    }
    assert {key: len(points) for key, points in history.items()} == {
        "objective_accuracy": 1,
        "accuracy": 1,
        "duration_s": 1,
        "fold_accuracy": 3,
    }
    assert [point.value for point in history["fold_accuracy"]] == [0.7, 0.8, 0.9]
    assert history["accuracy"][0].timestamp == int(trial.finished_at.timestamp() * 1000)
    run = client.get_run(trial.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert (run.data.params["hp.max_depth"], run.data.params["trial_number"]) == ("3", "0")
