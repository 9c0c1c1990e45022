"""The API agrees with its OpenAPI schema: schemathesis over every operation of /api/schema/.

A real server, gunicorn started as the image starts it (``tests/fixtures/web_server.py``, so
that what only a real server does is tried too: kept-alive connections, bodies answered before
they are read), with data in it, an owner's token, the session's MLflow server, and
schemathesis's command line with all its checks, in its examples and coverage phases. Two
passes per seed, both with a bounded number of examples: one where the path ids are whatever
schemathesis generates (mostly unknown ids, extreme numbers), and one where they are the ids of
real objects, so that the answers of real objects are checked too (an artifact download among
them: metrics.json). Two seeds: the one of issue 16's run, and one of its own. Any failure or
network error (a request not answered within the timeout) fails the test. Every operation of
the schema is covered without naming it here: an endpoint added later is tested as soon as it
is in the schema (see the README's Tests section).
"""

import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from cauce.artifacts.tests.conftest import MODEL_FILES, RUN_FILES
from cauce.registry import services as registry_services

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MAX_EXAMPLES = 15
# Issue 16's run, and one of this test's own.
SEEDS = (246758450896883238905377878626379247965, 69206920302294518653427341758953262938)
# An answer takes milliseconds; a request left waiting is a network error, not a slow answer.
REQUEST_TIMEOUT = 20
SETTINGS = Path(__file__).with_name("schemathesis.toml")


def _schemathesis(
    schema_url: str, token: str, config_path, report_path, seed: int
) -> tuple[int, str]:
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config_path),
        "run", schema_url,
        "--checks", "all",
        "--phases", "examples,coverage",
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(seed),
        "--header", f"Authorization: Token {token}",
        "--request-timeout", str(REQUEST_TIMEOUT),
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
    """The shared settings, and fixed parameters (the ids of real objects) per path; a name
    without its location ("id") is a path parameter."""
    lines = [SETTINGS.read_text()]
    for path_regex, parameters in operations:
        lines.append("[[operations]]")
        lines.append(f"include-path-regex = {_toml_value(path_regex)}")
        pairs = ", ".join(
            f"{_toml_value(k if '.' in k else f'path.{k}')} = {_toml_value(v)}"
            for k, v in parameters.items()
        )
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


def _figures(output: str) -> str:
    """schemathesis's summary lines: operations tested, test cases, failures and errors."""
    keep = ("Tested:", "generated", "Network Error", "❌", "🚫")
    return " | ".join(line.strip() for line in output.splitlines() if any(k in line for k in keep))


def test_the_api_agrees_with_its_schema(web_server, mlflow, api_data, tmp_path):
    schema_url = f"{web_server}/api/schema/"
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
            # A file of the run: its answer is the file, with the file's own type (JSON).
            (r"^/api/experiments/\{id\}/artifacts/download/$",
             {"id": api_data["experiment"], "query.path": "metrics.json"}),
            (r"^/api/experiments/\{id\}/", {"id": api_data["experiment"]}),
            # Not predict: the contract's logged model holds no loadable model file. Not a
            # version's routes either: there schemathesis 4.32.5's coverage phase makes a
            # negative case of a too long name, sends the fixed name instead, and calls the
            # 200 a "schema-violating request accepted" (a false positive of fixed parameters;
            # the command line's --checks outranks a per-operation setting to turn it off).
            (r"^/api/models/\{name\}/(aliases/\{alias\}/)?$", {"name": api_data["model"]}),
        ],
    )  # fmt: skip

    # Two at a time (the machine's two cores): real ids first, while every object is there.
    passes = [(seed, name, config) for name, config in (("real ids", real), ("free ids", free))
              for seed in SEEDS]  # fmt: skip

    def run(one):
        seed, name, config = one
        report = tmp_path / f"{seed}-{name}.xml"
        code, output = _schemathesis(schema_url, api_data["token"], config, report, seed)
        print(f"schemathesis seed {seed}, {name}: exit {code}: {_figures(output)}")
        return f"seed {seed}, {name}", code, output

    with ThreadPoolExecutor(2) as pool:
        outputs = list(pool.map(run, passes))

    for name, code, output in outputs:
        assert code == 0, f"schemathesis ({name}) found failures:\n{output[-20000:]}"
