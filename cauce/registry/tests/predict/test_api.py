"""POST /api/models/{name}/predict/ against a real MLflow server."""

import contextlib
import io
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import requests
from mlflow.pyfunc import load_model
from mlflow.tracking._tracking_service.utils import _use_tracking_uri

from cauce.integrations.mlflow import serving
from tests.fixtures.mlflow_server import free_port, stop_process, wait_healthy

IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _url(name, query=""):
    return f"/api/models/{name}/predict/" + (f"?{query}" if query else "")


def _own_model(name, version):
    with _use_tracking_uri(serving.tracking_uri()):
        return load_model(f"models:/{name}/{version}")


def _split(frame):
    return {"dataframe_split": {"columns": list(frame.columns), "data": frame.values.tolist()}}


@pytest.fixture
def iris_rows(trained_models):
    return trained_models["iris"].frame[IRIS].sample(40, random_state=3)


def test_a_viewer_gets_the_models_own_predictions_and_probabilities(viewer_api, served, iris_rows):
    model, version = served("iris")

    response = viewer_api.post(
        _url(model.name, f"version={version}&probabilities=true"), _split(iris_rows), format="json"
    )

    assert response.status_code == 200, response.json()
    own = _own_model(model.name, version)
    body = response.json()
    assert body["predictions"] == own.predict(iris_rows).tolist()
    assert body["classes"] == ["setosa", "versicolor", "virginica"]
    assert np.allclose(body["probabilities"], own.get_raw_model().predict_proba(iris_rows))
    assert (body["name"], body["version"], body["notes"]) == (model.name, version, [])


@pytest.mark.parametrize("key", ["dataframe_records", "inputs", "instances"])
def test_every_scoring_server_body_gives_the_same_predictions(viewer_api, served, iris_rows, key):
    model, version = served("iris")
    rows = iris_rows.to_dict(orient="records")
    payload = {key: rows if key != "inputs" else iris_rows.values.tolist(), "version": version}

    response = viewer_api.post(_url(model.name), payload, format="json")

    assert response.status_code == 200, response.json()
    assert (
        response.json()["predictions"]
        == _own_model(model.name, version).predict(iris_rows).tolist()
    )
    assert "probabilities" not in response.json()


def test_a_csv_body_is_predicted_like_the_scoring_server_does(viewer_api, served, iris_rows):
    model, version = served("iris")

    response = viewer_api.generic(
        "POST",
        _url(model.name, f"version={version}"),
        iris_rows.to_csv(index=False),
        content_type="text/csv",
    )

    assert response.status_code == 200, response.json()
    assert (
        response.json()["predictions"]
        == _own_model(model.name, version).predict(iris_rows).tolist()
    )


def _parquet(frame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("media_type", ["application/vnd.apache.parquet", "application/x-parquet"])
def test_a_parquet_body_is_predicted_like_the_scoring_server_does(
    viewer_api, served, iris_rows, media_type
):
    model, version = served("iris")

    response = viewer_api.generic(
        "POST",
        _url(model.name, f"version={version}&probabilities=true"),
        _parquet(iris_rows),  # with the sample's own index, as to_parquet() writes it
        content_type=media_type,
    )

    assert response.status_code == 200, response.json()
    own = _own_model(model.name, version)
    body = response.json()
    assert body["predictions"] == own.predict(iris_rows).tolist()
    assert np.allclose(body["probabilities"], own.get_raw_model().predict_proba(iris_rows))
    assert (body["version"], body["notes"]) == (version, [])


@pytest.fixture
def mlflow_scoring_server(tmp_path):
    """start(name, version) -> the URL of ``mlflow models serve`` for that version."""
    processes = []

    def start(name: str, version: int) -> str:
        port = free_port()
        command = [
            sys.executable, "-m", "mlflow", "models", "serve",
            "-m", f"models:/{name}/{version}", "--env-manager", "local",
            "-h", "127.0.0.1", "-p", str(port), "-w", "1",
        ]  # fmt: skip
        log = open(tmp_path / "scoring.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            command,
            env={
                **os.environ,
                "MLFLOW_TRACKING_URI": serving.tracking_uri(),
                # It runs `uvicorn` by name: the venv's, as a shell with the venv active.
                "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]),
            },
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its uvicorn child goes with it
        )
        processes.append((process, log))
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process, timeout=120)
        return url

    yield start
    for process, log in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        stop_process(process)
        log.close()


def test_mlflows_own_scoring_server_and_cauce_answer_the_same_parquet_request_alike(
    viewer_api, served, iris_rows, mlflow_scoring_server
):
    model, version = served("iris")
    body = _parquet(iris_rows)
    headers = {"Content-Type": "application/vnd.apache.parquet"}

    theirs = requests.post(
        mlflow_scoring_server(model.name, version) + "/invocations",
        data=body,
        headers=headers,
        timeout=60,
    )
    ours = viewer_api.generic(
        "POST", _url(model.name, f"version={version}"), body, content_type=headers["Content-Type"]
    )

    assert theirs.status_code == 200, theirs.text
    assert ours.status_code == 200, ours.json()
    assert ours.json()["predictions"] == theirs.json()["predictions"]


def test_a_parquet_body_by_alias_with_typed_and_extra_columns(
    viewer_api, served, trained_models, mlflow_registry
):
    model, version = served("messy")
    mlflow_registry.set_registered_model_alias(model.name, "champion", version)
    frame = trained_models["messy"].frame[["age", "income", "city", "member"]].head(30)
    sent = frame.assign(sobrante=1)

    response = viewer_api.generic(
        "POST",
        _url(model.name, "alias=champion"),
        _parquet(sent),
        content_type="application/vnd.apache.parquet",
    )

    assert response.status_code == 200, response.json()
    own = _own_model(model.name, version)
    expected = own.predict(frame)
    assert response.json()["predictions"] == expected.tolist()
    assert response.json()["version"] == version
    assert any("sobrante" in note for note in response.json()["notes"])


def test_a_parquet_body_without_a_needed_column_is_a_400_that_lists_it(
    viewer_api, served, iris_rows
):
    model, version = served("iris")

    response = viewer_api.generic(
        "POST",
        _url(model.name, f"version={version}"),
        _parquet(iris_rows.drop(columns=["petal_width"])),
        content_type="application/vnd.apache.parquet",
    )

    assert response.status_code == 400
    assert response.json()["errors"]["missing_columns"] == ["petal_width"]


@pytest.mark.parametrize(
    "body",
    [b"sepal_length,sepal_width\n1,2\n", b"PAR1 not really parquet PAR1", b""],
    ids=["csv", "broken", "empty"],
)
def test_a_body_that_is_not_parquet_is_a_spanish_400(viewer_api, served, iris_rows, body):
    model, version = served("iris")
    good = _parquet(iris_rows)

    for raw in (body, good[: len(good) // 2]):
        response = viewer_api.generic(
            "POST",
            _url(model.name, f"version={version}"),
            raw,
            content_type="application/vnd.apache.parquet",
        )

        assert response.status_code == 400
        assert response.json()["message"] in {
            "El cuerpo no es un archivo Parquet válido (está dañado o incompleto). Envíe "
            "el que escribe DataFrame.to_parquet().",
            "No hay filas que predecir: el cuerpo está vacío.",
        }


def test_a_parquet_body_over_the_limits_is_refused_before_predicting(
    settings, viewer_api, served, iris_rows
):
    model, version = served("iris")
    url = _url(model.name, f"version={version}")
    settings.PREDICT_MAX_ROWS = 39

    too_many = viewer_api.generic(
        "POST", url, _parquet(iris_rows), content_type="application/x-parquet"
    )
    settings.PREDICT_MAX_BODY_MB = 0
    too_big = viewer_api.generic(
        "POST", url, _parquet(iris_rows), content_type="application/x-parquet"
    )

    assert too_many.status_code == 400
    assert too_many.json() == {"message": "Demasiadas filas: 40; el máximo por petición es 39."}
    assert too_big.status_code == 413
    assert serving.served_models_cached() == []


def test_a_regressor_answers_numbers_and_no_probabilities(viewer_api, served, trained_models):
    model, version = served("price")
    rows = trained_models["price"].frame[["age", "income", "city", "member"]].head(5)
    payload = _split(rows.astype(object).where(rows.notna(), None))

    response = viewer_api.post(
        _url(model.name, f"version={version}&probabilities=1"), payload, format="json"
    )

    assert response.status_code == 200, response.json()
    own = _own_model(model.name, version).predict(rows)
    assert response.json()["predictions"] == pytest.approx(own.tolist())
    assert "probabilities" not in response.json()


def test_missing_columns_are_a_400_that_lists_them(viewer_api, served, iris_rows):
    model, version = served("iris")

    response = viewer_api.post(
        _url(model.name, f"version={version}"), _split(iris_rows[IRIS[:2]]), format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "message": "Faltan columnas que el modelo necesita: petal_length, petal_width.",
        "errors": {"missing_columns": ["petal_length", "petal_width"]},
    }


def test_extra_columns_are_ignored_with_a_note(viewer_api, served, iris_rows):
    model, version = served("iris")
    rows = iris_rows.assign(customer="c-1")

    response = viewer_api.post(_url(model.name, f"version={version}"), _split(rows), format="json")

    assert response.status_code == 200
    assert response.json()["notes"] == ["Se ignoró la columna que el modelo no usa: customer."]


def test_a_value_that_is_not_a_number_names_its_column_and_row(viewer_api, served, iris_rows):
    model, version = served("iris")
    rows = iris_rows.astype(object)
    rows.iloc[2, 1] = "ancho"

    response = viewer_api.post(_url(model.name, f"version={version}"), _split(rows), format="json")

    assert response.status_code == 400
    assert response.json()["message"] == (
        "Hay valores que no se pueden convertir al tipo del modelo: "
        "columna «sepal_width», fila 3: «ancho» no es un número."
    )
    assert response.json()["errors"]["invalid_values"] == [
        {"column": "sepal_width", "row": 3, "value": "ancho", "expected": "double"}
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "No hay filas que predecir: el cuerpo está vacío."),
        (b"{}", "No hay filas que predecir: el cuerpo está vacío."),
        (b'{"dataframe_records": []}', "No hay filas que predecir."),
        (b'{"dataframe_split": ', "El JSON no es válido: línea 1, columna 21"),
    ],
)
def test_an_empty_or_broken_body_is_a_400(viewer_api, served, body, message):
    model, version = served("iris")

    response = viewer_api.generic(
        "POST", _url(model.name, f"version={version}"), body, content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json() == {"message": message}


def test_a_body_over_the_limit_is_a_413(settings, viewer_api, served, iris_rows):
    settings.PREDICT_MAX_BODY_MB = 0
    model, version = served("iris")

    response = viewer_api.post(
        _url(model.name, f"version={version}"), _split(iris_rows), format="json"
    )

    assert response.status_code == 413
    assert response.json() == {"message": "El cuerpo de la petición supera el máximo de 0 MB."}
    assert serving.served_models_cached() == []


def test_more_rows_than_the_limit_is_a_400(settings, viewer_api, served, iris_rows):
    settings.PREDICT_MAX_ROWS = 39
    model, version = served("iris")

    response = viewer_api.post(
        _url(model.name, f"version={version}"), _split(iris_rows), format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"message": "Demasiadas filas: 40; el máximo por petición es 39."}


def test_version_or_alias_exactly_one(viewer_api, served, iris_rows):
    model, version = served("iris")

    neither = viewer_api.post(_url(model.name), _split(iris_rows), format="json")
    both = viewer_api.post(
        _url(model.name, f"version={version}&alias=champion"), _split(iris_rows), format="json"
    )

    assert neither.status_code == both.status_code == 400
    assert neither.json()["message"] == (
        "Indique una versión o un alias del modelo (uno de los dos)."
    )


def test_an_alias_that_moved_is_followed_on_the_next_call_once_nothing_is_remembered(
    settings, viewer_api, served, mlflow_registry, iris_rows
):
    settings.REGISTRY_ALIAS_TTL_SECONDS = 0  # MLflow asked on every call
    model, first = served("iris")
    _, second = served("iris", name=model.name)
    mlflow_registry.set_registered_model_alias(model.name, "champion", first)
    before = viewer_api.post(_url(model.name, "alias=champion"), _split(iris_rows), format="json")

    mlflow_registry.set_registered_model_alias(model.name, "champion", second)
    after = viewer_api.post(_url(model.name, "alias=champion"), _split(iris_rows), format="json")

    assert (before.json()["version"], after.json()["version"]) == (first, second)
    assert serving.served_models_cached() == [(model.name, first), (model.name, second)]


def test_a_warm_call_by_token_makes_two_queries_and_no_mlflow_call(
    settings, api_client, viewer, served, mlflow_registry, iris_rows, django_assert_num_queries
):
    """The token, and the model with the caller's membership and alias generation (one
    query); the alias's version is remembered, with its source experiment."""
    from rest_framework.authtoken.models import Token

    model, version = served("iris")
    mlflow_registry.set_registered_model_alias(model.name, "champion", version)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=viewer).key}")
    url = _url(model.name, "alias=champion")
    body = _split(iris_rows)
    first = api_client.post(url, body, format="json")  # loads the model
    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{free_port()}"  # MLflow gone

    with django_assert_num_queries(2):
        warm = api_client.post(url, body, format="json")

    assert (first.status_code, warm.status_code) == (200, 200), warm.json()
    assert warm.json()["predictions"] == first.json()["predictions"]
    assert warm.json()["version"] == version


def test_an_alias_moved_to_a_model_with_other_columns_predicts_with_the_new_one(
    settings, viewer_api, served, mlflow_registry, iris_rows, trained_models
):
    settings.REGISTRY_ALIAS_TTL_SECONDS = 0  # MLflow asked on every call
    model, first = served("iris")
    _, second = served("price", name=model.name)
    mlflow_registry.set_registered_model_alias(model.name, "champion", first)
    before = viewer_api.post(_url(model.name, "alias=champion"), _split(iris_rows), format="json")
    price_rows = trained_models["price"].frame[["age", "income", "city", "member"]].head(5)

    mlflow_registry.set_registered_model_alias(model.name, "champion", second)
    # The version loaded for the first call would refuse these rows (missing columns).
    after = viewer_api.post(
        _url(model.name, "alias=champion"),
        _split(price_rows.astype(object).where(price_rows.notna(), None)),
        format="json",
    )

    assert before.status_code == 200
    assert after.status_code == 200, after.json()
    assert after.json()["version"] == second
    own = _own_model(model.name, second).predict(price_rows)
    assert after.json()["predictions"] == pytest.approx(own.tolist())


def test_the_rows_refused_by_the_version_an_alias_still_points_at_are_a_400(
    viewer_api, served, mlflow_registry, iris_rows
):
    model, version = served("iris")
    mlflow_registry.set_registered_model_alias(model.name, "champion", version)
    viewer_api.post(_url(model.name, "alias=champion"), _split(iris_rows), format="json")

    response = viewer_api.post(
        _url(model.name, "alias=champion"), _split(iris_rows[IRIS[:3]]), format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {"missing_columns": ["petal_width"]}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("version=99", "El modelo '{name}' no tiene la versión 99."),
        ("alias=nadie", "El modelo '{name}' no tiene el alias «nadie»."),
    ],
)
def test_an_unknown_version_or_alias_is_a_404(viewer_api, served, iris_rows, query, message):
    model, _version = served("iris")

    response = viewer_api.post(_url(model.name, query), _split(iris_rows), format="json")

    assert response.status_code == 404
    assert response.json() == {"message": message.format(name=model.name)}


def test_an_outsider_and_an_unknown_model_get_404(outsider_api, served, iris_rows):
    model, version = served("iris")

    mine = outsider_api.post(
        _url(model.name, f"version={version}"), _split(iris_rows), format="json"
    )
    unknown = outsider_api.post(_url("no-existe", "version=1"), _split(iris_rows), format="json")

    assert mine.status_code == unknown.status_code == 404
    assert mine.json() == unknown.json() == {"message": "No encontrado."}
    assert serving.served_models_cached() == []


def test_an_anonymous_call_is_a_401(api_client, served, iris_rows):
    model, version = served("iris")

    response = api_client.post(
        _url(model.name, f"version={version}"), _split(iris_rows), format="json"
    )

    assert response.status_code == 401


@pytest.mark.parametrize("source", ["outside", "other_project"])
def test_a_version_not_trained_by_cauce_in_this_project_is_never_loaded(
    viewer_api, served, other_project, iris_rows, source
):
    model, version = served("iris", source_project=None if source == "outside" else other_project)

    response = viewer_api.post(
        _url(model.name, f"version={version}"), _split(iris_rows), format="json"
    )

    assert response.status_code == 403
    assert response.json() == {
        "message": f"La versión {version} no viene de un experimento de este proyecto en "
        "Cauce: se muestra, pero no se carga para predecir (un archivo de modelo es código "
        "que se ejecuta al cargarlo)."
    }
    assert serving.served_models_cached() == []


def test_mlflow_down_is_a_503_json_error(settings, viewer_api, served, iris_rows):
    model, version = served("iris")
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"

    response = viewer_api.post(
        _url(model.name, f"version={version}"), _split(iris_rows), format="json"
    )

    assert response.status_code == 503
    assert response.json() == {"message": "MLflow no disponible"}


def test_the_schema_documents_every_status_code(viewer_api):
    schema = viewer_api.get("/api/schema/?format=json").json()

    operation = schema["paths"]["/api/models/{name}/predict/"]["post"]

    assert set(operation["responses"]) == {
        "200", "400", "401", "403", "404", "405", "409", "413", "415", "502", "503"
    }  # fmt: skip
    content = operation["requestBody"]["content"]
    assert set(content) == {
        "application/json", "text/csv", "application/vnd.apache.parquet", "application/x-parquet"
    }  # fmt: skip
    assert content["application/vnd.apache.parquet"]["schema"] == {
        "type": "string",
        "format": "binary",
    }
