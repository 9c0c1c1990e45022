"""Settings for the test suite: the same as production's code paths, with private state.

Each pytest process gets its own data dir, database name and Celery queue, so that two
runs on one machine (or a run beside `make run`) never share a queue or a database. Under
pytest-xdist (`-n 2`) each worker is such a process: it inherits the environment that the
controller's import of these settings filled, so it takes a folder and a queue of its own
below the controller's (pytest-django gives it its own test database).
"""

import os
import tempfile
import uuid
from pathlib import Path

_SESSION = uuid.uuid4().hex[:10]
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1"... under xdist
if _XDIST_WORKER and os.environ.get("CAUCE_TEST_XDIST_WORKER") != _XDIST_WORKER:
    # Once per worker (its own subprocesses inherit the marker and keep these values).
    os.environ["CAUCE_TEST_XDIST_WORKER"] = _XDIST_WORKER
    if "CAUCE_DATA_DIR" in os.environ:
        _worker_dir = Path(os.environ["CAUCE_DATA_DIR"]) / _XDIST_WORKER
        _worker_dir.mkdir(parents=True, exist_ok=True)
        os.environ["CAUCE_DATA_DIR"] = str(_worker_dir)
    if "CELERY_TASK_DEFAULT_QUEUE" in os.environ:
        os.environ["CELERY_TASK_DEFAULT_QUEUE"] += f"-{_XDIST_WORKER}"
os.environ.setdefault("CAUCE_DATA_DIR", tempfile.mkdtemp(prefix=f"cauce-test-{_SESSION}-"))
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"cauce-test-{_SESSION}")
# Until a test asks for the real server fixture, MLflow is a dead port: no accidental waits.
os.environ.setdefault("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")

from config.settings import *  # noqa: E402,F403
from config.settings import DATA_DIR, DATABASES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False

_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: the Celery worker of the end-to-end tests opens it too.
    _db["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
else:
    _db["TEST"] = {"NAME": f"test_cauce_{_SESSION}"}

# Monitoring's queue is written by the tests that call ``recording.observations_flush()``
# (no background thread: its writes would miss each test's transaction).
MONITOR_FLUSH_THREAD = False
