"""MLflow answering slowly: pages answer at once with the notice, workers wait and go on.

A loopback proxy (``MlflowProxy``) in front of the harness's MLflow server holds every request
5 s before passing it on. A second gunicorn and a worker are pointed at the proxy. While it is
slow, the experiment detail, its artifacts tab and registry section and the models pages answer
with "MLflow no disponible" (their times are printed against the 1 s target; the timeouts they
pass are asserted in ``cauce/registry/tests/test_mlflow_slow.py``), and an experiment queued
meanwhile keeps running (each MLflow call waits, none fails) and finishes once MLflow is fast
again.
"""

import time

from tests.fixtures.mlflow_server import MlflowProxy
from tests.production.faults_support import page_session

NOTICE = "MLflow no disponible"
SLOW_SECONDS = 5.0
PAGE_TARGET_SECONDS = 1.0
# How long the slowness lasts for the worker: a few of its calls wait 5 s each.
SLOW_WINDOW_SECONDS = 10


def test_pages_answer_with_the_notice_and_the_worker_waits_and_goes_on(harness, capsys):
    proxy = MlflowProxy(harness.mlflow_url)
    try:
        web_url = harness.start_extra_web({"MLFLOW_TRACKING_URI": proxy.url})
        harness.start_workers(1, env={"MLFLOW_TRACKING_URI": proxy.url})
        seed = harness.seed()
        [done] = harness.queue_experiments(seed, 1)
        assert harness.wait_experiments(seed, [done], timeout=90) == {done: "FINISHED"}
        registered = harness.api(seed, "POST", f"/api/experiments/{done}/register-model/", json={})
        assert registered.status_code == 201, registered.text
        model = registered.json()["name"]
        session = page_session(web_url, seed)

        proxy.delay = SLOW_SECONDS
        slow_started = time.monotonic()
        [queued] = harness.queue_experiments(seed, 1)
        pages = {
            f"/experiments/{done}/": False,  # reads no MLflow itself: no notice of its own
            "/mlflow-status/": True,
            f"/experiments/{done}/artifacts/tab/": True,
            f"/experiments/{done}/registry/": True,
            "/models/": True,
            f"/models/{model}/": True,
            f"/projects/{seed.project_id}/models/": True,
        }
        times = {}
        for path, notice in pages.items():
            started = time.monotonic()
            response = session.get(web_url + path, timeout=30)
            times[path] = time.monotonic() - started
            assert response.status_code == 200, (path, response.text[:500])
            assert (NOTICE in response.text) == notice, path
        with capsys.disabled():  # the figures in every run, CI included
            print(f"\nMLflow delayed {SLOW_SECONDS:.0f} s per request; pages:")
            for path, seconds in times.items():
                print(f"  {path}: {seconds:.2f} s (target <= {PAGE_TARGET_SECONDS} s)")

        # The worker waits on its slow calls: the experiment runs, it neither fails nor retries.
        seen = set()
        while time.monotonic() - slow_started < SLOW_WINDOW_SECONDS:
            row = harness.experiment(seed, queued)
            seen.add((row["status"], row["stage"]))
            time.sleep(0.5)
        assert {status for status, _ in seen} <= {"QUEUED", "RUNNING"}, seen
        assert "retrying" not in {stage for _, stage in seen}, seen
        assert ("RUNNING", "preparing") in seen, seen
        proxy.delay = 0
        fast_again = time.monotonic()
        assert harness.wait_experiments(seed, [queued], timeout=120) == {queued: "FINISHED"}
        print(
            f"experiment queued during the slowness: RUNNING through {SLOW_WINDOW_SECONDS} s of "
            f"5 s answers, FINISHED {time.monotonic() - fast_again:.1f} s after MLflow was fast"
        )
        assert harness.experiment(seed, queued)["error"] == ""
        # This test's worker (the logs of earlier tests' workers stay in the folder).
        worker_log = "".join(w.log_path.read_text(errors="replace") for w in harness.workers)
        assert "MLflow unavailable" not in worker_log
    finally:
        harness.stop_extra_webs()
        proxy.close()
