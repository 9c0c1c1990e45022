"""Settings for the test suite: the same as production's code paths, with private state.

Each pytest process gets its own data dir, database name and Celery queue, so that two
runs on one machine (or a run beside `make run`) never share a queue or a database.
"""

import os
import tempfile
import uuid

_SESSION = uuid.uuid4().hex[:10]
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
