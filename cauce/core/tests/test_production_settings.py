"""CAUCE_ENV=production: Django's deployment checks pass, and unsafe configurations are refused.

Each case imports the settings in a fresh process (settings are read once per process).
"""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
STRONG_KEY = secrets.token_urlsafe(50)


def _env(tmp_path, **overrides: str | None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CAUCE_", "SECURE_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CAUCE_ENV": "production",
            "DJANGO_SECRET_KEY": STRONG_KEY,
            "DJANGO_ALLOWED_HOSTS": "cauce.example.org",
            "CAUCE_DATA_DIR": str(tmp_path),
        }
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _manage(tmp_path, *args: str, **overrides: str | None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_env(tmp_path, **overrides),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _settings(tmp_path, *names: str, **overrides: str | None) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"values = {{n: getattr(settings, n, None) for n in {list(names)!r}}}; "
        "print(json.dumps(values, default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_env(tmp_path, **overrides),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean_under_the_production_settings(tmp_path):
    result = _manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_fails_on_the_development_settings(tmp_path):
    """The same check is not vacuous: development settings fail it (no HSTS, no secure cookies)."""
    result = _manage(
        tmp_path, "check", "--deploy", "--fail-level", "WARNING", CAUCE_ENV="development"
    )
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr


@pytest.mark.parametrize(
    "key",
    [
        None,
        "cauce-insecure-development-key-change-me",
        "django-insecure-" + secrets.token_urlsafe(50),
        "short-but-random-" + secrets.token_hex(8),
        "a" * 60,
    ],
    ids=["unset", "development key", "django-insecure prefix", "too short", "too few characters"],
)
def test_production_refuses_to_start_without_a_strong_secret_key(tmp_path, key):
    result = _manage(tmp_path, "check", DJANGO_SECRET_KEY=key)
    assert result.returncode != 0
    assert "ImproperlyConfigured: CAUCE_ENV=production needs DJANGO_SECRET_KEY" in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts(tmp_path):
    result = _manage(tmp_path, "check", DJANGO_ALLOWED_HOSTS=None)
    assert result.returncode != 0
    assert "CAUCE_ENV=production needs DJANGO_ALLOWED_HOSTS" in result.stderr


def test_an_unknown_cauce_env_is_refused(tmp_path):
    result = _manage(tmp_path, "check", CAUCE_ENV="prod")
    assert result.returncode != 0
    assert "CAUCE_ENV must be 'development' or 'production', not 'prod'." in result.stderr


def test_production_turns_on_https_hashed_static_files_and_json_logs(tmp_path):
    values = _settings(
        tmp_path,
        "DEBUG",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SECURE_PROXY_SSL_HEADER",
        "STORAGES",
        "WHITENOISE_USE_FINDERS",
        "LOG_FORMAT",
    )
    assert values == {
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_PROXY_SSL_HEADER": None,
        "STORAGES": {
            "default": {"BACKEND": "cauce.core.storage.DataFileSystemStorage"},
            "staticfiles": {"BACKEND": "cauce.core.storage.GzipManifestStaticFilesStorage"},
        },
        "WHITENOISE_USE_FINDERS": False,
        "LOG_FORMAT": "json",
    }


def test_production_behind_a_proxy_trusts_x_forwarded_proto_and_debug_only_when_asked(tmp_path):
    values = _settings(
        tmp_path,
        "DEBUG",
        "SECURE_PROXY_SSL_HEADER",
        "SECURE_SSL_REDIRECT",
        DJANGO_SECURE_PROXY_SSL_HEADER="true",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_DEBUG="true",
    )
    assert values == {
        "DEBUG": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_SSL_REDIRECT": False,
    }


def test_production_keeps_database_connections_and_checks_them_before_reuse(tmp_path):
    url = "postgres://cauce@db.example.org:5432/cauce"
    production = _settings(tmp_path, "DATABASES", DATABASE_URL=url)["DATABASES"]["default"]
    assert production["CONN_MAX_AGE"] == 60
    assert production["CONN_HEALTH_CHECKS"] is True
    development = _settings(tmp_path, "DATABASES", DATABASE_URL=url, CAUCE_ENV="development")
    assert development["DATABASES"]["default"]["CONN_MAX_AGE"] == 0
    chosen = _settings(tmp_path, "DATABASES", DATABASE_URL=url, CAUCE_DATABASE_CONN_MAX_AGE="5")
    assert chosen["DATABASES"]["default"]["CONN_MAX_AGE"] == 5


def test_development_keeps_plain_http_and_unhashed_static_files(tmp_path):
    values = _settings(
        tmp_path,
        "SESSION_COOKIE_SECURE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "WHITENOISE_USE_FINDERS",
        "LOG_FORMAT",
        CAUCE_ENV=None,
        DJANGO_SECRET_KEY=None,
        DJANGO_ALLOWED_HOSTS=None,
    )
    assert values == {
        "SESSION_COOKIE_SECURE": False,
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 0,
        "WHITENOISE_USE_FINDERS": True,
        "LOG_FORMAT": "plain",
    }


@pytest.mark.slow  # compresses every static file, gzip and brotli
def test_collectstatic_writes_hashed_names_and_a_manifest(tmp_path):
    static_root = tmp_path / "static"
    result = _manage(tmp_path, "collectstatic", "--noinput", DJANGO_STATIC_ROOT=str(static_root))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((static_root / "staticfiles.json").read_text())
    hashed = manifest["paths"]["cauce/app.css"]
    assert hashed != "cauce/app.css" and hashed.startswith("cauce/app.") and hashed.endswith(".css")
    assert (static_root / hashed).is_file()
    assert (static_root / (hashed + ".gz")).is_file()
    # Gzip only, also where the brotli module is installed (locust brings it into the venv).
    assert not list(static_root.rglob("*.br"))


def _telemetry_off(tmp_path, **overrides: str | None) -> bool:
    """MLflow's own verdict in a Django process (none of the CI variables that also turn
    it off: the settings' default is what is checked)."""
    code = (
        "import django; django.setup(); "
        "from mlflow.telemetry.utils import is_telemetry_disabled; "
        "print(is_telemetry_disabled())"
    )
    ci = dict.fromkeys(("CI", "PYTEST_CURRENT_TEST", "GITHUB_ACTIONS"))
    env = _env(tmp_path, **{**ci, "MLFLOW_DISABLE_TELEMETRY": None, **overrides})
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1] == "True"


def test_mlflow_telemetry_is_off_unless_the_team_turns_it_on(tmp_path):
    assert _telemetry_off(tmp_path)
    assert not _telemetry_off(tmp_path, MLFLOW_DISABLE_TELEMETRY="false")


def test_files_stay_in_the_data_dir_without_a_bucket(tmp_path):
    values = _settings(tmp_path, "STORAGES")

    assert values["STORAGES"]["default"]["BACKEND"] == "cauce.core.storage.DataFileSystemStorage"


def test_a_bucket_from_the_environment_makes_s3_the_default_storage(tmp_path):
    values = _settings(
        tmp_path,
        "STORAGES",
        CAUCE_STORAGE_BUCKET="cauce-files",
        CAUCE_STORAGE_ENDPOINT_URL="http://minio:9000",
        CAUCE_STORAGE_REGION="eu-west-1",
        CAUCE_STORAGE_ACCESS_KEY_ID="cauce",
        CAUCE_STORAGE_SECRET_ACCESS_KEY="cauce-secret",
        CAUCE_STORAGE_ADDRESSING_STYLE="path",
    )

    default = values["STORAGES"]["default"]
    assert default["BACKEND"] == "storages.backends.s3.S3Storage"
    options = default["OPTIONS"]
    assert (options["bucket_name"], options["endpoint_url"]) == ("cauce-files", "http://minio:9000")
    assert (options["region_name"], options["addressing_style"]) == ("eu-west-1", "path")
    assert (options["access_key"], options["secret_key"]) == ("cauce", "cauce-secret")
    assert options["max_memory_size"] > 0  # a large file spills to disk, never held whole


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"CAUCE_STORAGE_ENDPOINT_URL": "http://minio:9000"},
            "CAUCE_STORAGE_ENDPOINT_URL set without CAUCE_STORAGE_BUCKET",
        ),
        (
            {"CAUCE_STORAGE_BUCKET": "b", "CAUCE_STORAGE_ACCESS_KEY_ID": "cauce"},
            "CAUCE_STORAGE_ACCESS_KEY_ID and CAUCE_STORAGE_SECRET_ACCESS_KEY go together",
        ),
        (
            {"CAUCE_STORAGE_BUCKET": "b", "CAUCE_STORAGE_ENDPOINT_URL": "minio:9000"},
            "CAUCE_STORAGE_ENDPOINT_URL must be an http:// or https:// URL",
        ),
        (
            {"CAUCE_STORAGE_BUCKET": "b", "CAUCE_STORAGE_ADDRESSING_STYLE": "dns"},
            "CAUCE_STORAGE_ADDRESSING_STYLE must be 'auto', 'path' or 'virtual'",
        ),
    ],
)
def test_a_half_set_bucket_configuration_is_refused_at_start(tmp_path, overrides, message):
    result = _manage(tmp_path, "check", **overrides)

    assert result.returncode != 0
    assert message in result.stderr
