"""compose.yaml and the Dockerfile, checked by parsing them (no Docker engine runs here).

What is checked is what a broken deployment would get wrong: a service missing, one without a
health check, a dependency that does not wait for health, state outside a volume, a secret
written into the file, a root or floating image, requirements other than the pinned ones.
"""

import json
import re
from pathlib import Path

import environ
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()

LONG_RUNNING = {
    "web", "web-proxy", "worker", "scheduler", "db", "redis", "mlflow", "mlflow-server",
    "objectstore",
}  # fmt: skip
# One-shot steps: they end, and what depends on them waits for a successful end instead.
ONE_SHOT = {"migrate", "objectstore-init", "mlflow-init"}
# Services whose state must survive a restart, and where it lives.
STATE = {
    "db": "/var/lib/postgresql/data",
    "redis": "/data",
    "objectstore": "/data",
    "web": "/data",
    "worker": "/data",
    "scheduler": "/data",
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY$|TOKEN|ACCESS_KEY", re.IGNORECASE)
WEB_WORKER = "config.web_worker.ThreadWorker"
REQUIRED_VARIABLE = re.compile(r"^\$\{([A-Z_]+):\?[^}]*\}$")


def _stages() -> dict[str, list[str]]:
    """Dockerfile instructions per stage ({stage name: [instruction lines]})."""
    stages: dict[str, list[str]] = {}
    current = None
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", line, re.IGNORECASE)
        if match:
            current = match.group(2)
            stages[current] = [line]
        elif current:
            stages[current].append(line)
    return stages


STAGES = _stages()


def test_every_service_of_the_topology_is_there():
    assert set(SERVICES) == LONG_RUNNING | ONE_SHOT


@pytest.mark.parametrize("name", sorted(LONG_RUNNING))
def test_every_long_running_service_has_a_health_check(name):
    check = SERVICES[name]["healthcheck"]
    assert check["test"][0] in {"CMD", "CMD-SHELL"}
    assert not check.get("disable")
    assert check["interval"] and check["timeout"] and check["retries"] >= 3


def test_one_shot_steps_do_not_restart():
    for name in ONE_SHOT:
        assert SERVICES[name]["restart"] == "no"
    assert SERVICES["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]


def test_dependencies_wait_for_health_or_a_successful_end():
    for name, service in SERVICES.items():
        for dependency, rule in service.get("depends_on", {}).items():
            expected = (
                "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            )
            assert rule == {"condition": expected}, (name, dependency)
    for app in ("web", "worker"):
        assert set(SERVICES[app]["depends_on"]) == {
            "migrate",
            "redis",
            "mlflow",
            "objectstore-init",
        }
    assert set(SERVICES["scheduler"]["depends_on"]) == {"migrate", "redis", "objectstore-init"}
    assert set(SERVICES["migrate"]["depends_on"]) == {"db"}
    assert set(SERVICES["mlflow-init"]["depends_on"]) == {"db"}
    assert set(SERVICES["mlflow-server"]["depends_on"]) == {"mlflow-init", "objectstore-init"}
    assert set(SERVICES["mlflow"]["depends_on"]) == {"mlflow-server"}
    assert set(SERVICES["objectstore-init"]["depends_on"]) == {"objectstore"}
    assert set(SERVICES["web-proxy"]["depends_on"]) == {"web"}


@pytest.mark.parametrize(("name", "path"), sorted(STATE.items()))
def test_state_lives_in_named_volumes(name, path):
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in SERVICES[name]["volumes"]}
    assert mounts[path] in COMPOSE["volumes"], (name, path)


def test_workers_scale_no_fixed_container_names_and_one_image_for_the_app():
    assert not any("container_name" in service for service in SERVICES.values())
    assert "ports" not in SERVICES["worker"]
    for name in ("web", "worker", "scheduler", "migrate"):
        assert SERVICES[name]["build"] == {"context": ".", "target": "runtime"}
        assert SERVICES[name]["image"] == "${CAUCE_IMAGE:-cauce:latest}"
    for name in ("mlflow-init", "mlflow-server"):
        assert SERVICES[name]["build"] == {"context": ".", "target": "mlflow"}
    # MLflow's servers scale the same way, behind the proxy: no port of their own.
    assert "ports" not in SERVICES["mlflow-server"]
    # And the web: only its proxy is published.
    assert "ports" not in SERVICES["web"]


def _environment(service: dict) -> dict[str, str]:
    environment = service.get("environment", {})
    assert isinstance(environment, dict), "environment as a mapping"
    return {key: str(value) for key, value in environment.items()}


def test_no_secret_is_written_in_the_compose_file():
    seen = 0
    for name, service in SERVICES.items():
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key):
                seen += 1
                assert REQUIRED_VARIABLE.match(value), f"{name}.{key} = {value!r}"
            # A URL with credentials takes its password from a required variable.
            for password in re.findall(r"://(?:\$\{[^}]*\}|[^:/@$]*):(\$\{[^}]*\}|[^@]*)@", value):
                assert REQUIRED_VARIABLE.match(password), f"{name}.{key} = {value!r}"
    assert seen >= 8  # the check above really ran over the secrets
    text = (ROOT / "compose.yaml").read_text()
    assert not re.search(r"(?i)(password|secret)[\"']?\s*[:=]\s*[\"']?(?!\$\{)\w", text)


def test_mlflow_server_uses_postgres_s3_proxied_artifacts_and_the_container_host():
    for name in ("mlflow-init", "mlflow-server"):
        environment = _environment(SERVICES[name])
        assert environment["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql://")
        assert environment["MLFLOW_BACKEND_STORE_URI"].endswith("@db:5432/mlflow")
        assert environment["MLFLOW_ARTIFACTS_DESTINATION"].startswith("s3://")
        assert environment["MLFLOW_S3_ENDPOINT_URL"] == "http://objectstore:9000"
        assert environment["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
        assert environment["MLFLOW_DISABLE_TELEMETRY"] == "${MLFLOW_DISABLE_TELEMETRY:-true}"
    command = SERVICES["mlflow-server"]["command"]
    assert command[:2] == ["mlflow", "server"]
    assert "--serve-artifacts" in command
    # One process per server, MLFLOW_SERVERS of them (two unless said otherwise).
    assert command[command.index("--workers") + 1] == "1"
    assert SERVICES["mlflow-server"]["deploy"]["replicas"] == "${MLFLOW_SERVERS:-2}"
    assert "--default-artifact-root" not in command
    allowed = command[command.index("--allowed-hosts") + 1].split(",")
    assert "mlflow:*" in allowed
    assert "MLFLOW_BACKEND_STORE_URI" in " ".join(SERVICES["mlflow-init"]["command"])
    assert (ROOT / "deploy/postgres/10-mlflow-database.sql").read_text().count(
        "CREATE DATABASE mlflow;"
    ) == 1


def test_kept_files_go_to_a_bucket_of_their_own_that_the_init_step_creates():
    init = SERVICES["objectstore-init"]
    bucket = _environment(init)["CAUCE_BUCKET"]
    assert bucket == "${CAUCE_BUCKET:-cauce}" != _environment(init)["MLFLOW_BUCKET"]
    assert 'mc mb --ignore-existing "store/$$CAUCE_BUCKET"' in init["entrypoint"][-1]
    for name in ("web", "worker", "scheduler", "migrate"):
        environment = _environment(SERVICES[name])
        assert environment["CAUCE_STORAGE_BUCKET"] == bucket
        assert environment["CAUCE_STORAGE_ENDPOINT_URL"].endswith("http://objectstore:9000}")


def test_mlflow_is_reached_through_a_least_busy_first_proxy():
    """The address Cauce uses (mlflow:5000) is nginx's, filled in from the template that the
    production harness runs too; every request goes to the server with the fewest in flight."""
    proxy = SERVICES["mlflow"]
    environment = _environment(proxy)
    template_path = "deploy/mlflow-proxy/mlflow.conf.template"
    mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in proxy["volumes"]}
    assert mounts["./" + template_path] == "/etc/nginx/templates/mlflow.conf.template"
    template = (ROOT / template_path).read_text()
    for variable in re.findall(r"\$\{([A-Z_]+)\}", template.split("\n\n", 1)[1]):
        assert variable in environment, variable
    assert environment["MLFLOW_PROXY_LISTEN"] == "5000"
    assert environment["MLFLOW_UPSTREAM_SERVERS"].startswith("server mlflow-server:5000 ")
    assert " resolve;" in environment["MLFLOW_UPSTREAM_SERVERS"]
    body = "\n".join(line.split("#")[0] for line in template.splitlines())
    upstream = body[body.index("upstream mlflow_servers") : body.index("server {")]
    assert "least_conn;" in upstream
    assert "keepalive " in upstream
    for directive in ("client_max_body_size 0;", "proxy_request_buffering off;",
                      "proxy_buffering off;", "proxy_set_header Host $http_host;"):  # fmt: skip
        assert directive in body, directive


def test_the_app_runs_in_production_mode_against_the_compose_services():
    for name in ("web", "worker", "scheduler", "migrate"):
        environment = _environment(SERVICES[name])
        assert environment["CAUCE_ENV"] == "production"
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert "@db:5432/" in environment["DATABASE_URL"]
        assert environment["CELERY_BROKER_URL"].startswith("redis://:")
        assert environment["CELERY_BROKER_URL"].endswith("@redis:6379/0")
        assert environment["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    # One cache for every web process, in Redis, with bounded waits (a miss when it is out).
    cache_url = _environment(SERVICES["web"])["CACHE_URL"]
    assert cache_url.startswith("redis://:${REDIS_PASSWORD:?")
    cache = environ.Env.cache_url_config(re.sub(r"\$\{[^}]*\}", "secret", cache_url))
    assert cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert cache["LOCATION"] == "redis://:secret@redis:6379/1"
    assert cache["OPTIONS"] == {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
    assert SERVICES["web"]["command"][0] == "gunicorn"
    assert SERVICES["worker"]["command"][:3] == ["celery", "--app=config", "worker"]
    assert SERVICES["scheduler"]["command"][:3] == ["celery", "--app=config", "beat"]
    assert "/health/live" in " ".join(SERVICES["web"]["healthcheck"]["test"])


def test_images_are_pinned():
    images = [service["image"] for service in SERVICES.values() if "build" not in service]
    for stage in STAGES.values():
        images.append(stage[0].split()[1])
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest" and re.search(r"\d", tag), image


def test_the_dockerfile_builds_in_stages_and_runs_as_a_non_root_user():
    assert set(STAGES) == {"build", "runtime", "mlflow"}
    for stage in ("runtime", "mlflow"):
        users = [line.split()[1] for line in STAGES[stage] if line.startswith("USER ")]
        assert users and users[-1] not in {"root", "0"}, stage
        assert any(line.startswith("HEALTHCHECK ") for line in STAGES[stage])
    runtime = " ".join(STAGES["runtime"])
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    assert "CAUCE_ENV=production" in runtime
    assert 'CMD ["gunicorn", "config.wsgi:application"' in runtime
    assert not any(line.startswith(("RUN pip", "RUN apt")) for line in STAGES["runtime"])


def test_gunicorn_keeps_idle_connections_longer_than_a_proxy_does():
    """With gunicorn's 2 s a reused connection is closed under a client's next request
    ("connection reset" under load); a proxy in front keeps its own idle ones up to 60 s."""
    command = json.loads(next(line for line in STAGES["runtime"] if line.startswith("CMD "))[4:])
    assert command[command.index("--worker-class") + 1] == WEB_WORKER
    assert int(command[command.index("--keep-alive") + 1]) > 60


def test_every_gunicorn_runs_the_worker_that_serves_a_request_already_read():
    """gthread's own worker leaves a request that arrived behind a body in its buffer, never
    answered (tests/test_web_server.py); the image, compose, `make run` and the harness run
    Cauce's (config/web_worker.py)."""
    assert f"--worker-class={WEB_WORKER}" in SERVICES["web"]["command"]
    for path in ("scripts/run.py", "tests/production/harness.py"):
        text = (ROOT / path).read_text()
        assert '"gthread"' not in text, path
        assert WEB_WORKER in text, path


def test_the_image_installs_the_pinned_requirements_and_collects_static_files():
    build = " ".join(STAGES["build"])
    assert "COPY requirements.txt /tmp/requirements.txt" in build
    assert "pip install --requirement /tmp/requirements.txt" in build
    assert "compilemessages" in build
    assert re.search(
        r"STATICFILES_BACKEND=cauce\.core\.storage\.GzipManifestStaticFilesStorage .*"
        r"collectstatic --noinput",
        build,
    )
    mlflow = " ".join(STAGES["mlflow"])
    assert "pip install --requirement /tmp/requirements-mlflow.txt" in mlflow


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line or line.startswith("-r"):
            continue
        assert "==" in line, f"{path.name}: {line} is not pinned"
        name, version = line.split("==")
        pins[re.sub(r"\[.*\]", "", name).lower()] = version
    return pins


def test_requirements_are_pinned_and_mlflow_is_the_same_version_everywhere():
    app = _pins(ROOT / "requirements.txt")
    server = _pins(ROOT / "requirements-mlflow.txt")
    _pins(ROOT / "requirements-dev.txt")
    assert server["mlflow"] == app["mlflow"]
    assert {"psycopg2-binary", "boto3"} <= set(server)
    assert {"gunicorn", "whitenoise", "celery", "redis", "psycopg"} <= set(app)


def test_the_docker_build_context_leaves_out_local_state_and_secrets():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var", ".env", "staticfiles"} <= set(ignored)


def _nginx_body(template: str) -> str:
    """The template without its comments."""
    return "\n".join(line.split("#")[0].rstrip() for line in template.splitlines())


def test_the_web_is_reached_through_a_buffering_proxy_with_client_timeouts():
    """compose publishes nginx (deploy/web-proxy/, the template the production harness runs
    too), not gunicorn: every ${VARIABLE} of the template is set, requests are read whole
    within bounded times before gunicorn sees them, and bodies as large as Cauce accepts get
    through to Cauce's own answer."""
    from django.conf import settings

    proxy = SERVICES["web-proxy"]
    environment = _environment(proxy)
    template_path = "deploy/web-proxy/web.conf.template"
    mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in proxy["volumes"]}
    assert mounts["./" + template_path] == "/etc/nginx/templates/web.conf.template"
    template = (ROOT / template_path).read_text()
    body = _nginx_body(template)
    variables = set(re.findall(r"\$\{([A-Z_]+)\}", body))
    assert variables == {
        "WEB_PROXY_LISTEN", "WEB_UPSTREAM_SERVERS", "WEB_PROXY_RESOLVER", "WEB_PROXY_MAX_BODY",
        "WEB_PROXY_FORWARDED_PROTO",
    }  # fmt: skip
    assert variables <= set(environment)
    for variable in variables:  # each one documented in the template's header
        assert variable in template.split("\n\n", 1)[0], variable
    assert environment["WEB_PROXY_LISTEN"] == "8000"
    assert environment["WEB_UPSTREAM_SERVERS"] == "server web:8000 max_fails=0 resolve;"
    assert proxy["ports"] == ["${CAUCE_BIND:-127.0.0.1}:${CAUCE_HTTP_PORT:-8000}:8000"]
    assert "/health/live" in " ".join(proxy["healthcheck"]["test"])

    for directive in (
        "proxy_request_buffering on;",
        "proxy_buffering on;",
        "proxy_set_header Host $http_host;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto ${WEB_PROXY_FORWARDED_PROTO};",
        "client_max_body_size ${WEB_PROXY_MAX_BODY};",
    ):
        assert directive in body, directive
    for timeout in ("client_header_timeout", "client_body_timeout", "send_timeout"):
        seconds = int(re.search(rf"^\s*{timeout} (\d+)s;", body, re.MULTILINE).group(1))
        assert 0 < seconds <= 60, timeout
    # gunicorn keeps an idle connection longer than nginx does (nginx closes it first).
    keepalive = int(re.search(r"keepalive_timeout (\d+)s;", body).group(1))
    command = json.loads(next(line for line in STAGES["runtime"] if line.startswith("CMD "))[4:])
    assert keepalive < int(command[command.index("--keep-alive") + 1])

    # Cauce's limits answer with Cauce's message: the proxy's is above the largest of them.
    max_body = re.fullmatch(
        r"\$\{CAUCE_PROXY_MAX_BODY:-(\d+)m\}", environment["WEB_PROXY_MAX_BODY"]
    )
    largest = max(
        settings.DATASET_MAX_UPLOAD_MB, settings.PREDICT_MAX_UPLOAD_MB, settings.PREDICT_MAX_BODY_MB
    )
    assert int(max_body.group(1)) > largest
    from tests.production.harness import WEB_PROXY_MAX_BODY

    assert f"{max_body.group(1)}m" == WEB_PROXY_MAX_BODY

    # TLS ends in front of the proxy (Django trusts X-Forwarded-Proto): it passes that on.
    assert environment["WEB_PROXY_FORWARDED_PROTO"] == "$$http_x_forwarded_proto"
    assert _environment(SERVICES["web"])["DJANGO_SECURE_PROXY_SSL_HEADER"] == (
        "${DJANGO_SECURE_PROXY_SSL_HEADER:-true}"
    )
