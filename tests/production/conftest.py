"""The production harness (``harness.py``) for the whole session: ``make prove``.

One ``Harness`` serves every test of ``tests/production/``; each test starts the Celery workers
it needs and stops them at its end. The tests speak to Cauce over HTTP, through
``harness.manage(...)`` and with MLflow's client, never through pytest-django's test database.
When a test fails, the end of every log of the harness is printed with it, and the harness's
folder (logs, data) is kept; it is also kept with ``CAUCE_PROVE_KEEP=1``.
"""

import os
import shutil

import pytest

from tests.production.harness import Harness

# Short liveness windows, so that a killed worker's experiment is found within seconds: a
# heartbeat every 2 s, dead after 15 s of silence, checked by beat every 5 s.
FAULT_ENV = {
    "CAUCE_EXPERIMENT_HEARTBEAT_SECONDS": "2",
    "CAUCE_EXPERIMENT_STALE_AFTER_SECONDS": "15",
    "CAUCE_EXPERIMENT_WATCH_SECONDS": "5",
}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def harness(request):
    """PostgreSQL, Redis, the S3 object store, MLflow, gunicorn and beat, started once."""
    instance = Harness(extra_env=FAULT_ENV)
    instance.start()
    print(f"\nharness started in {instance.timings['start']:.1f} s: {instance.timings}")
    print(f"harness root: {instance.root}")
    try:
        yield instance
    finally:
        instance.stop()
        leftovers = instance.leftover_pids()
        assert not leftovers, f"harness processes left running: {leftovers}"
        if not request.session.testsfailed and not os.environ.get("CAUCE_PROVE_KEEP"):
            shutil.rmtree(instance.root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _harness_logs_on_failure(request):
    """Print the harness logs after a failed test that used the harness; stop its workers."""
    yield
    if "harness" not in request.fixturenames:
        return
    harness = request.getfixturevalue("harness")
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        harness.print_logs()
    harness.stop_workers()
