"""Cauce's production topology (``compose.yaml``) as plain processes on loopback.

A private PostgreSQL (Cauce's database and MLflow's), a private Redis broker (password,
append-only file, like compose's), moto's S3 server as the object store, ``mlflow server`` with
the PostgreSQL backend store and proxied artifacts in ``s3://<bucket>/artifacts`` (two servers of
one process each, behind nginx as in compose: ``deploy/mlflow-proxy/``), then Cauce:
``migrate``, ``collectstatic``, gunicorn with 2 workers behind nginx (``deploy/web-proxy/``, as
in compose: ``web_url`` is nginx's, ``gunicorn_url`` gunicorn's own), Celery workers (one process
each, a prefork pool of 1, started and stopped on demand) and Celery beat. Every server listens on
127.0.0.1 on a free port; nothing here touches the machine's own PostgreSQL or Redis.

As on hosts with no shared disk, the web and each worker have a data dir of their own
(``data/``, ``data-worker<n>/``): the files Cauce keeps go to a second bucket of the object
store (``CAUCE_STORAGE_BUCKET``).

Every process runs in its own process group with its log in ``<root>/logs/``; ``stop()`` ends
them all (SIGTERM, then SIGKILL after a bounded grace). Every wait is bounded in time.

    with Harness() as harness:
        seed = harness.seed()
        ids = harness.queue_experiments(seed, 5)
        statuses = harness.wait_experiments(seed, ids, timeout=120)
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from scripts.processes import group_members

BASE_DIR = Path(__file__).resolve().parents[2]


def _pg_bin() -> Path:
    """PostgreSQL's server programs: $CAUCE_PG_BIN, Debian's newest, or initdb on the PATH."""
    if os.environ.get("CAUCE_PG_BIN"):
        return Path(os.environ["CAUCE_PG_BIN"])
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()
PYTHON = sys.executable

BUCKET = "cauce-mlflow"
# Cauce's own files (datasets, prediction inputs and results), as compose's CAUCE_BUCKET.
FILES_BUCKET = "cauce-files"
AWS_KEYS = {
    "AWS_ACCESS_KEY_ID": "harness-access-key",
    "AWS_SECRET_ACCESS_KEY": "harness-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
}
QUEUE = "cauce"
PIPELINE_TASK = "cauce.experiments.tasks.run_full_experiment_pipeline_task"
# Parallel API calls when creating or queueing many experiments.
API_THREADS = 4
MANIFEST_STORAGE = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
# Experiments still waiting or running (MLExperiment.ACTIVE_STATUSES).
ACTIVE_STATUSES = frozenset({"QUEUED", "RUNNING"})
_ACTIVE_QUERY = (
    "SELECT count(*) FROM experiments_mlexperiment WHERE project_id = %s AND status = ANY(%s)"
)
# "mlflow" is MLflow's servers; "mlflow-proxy" the nginx in front of them (one address).
# "web" is gunicorn; "web-proxy" the nginx in front of it (web_url).
SERVICES = (
    "postgres", "redis", "objectstore", "mlflow", "mlflow-proxy", "web", "web-proxy", "beat",
)  # fmt: skip
MLFLOW_PROXY_TEMPLATE = BASE_DIR / "deploy" / "mlflow-proxy" / "mlflow.conf.template"
WEB_PROXY_TEMPLATE = BASE_DIR / "deploy" / "web-proxy" / "web.conf.template"
# compose's WEB_PROXY_MAX_BODY: Cauce's largest upload (100 MB) and a form's fields around it.
WEB_PROXY_MAX_BODY = "101m"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# The image's gunicorn worker (Dockerfile CMD; config/web_worker.py).
WEB_WORKER_CLASS = "config.web_worker.ThreadWorker"
# compose's mlflow-init: MLflow's client on the store's URI creates its tables if there are none
# (as each server does at start); servers started together on a new store would race to.
MLFLOW_INIT_COMMAND = [
    PYTHON, "-c",
    "import os, mlflow; "
    "mlflow.MlflowClient(os.environ['MLFLOW_BACKEND_STORE_URI']).search_experiments()",
]  # fmt: skip

START_TIMEOUT = {
    "postgres": 30, "redis": 15, "objectstore": 40, "mlflow": 120, "mlflow-proxy": 15, "web": 60,
    "web-proxy": 15,
}  # fmt: skip
WORKER_START_TIMEOUT = 60
STOP_GRACE = {"worker": 30, "web": 10, "mlflow": 15, "postgres": 20, "default": 10}
POLL_SECONDS = 0.25
LOG_TAIL_CHARS = 4000

# Environment keys of the calling process that must not leak into Cauce's processes (the test
# session's own settings put its data dir, queue, MLflow and database there).
_PRIVATE_PREFIXES = ("CAUCE_", "DJANGO_", "CELERY_", "MLFLOW_", "AWS_", "DATABASE_URL", "CACHE_URL")


def _nginx_main_conf(folder: Path, site: Path, logging: str) -> Path:
    """nginx's main configuration in ``folder``: one process in the foreground, the ``site``
    file included, ``logging`` in its http block; as root, nginx's worker runs as nobody, so
    its temporary folders (in ``folder``) must be its own."""
    user = "user nobody nogroup;" if os.geteuid() == 0 else ""
    main = f"""{user}
daemon off;
worker_processes 1;
pid {folder / "nginx.pid"};
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    {logging}
    client_body_temp_path {folder / "body"};
    proxy_temp_path {folder / "proxy"};
    fastcgi_temp_path {folder / "fastcgi"};
    uwsgi_temp_path {folder / "uwsgi"};
    scgi_temp_path {folder / "scgi"};
    include {site};
}}
"""
    (folder / "nginx.conf").write_text(main)
    if os.geteuid() == 0:
        shutil.chown(folder, "nobody", "nogroup")
    return folder / "nginx.conf"


class HarnessError(RuntimeError):
    """A service did not start, stop or answer in time; the message carries its log's end."""


@dataclass
class Seed:
    """What ``Harness.seed()`` created, through the API."""

    username: str
    password: str
    token: str
    project_id: int
    dataset_id: int
    target_column: str
    feature_columns: list[str]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Service:
    name: str
    process: subprocess.Popen
    log_path: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def wait_until(check: Callable[[], bool], timeout: float, what: str, log: Path | None = None):
    """Poll ``check`` until it is true; HarnessError (with the log's end) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(POLL_SECONDS)
    tail = f"\nLast lines of {log}:\n{log_tail(log)}" if log else ""
    raise HarnessError(f"{what}: not within {timeout:.0f} s.{tail}")


def group_alive(pgid: int) -> bool:
    """Whether any non-zombie process of the group is left (Linux /proc)."""
    return bool(group_members(pgid))


def stop_group(process: subprocess.Popen, grace: float, first: int = signal.SIGTERM) -> None:
    """``first`` to the process group; SIGKILL to what is left after ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, first)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        process.poll()
        if not group_alive(process.pid):
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    kill_deadline = time.monotonic() + 10
    while group_alive(process.pid) and time.monotonic() < kill_deadline:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        time.sleep(0.1)


def http_ok(url: str, timeout: float = 2) -> bool:
    try:
        return requests.get(url, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def tiny_csv(rows: int = 60) -> bytes:
    """A small classification data set made here: three numeric features and a label."""
    lines = ["x0,x1,x2,label"]
    for index in range(rows):
        x0 = (index * 37 % 101) / 10
        x1 = (index * 53 % 97) / 10
        x2 = (index * 11 % 89) / 10
        label = "si" if x0 + x1 > 10 else "no"
        lines.append(f"{x0},{x1},{x2},{label}")
    return ("\n".join(lines) + "\n").encode()


class Harness:
    """The production topology on loopback; a context manager (``start()`` / ``stop()``).

    ``extra_env`` is added to every Cauce process's environment (e.g. a shorter heartbeat).
    """

    def __init__(
        self,
        root: Path | None = None,
        *,
        extra_env: dict[str, str] | None = None,
        web_workers: int = 2,
        beat: bool = True,
        mlflow_servers: int = 2,
    ):
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="cauce-prove-"))
        self.root = Path(root)
        self.extra_env = dict(extra_env or {})
        self.web_workers = web_workers
        # compose runs two MLflow servers (MLFLOW_SERVERS) behind nginx.
        self.mlflow_servers = mlflow_servers
        self.with_beat = beat
        self.logs = self.root / "logs"
        self.ports = {
            name: free_port()
            for name in ("postgres", "redis", "objectstore", "mlflow", "web", "web-proxy")
        }
        # MLflow's servers: nginx listens on ports["mlflow"] and sends each request to one.
        self.mlflow_server_ports = [free_port() for _ in range(mlflow_servers)]
        self.redis_password = secrets.token_hex(12)
        # What clients use: nginx in front of gunicorn, as in compose.
        self.web_url = f"http://127.0.0.1:{self.ports['web-proxy']}"
        self.gunicorn_url = f"http://127.0.0.1:{self.ports['web']}"
        self.mlflow_url = f"http://127.0.0.1:{self.ports['mlflow']}"
        self.s3_url = f"http://127.0.0.1:{self.ports['objectstore']}"
        pg = f"postgres@127.0.0.1:{self.ports['postgres']}"
        self.database_url = f"postgres://{pg}/cauce"
        self.mlflow_store_uri = f"postgresql+psycopg://{pg}/mlflow"
        self.broker_url = f"redis://:{self.redis_password}@127.0.0.1:{self.ports['redis']}/0"
        self.env = self._cauce_env()
        self.services: dict[str, Service] = {}
        self._spawned: list[subprocess.Popen] = []
        self.workers: list[Service] = []
        self._worker_serial = 0
        self.timings: dict[str, float] = {}
        self.started = False

    # --- environment -------------------------------------------------------------------------

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_PREFIXES)}
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _cauce_env(self) -> dict[str, str]:
        env = self._base_env()
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "CAUCE_ENV": "production",
                "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
                # Plain HTTP on loopback: no redirect, cookies a client sends back over HTTP.
                "DJANGO_SECURE_SSL_REDIRECT": "false",
                "DJANGO_SECURE_COOKIES": "false",
                "DJANGO_SECURE_HSTS_SECONDS": "0",
                "DJANGO_STATIC_ROOT": str(self.root / "static"),
                # The image's collectstatic also writes gzip/brotli copies (minutes of CPU
                # here); hashed names and the manifest, which pages resolve, are the same.
                "STATICFILES_BACKEND": MANIFEST_STORAGE,
                "DATABASE_URL": self.database_url,
                "CELERY_BROKER_URL": self.broker_url,
                # compose's: Django's cache in Redis's database 1, shared by the web processes.
                "CACHE_URL": self.broker_url.rsplit("/", 1)[0]
                + "/1?socket_connect_timeout=0.5&socket_timeout=0.5",
                "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
                "MLFLOW_TRACKING_URI": self.mlflow_url,
                "MLFLOW_PUBLIC_URL": self.mlflow_url,
                "CAUCE_DATA_DIR": str(self.root / "data"),
                "CAUCE_STORAGE_BUCKET": FILES_BUCKET,
                "CAUCE_STORAGE_ENDPOINT_URL": self.s3_url,
                "CAUCE_STORAGE_REGION": AWS_KEYS["AWS_DEFAULT_REGION"],
                "CAUCE_STORAGE_ADDRESSING_STYLE": "path",
                "CAUCE_STORAGE_ACCESS_KEY_ID": AWS_KEYS["AWS_ACCESS_KEY_ID"],
                "CAUCE_STORAGE_SECRET_ACCESS_KEY": AWS_KEYS["AWS_SECRET_ACCESS_KEY"],
                "CAUCE_WORKER_CONCURRENCY": "1",
                # nginx in front (web_url) is the one proxy: X-Forwarded-For's last entry.
                "CAUCE_PROXY_COUNT": "1",
                "LOG_LEVEL": "INFO",
            }
        )
        env.update(self.extra_env)
        return env

    # --- processes ---------------------------------------------------------------------------

    def _spawn(self, name: str, command: list[str], env: dict[str, str], **kwargs) -> Service:
        log_path = self.logs / f"{name}.log"
        log = open(log_path, "ab")  # noqa: SIM115 - handed to the child; closed below
        try:
            process = subprocess.Popen(
                command,
                cwd=kwargs.pop("cwd", BASE_DIR),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **kwargs,
            )
        finally:
            log.close()
        self._spawned.append(process)
        return Service(name, process, log_path)

    def _check_alive(self, service: Service) -> Callable[[], bool]:
        def alive() -> bool:
            if service.process.poll() is not None:
                raise HarnessError(
                    f"{service.name} exited with {service.process.returncode}. Last lines of "
                    f"{service.log_path}:\n{log_tail(service.log_path)}"
                )
            return True

        return alive

    def _wait_ready(self, service: Service, ready: Callable[[], bool], timeout: float) -> None:
        alive = self._check_alive(service)
        wait_until(lambda: alive() and ready(), timeout, f"{service.name} ready", service.log_path)

    def _as_postgres(self) -> dict:
        """Popen arguments that run PostgreSQL as the ``postgres`` user when we are root."""
        if os.geteuid() != 0:
            return {"cwd": self.root}
        return {"user": "postgres", "group": "postgres", "cwd": self.root}

    def _run(self, name: str, command: list[str], env=None, timeout: float = 120, **kwargs):
        """Run a one-shot command to its end, its output in its log; HarnessError if it fails."""
        log_path = self.logs / f"{name}.log"
        with open(log_path, "ab") as log:
            try:
                result = subprocess.run(
                    command,
                    cwd=kwargs.pop("cwd", BASE_DIR),
                    env=env or self._base_env(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    timeout=timeout,
                    check=False,
                    **kwargs,
                )
            except subprocess.TimeoutExpired as exc:
                raise HarnessError(f"{name}: still running after {timeout:.0f} s") from exc
        if result.returncode != 0:
            raise HarnessError(
                f"{name} failed with {result.returncode}. Last lines of {log_path}:\n"
                f"{log_tail(log_path)}"
            )
        return result

    # --- PostgreSQL --------------------------------------------------------------------------

    def _init_postgres(self) -> None:
        data = self.root / "postgres"
        data.mkdir(mode=0o700)
        (self.root / "pg-socket").mkdir()
        if os.geteuid() == 0:
            for folder in (data, self.root / "pg-socket"):
                shutil.chown(folder, "postgres", "postgres")
        self._run(
            "initdb",
            [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            timeout=60,
            **self._as_postgres(),
        )  # fmt: skip

    def _start_postgres(self) -> None:
        command = [
            str(PG_BIN / "postgres"), "-D", str(self.root / "postgres"),
            "-p", str(self.ports["postgres"]), "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={self.root / 'pg-socket'}",
            "-c", "max_connections=200", "-c", "fsync=off", "-c", "full_page_writes=off",
            "-c", "synchronous_commit=off",
        ]  # fmt: skip
        service = self._spawn("postgres", command, self._base_env(), **self._as_postgres())
        self.services["postgres"] = service
        self._wait_ready(service, self._postgres_answers, START_TIMEOUT["postgres"])

    def _postgres_answers(self) -> bool:
        result = subprocess.run(
            [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.ports["postgres"]),
             "-U", "postgres", "-q", "-t", "2"],
            check=False,
            timeout=10,
        )  # fmt: skip
        return result.returncode == 0

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.ports["postgres"]),
             "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )  # fmt: skip
        return result.stdout

    # --- Redis, object store, MLflow ------------------------------------------------------------

    def _start_redis(self) -> None:
        folder = self.root / "redis"
        folder.mkdir(exist_ok=True)
        # Like compose's: a password and the append-only file (messages survive a restart).
        command = [
            "redis-server", "--bind", "127.0.0.1", "--port", str(self.ports["redis"]),
            "--requirepass", self.redis_password, "--appendonly", "yes", "--save", "",
            "--dir", str(folder), "--daemonize", "no",
        ]  # fmt: skip
        service = self._spawn("redis", command, self._base_env())
        self.services["redis"] = service
        self._wait_ready(service, self._redis_answers, START_TIMEOUT["redis"])

    def redis_cli(self, *args: str) -> str:
        env = {**self._base_env(), "REDISCLI_AUTH": self.redis_password}
        result = subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(self.ports["redis"]), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return result.stdout.strip()

    def restore_unacked(self) -> int:
        """Put every message a worker took and never acknowledged back in its queue, with
        kombu's own code, as the Redis transport does once the visibility timeout has passed;
        how many."""
        from kombu import Connection

        tags = [tag for tag in self.redis_cli("hkeys", "unacked").splitlines() if tag]
        with Connection(self.broker_url) as connection:
            channel = connection.default_channel
            for tag in tags:
                channel.qos.restore_by_tag(tag)
        return len(tags)

    def _redis_answers(self) -> bool:
        return self.redis_cli("ping") == "PONG"

    def _start_objectstore(self) -> None:
        command = [
            PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.ports["objectstore"]),
        ]  # fmt: skip
        service = self._spawn("objectstore", command, {**self._base_env(), **AWS_KEYS})
        self.services["objectstore"] = service

    def _create_bucket(self) -> None:
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=self.s3_url,
            aws_access_key_id=AWS_KEYS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_KEYS["AWS_SECRET_ACCESS_KEY"],
            region_name=AWS_KEYS["AWS_DEFAULT_REGION"],
        )
        s3.create_bucket(Bucket=BUCKET)
        s3.create_bucket(Bucket=FILES_BUCKET)

    def mlflow_env(self) -> dict[str, str]:
        return {
            "MLFLOW_BACKEND_STORE_URI": self.mlflow_store_uri,
            **self._base_env(),
            **AWS_KEYS,
            "MLFLOW_S3_ENDPOINT_URL": self.s3_url,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_DISABLE_TELEMETRY": "true",  # compose's default
        }

    def _mlflow_names(self) -> list[str]:
        return [f"mlflow{index}" for index in range(self.mlflow_servers)]

    def _spawn_mlflow(self) -> None:
        """MLflow's servers, one process each (compose's mlflow-server replicas), those not
        running; on a new store only once ``MLFLOW_INIT_COMMAND`` has created its tables."""
        for name, port in zip(self._mlflow_names(), self.mlflow_server_ports, strict=True):
            if name in self.services and self.services[name].process.poll() is None:
                continue  # still running
            command = [
                PYTHON, "-m", "mlflow", "server",
                "--backend-store-uri", self.mlflow_store_uri,
                "--serve-artifacts", "--artifacts-destination", f"s3://{BUCKET}/artifacts",
                "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                "--allowed-hosts", "localhost:*,127.0.0.1:*",
            ]  # fmt: skip
            self.services[name] = self._spawn(name, command, self.mlflow_env())

    def _wait_mlflow(self) -> None:
        for name, port in zip(self._mlflow_names(), self.mlflow_server_ports, strict=True):
            self._wait_ready(
                self.services[name],
                lambda port=port: http_ok(f"http://127.0.0.1:{port}/health"),
                START_TIMEOUT["mlflow"],
            )

    def _mlflow_proxy_conf(self) -> Path:
        """nginx's configuration: compose's template (deploy/mlflow-proxy/), filled in for
        loopback, inside a main file of the harness's own (its folders, no daemon)."""
        folder = self.root / "mlflow-proxy"
        folder.mkdir(exist_ok=True)
        servers = "\n    ".join(
            f"server 127.0.0.1:{port} max_fails=0;" for port in self.mlflow_server_ports
        )
        site = string.Template(MLFLOW_PROXY_TEMPLATE.read_text()).safe_substitute(
            MLFLOW_PROXY_LISTEN=f"127.0.0.1:{self.ports['mlflow']}",
            MLFLOW_UPSTREAM_SERVERS=servers,
            MLFLOW_PROXY_RESOLVER="127.0.0.1",  # nothing to resolve: the servers are addresses
        )
        (folder / "mlflow.conf").write_text(site)
        # Which server answered each request, and in how long (mlflow_upstreams() reads it).
        logging = (
            "log_format upstream '$request_method $status $upstream_addr "
            "$upstream_response_time $msec';\n"
            f"    access_log {self.mlflow_proxy_log} upstream buffer=32k flush=1s;"
        )
        return _nginx_main_conf(folder, folder / "mlflow.conf", logging)

    @property
    def mlflow_proxy_log(self) -> Path:
        return self.logs / "mlflow-proxy-access.log"

    def mlflow_upstreams(self) -> Counter:
        """How many requests the proxy sent to each MLflow server ("127.0.0.1:<port>"), from
        its access log (written at most 1 s late)."""
        counts: Counter = Counter()
        with contextlib.suppress(FileNotFoundError):
            for line in self.mlflow_proxy_log.read_text(errors="replace").splitlines():
                fields = line.split()
                if len(fields) >= 3:
                    counts[fields[2]] += 1
        return counts

    def _start_mlflow_proxy(self) -> None:
        if not Path(NGINX).exists():
            raise HarnessError(f"nginx not found ({NGINX}): apt-get install nginx")
        conf = self._mlflow_proxy_conf()
        command = [NGINX, "-c", str(conf), "-p", str(conf.parent), "-e", "stderr"]
        service = self._spawn("mlflow-proxy", command, self._base_env())
        self.services["mlflow-proxy"] = service
        self._wait_ready(
            service, lambda: http_ok(self.mlflow_url + "/health"), START_TIMEOUT["mlflow-proxy"]
        )

    # --- Cauce -------------------------------------------------------------------------------

    def manage(self, *args: str, check: bool = True, timeout: float = 300, env=None):
        """``manage.py`` with Cauce's environment; output captured (text)."""
        result = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=BASE_DIR,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise HarnessError(
                f"manage.py {' '.join(args)} failed with {result.returncode}:\n"
                f"{result.stdout[-LOG_TAIL_CHARS:]}\n{result.stderr[-LOG_TAIL_CHARS:]}"
            )
        return result

    def _spawn_web(self) -> None:
        # The image's web command (Dockerfile CMD), with 2 workers (WEB_CONCURRENCY) on loopback.
        command = [
            PYTHON, "-m", "gunicorn", "config.wsgi:application",
            "--bind", f"127.0.0.1:{self.ports['web']}",
            "--workers", str(self.web_workers), "--worker-class", WEB_WORKER_CLASS,
            "--threads", "4", "--timeout", "120", "--graceful-timeout", "5", "--keep-alive", "75",
        ]  # fmt: skip
        self.services["web"] = self._spawn("web", command, self.env)

    def _wait_web(self) -> None:
        self._wait_ready(
            self.services["web"],
            lambda: http_ok(self.gunicorn_url + "/health/live"),
            START_TIMEOUT["web"],
        )

    def _web_proxy_conf(self) -> Path:
        """nginx in front of gunicorn: compose's template (deploy/web-proxy/), filled in for
        loopback, inside a main file of the harness's own (its folders, no daemon)."""
        folder = self.root / "web-proxy"
        folder.mkdir(exist_ok=True)
        site = string.Template(WEB_PROXY_TEMPLATE.read_text()).safe_substitute(
            WEB_PROXY_LISTEN=f"127.0.0.1:{self.ports['web-proxy']}",
            WEB_UPSTREAM_SERVERS=f"server 127.0.0.1:{self.ports['web']} max_fails=0;",
            WEB_PROXY_RESOLVER="127.0.0.1",  # nothing to resolve: gunicorn is an address
            WEB_PROXY_MAX_BODY=WEB_PROXY_MAX_BODY,
            # Plain HTTP, and nginx is the edge: the scheme it was reached by.
            WEB_PROXY_FORWARDED_PROTO="$scheme",
        )
        (folder / "web.conf").write_text(site)
        return _nginx_main_conf(folder, folder / "web.conf", "access_log off;")

    def _start_web_proxy(self) -> None:
        if not Path(NGINX).exists():
            raise HarnessError(f"nginx not found ({NGINX}): apt-get install nginx")
        conf = self._web_proxy_conf()
        command = [NGINX, "-c", str(conf), "-p", str(conf.parent), "-e", "stderr"]
        service = self._spawn("web-proxy", command, self._base_env())
        self.services["web-proxy"] = service
        self._wait_ready(
            service, lambda: http_ok(self.web_url + "/health/live"), START_TIMEOUT["web-proxy"]
        )

    def start_extra_web(self, env: dict[str, str]) -> str:
        """A second gunicorn (1 worker) on the same database and broker, with ``env`` added
        (e.g. MLflow through a proxy); its URL. Stopped by ``stop_extra_webs()`` or ``stop()``."""
        port = free_port()
        name = f"web-extra-{port}"
        command = [
            PYTHON, "-m", "gunicorn", "config.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", WEB_WORKER_CLASS,
            "--threads", "4", "--timeout", "120", "--graceful-timeout", "5", "--keep-alive", "75",
        ]  # fmt: skip
        service = self._spawn(name, command, {**self.env, **env})
        self.services[name] = service
        url = f"http://127.0.0.1:{port}"
        self._wait_ready(service, lambda: http_ok(url + "/health/live"), START_TIMEOUT["web"])
        return url

    def stop_extra_webs(self) -> None:
        for name in [name for name in self.services if name.startswith("web-extra-")]:
            stop_group(self.services.pop(name).process, STOP_GRACE["web"])

    def _spawn_beat(self) -> None:
        command = [
            PYTHON, "-m", "celery", "--app=config", "beat", "--loglevel=INFO",
            f"--pidfile={self.root / 'data' / 'celerybeat.pid'}",
        ]  # fmt: skip
        self.services["beat"] = self._spawn("beat", command, self.env)

    def start_workers(self, n: int, env: dict[str, str] | None = None) -> None:
        """Start ``n`` more Celery workers (each its own process group, a pool of 1); ``env``
        is added to their environment (e.g. shorter retry delays, another MLflow URL)."""
        started = []
        for _ in range(n):
            index = self._worker_serial
            self._worker_serial += 1
            command = [
                PYTHON, "-m", "celery", "--app=config", "worker", "--loglevel=INFO",
                f"--queues={QUEUE}", "--concurrency=1", f"--hostname=worker{index}@%h",
            ]  # fmt: skip
            # A data dir of its own: the worker shares no disk with the web or another worker.
            self.worker_data_dir(index).mkdir(exist_ok=True)
            own = {"CAUCE_DATA_DIR": str(self.worker_data_dir(index))}
            service = self._spawn(f"worker{index}", command, {**self.env, **own, **(env or {})})
            self.workers.append(service)
            started.append(service)
        for service in started:
            self._wait_ready(
                service, lambda s=service: b" ready." in s.log_path.read_bytes(),
                WORKER_START_TIMEOUT,
            )  # fmt: skip

    def worker_data_dir(self, index: int) -> Path:
        return self.root / f"data-worker{index}"

    def worker_pids(self) -> list[int]:
        """Main pids of the running workers, in start order."""
        return [service.process.pid for service in self.workers if service.process.poll() is None]

    def worker_logs(self) -> list[Path]:
        """Every worker log of this harness (also of the stopped and killed ones)."""
        return sorted(self.logs.glob("worker*.log"))

    def stop_workers(self) -> None:
        """Warm shutdown of every worker (its current task ends), SIGKILL after the grace."""
        for service in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.process.pid, signal.SIGTERM)
        for service in self.workers:
            stop_group(service.process, STOP_GRACE["worker"])
        self.workers = []

    def kill_worker(self, index: int, sig: int = signal.SIGKILL) -> None:
        """``sig`` to the whole process group of running worker ``index`` (its pool process
        too, as when a container is killed); waits until none of it is left."""
        running = [service for service in self.workers if service.process.poll() is None]
        service = running[index]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.process.pid, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            stop_group(service.process, STOP_GRACE["worker"], first=sig)
            self.workers.remove(service)

    # --- start / stop ------------------------------------------------------------------------

    def _mark(self, step: str, began: float) -> None:
        self.timings[step] = round(time.monotonic() - began, 1)

    def _finish(self, one_shot: Service, began: float) -> None:
        """Wait for a one-shot command started with ``_spawn``; HarnessError if it failed."""
        try:
            code = one_shot.process.wait(timeout=240)
        except subprocess.TimeoutExpired as exc:
            raise HarnessError(f"{one_shot.name} did not finish in 240 s") from exc
        if code != 0:
            raise HarnessError(f"{one_shot.name} failed ({code}):\n{log_tail(one_shot.log_path)}")
        self.services.pop(one_shot.name)
        self._mark(one_shot.name, began)

    def start(self) -> Harness:
        """Start everything but the workers; ``timings`` says when each step was done (s)."""
        began = time.monotonic()
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.root / "data").mkdir(exist_ok=True)
        # PostgreSQL runs as its own user: it must be able to reach its folder.
        self.root.chmod(0o755)
        try:
            # Booting while PostgreSQL is set up: the object store and collectstatic.
            self._start_objectstore()
            collect = self._spawn(
                "collectstatic",
                [PYTHON, "manage.py", "collectstatic", "--noinput", "-v", "0"],
                self.env,
            )
            self.services["collectstatic"] = collect
            self._init_postgres()
            self._start_postgres()
            self.psql("CREATE DATABASE cauce")
            self.psql("CREATE DATABASE mlflow")
            self._mark("postgres", began)
            self._start_redis()
            self._mark("redis", began)
            self._wait_ready(
                self.services["objectstore"],
                lambda: http_ok(self.s3_url + "/moto-api/"),
                START_TIMEOUT["objectstore"],
            )
            self._create_bucket()
            self._mark("objectstore", began)
            # MLflow's tables are created once, then its servers boot, while Cauce
            # migrates: compose's mlflow-init, then mlflow-server.
            mlflow_init = self._spawn("mlflow-init", MLFLOW_INIT_COMMAND, self.mlflow_env())
            self.services["mlflow-init"] = mlflow_init
            migrate = self._spawn(
                "migrate", [PYTHON, "manage.py", "migrate", "--noinput"], self.env
            )
            self.services["migrate"] = migrate
            for one_shot in (mlflow_init, migrate, collect):
                self._finish(one_shot, began)
                if one_shot is mlflow_init:
                    self._spawn_mlflow()
            self._wait_mlflow()
            self._start_mlflow_proxy()
            self._mark("mlflow", began)
            self._spawn_web()
            if self.with_beat:
                self._spawn_beat()
            self._wait_web()
            self._start_web_proxy()
            wait_until(
                lambda: http_ok(self.web_url + "/health/ready", timeout=5),
                30,
                "/health/ready",
                self.services["web"].log_path,
            )
            self._mark("web", began)
        except BaseException:
            self.print_logs()
            self.stop()
            raise
        self.started = True
        self._mark("start", began)
        return self

    def stop(self) -> None:
        """Stop every process this harness started (workers first, PostgreSQL last)."""
        self.stop_workers()
        order = [
            "beat", "web-proxy", "web", "mlflow-proxy", *self._mlflow_names(), "objectstore",
            "redis", "postgres",
        ]  # fmt: skip
        for name in order:
            service = self.services.pop(name, None)
            if service is None:
                continue
            # PostgreSQL: SIGINT is its fast shutdown.
            first = signal.SIGINT if name == "postgres" else signal.SIGTERM
            stop_group(service.process, STOP_GRACE.get(name, STOP_GRACE["default"]), first)
        for name, service in list(self.services.items()):
            stop_group(service.process, STOP_GRACE["default"])
            self.services.pop(name)
        self.started = False

    def leftover_pids(self) -> list[int]:
        """Process groups this harness started that still have a live process (none after
        ``stop()``)."""
        return [process.pid for process in self._spawned if group_alive(process.pid)]

    def __enter__(self) -> Harness:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def print_logs(self, chars: int = LOG_TAIL_CHARS) -> None:
        """The end of every log, to stdout (pytest shows it with a failure)."""
        for path in sorted(self.logs.glob("*.log")):
            print(f"----- {path.name} (last {chars} characters) -----")
            print(log_tail(path, chars))

    # --- faults ------------------------------------------------------------------------------

    def stop_service(self, name: str) -> None:
        """Stop one service (one of ``SERVICES``; "mlflow" is every MLflow server, while the
        proxy in front of them stays and answers 502, as compose's would)."""
        if name not in SERVICES:
            raise ValueError(f"unknown service {name!r}; one of {SERVICES}")
        names = self._mlflow_names() if name == "mlflow" else [name]
        stopping = [self.services.pop(one) for one in names if one in self.services]
        first = signal.SIGINT if name == "postgres" else signal.SIGTERM
        for service in stopping:  # all at once, then each waited for
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.process.pid, first)
        for service in stopping:
            stop_group(service.process, STOP_GRACE.get(name, STOP_GRACE["default"]), first)

    def start_service(self, name: str) -> None:
        """Start a stopped service again, on the same port and data, and wait until it answers."""
        names = self._mlflow_names() if name == "mlflow" else [name]
        if all(one in self.services and self.services[one].process.poll() is None for one in names):
            return
        if name == "postgres":
            self._start_postgres()
        elif name == "redis":
            self._start_redis()
        elif name == "objectstore":
            self._start_objectstore()
            self._wait_ready(
                self.services["objectstore"],
                lambda: http_ok(self.s3_url + "/moto-api/"),
                START_TIMEOUT["objectstore"],
            )
            self._create_bucket()  # moto keeps nothing across a restart
        elif name == "mlflow":
            self._spawn_mlflow()
            self._wait_mlflow()
        elif name == "mlflow-proxy":
            self._start_mlflow_proxy()
        elif name == "web":
            self._spawn_web()
            self._wait_web()
        elif name == "web-proxy":
            self._start_web_proxy()
        elif name == "beat":
            self._spawn_beat()
        else:
            raise ValueError(f"unknown service {name!r}; one of {SERVICES}")

    def _restart(self, name: str, down_seconds: float) -> None:
        self.stop_service(name)
        if down_seconds:
            time.sleep(down_seconds)
        self.start_service(name)

    def restart_redis(self, down_seconds: float = 0) -> None:
        self._restart("redis", down_seconds)

    def restart_postgres(self, down_seconds: float = 0) -> None:
        self._restart("postgres", down_seconds)

    def restart_mlflow(self, down_seconds: float = 0) -> None:
        self._restart("mlflow", down_seconds)

    # --- data, through the API -----------------------------------------------------------------

    def api(self, seed: Seed | None, method: str, path: str, **kwargs) -> requests.Response:
        headers = dict(seed.headers) if seed else {}
        headers.update(kwargs.pop("headers", {}))
        timeout = kwargs.pop("timeout", 30)
        return requests.request(
            method, self.web_url + path, headers=headers, timeout=timeout, **kwargs
        )

    def seed(self, username: str | None = None) -> Seed:
        """An owner (user and API token), a project and a tiny uploaded dataset."""
        username = username or f"owner-{uuid.uuid4().hex[:8]}"
        password = secrets.token_urlsafe(16)
        self.manage(
            "shell",
            "-c",
            "import os; from django.contrib.auth import get_user_model; "
            "get_user_model().objects.create_user(os.environ['SEED_USER'], "
            "password=os.environ['SEED_PASSWORD'])",
            env={"SEED_USER": username, "SEED_PASSWORD": password},
        )
        response = self.api(
            None, "POST", "/api/token/", json={"username": username, "password": password}
        )
        _expect(response, 200, "token")
        token = response.json()["token"]
        headers = {"Authorization": f"Token {token}", "Accept-Language": "es"}
        response = self.api(
            None, "POST", "/api/projects/", json={"name": f"Prueba {username}"}, headers=headers
        )
        _expect(response, 201, "project")
        project_id = response.json()["id"]
        seed = Seed(
            username=username,
            password=password,
            token=token,
            project_id=project_id,
            dataset_id=0,
            target_column="label",
            feature_columns=["x0", "x1", "x2"],
            headers=headers,
        )
        seed.dataset_id = self.upload_dataset(seed, "tiny.csv", tiny_csv(), name="Tiny")
        return seed

    def upload_dataset(self, seed: Seed, filename: str, content: bytes, name: str = "") -> int:
        """Upload a CSV to the seed's project through the API; the dataset's id."""
        response = self.api(
            seed,
            "POST",
            f"/api/projects/{seed.project_id}/datasets/",
            files={"file": (filename, io.BytesIO(content), "text/csv")},
            data={"name": name or filename},
        )
        _expect(response, 201, "dataset upload")
        return response.json()["id"]

    def create_experiment(self, seed: Seed, name: str, **options) -> str:
        body = {
            "project": seed.project_id,
            "dataset": seed.dataset_id,
            "name": name,
            "target_column": seed.target_column,
            "feature_columns": seed.feature_columns,
            # The fastest model the pipeline offers, on the tiny dataset.
            "algorithm": "DecisionTreeClassifier",
            "hyperparameters": {"max_depth": 2},
            **options,
        }
        response = self.api(seed, "POST", "/api/experiments/", json=body)
        _expect(response, 201, "experiment")
        return response.json()["id"]

    def run_experiment(self, seed: Seed, experiment_id: str) -> None:
        response = self.api(seed, "POST", f"/api/experiments/{experiment_id}/run/")
        _expect(response, 202, "run")

    def create_experiments(self, seed: Seed, n: int, **options) -> list[str]:
        """Create ``n`` DRAFT experiments (``options`` override the body; ``name_prefix``)."""
        prefix = options.pop("name_prefix", f"exp-{uuid.uuid4().hex[:6]}")
        names = [f"{prefix}-{i:03d}" for i in range(n)]
        with ThreadPoolExecutor(API_THREADS) as pool:
            return list(pool.map(lambda name: self.create_experiment(seed, name, **options), names))

    def run_experiments(self, seed: Seed, ids: list[str]) -> None:
        """Queue these experiments at once (a few API calls in parallel)."""
        with ThreadPoolExecutor(API_THREADS) as pool:
            list(pool.map(lambda experiment_id: self.run_experiment(seed, experiment_id), ids))

    def queue_experiments(self, seed: Seed, n: int, **options) -> list[str]:
        """Create ``n`` experiments (options override the body) and then queue them all."""
        ids = self.create_experiments(seed, n, **options)
        self.run_experiments(seed, ids)
        return ids

    def task_ids(self) -> dict[str, str]:
        """Experiment id -> the task id of its last message, read from Cauce's database."""
        rows = self.psql("SELECT id, task_id FROM experiments_mlexperiment", "cauce")
        return dict(line.split("|", 1) for line in rows.splitlines() if "|" in line)

    def task_events(self, task: str = PIPELINE_TASK) -> Counter:
        """(task id, event) -> how many times the workers' logs say so, over every worker log
        of this harness; events: received, succeeded, failed, retry, raised."""
        pattern = re.compile(re.escape(task) + r"\[([0-9a-f-]{36})\] (\w+)")
        events: Counter = Counter()
        for path in self.worker_logs():
            for task_id, event in pattern.findall(path.read_text(errors="replace")):
                events[(task_id, event)] += 1
        return events

    def experiments(self, seed: Seed) -> dict[str, dict]:
        """Every experiment of the seed's project, by id (the API's list, one page)."""
        response = self.api(
            seed, "GET", "/api/experiments/", params={"project": seed.project_id, "limit": 1000}
        )
        _expect(response, 200, "experiment list")
        body = response.json()
        rows = body["results"] if isinstance(body, dict) else body
        return {row["id"]: row for row in rows}

    def experiment(self, seed: Seed, experiment_id: str) -> dict:
        response = self.api(seed, "GET", f"/api/experiments/{experiment_id}/")
        _expect(response, 200, "experiment")
        return response.json()

    def active_count(self, seed: Seed, connection=None) -> int:
        """How many of the seed's project's experiments are QUEUED or RUNNING, read from
        Cauce's database in one query (a poll that does not load the web processes of the
        machine it measures); ``connection``: an open psycopg connection to use."""
        import psycopg

        with contextlib.ExitStack() as stack:
            if connection is None:
                connection = stack.enter_context(
                    psycopg.connect(self.database_url, autocommit=True)
                )
            cursor = connection.execute(_ACTIVE_QUERY, (seed.project_id, sorted(ACTIVE_STATUSES)))
            return cursor.fetchone()[0]

    def wait_idle(self, seed: Seed, timeout: float, poll: float = 0.5) -> bool:
        """Poll ``active_count`` on one connection (a new one after an error) until it is 0
        (True) or ``timeout`` (False)."""
        import psycopg

        deadline = time.monotonic() + timeout
        connection = None
        try:
            while True:
                try:
                    connection = connection or psycopg.connect(self.database_url, autocommit=True)
                    if self.active_count(seed, connection) == 0:
                        return True
                except psycopg.Error:
                    if connection is not None:
                        connection.close()
                    connection = None
                if time.monotonic() >= deadline:
                    return False
                time.sleep(poll)
        finally:
            if connection is not None:
                connection.close()

    def wait_experiments(
        self, seed: Seed, ids: list[str], timeout: float, poll: float = 1.0
    ) -> dict[str, str]:
        """Poll until none of ``ids`` is QUEUED or RUNNING, or ``timeout``; id -> status.

        A poll that fails (the web server or the database is down in a fault test) is retried
        until the deadline."""
        deadline = time.monotonic() + timeout
        statuses: dict[str, str] = {}
        while True:
            with contextlib.suppress(requests.RequestException, HarnessError, ValueError):
                rows = self.experiments(seed)
                statuses = {i: rows[i]["status"] if i in rows else "MISSING" for i in ids}
            if statuses and not ACTIVE_STATUSES.intersection(statuses.values()):
                return statuses
            if time.monotonic() >= deadline:
                return statuses or dict.fromkeys(ids, "UNKNOWN")
            time.sleep(poll)


def _expect(response: requests.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise HarnessError(
            f"{what}: {response.request.method} {response.url} answered "
            f"{response.status_code}, not {status}: {response.text[:2000]}"
        )
