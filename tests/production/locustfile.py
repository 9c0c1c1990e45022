"""Locust users for the load run (``tests/production/load.py`` starts locust with it).

Each user has its own session: the runner logged in once per user through the login page
(CSRF token from the form) before the run, so that twenty password hashes at once are not
counted as load, and hands the session cookies over. Waiting 0.5-1.5 s between requests, a
user opens one of four pages: a project's experiment list, an experiment's page, its
"Artefactos de MLflow" tab (the htmx partial the page loads) and the predict endpoint with
the API token. Every answer other than the expected status is a failure
named ``HTTP <status>`` (0 when nothing came back), which the runner counts per page.

Only the standard library and locust are imported: this runs in locust's own process (gevent),
never inside pytest. Its configuration comes from ``CAUCE_LOAD_*`` variables.
"""

from __future__ import annotations

import itertools
import json
import os
import random

from locust import HttpUser, between, task

LIST = "experiment list"
DETAIL = "experiment detail"
ARTIFACTS = "artifacts tab"
PREDICT = "predict API"

PROJECT_ID = os.environ.get("CAUCE_LOAD_PROJECT_ID", "")
EXPERIMENT_IDS = [pk for pk in os.environ.get("CAUCE_LOAD_EXPERIMENT_IDS", "").split(",") if pk]
# "name=value" of each user's session cookie.
SESSIONS = [cookie for cookie in os.environ.get("CAUCE_LOAD_SESSIONS", "").split(",") if cookie]
TOKEN = os.environ.get("CAUCE_LOAD_TOKEN", "")
MODEL = os.environ.get("CAUCE_LOAD_MODEL", "")
ALIAS = os.environ.get("CAUCE_LOAD_ALIAS", "champion")
PREDICT_BODY = os.environ.get("CAUCE_LOAD_PREDICT_BODY", "{}")


def _check(response, expected: int, marker: str | None = None) -> None:
    """Mark the request failed unless it has the expected status (and text)."""
    if response.status_code == 0:
        response.failure(f"HTTP 0 (no answer: {response.error!r})")
    elif response.status_code != expected:
        response.failure(f"HTTP {response.status_code}")
    elif marker is not None and marker not in response.text:
        response.failure(f"HTTP {response.status_code} without {marker!r}")
    else:
        response.success()


_user_numbers = itertools.count()


class CauceUser(HttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        name, _sep, value = SESSIONS[next(_user_numbers) % len(SESSIONS)].partition("=")
        self.client.cookies.set(name, value)

    @task
    def experiment_list(self) -> None:
        with self.client.get(
            f"/projects/{PROJECT_ID}/experiments/",
            name=LIST,
            allow_redirects=False,
            catch_response=True,
        ) as response:
            _check(response, 200)

    @task
    def experiment_detail(self) -> None:
        with self.client.get(
            f"/experiments/{random.choice(EXPERIMENT_IDS)}/",
            name=DETAIL,
            allow_redirects=False,
            catch_response=True,
        ) as response:
            _check(response, 200)

    @task
    def artifacts_tab(self) -> None:
        # As the page's tab asks for it: an htmx request, answered with the partial.
        with self.client.get(
            f"/experiments/{random.choice(EXPERIMENT_IDS)}/artifacts/tab/",
            headers={"HX-Request": "true"},
            name=ARTIFACTS,
            allow_redirects=False,
            catch_response=True,
        ) as response:
            # The listing itself, not the "MLflow no disponible" notice.
            _check(response, 200, marker="artifact-summary")

    @task
    def predict(self) -> None:
        with self.client.post(
            f"/api/models/{MODEL}/predict/?alias={ALIAS}",
            data=PREDICT_BODY,
            headers={"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"},
            name=PREDICT,
            allow_redirects=False,
            catch_response=True,
        ) as response:
            _check(response, 200, marker='"predictions"')


# Read once, so that a bad body is a start-up error and not 20 users' failures.
json.loads(PREDICT_BODY)
