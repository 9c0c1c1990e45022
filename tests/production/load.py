"""Cauce under load: 20 locust users for 60 s on four pages, and MLflow's own time beside them.

Locust runs headless in a subprocess (``tests/production/locustfile.py``; gevent never enters
the process that runs this), against a running Cauce on loopback. Its CSV is read back into
per-page figures: requests, p50, p95, failures and server errors (5xx, or no answer).

While locust runs, one thread of this process times the MLflow calls that the pages calling
MLflow make, with MLflow's own client against the same server: the artifact tab's listing
(``get_run``, ``get_logged_model``, every folder's ``list_artifacts``) and the predict
endpoint's alias lookup (``get_model_version_by_alias``), so both sides see the same load.

Which pages call MLflow (read from the views and selectors):

- experiment list (``experiments.views.ml_experiment_list``): never;
- experiment detail (``ml_experiment_detail``): no, unless the experiment is RUNNING with a
  stale heartbeat (``experiment_fail_if_stale``); the run's registry versions load in a
  separate htmx request, not part of this page;
- artifacts tab (``artifacts.views.tab``): only when the run's listing is not cached: a
  finished run's info and listings are kept in Django's cache (the harness's, as compose's, is
  Redis, shared by the web processes; ``make run``'s is per process), so MLflow is asked once
  per finished run (per web process with a memory cache);
- predict API (``registry.predict.api``): at most one REST call resolving the alias per web
  process every ``CAUCE_ALIAS_TTL_SECONDS`` (5 s), and at once after an alias moved through
  Cauce (the model's ``alias_generation``); the loaded model itself is cached per process.

Against a Cauce already running (``make run``, a deployment on this machine):

    .venv/bin/python -m tests.production.load --web-url http://127.0.0.1:8000 \\
        --mlflow-url http://127.0.0.1:5000 --username demo --password demo

Without ``--web-url`` it starts the production harness (``tests/production/harness.py``),
seeds it and runs against it. Exit status 1 when any request failed.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
BASE_DIR = LOCUSTFILE.parent.parent.parent

USERS = 20
SECONDS = 60
P95_TARGET_MS = 300
LIST_SIZE = 50  # experiments in the project: one full page of the list
PREDICT_ROWS = 5
ALIAS = "champion"

LIST = "experiment list"
DETAIL = "experiment detail"
ARTIFACTS = "artifacts tab"
PREDICT = "predict API"
PAGES = (LIST, DETAIL, ARTIFACTS, PREDICT)

# Which pages call MLflow on each request, and what their MLflow time is compared with.
MLFLOW_USE = {
    LIST: "no MLflow call",
    DETAIL: "no MLflow call",
    ARTIFACTS: "MLflow only on a cache miss (a finished run: once per cache)",
    PREDICT: "MLflow at most once per alias TTL per process (the alias lookup: 1 call)",
}
MLFLOW_EQUIVALENT = {
    ARTIFACTS: "artifacts",
    PREDICT: "alias",
}

_TIMEOUT = (5, 60)


@dataclass(frozen=True)
class LoadTarget:
    """A running Cauce with the data the locust users need."""

    web_url: str
    mlflow_url: str
    token: str
    project_id: int
    sessions: list[str]  # "name=value" of a session cookie per user, logged in
    experiment_ids: list[str]  # FINISHED ones, with an MLflow run and a logged model
    run_ids: list[str]
    model_name: str
    alias: str
    predict_body: dict
    # Warmed up before the run; left out of the users' pages when there are others.
    warmup_experiment_id: str
    timings: dict[str, float] = field(default_factory=dict)  # seconds each step of the seed took


@dataclass(frozen=True)
class PageStats:
    name: str
    requests: int
    failures: int
    server_errors: int
    p50_ms: float
    p95_ms: float


@dataclass
class MlflowTimes:
    """Seconds of each sample of the MLflow calls equivalent to a page's, and their count."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    def percentile_ms(self, key: str, q: float) -> float | None:
        values = sorted(self.samples.get(key, []))
        if not values:
            return None
        if len(values) == 1:
            return values[0] * 1000
        return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


@dataclass
class LoadResult:
    users: int
    seconds: int
    pages: dict[str, PageStats]
    failures: list[tuple[str, str, int]]  # (page, error, occurrences)
    mlflow: MlflowTimes
    warmup_seconds: float
    locust_log: Path
    seed_timings: dict[str, float] = field(default_factory=dict)
    # The machine's 1-minute load average when locust started and when it ended: what else
    # ran on these cores (the figures are wall-clock).
    load_average: tuple[float, float] = (0.0, 0.0)
    # CPU the web processes used during the run: what a request costs them, whatever waits
    # the machine's other work added to its wall-clock time. None when their pid is unknown.
    web_cpu_seconds: float | None = None

    @property
    def server_errors(self) -> int:
        return sum(page.server_errors for page in self.pages.values())

    @property
    def failed(self) -> int:
        return sum(page.failures for page in self.pages.values())


# --- the data the users need, through Cauce's API ----------------------------------------------


def _api(session: requests.Session, method: str, url: str, **kwargs) -> dict:
    response = session.request(method, url, timeout=_TIMEOUT, **kwargs)
    if response.status_code >= 400:
        raise RuntimeError(f"{method} {url}: {response.status_code} {response.text[:500]}")
    return response.json() if response.content else {}


def api_token(*, web_url: str, username: str, password: str) -> str:
    response = requests.post(
        f"{web_url}/api/token/", data={"username": username, "password": password}, timeout=_TIMEOUT
    )
    response.raise_for_status()
    return response.json()["token"]


def session_login(*, web_url: str, username: str, password: str) -> str:
    """Log in through the login page as a browser does; the session cookie, "name=value".

    Cookies are sent by hand: in production they are Secure, and this is plain HTTP.
    """
    url = f"{web_url}/accounts/login/"
    page = requests.get(url, timeout=_TIMEOUT)
    page.raise_for_status()
    csrf = page.cookies["csrftoken"]
    response = requests.post(
        url,
        data={"username": username, "password": password, "csrfmiddlewaretoken": csrf},
        headers={"Cookie": f"csrftoken={csrf}", "Referer": url},
        allow_redirects=False,
        timeout=_TIMEOUT,
    )
    sessions = [(c.name, c.value) for c in response.cookies if c.name != "csrftoken"]
    if response.status_code != 302 or not sessions:
        raise RuntimeError(f"Login as {username} failed: {response.status_code}")
    return "=".join(sessions[0])


def sessions_login(*, web_url: str, username: str, password: str, count: int) -> list[str]:
    """``count`` sessions, four logins at a time."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(
            pool.map(
                lambda _n: session_login(web_url=web_url, username=username, password=password),
                range(count),
            )
        )


def _all_pages(session: requests.Session, url: str, params: dict) -> list[dict]:
    items: list[dict] = []
    next_url: str | None = url
    while next_url and len(items) < 10_000:
        body = _api(session, "GET", next_url, params=params if next_url == url else None)
        items.extend(body["results"])
        next_url = body.get("next")
    return items


def load_target_prepare(
    *,
    web_url: str,
    mlflow_url: str,
    username: str,
    password: str,
    project_id: int | None = None,
    users: int = USERS,
    sessions: list[str] | None = None,
) -> LoadTarget:
    """Everything the users need, from a Cauce with at least one FINISHED experiment.

    Fills the project up to one page of the list with drafts (tagged, as real lists are),
    registers the first finished experiment's model through the API and points the alias
    ``champion`` at it, and logs ``users`` sessions in (unless given). Nothing is created
    twice when run again.
    """
    timings: dict[str, float] = {}
    began = time.monotonic()
    web_url = web_url.rstrip("/")
    token = api_token(web_url=web_url, username=username, password=password)
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    if project_id is None:
        project_id = _all_pages(session, f"{web_url}/api/projects/", {})[0]["id"]
    experiments = _all_pages(session, f"{web_url}/api/experiments/", {"project": project_id})
    finished = [e for e in experiments if e["status"] == "FINISHED" and e["mlflow_run_id"]]
    if not finished:
        raise RuntimeError(f"Project {project_id} has no FINISHED experiment to load.")
    source = finished[0]
    # The users' runs keep their listings uncached until the run: the warm-up opens another.
    warmup = finished[-1]
    if len(finished) > 1:
        finished = finished[:-1]
    for number in range(len(experiments), LIST_SIZE):
        _api(
            session,
            "POST",
            f"{web_url}/api/experiments/",
            json={
                "project": project_id,
                "name": f"Load draft {number:02d}",
                "dataset": source["dataset"],
                "target_column": source["target_column"],
                "feature_columns": source["feature_columns"],
                "algorithm": source["algorithm"],
                "tags": ["load", f"group-{number % 5}", f"draft-{number % 3}"],
            },
        )
    timings["drafts"] = time.monotonic() - began
    began = time.monotonic()
    registered = _api(session, "POST", f"{web_url}/api/experiments/{source['id']}/register-model/")
    model_name = registered["name"]
    _api(
        session,
        "PUT",
        f"{web_url}/api/models/{model_name}/aliases/{ALIAS}/",
        json={"version": registered["version"]},
    )
    dataset = _api(session, "GET", f"{web_url}/api/datasets/{source['dataset']}/")
    columns = dataset["preview"]["columns"]
    features = source["feature_columns"]
    rows = [
        [row[columns.index(name)] for name in features]
        for row in dataset["preview"]["rows"][:PREDICT_ROWS]
    ]
    timings["register"] = time.monotonic() - began
    if sessions is None:
        began = time.monotonic()
        sessions = sessions_login(
            web_url=web_url, username=username, password=password, count=users
        )
        timings["logins"] = time.monotonic() - began
    return LoadTarget(
        web_url=web_url,
        mlflow_url=mlflow_url.rstrip("/"),
        token=token,
        sessions=sessions,
        project_id=project_id,
        experiment_ids=[e["id"] for e in finished],
        run_ids=[e["mlflow_run_id"] for e in finished],
        model_name=model_name,
        alias=ALIAS,
        predict_body={"dataframe_split": {"columns": features, "data": rows}},
        warmup_experiment_id=warmup["id"],
        timings=timings,
    )


TRAINED = 3  # finished experiments: the users open two, the warm-up the third


def load_target_from_harness(harness, *, users: int = USERS) -> LoadTarget:
    """Seed the harness (an owner, a project, a dataset), train ``TRAINED`` experiments on
    two workers while the users' sessions log in, then :func:`load_target_prepare`."""
    from concurrent.futures import ThreadPoolExecutor

    began = time.monotonic()
    seed = harness.seed()
    with ThreadPoolExecutor(max_workers=1) as pool:
        logins = pool.submit(
            sessions_login,
            web_url=harness.web_url,
            username=seed.username,
            password=seed.password,
            count=users,
        )
        if len(harness.worker_pids()) < 2:
            harness.start_workers(2 - len(harness.worker_pids()))
        ids = harness.queue_experiments(seed, TRAINED, name_prefix="load", tags=["load"])
        statuses = harness.wait_experiments(seed, ids, timeout=240)
        if set(statuses.values()) != {"FINISHED"}:
            errors = {
                experiment_id: row.get("error", "")
                for experiment_id, row in harness.experiments(seed).items()
                if experiment_id in ids and row.get("status") != "FINISHED"
            }
            raise RuntimeError(
                f"The experiments to load did not all finish: {statuses}; their errors: {errors}"
            )
        sessions = logins.result(timeout=240)
    trained = time.monotonic() - began
    target = load_target_prepare(
        web_url=harness.web_url,
        mlflow_url=harness.mlflow_url,
        username=seed.username,
        password=seed.password,
        project_id=seed.project_id,
        users=users,
        sessions=sessions,
    )
    steps = dict(target.timings)
    target.timings.clear()
    target.timings.update({"seed, train and log in": trained, **steps})
    return target


WARMUP_ROUNDS = 16  # requests of each kind, eight at a time, each on a new connection


def warm_up(target: LoadTarget) -> float:
    """What a web process does once, done before the run: import and load the model, compile
    the templates. Each request on a new connection, eight at a time, so that every gunicorn
    process gets some; the artifacts tab of an experiment the users do not open, so that
    their runs' listings are still uncached (MLflow is asked during the run). Seconds taken;
    a failure raises."""
    from concurrent.futures import ThreadPoolExecutor

    started = time.monotonic()
    cookie = {"Cookie": target.sessions[0], "Connection": "close"}
    token = {"Authorization": f"Token {target.token}", "Connection": "close"}
    experiment = f"{target.web_url}/experiments/{target.warmup_experiment_id}/"
    pages = [
        f"{target.web_url}/projects/{target.project_id}/experiments/",
        experiment,
        f"{experiment}artifacts/tab/",
    ]
    predict = f"{target.web_url}/api/models/{target.model_name}/predict/?alias={target.alias}"

    def get(url: str) -> None:
        response = requests.get(url, headers=cookie, allow_redirects=False, timeout=(5, 300))
        if response.status_code != 200:
            raise RuntimeError(f"warm-up GET {url}: {response.status_code}")

    def post(_number: int) -> None:
        response = requests.post(predict, json=target.predict_body, headers=token, timeout=(5, 300))
        if response.status_code != 200:
            raise RuntimeError(f"warm-up POST {predict}: {response.status_code} {response.text}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(post, range(WARMUP_ROUNDS)))
        list(pool.map(get, pages * WARMUP_ROUNDS))
    return time.monotonic() - started


# --- MLflow's own time for the same calls -----------------------------------------------------


@contextlib.contextmanager
def _bounded_mlflow_client() -> Iterator[None]:
    """MLflow's client with bounded waits (its defaults retry for minutes)."""
    bounds = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    }
    saved = {name: os.environ.get(name) for name in bounds}
    os.environ.update(bounds)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _walk(list_folder, path: str | None = None) -> int:
    """List a folder and every folder below it; the number of listings made."""
    calls = 1
    for entry in list_folder(path):
        if entry.is_dir:
            calls += _walk(list_folder, entry.path)
    return calls


def _artifacts_sample(client, run_id: str) -> int:
    """What the tab asks MLflow for a run it has not cached; the number of calls."""
    run = client.get_run(run_id)
    calls = 1 + _walk(lambda path: client.list_artifacts(run_id, path))
    for output in run.outputs.model_outputs if run.outputs else []:
        client.get_logged_model(output.model_id)
        calls += 1 + _walk(
            lambda path, model_id=output.model_id: client.list_logged_model_artifacts(
                model_id, path
            )
        )
    return calls


def mlflow_times_sample(
    target: LoadTarget, stop: threading.Event, times: MlflowTimes, *, pause: float = 0.5
) -> None:
    """Time the equivalent MLflow calls until ``stop`` (at most 1,000 rounds)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=target.mlflow_url)
    for key in MLFLOW_EQUIVALENT.values():
        times.samples.setdefault(key, [])
    for _round in range(1000):
        if stop.is_set():
            return
        started = time.perf_counter()
        times.calls["artifacts"] = _artifacts_sample(client, random.choice(target.run_ids))
        times.samples["artifacts"].append(time.perf_counter() - started)
        started = time.perf_counter()
        client.get_model_version_by_alias(target.model_name, target.alias)
        times.samples["alias"].append(time.perf_counter() - started)
        times.calls["alias"] = 1
        stop.wait(pause)


# --- locust ------------------------------------------------------------------------------------


def locust_command(*, host: str, csv_prefix: Path, users: int, seconds: int) -> list[str]:
    return [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE),
        "--headless", "--host", host,
        "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
        "--csv", str(csv_prefix), "--only-summary",
        "--stop-timeout", "10", "--exit-code-on-error", "0",
        "--loglevel", "WARNING",
    ]  # fmt: skip


def locust_env(target: LoadTarget) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "CAUCE_LOAD_PROJECT_ID": str(target.project_id),
            "CAUCE_LOAD_EXPERIMENT_IDS": ",".join(target.experiment_ids),
            "CAUCE_LOAD_SESSIONS": ",".join(target.sessions),
            "CAUCE_LOAD_TOKEN": target.token,
            "CAUCE_LOAD_MODEL": target.model_name,
            "CAUCE_LOAD_ALIAS": target.alias,
            "CAUCE_LOAD_PREDICT_BODY": json.dumps(target.predict_body),
        }
    )
    return env


_STATUS = re.compile(r"HTTP (\d+)")


def _is_server_error(error: str) -> bool:
    """5xx, or nothing came back (status 0: the connection failed or was cut)."""
    match = _STATUS.search(error)
    status = int(match.group(1)) if match else 0
    return status == 0 or status >= 500


def locust_results_read(
    csv_prefix: Path,
) -> tuple[dict[str, PageStats], list[tuple[str, str, int]]]:
    """Per-page figures from locust's ``_stats.csv`` and ``_failures.csv``."""
    failures: list[tuple[str, str, int]] = []
    failures_path = Path(f"{csv_prefix}_failures.csv")
    if failures_path.exists():
        with failures_path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                failures.append((row["Name"], row["Error"], int(row["Occurrences"])))
    server_errors: dict[str, int] = {}
    for name, error, count in failures:
        if _is_server_error(error):
            server_errors[name] = server_errors.get(name, 0) + count
    pages: dict[str, PageStats] = {}
    with Path(f"{csv_prefix}_stats.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] not in PAGES:
                continue
            pages[row["Name"]] = PageStats(
                name=row["Name"],
                requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]),
                server_errors=server_errors.get(row["Name"], 0),
                p50_ms=float(row["50%"] or 0),
                p95_ms=float(row["95%"] or 0),
            )
    return pages, failures


def _process_tree(pid: int) -> list[int]:
    """A process and its children (gunicorn's master and its workers)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [pid, *(int(child) for child in children)]


def _cpu_seconds(pids: list[int]) -> float:
    """User and system CPU the processes have used so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def load_run(
    target: LoadTarget,
    *,
    workdir: Path,
    users: int = USERS,
    seconds: int = SECONDS,
    web_pid: int | None = None,
) -> LoadResult:
    """Warm up, then locust for ``seconds`` while MLflow's own times are sampled (and, given
    gunicorn's master ``web_pid``, the CPU its processes use)."""
    workdir.mkdir(parents=True, exist_ok=True)
    warmup_seconds = warm_up(target)
    web_pids = _process_tree(web_pid) if web_pid else []
    cpu_before = _cpu_seconds(web_pids)
    load_before = os.getloadavg()[0]
    csv_prefix = workdir / "locust"
    log_path = workdir / "locust.log"
    times = MlflowTimes()
    stop = threading.Event()
    with _bounded_mlflow_client():
        sampler = threading.Thread(target=mlflow_times_sample, args=(target, stop, times))
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                locust_command(
                    host=target.web_url, csv_prefix=csv_prefix, users=users, seconds=seconds
                ),
                cwd=BASE_DIR,
                env=locust_env(target),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            sampler.start()
            try:
                process.wait(timeout=seconds + 90)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise RuntimeError(f"locust did not stop; see {log_path}") from None
            finally:
                stop.set()
                sampler.join(timeout=60)
    if process.returncode != 0:
        raise RuntimeError(f"locust exited {process.returncode}; see {log_path}")
    load_after = os.getloadavg()[0]
    web_cpu = _cpu_seconds(web_pids) - cpu_before if web_pids else None
    pages, failures = locust_results_read(csv_prefix)
    return LoadResult(
        users=users,
        seconds=seconds,
        pages=pages,
        failures=failures,
        mlflow=times,
        warmup_seconds=warmup_seconds,
        locust_log=log_path,
        seed_timings=dict(target.timings),
        load_average=(load_before, load_after),
        web_cpu_seconds=web_cpu,
    )


# --- the report --------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def load_report(result: LoadResult) -> str:
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.seed_timings.items())
    lines = [
        f"Load: {result.users} users for {result.seconds} s (locust, each user waits "
        f"0.5-1.5 s between requests)",
        f"  before it: seed ({steps}), warm-up {result.warmup_seconds:.1f} s; machine load "
        f"average {result.load_average[0]:.1f} at the start, {result.load_average[1]:.1f} "
        f"at the end ({os.cpu_count()} cores)",
        f"  {'page':<18} {'requests':>8} {'p50 ms':>7} {'p95 ms':>7} {'errors':>6} {'5xx':>4}",
    ]
    for name in PAGES:
        page = result.pages.get(name)
        if page is None:
            lines.append(f"  {name:<18} no requests")
            continue
        figures = (
            f"  {name:<18} {page.requests:>8} {page.p50_ms:>7.0f} {page.p95_ms:>7.0f}"
            f" {page.failures:>6} {page.server_errors:>4}"
        )
        key = MLFLOW_EQUIVALENT.get(name)
        if key is None:
            lines.append(f"{figures}   p95 (target <= {P95_TARGET_MS} ms); {MLFLOW_USE[name]}")
        else:
            calls = result.mlflow.calls.get(key, 0)
            lines.append(
                f"{figures}   MLflow's own time for the same {calls} call(s): "
                f"p50 {_ms(result.mlflow.percentile_ms(key, 50))} / "
                f"p95 {_ms(result.mlflow.percentile_ms(key, 95))} ms "
                f"({len(result.mlflow.samples.get(key, []))} samples); {MLFLOW_USE[name]}"
            )
    requests_served = sum(page.requests for page in result.pages.values())
    if result.web_cpu_seconds is not None and requests_served:
        lines.append(
            f"  web processes: {result.web_cpu_seconds:.1f} s of CPU for {requests_served} "
            f"requests, {result.web_cpu_seconds / requests_served * 1000:.0f} ms a request "
            f"on average"
        )
    lines.append(f"  server errors: {result.server_errors}; failed requests: {result.failed}")
    for name, error, count in result.failures:
        lines.append(f"    {name}: {error} x{count}")
    return "\n".join(lines)


# --- on its own ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--web-url", help="a running Cauce (else the harness is started)")
    parser.add_argument("--mlflow-url", default="http://127.0.0.1:5000")
    parser.add_argument("--username", default="demo")
    parser.add_argument("--password", default="demo")
    parser.add_argument("--project", type=int, help="the project to load (default: the first)")
    parser.add_argument("--users", type=int, default=USERS)
    parser.add_argument("--seconds", type=int, default=SECONDS)
    parser.add_argument("--workdir", type=Path, help="where locust's CSV and log go")
    args = parser.parse_args()

    import tempfile

    started = time.monotonic()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cauce-load-"))
    web_pid = None
    with contextlib.ExitStack() as stack:
        if args.web_url:
            target = load_target_prepare(
                web_url=args.web_url,
                mlflow_url=args.mlflow_url,
                username=args.username,
                password=args.password,
                project_id=args.project,
                users=args.users,
            )
        else:
            from tests.production.harness import Harness

            harness = stack.enter_context(Harness())
            print(f"harness started in {time.monotonic() - started:.1f} s", flush=True)
            stack.callback(shutil.rmtree, harness.root, ignore_errors=True)
            target = load_target_from_harness(harness, users=args.users)
            web_pid = harness.services["web"].process.pid
        seeded = time.monotonic() - started
        print(f"seeded in {seeded:.1f} s; {args.users} users for {args.seconds} s", flush=True)
        result = load_run(
            target, workdir=workdir, users=args.users, seconds=args.seconds, web_pid=web_pid
        )
    print(load_report(result))
    print(
        f"  total {time.monotonic() - started:.1f} s (start and seed {seeded:.1f} s); "
        f"locust's CSV and log in {workdir}"
    )
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
