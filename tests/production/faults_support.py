"""Helpers of the fault tests: a logged-in browser session, a bounded prober that keeps
requesting pages and API calls during a fault and records every answer, and a few checks."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

import requests
from mlflow.tracking import MlflowClient

from tests.production.harness import Harness, Seed

DATABASE_DOWN_ES = (
    "La base de datos no está disponible en este momento. Inténtelo de nuevo en unos segundos."
)
PROBE_TIMEOUT = 10
# A prober never runs longer than this, whatever the test does.
PROBE_MAX_SECONDS = 180


def page_session(web_url: str, seed: Seed) -> requests.Session:
    """A browser-like session logged in through the login form (CSRF cookie and token)."""
    session = requests.Session()
    login = session.get(f"{web_url}/accounts/login/", timeout=PROBE_TIMEOUT)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)
    assert token, login.text[:500]
    response = session.post(
        f"{web_url}/accounts/login/",
        data={
            "username": seed.username,
            "password": seed.password,
            "csrfmiddlewaretoken": token.group(1),
        },
        headers={"Referer": f"{web_url}/accounts/login/"},
        timeout=PROBE_TIMEOUT,
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:500]
    return session


@dataclass
class Answer:
    at: float  # monotonic time the request was sent
    path: str
    status: int  # 0: no HTTP answer (connection refused or reset, timeout)
    content_type: str = ""
    body: str = ""
    seconds: float = 0.0


@dataclass
class Prober:
    """Requests ``paths`` in turn (pages with ``session``, ``/api/`` with the seed's token)
    until stopped, at most ``PROBE_MAX_SECONDS``; every answer is kept in ``answers``."""

    web_url: str
    seed: Seed
    session: requests.Session
    paths: list[str]
    pause: float = 0.05
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prober", daemon=True)

    def start(self) -> Prober:
        self._thread.start()
        return self

    def stop(self) -> list[Answer]:
        self._stop.set()
        self._thread.join(timeout=PROBE_TIMEOUT + 5)
        return self.answers

    def _run(self) -> None:
        deadline = time.monotonic() + PROBE_MAX_SECONDS
        while not self._stop.is_set() and time.monotonic() < deadline:
            for path in self.paths:
                self.answers.append(self._get(path))
                if self._stop.wait(self.pause):
                    return

    def _get(self, path: str) -> Answer:
        started = time.monotonic()
        api = path.startswith("/api/")
        try:
            response = (requests if api else self.session).get(
                self.web_url + path,
                headers=self.seed.headers if api else {},
                timeout=PROBE_TIMEOUT,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            return Answer(started, path, 0, body=repr(exc), seconds=time.monotonic() - started)
        return Answer(
            started,
            path,
            response.status_code,
            response.headers.get("Content-Type", ""),
            response.text[:4000],
            time.monotonic() - started,
        )


def status_counts(answers: list[Answer]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for answer in answers:
        counts[answer.status] = counts.get(answer.status, 0) + 1
    return dict(sorted(counts.items()))


def runs_left_running(harness: Harness, mlflow_experiment_ids: set[str]) -> list[str]:
    """Runs still RUNNING in those MLflow experiments (an experiment's run never should be
    once the experiment has ended)."""
    if not mlflow_experiment_ids:
        return []
    runs = MlflowClient(tracking_uri=harness.mlflow_url).search_runs(
        experiment_ids=sorted(mlflow_experiment_ids),
        filter_string="attributes.status = 'RUNNING'",
        max_results=1000,
    )
    return [run.info.run_id for run in runs]


def wait_for(check, timeout: float, what: str, poll: float = 0.25):
    """Poll ``check`` until it returns something true; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")
