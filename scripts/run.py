"""``make run``: set Cauce up on this machine and run every part of it until Ctrl-C.

It makes the data dir, starts a real MLflow tracking server (unless MLFLOW_TRACKING_URI points
at one that already answers) and, while that boots, runs ``migrate`` and starts one Celery
worker (a prefork pool of CAUCE_WORKER_CONCURRENCY processes, with Celery beat for the
periodic tasks); then it creates the demo data (``manage.py cauce_demo --wait``, trained by that
worker) and starts the web server (gunicorn; static files by whitenoise).

Each long-running child runs in its own process group and writes to ``<data dir>/logs/``.
SIGINT, SIGTERM or SIGHUP stop them all (the web server and the worker, then MLflow: SIGTERM
to each group, SIGKILL after a grace period) and the script exits 0. A child that dies on its
own stops the rest, and the script exits 1 naming it, with the tail of its log.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from scripts.processes import group_members

BASE_DIR = Path(__file__).resolve().parent.parent
GRACE_SECONDS = 10
# A worker's warm shutdown lets its current task finish; one still running after this is killed
# and, with acks_late, handed to the next worker that starts.
WORKER_GRACE_SECONDS = 20
MLFLOW_START_TIMEOUT = 120
WORKER_START_TIMEOUT = 90
WEB_START_TIMEOUT = 60
DEMO_TIMEOUT = 240
LOG_TAIL_LINES = 30
# The MLflow server answers 403 to a Host header it does not know; this flag replaces its list.
MLFLOW_ALLOWED_HOSTS = "localhost:*,127.0.0.1:*"


class StopRequested(Exception):
    """SIGINT, SIGTERM or SIGHUP arrived: stop everything and exit 0."""


class StartupError(Exception):
    """Something needed to start is missing or broken; the message says what to do."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log_path: Path
    stop_last: bool = False
    grace: float | None = None
    # SIGTERM to the leader only, which stops its own children (see start_worker); the group
    # gets SIGKILL after the grace period all the same.
    stop_leader_only: bool = False

    @property
    def pgid(self) -> int:
        # start_new_session makes each child the leader of its own process group.
        return self.process.pid


class ChildDied(Exception):
    def __init__(self, child: Child):
        super().__init__(child.name)
        self.child = child


def say(message: str = "") -> None:
    print(message, flush=True)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def mlflow_answers(url: str) -> bool:
    try:
        return requests.get(url.rstrip("/") + "/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def http_answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.RequestException:
        return False
    return True


def _die_with_parent() -> None:
    """Linux: if this script is killed outright, its children get SIGTERM instead of lingering."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Supervisor:
    def __init__(self, logs_dir: Path, env: dict[str, str]):
        self.logs_dir = logs_dir
        self.env = env
        self.children: list[Child] = []
        self.stop_requested = False
        self.stopping = False
        self.force = False

    # --- signals -----------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame) -> None:
        if self.stopping:
            # A second Ctrl-C while stopping: don't wait for the grace period.
            self.force = True
        self.stop_requested = True

    # --- children ----------------------------------------------------------------------------

    def spawn(self, name: str, command: list[str], log_name: str, env: dict | None = None) -> Child:
        log_path = self.logs_dir / log_name
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env={**self.env, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        return Child(name=name, process=process, log_path=log_path)

    def start(
        self,
        name: str,
        command: list[str],
        log_name: str,
        env: dict | None = None,
        stop_last: bool = False,
        grace: float | None = None,
        stop_leader_only: bool = False,
    ) -> Child:
        child = self.spawn(name, command, log_name, env)
        child.stop_last = stop_last
        child.grace = grace
        child.stop_leader_only = stop_leader_only
        self.children.append(child)
        return child

    def check(self) -> None:
        if self.stop_requested:
            raise StopRequested
        for child in self.children:
            if child.process.poll() is not None:
                raise ChildDied(child)

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            self.check()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.1, left))

    def wait_for(self, child: Child, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise StartupError(
                    f"{child.name} did not become ready ({what}) within {timeout:.0f} s. "
                    f"Last lines of {child.log_path}:\n{log_tail(child.log_path)}"
                )
            self.sleep(0.25)

    def run_once(
        self, name: str, command: list[str], log_name: str, timeout: float, env: dict | None = None
    ) -> Child:
        """Run a command to its end while watching the long-running children."""
        child = self.spawn(name, command, log_name, env)
        try:
            deadline = time.monotonic() + timeout
            while child.process.poll() is None:
                if time.monotonic() > deadline:
                    raise StartupError(f"{name} did not finish within {timeout:.0f} s.")
                self.sleep(0.1)
        finally:
            if child.process.poll() is None:
                self.stop([child])
        return child

    @staticmethod
    def _alive(child: Child) -> bool:
        child.process.poll()  # reap the leader, so that a zombie does not count as alive
        return bool(group_members(child.pgid))

    @staticmethod
    def _signal_group(child: Child, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pgid, signum)

    def stop(self, children: list[Child]) -> None:
        """SIGTERM to each child's group (or its leader); SIGKILL to what is left of the group
        after the grace period."""
        for child in children:
            if child.stop_leader_only:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.process.pid, signal.SIGTERM)
            else:
                self._signal_group(child, signal.SIGTERM)
        started = time.monotonic()

        def overdue(child: Child) -> bool:
            grace = GRACE_SECONDS if child.grace is None else child.grace
            return self.force or time.monotonic() - started > grace

        pending, killed = list(children), []
        while pending:
            for child in list(pending):
                if not self._alive(child):
                    pending.remove(child)
                elif overdue(child):
                    say(f"  {child.name} did not stop in time: killing it.")
                    self._signal_group(child, signal.SIGKILL)
                    pending.remove(child)
                    killed.append(child)
            time.sleep(0.1)
        deadline = time.monotonic() + 5
        while any(self._alive(child) for child in killed) and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop_all(self) -> None:
        self.stopping = True
        # MLflow goes last: a worker finishing its task during the warm shutdown still needs it.
        first = [child for child in self.children if not child.stop_last]
        last = [child for child in self.children if child.stop_last]
        for group in (first, last):
            running = [child for child in group if self._alive(child)]
            if running:
                started = time.monotonic()
                names = ", ".join(child.name for child in running)
                say(f"  stopping {names}...")
                self.stop(running)
                say(f"  stopped in {time.monotonic() - started:.1f} s")


# --- the steps ---------------------------------------------------------------------------------


def load_settings():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(BASE_DIR))
    from django.conf import settings

    settings.DATA_DIR  # noqa: B018 - reading one setting loads them all (and .env)
    return settings


def env_port(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip() or str(default)
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise StartupError(f"{name} must be a port number, not {value!r}.")
    return int(value)


def make_data_dirs(settings) -> Path:
    logs_dir = settings.DATA_DIR / "logs"
    folders = [settings.DATA_DIR, logs_dir, settings.DATA_DIR / "mlflow", Path(settings.MEDIA_ROOT)]
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS.values()
        folders += [Path(value) for value in options if isinstance(value, str)]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    return logs_dir


def start_mlflow(sup: Supervisor, settings, port: int) -> tuple[str, Child | None]:
    """The tracking URI Cauce will use: the configured server, or a local one started here."""
    configured = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if configured:
        say(f"- MLflow: using the server at {configured}")
        return configured.rstrip("/"), None

    root = settings.DATA_DIR / "mlflow"
    url = f"http://127.0.0.1:{port}"
    say(f"- MLflow: starting a tracking server on {url} (store in {root})")
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--allowed-hosts", MLFLOW_ALLOWED_HOSTS,
    ]  # fmt: skip
    child = sup.start(
        "MLflow server",
        command,
        "mlflow.log",
        env={
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_DISABLE_TELEMETRY": os.environ.get("MLFLOW_DISABLE_TELEMETRY", "true"),
        },
        stop_last=True,
    )
    return url, child


def start_worker(sup: Supervisor, settings) -> Child:
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    concurrency = settings.CELERY_WORKER_CONCURRENCY
    say(
        f"- Celery: starting one worker on queue {queue!r} ({settings.CELERY_BROKER_URL}), "
        f"{concurrency} experiments at once (CAUCE_WORKER_CONCURRENCY), each training "
        f"limited to {settings.TRAINING_MEMORY_MB} MB (CAUCE_TRAINING_MEMORY_MB)"
    )
    # The pool (prefork), its size and the memory per pool process come from the settings.
    # --beat: the same worker sends the periodic tasks of CELERY_BEAT_SCHEDULE (the tag sync
    # sweep, the check of dead workers and lost messages); at scale, run one `celery beat`
    # beside the workers instead.
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker",
        "--loglevel", "INFO", "--queues", queue,
        "--hostname", f"cauce-{os.getpid()}@%h", "--beat",
    ]  # fmt: skip
    # SIGTERM to the worker's main process only: its warm shutdown lets a running task end,
    # then stops the pool and beat itself. A SIGTERM to the whole group also reached the pool
    # processes, which died holding the pool's queue lock: the main process then waited on
    # that lock until the grace period's SIGKILL (~20 s for every idle Ctrl-C), and a running
    # task was killed instead of finishing.
    return sup.start(
        "Celery worker",
        command,
        "worker.log",
        grace=WORKER_GRACE_SECONDS,
        stop_leader_only=True,
    )


def create_demo(sup: Supervisor) -> bool:
    say("- Demo data: user, project, Iris dataset, one experiment trained by the worker...")
    command = [
        sys.executable, "manage.py", "cauce_demo", "--wait", "--timeout", str(DEMO_TIMEOUT),
    ]  # fmt: skip
    child = sup.run_once(
        "cauce_demo", command, "demo.log", timeout=DEMO_TIMEOUT + 60, env={"LOG_LEVEL": "ERROR"}
    )
    if child.process.returncode == 0:
        for line in log_tail(child.log_path, 10).splitlines():
            say(f"    {line}")
        return True
    # The platform works without its demo: say why, and carry on.
    say(f"  WARNING: cauce_demo failed (exit {child.process.returncode}). Last lines:")
    say(log_tail(child.log_path))
    return False


def start_web(sup: Supervisor, port: int) -> str:
    url = f"http://127.0.0.1:{port}"
    say(f"- Web: starting gunicorn on {url}")
    command = [
        sys.executable, "-m", "gunicorn", "config.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--worker-class", "config.web_worker.ThreadWorker", "--workers", "2", "--threads", "4",
        "--timeout", "120", "--graceful-timeout", "5",
        # Longer than a client's pause between two requests (as in the Dockerfile).
        "--keep-alive", "75",
        "--access-logfile", "-", "--error-logfile", "-",
    ]  # fmt: skip
    child = sup.start("Web server", command, "web.log")
    sup.wait_for(child, lambda: http_answers(f"{url}/health/"), WEB_START_TIMEOUT, "/health/")
    return url


def run(sup: Supervisor, settings, web_port: int, mlflow_port: int) -> None:
    started = time.monotonic()

    def ready(what: str) -> None:
        say(f"  {what} ready ({time.monotonic() - started:.0f} s)")

    # MLflow takes longest to start: it boots while the database is migrated and the worker
    # starts; the demo then needs both.
    mlflow_url, mlflow_child = start_mlflow(sup, settings, mlflow_port)
    sup.env["MLFLOW_TRACKING_URI"] = mlflow_url
    mlflow_public = os.environ.get("MLFLOW_PUBLIC_URL", "").strip() or mlflow_url

    say("- Database: migrate")
    child = sup.run_once(
        "migrate", [sys.executable, "manage.py", "migrate", "--noinput"], "migrate.log", 300
    )
    if child.process.returncode != 0:
        tail = log_tail(child.log_path)
        raise StartupError(f"migrate failed. Last lines of {child.log_path}:\n{tail}")
    ready("Database")

    worker = start_worker(sup, settings)
    if mlflow_child is not None:
        health = f"{mlflow_url}/health"
        sup.wait_for(mlflow_child, lambda: mlflow_answers(mlflow_url), MLFLOW_START_TIMEOUT, health)
        ready("MLflow")
    sup.wait_for(
        worker, lambda: b" ready." in worker.log_path.read_bytes(), WORKER_START_TIMEOUT, "ready"
    )
    ready("Celery worker")

    demo_ok = create_demo(sup)
    if demo_ok:
        ready("Demo data")
    web = start_web(sup, web_port)
    ready("Web server")

    password = "$CAUCE_DEMO_PASSWORD" if os.environ.get("CAUCE_DEMO_PASSWORD") else "demo"
    say()
    say("Cauce is running. Press Ctrl-C to stop.")
    say(f"  Web:        {web}/")
    say(f"  MLflow UI:  {mlflow_public.rstrip('/')}/")
    say(f"  API docs:   {web}/api/docs/")
    say(f"  Admin:      {web}/admin/")
    say(f"  Health:     {web}/health/")
    say(
        f"  Demo login: demo / {password}" + ("" if demo_ok else "  (cauce_demo failed: see above)")
    )
    say(f"  Logs:       {sup.logs_dir}/")
    while True:
        sup.sleep(0.5)


def main() -> int:
    try:
        settings = load_settings()
        web_port = env_port("CAUCE_WEB_PORT", 8000)
        mlflow_port = env_port("CAUCE_MLFLOW_PORT", 5000)
        if not port_is_free(web_port):
            raise StartupError(f"Port {web_port} is in use: set CAUCE_WEB_PORT to a free port.")
        configured_mlflow = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
        if configured_mlflow and not mlflow_answers(configured_mlflow):
            raise StartupError(
                f"MLFLOW_TRACKING_URI={configured_mlflow} does not answer at /health. Start "
                "that server, or unset MLFLOW_TRACKING_URI to let `make run` start a local one."
            )
        if not configured_mlflow and not port_is_free(mlflow_port):
            raise StartupError(
                f"Port {mlflow_port} is in use: set CAUCE_MLFLOW_PORT to a free port, or "
                "MLFLOW_TRACKING_URI to a running MLflow server."
            )
        logs_dir = make_data_dirs(settings)
    except StartupError as exc:
        say(f"ERROR: {exc}")
        return 1

    env = {
        **os.environ,
        "CAUCE_DATA_DIR": str(settings.DATA_DIR),
        "PYTHONUNBUFFERED": "1",
    }
    sup = Supervisor(logs_dir, env)
    sup.install_signal_handlers()
    say(f"Cauce: data in {settings.DATA_DIR}, logs in {logs_dir}/")
    code = 0
    try:
        run(sup, settings, web_port, mlflow_port)
    except StopRequested:
        say()
        say("Stopping Cauce...")
    except ChildDied as exc:
        child = exc.child
        code = 1
        say()
        say(
            f"ERROR: {child.name} exited unexpectedly (exit code {child.process.returncode}). "
            f"Last lines of {child.log_path}:"
        )
        say(log_tail(child.log_path))
        say("Stopping the other processes...")
    except StartupError as exc:
        code = 1
        say()
        say(f"ERROR: {exc}")
        say("Stopping the processes started so far...")
    finally:
        sup.stop_all()
    say("Stopped." if code == 0 else "Stopped after an error.")
    return code


if __name__ == "__main__":
    sys.exit(main())
