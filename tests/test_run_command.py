"""``make run`` (``python -m scripts.run``): every part starts, answers, and stops on Ctrl-C."""

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from scripts import processes
from scripts import run as run_script
from tests.fixtures.mlflow_server import free_port

BASE_DIR = Path(__file__).resolve().parent.parent
# What the test process has from pytest and settings_test, and `make run` must not inherit.
NOT_INHERITED = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_PUBLIC_URL",
    "CAUCE_DATABASE_NAME",
    "CAUCE_MEDIA_ROOT",
    "CELERY_TASK_DEFAULT_QUEUE",
    "CAUCE_DEMO_PASSWORD",
)


def _run_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in NOT_INHERITED}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CAUCE_DATA_DIR": str(data_dir),
            "CAUCE_WEB_PORT": str(free_port()),
            "CAUCE_MLFLOW_PORT": str(free_port()),
        }
    )
    env.update(extra)
    return env


class Output:
    """The script's stdout, read in a thread so the test can wait for a line with a deadline."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, process: subprocess.Popen, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.text, re.MULTILINE)
            if match:
                return match
            if process.poll() is not None:
                self._thread.join(timeout=2)
                pytest.fail(f"scripts.run exited ({process.returncode}) early:\n{self.text}")
            time.sleep(0.2)
        pytest.fail(f"no {pattern!r} within {timeout} s:\n{self.text}")


def _descendants(pid: int) -> set[int]:
    table = processes.process_table()
    found, frontier = set(), {pid}
    while frontier:
        children = {
            child for child, (parent, _group, _state) in table.items() if parent in frontier
        }
        frontier = children - found
        found |= children
    return found


def _alive(pid: int) -> bool:
    entry = processes.process_table().get(pid)
    return entry is not None and entry[2] != "Z"


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.worker
def test_it_runs_every_part_with_the_demo_and_stops_them_all_on_ctrl_c(tmp_path):
    data_dir = tmp_path / "var"
    env = _run_env(data_dir, CAUCE_WORKER_CONCURRENCY="2", CAUCE_TRAINING_MEMORY_MB="3000")
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.run"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(process)
    try:
        web = output.wait_for(r"^\s+Web:\s+(\S+?)/?$", process, timeout=180).group(1)
        mlflow_ui = output.wait_for(r"^\s+MLflow UI:\s+(\S+?)/?$", process, 1).group(1)
        output.wait_for(r"^\s+API docs:\s+\S+/api/docs/$", process, 1)
        output.wait_for(r"^\s+Admin:\s+\S+/admin/$", process, 1)
        output.wait_for(r"^\s+Demo login:\s+demo / demo$", process, 1)
        assert web == f"http://127.0.0.1:{env['CAUCE_WEB_PORT']}"
        assert mlflow_ui == f"http://127.0.0.1:{env['CAUCE_MLFLOW_PORT']}"

        health = requests.get(f"{web}/health/", timeout=5)
        assert health.status_code == 200, health.text
        assert health.json() == {
            "status": "ok",
            "checks": {"database": "ok", "broker": "ok", "mlflow": "ok"},
        }
        assert requests.get(f"{mlflow_ui}/health", timeout=5).text.strip() == "OK"
        # DEBUG is off: whitenoise serves the static files.
        assert requests.get(f"{web}/static/cauce/app.css", timeout=5).status_code == 200

        # The demo experiment was trained by the real worker before the web server started.
        with sqlite3.connect(data_dir / "cauce.sqlite3") as db:
            status, run_id = db.execute(
                "SELECT status, mlflow_run_id FROM experiments_mlexperiment WHERE name = ?",
                ("Iris RandomForest",),
            ).fetchone()
        assert (status, bool(run_id)) == ("FINISHED", True), output.text

        browser = requests.Session()
        browser.get(f"{web}/accounts/login/", timeout=5)
        page = browser.post(
            f"{web}/accounts/login/",
            data={
                "username": "demo",
                "password": "demo",
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
            timeout=10,
        )
        assert page.status_code == 200
        assert page.url.rstrip("/").endswith("/projects")
        assert "Demo" in page.text

        children = _descendants(process.pid)
        commands = " ".join(_command_line(pid) for pid in children)
        for part in ("mlflow server", "celery -A config worker", "--beat", "gunicorn"):
            assert part in commands
        # The worker, its prefork pool of CAUCE_WORKER_CONCURRENCY processes and its beat.
        workers = [pid for pid in children if "celery -A config worker" in _command_line(pid)]
        assert len(workers) == 4
        assert (
            "2 experiments at once (CAUCE_WORKER_CONCURRENCY), each training limited to 3000 MB"
            in output.text
        )

        # Usually ~10 s; the grace periods (worker 20 s, then MLflow 10 s) bound it near 30 s.
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=40) == 0, output.text
        left = [(pid, _command_line(pid)) for pid in children if _alive(pid)]
        assert left == []
        assert "Stopped." in output.text
    finally:
        _stop(process)


def test_it_refuses_to_start_when_mlflow_tracking_uri_does_not_answer(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [sys.executable, "-m", "scripts.run"],
        cwd=BASE_DIR,
        env=_run_env(tmp_path / "var", MLFLOW_TRACKING_URI=dead),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"MLFLOW_TRACKING_URI={dead} does not answer" in result.stdout
    # Nothing else was started: no worker or web log was written.
    assert not (tmp_path / "var" / "logs" / "worker.log").exists()


def test_it_refuses_a_web_port_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "scripts.run"],
            cwd=BASE_DIR,
            env=_run_env(tmp_path / "var", CAUCE_WEB_PORT=str(port)),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"Port {port} is in use: set CAUCE_WEB_PORT" in result.stdout


# --- the supervisor, with small real processes ---------------------------------------------


@pytest.fixture
def supervisor(tmp_path):
    sup = run_script.Supervisor(tmp_path, dict(os.environ))
    yield sup
    sup.stop_all()


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_child_that_dies_is_named_with_its_log_and_the_others_are_stopped(supervisor):
    survivor = supervisor.start("Sleeper", _python("import time; time.sleep(60)"), "s.log")
    supervisor.start(
        "Crasher", _python("import sys; print('boom: no database'); sys.exit(3)"), "c.log"
    )
    with pytest.raises(run_script.ChildDied) as died:
        supervisor.sleep(10)
    assert died.value.child.name == "Crasher"
    assert died.value.child.process.returncode == 3
    assert "boom: no database" in run_script.log_tail(died.value.child.log_path)

    supervisor.stop_all()
    assert survivor.process.poll() is not None
    assert processes.group_members(survivor.pgid) == []


def test_stopping_kills_the_whole_group_even_a_child_that_ignores_sigterm(supervisor, monkeypatch):
    monkeypatch.setattr(run_script, "GRACE_SECONDS", 1)
    stubborn = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = supervisor.start("Stubborn", _python(stubborn), "stubborn.log")
    deadline = time.monotonic() + 10
    while len(processes.group_members(child.pgid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    members = processes.group_members(child.pgid)
    assert len(members) == 2

    started = time.monotonic()
    supervisor.stop_all()
    assert time.monotonic() - started < 8
    assert processes.group_members(child.pgid) == []
    assert not any(_alive(pid) for pid in members)


def test_a_leader_only_child_gets_sigterm_alone_and_stops_its_own_children(supervisor, tmp_path):
    """The Celery worker's case: its pool processes must not get the SIGTERM themselves."""
    report = tmp_path / "pool.txt"
    pool = (
        "import signal, sys, time\n"
        f"report = {str(report)!r}\n"
        "def record(text):\n"
        "    open(report, 'w').write(text)\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, lambda *_: record('SIGTERM from outside'))\n"
        "signal.signal(signal.SIGUSR1, lambda *_: record('stopped by its parent'))\n"
        "time.sleep(60)\n"
    )
    leader = (
        "import signal, subprocess, sys, time\n"
        f"pool = subprocess.Popen([sys.executable, '-c', {pool!r}])\n"
        "def stop(*_):\n"
        "    pool.send_signal(signal.SIGUSR1)\n"
        "    pool.wait()\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "time.sleep(60)\n"
    )
    child = supervisor.start("Worker", _python(leader), "w.log", stop_leader_only=True)
    deadline = time.monotonic() + 10
    while len(processes.group_members(child.pgid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the pool process has installed its handlers

    supervisor.stop_all()

    assert report.read_text() == "stopped by its parent"
    assert processes.group_members(child.pgid) == []


def test_the_celery_worker_is_stopped_through_its_main_process(monkeypatch, tmp_path):
    started = {}

    class Recorder(run_script.Supervisor):
        def start(self, name, command, log_name, **options):
            started.update(options, command=command)

    settings = type(
        "Settings",
        (),
        {
            "CELERY_TASK_DEFAULT_QUEUE": "cauce",
            "CELERY_WORKER_CONCURRENCY": 2,
            "CELERY_BROKER_URL": "filesystem://",
            "TRAINING_MEMORY_MB": 3000,
        },
    )
    run_script.start_worker(Recorder(tmp_path, {}), settings)

    assert started["stop_leader_only"] is True
    assert started["grace"] == run_script.WORKER_GRACE_SECONDS
    assert "--beat" in started["command"]


def test_a_stop_signal_ends_the_wait_at_once(supervisor):
    supervisor.start("Sleeper", _python("import time; time.sleep(60)"), "s.log")
    supervisor.stop_requested = True
    with pytest.raises(run_script.StopRequested):
        supervisor.sleep(30)
