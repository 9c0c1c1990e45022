"""The API agrees with its OpenAPI schema: schemathesis over every operation of /api/schema/.

A real server (pytest-django's live server) with data in it, an owner's token, and
schemathesis's command line with all its checks. Two passes, both with a bounded number of
examples: one where the path ids are whatever schemathesis generates (mostly unknown ids,
extreme numbers), and one where they are the ids of real objects, so that the answers of real
objects are checked too. Every operation of the schema is covered without naming it here: an
endpoint added later is tested as soon as it is in the schema (see the README's Tests section).
"""

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from cauce.artifacts.tests.conftest import MODEL_FILES, RUN_FILES
from cauce.registry import services as registry_services

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MAX_EXAMPLES = 8
SETTINGS = Path(__file__).with_name("schemathesis.toml")


def _schemathesis(schema_url: str, token: str, config_path, report_path) -> tuple[int, str]:
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config_path),
        "run", schema_url,
        "--checks", "all",
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", "1",
        "--generation-deterministic",
        "--header", f"Authorization: Token {token}",
        "--request-timeout", "30",
        "--suppress-health-check", "all",
        "--report", "junit",
        "--report-junit-path", str(report_path),
        "--no-color",
    ]  # fmt: skip
    # In the report's folder: schemathesis keeps a cache of failures where it runs.
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, cwd=report_path.parent
    )
    return result.returncode, result.stdout + result.stderr


def _toml_value(value) -> str:
    return json.dumps(value)


def _config(path, operations: list[tuple[str, dict]]) -> None:
    """The shared settings, and fixed path parameters (the ids of real objects) per path."""
    lines = [SETTINGS.read_text()]
    for path_regex, parameters in operations:
        lines.append("[[operations]]")
        lines.append(f"include-path-regex = {_toml_value(path_regex)}")
        pairs = ", ".join(f'"path.{k}" = {_toml_value(v)}' for k, v in parameters.items())
        lines.append(f"parameters = {{ {pairs} }}")
        lines.append("")
    path.write_text("\n".join(lines))


@pytest.fixture
def api_data(owner, viewer, project, iris_dataset, make_run_experiment):
    experiment = make_run_experiment(RUN_FILES, model_files=MODEL_FILES, name="Contrato")
    make_run_experiment({"metrics.json": b'{"f1": 0.5}'}, name="Contrato 2")
    # A registered model of the project (a name of its own: the MLflow server is the session's).
    registration = registry_services.model_version_register(
        experiment=experiment, user=owner, name=f"Contrato-{uuid.uuid4().hex[:8]}"
    )
    return {
        "token": Token.objects.create(user=owner).key,
        "project": project.pk,
        "viewer": viewer.pk,
        "dataset": iris_dataset.pk,
        "experiment": str(experiment.pk),
        "model": registration.model.name,
    }


def test_the_api_agrees_with_its_schema(live_server, mlflow, api_data, tmp_path):
    schema_url = f"{live_server.url}/api/schema/"
    free = tmp_path / "free.toml"
    free.write_text(SETTINGS.read_text())
    real = tmp_path / "real.toml"
    _config(
        real,
        [
            (r"^/api/projects/\{id\}/members/\{user_id\}/$",
             {"id": api_data["project"], "user_id": api_data["viewer"]}),
            (r"^/api/projects/\{id\}/(members/)?$", {"id": api_data["project"]}),
            (r"^/api/projects/\{project_id\}/", {"project_id": api_data["project"]}),
            (r"^/api/datasets/\{id\}/$", {"id": api_data["dataset"]}),
            (r"^/api/experiments/\{id\}/", {"id": api_data["experiment"]}),
            # Not predict: the contract's logged model holds no loadable model file.
            (r"^/api/models/\{name\}/(aliases/\{alias\}/|versions/\{version\}/)?$",
             {"name": api_data["model"]}),
        ],
    )  # fmt: skip

    outputs = []
    for name, config in (("free ids", free), ("real ids", real)):
        code, output = _schemathesis(
            schema_url, api_data["token"], config, tmp_path / f"{name}.xml"
        )
        outputs.append((name, code, output))

    for name, code, output in outputs:
        assert code == 0, f"schemathesis ({name}) found failures:\n{output[-20000:]}"
