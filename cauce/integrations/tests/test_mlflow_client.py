"""The shared MLflow client tells an outage from a refusal (real servers, real sockets).

An outage (nothing listens, a socket that never answers, a gateway's 502) raises
``MlflowUnavailable`` and starts the web's cool-down: the next call within it is not even
sent, but for one probe at a time once the probe interval has passed, whose answer ends it.
A refusal (a real MLflow server answering an error with its JSON body, even a 500
INTERNAL_ERROR) raises ``MlflowError`` with MLflow's code, and the next call goes to MLflow
as usual. Both transports are checked: the plain REST calls and ``MlflowClient``.
"""

import base64
import socket
import threading
import time
import uuid

import pytest
from mlflow.tracking import MlflowClient

from cauce.integrations.mlflow import MlflowError, MlflowNotFound, MlflowUnavailable
from cauce.integrations.mlflow import client as mlflow_client
from tests.fixtures.mlflow_server import MlflowProxy, free_port, self_signed_certificate

MODELS = "/api/2.0/mlflow/registered-models"
VERSIONS = "/api/2.0/mlflow/model-versions"
MISSING_MODEL_ID = "m-" + "0" * 32


@pytest.fixture
def model_name(mlflow):
    """A registered model of the real server, removed after the test."""
    name = f"client-{uuid.uuid4().hex[:12]}"
    MlflowClient(tracking_uri=mlflow).create_registered_model(name)
    yield name
    MlflowClient(tracking_uri=mlflow).delete_registered_model(name)


def _register_missing_logged_model(name: str) -> None:
    """MLflow answers 500 INTERNAL_ERROR (with its JSON body): the logged model is missing."""
    mlflow_client.rest_send(
        "POST",
        f"{VERSIONS}/create",
        body={
            "name": name,
            "source": f"models:/{MISSING_MODEL_ID}",
            "model_id": MISSING_MODEL_ID,
            "run_id": uuid.uuid4().hex,
        },
    )


def _asked(http_calls, path: str) -> int:
    """Requests Cauce sent to its MLflow URI (not the test proxy's own ones upstream)."""
    return sum(call.url.startswith(mlflow_client.tracking_uri() + path) for call in http_calls)


# --- refusals: MLflow is up ---------------------------------------------------------------------


def test_a_500_with_mlflows_error_body_is_a_refusal_not_an_outage(mlflow, model_name, http_calls):
    with pytest.raises(MlflowError) as refused:
        _register_missing_logged_model(model_name)
    assert not isinstance(refused.value, MlflowUnavailable)
    assert refused.value.error_code == "INTERNAL_ERROR"
    assert "not found" in refused.value.message
    # No cool-down: the next call is sent to MLflow and gets its answer.
    body = mlflow_client.rest_get(f"{MODELS}/get", params={"name": model_name})
    assert body["registered_model"]["name"] == model_name
    assert _asked(http_calls, f"{MODELS}/get") == 1


def test_a_400_refusal_keeps_mlflows_code(mlflow, model_name, http_calls):
    with pytest.raises(MlflowError) as refused:
        mlflow_client.rest_get(f"{MODELS}/alias", params={"name": model_name, "alias": "nope"})
    assert not isinstance(refused.value, MlflowUnavailable)
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    mlflow_client.rest_get(f"{MODELS}/get", params={"name": model_name})
    assert _asked(http_calls, f"{MODELS}/get") == 1


def test_an_unknown_object_is_not_found_and_mlflow_stays_up(mlflow, http_calls):
    with pytest.raises(MlflowNotFound):
        mlflow_client.rest_get(f"{MODELS}/get", params={"name": f"none-{uuid.uuid4().hex}"})
    with pytest.raises(MlflowNotFound):
        mlflow_client.rest_get(f"{MODELS}/get", params={"name": f"none-{uuid.uuid4().hex}"})
    assert _asked(http_calls, f"{MODELS}/get") == 2


def test_mlflowclients_500_is_a_refusal_too(mlflow, model_name, http_calls):
    """MlflowClient's retry policy drops the 500's body (the web retries 0 times): still a
    refusal, with a message that says what MLflow answered and no internals."""
    client = mlflow_client.get_client()
    with pytest.raises(MlflowError) as refused, mlflow_client.translate_errors(what="create"):
        client.create_model_version(
            model_name,
            f"models:/{MISSING_MODEL_ID}",
            run_id=uuid.uuid4().hex,
            model_id=MISSING_MODEL_ID,
        )
    assert not isinstance(refused.value, MlflowUnavailable)
    assert str(refused.value.message) == "MLflow respondió con un error (HTTP 500)."
    with mlflow_client.translate_errors(what="get"):
        assert client.get_registered_model(model_name).name == model_name
    assert _asked(http_calls, f"{MODELS}/get") == 1


def test_mlflowclients_refusals_keep_their_code(mlflow, model_name):
    client = mlflow_client.get_client()
    with pytest.raises(MlflowError) as refused, mlflow_client.translate_errors(what="alias"):
        client.get_model_version_by_alias(model_name, "nope")
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowNotFound), mlflow_client.translate_errors(what="get_run"):
        client.get_run(uuid.uuid4().hex)
    with mlflow_client.translate_errors(what="get"):
        assert client.get_registered_model(model_name).name == model_name


# --- outages: the cool-down starts --------------------------------------------------------------


@pytest.mark.parametrize("outage", ["mlflow_down", "mlflow_silent"])
def test_an_outage_starts_the_cool_down(outage, request, http_calls):
    request.getfixturevalue(outage)
    for _attempt in range(2):
        with pytest.raises(MlflowUnavailable):
            mlflow_client.rest_get(f"{MODELS}/get", params={"name": "any"})
    # The second call was answered from the cool-down, without asking again.
    assert _asked(http_calls, f"{MODELS}/get") == 1


@pytest.mark.parametrize("outage", ["mlflow_down", "mlflow_silent"])
def test_an_outage_through_mlflowclient_starts_the_cool_down(outage, request, http_calls):
    request.getfixturevalue(outage)
    for _attempt in range(2):
        with pytest.raises(MlflowUnavailable), mlflow_client.translate_errors(what="get"):
            mlflow_client.get_client().get_registered_model("any")
    assert _asked(http_calls, f"{MODELS}/get") == 1


def test_a_gateway_whose_mlflow_is_gone_is_an_outage(mlflow_proxy, http_calls):
    """502 from a proxy in front of a stopped MLflow: down, for both transports."""
    mlflow_proxy.upstream = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(MlflowUnavailable):
        mlflow_client.rest_get(f"{MODELS}/get", params={"name": "any"})
    with pytest.raises(MlflowUnavailable), mlflow_client.translate_errors(what="get"):
        mlflow_client.get_client().get_registered_model("any")
    assert _asked(http_calls, f"{MODELS}/get") == 1
    mlflow_client.reset_availability()
    with pytest.raises(MlflowUnavailable), mlflow_client.translate_errors(what="get"):
        mlflow_client.get_client().get_registered_model("any")
    assert _asked(http_calls, f"{MODELS}/get") == 2


def test_a_refusal_through_a_gateway_is_still_a_refusal(mlflow_proxy, model_name, http_calls):
    with pytest.raises(MlflowError) as refused:
        _register_missing_logged_model(model_name)
    assert not isinstance(refused.value, MlflowUnavailable)
    mlflow_client.rest_get(f"{MODELS}/get", params={"name": model_name})
    assert _asked(http_calls, f"{MODELS}/get") == 1


# --- the cool-down is half-open: one call at a time tries MLflow again ---------------------------


def _read_through(transport: str, model_name: str) -> str:
    path, params = f"{MODELS}/get", {"name": model_name}
    if transport == "rest":
        return mlflow_client.rest_get(path, params=params)["registered_model"]["name"]
    if transport == "deferred":
        return mlflow_client.rest_get_deferred(path, params=params).result()["registered_model"][
            "name"
        ]
    with mlflow_client.translate_errors(what="get"):
        return mlflow_client.get_client().get_registered_model(model_name).name


@pytest.mark.parametrize("transport", ["rest", "deferred", "mlflowclient"])
def test_mlflow_back_ends_the_cool_down_at_the_first_call_that_tries_it(
    transport, mlflow_proxy, model_name, settings
):
    settings.MLFLOW_DOWN_PROBE_INTERVAL_SECONDS = 0
    mlflow_proxy.refuse = lambda method, path: True  # MLflow gone behind its gateway
    with pytest.raises(MlflowUnavailable):
        _read_through(transport, model_name)
    assert mlflow_client._outages

    mlflow_proxy.refuse = None  # back, well within the 5 s cool-down
    assert _read_through(transport, model_name) == model_name
    assert not mlflow_client._outages
    assert _read_through("rest", model_name) == model_name


def test_a_refusal_during_the_cool_down_ends_it_too(mlflow_proxy, model_name, settings):
    settings.MLFLOW_DOWN_PROBE_INTERVAL_SECONDS = 0
    mlflow_proxy.refuse = lambda method, path: True
    with pytest.raises(MlflowUnavailable):
        _read_through("rest", model_name)
    mlflow_proxy.refuse = None

    with pytest.raises(MlflowNotFound):
        _read_through("rest", f"none-{uuid.uuid4().hex}")
    assert not mlflow_client._outages


def test_a_failed_probe_starts_the_cool_down_again_and_spaces_the_next(
    mlflow_down, settings, http_calls
):
    settings.MLFLOW_DOWN_PROBE_INTERVAL_SECONDS = 0
    with pytest.raises(MlflowUnavailable):
        mlflow_client.rest_get(f"{MODELS}/get", params={"name": "any"})
    settings.MLFLOW_DOWN_PROBE_INTERVAL_SECONDS = 60
    with pytest.raises(MlflowUnavailable):  # the probe: sent, refused
        mlflow_client.rest_get(f"{MODELS}/get", params={"name": "any"})
    with pytest.raises(MlflowUnavailable):  # within 60 s of the probe's failure: not sent
        mlflow_client.rest_get(f"{MODELS}/get", params={"name": "any"})

    assert _asked(http_calls, f"{MODELS}/get") == 2


def test_one_probe_at_a_time_while_mlflow_is_silent(mlflow_silent, settings, http_calls):
    settings.MLFLOW_DOWN_PROBE_INTERVAL_SECONDS = 0
    path = f"{MODELS}/get"
    with pytest.raises(MlflowUnavailable):
        mlflow_client.rest_get(path, params={"name": "any"})
    outcome: list[BaseException] = []

    def probe() -> None:
        try:
            mlflow_client.rest_get(path, params={"name": "any"})
        except BaseException as exc:
            outcome.append(exc)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        _wait_for(lambda: _asked(http_calls, path) == 2)  # the probe is out, waiting
        # Another call meanwhile is answered from the cool-down, without a wait of its own.
        for transport in ("rest", "deferred", "mlflowclient"):
            with pytest.raises(MlflowUnavailable):
                _read_through(transport, "any")
        assert _asked(http_calls, path) == 2
    finally:
        prober.join(timeout=10)
    assert len(outcome) == 1 and isinstance(outcome[0], MlflowUnavailable)


def test_a_probe_that_fails_for_its_callers_own_reason_frees_the_slot(
    mlflow_proxy, model_name, settings
):
    settings.MLFLOW_DOWN_PROBE_INTERVAL_SECONDS = 0
    mlflow_proxy.refuse = lambda method, path: True
    with pytest.raises(MlflowUnavailable):
        _read_through("rest", model_name)
    mlflow_proxy.refuse = None

    with pytest.raises(ZeroDivisionError), mlflow_client.translate_errors(what="caller's bug"):
        1 / 0  # noqa: B018 - admitted as the probe, then the caller's own error

    assert _read_through("rest", model_name) == model_name


def _wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


# --- a GET sent now, its answer read later ------------------------------------------------------


def test_a_deferred_get_answers_like_rest_get_on_one_kept_alive_connection(mlflow, model_name):
    path, params = f"{MODELS}/get", {"name": model_name}

    first = mlflow_client.rest_get_deferred(path, params=params)
    connection = first._connection
    answer = first.result()
    second = mlflow_client.rest_get_deferred(path, params=params)

    assert answer == mlflow_client.rest_get(path, params=params)
    assert second._connection is connection and second._reused
    assert second.result() == answer


def test_a_deferred_get_reports_refusals_and_unknown_objects_like_rest_get(mlflow, model_name):
    with pytest.raises(MlflowError) as refused:
        mlflow_client.rest_get_deferred(
            f"{MODELS}/alias", params={"name": model_name, "alias": "nope"}
        ).result()
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowNotFound):
        mlflow_client.rest_get_deferred(f"{MODELS}/get", params={"name": "no-such"}).result()
    # Both answers were read: the connection is idle again and carries the next GET.
    assert mlflow_client.rest_get_deferred(f"{MODELS}/get", params={"name": model_name})._reused


def test_a_kept_alive_connection_closed_while_idle_is_replaced(mlflow, model_name):
    path, params = f"{MODELS}/get", {"name": model_name}
    first = mlflow_client.rest_get_deferred(path, params=params)
    first.result()
    first._connection.sock.shutdown(socket.SHUT_RDWR)

    again = mlflow_client.rest_get_deferred(path, params=params)

    assert again._connection is not first._connection and not again._reused
    assert again.result()["registered_model"]["name"] == model_name


def test_a_deferred_get_to_mlflow_down_fails_at_once_and_starts_the_cool_down(mlflow_down):
    with pytest.raises(MlflowUnavailable):
        mlflow_client.rest_get_deferred(f"{MODELS}/get", params={"name": "any"})
    with pytest.raises(MlflowUnavailable):
        mlflow_client.rest_get_deferred(f"{MODELS}/get", params={"name": "any"})
    assert mlflow_client._outages


def test_a_deferred_get_to_a_silent_server_times_out_as_an_outage(mlflow_silent):
    pending = mlflow_client.rest_get_deferred(f"{MODELS}/get", params={"name": "any"})

    with pytest.raises(MlflowUnavailable):
        pending.result()
    assert mlflow_client._outages


# --- a secured tracking server ----------------------------------------------------------------

BASIC = "Basic " + base64.standard_b64encode(b"cauce:s3creto").decode()


def _every_transport_reads(model_name: str) -> None:
    """The web's REST call, its deferred GET and MlflowClient each read the model."""
    path = f"{MODELS}/get"
    body = mlflow_client.rest_get(path, params={"name": model_name})
    assert body["registered_model"]["name"] == model_name
    deferred = mlflow_client.rest_get_deferred(path, params={"name": model_name})
    assert deferred.result()["registered_model"]["name"] == model_name
    assert mlflow_client.get_client().get_registered_model(model_name).name == model_name


@pytest.fixture
def no_mlflow_credentials(monkeypatch):
    for name in (
        "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN",
        "MLFLOW_TRACKING_INSECURE_TLS", "MLFLOW_TRACKING_SERVER_CERT_PATH",
        "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_mlflows_basic_credentials_go_with_every_call(
    mlflow_proxy, model_name, no_mlflow_credentials
):
    mlflow_proxy.authorization = BASIC
    no_mlflow_credentials.setenv("MLFLOW_TRACKING_USERNAME", "cauce")
    no_mlflow_credentials.setenv("MLFLOW_TRACKING_PASSWORD", "s3creto")

    _every_transport_reads(model_name)

    assert len(mlflow_proxy.seen_authorization) >= 3
    assert set(mlflow_proxy.seen_authorization) == {BASIC}


def test_a_token_goes_as_bearer(mlflow_proxy, model_name, no_mlflow_credentials):
    mlflow_proxy.authorization = "Bearer tok-123"
    no_mlflow_credentials.setenv("MLFLOW_TRACKING_TOKEN", "tok-123")

    _every_transport_reads(model_name)


def test_without_credentials_a_secured_server_refuses_and_is_not_down(
    mlflow_proxy, model_name, no_mlflow_credentials, http_calls
):
    mlflow_proxy.authorization = BASIC

    for _ in range(2):
        with pytest.raises(MlflowError) as refused:
            mlflow_client.rest_get(f"{MODELS}/get", params={"name": model_name})
        assert not isinstance(refused.value, MlflowUnavailable)
        assert refused.value.error_code == "UNAUTHENTICATED"
    assert _asked(http_calls, f"{MODELS}/get") == 2  # no cool-down: both were sent


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_https_with_the_servers_certificate_or_without_verification_when_asked(
    mlflow, settings, tmp_path, model_name, no_mlflow_credentials
):
    cert, key = self_signed_certificate(tmp_path)
    proxy = MlflowProxy(mlflow, tls=(cert, key))
    settings.MLFLOW_TRACKING_URI = proxy.url
    mlflow_client.reset_availability()
    try:
        # A certificate nobody vouches for is refused (no call goes through unverified).
        with pytest.raises(MlflowUnavailable):
            mlflow_client.rest_get(f"{MODELS}/get", params={"name": model_name})
        mlflow_client.reset_availability()
        with pytest.raises(MlflowUnavailable):
            mlflow_client.rest_get_deferred(f"{MODELS}/get", params={"name": model_name})
        mlflow_client.reset_availability()
        assert proxy.seen_authorization == []

        no_mlflow_credentials.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(cert))
        _every_transport_reads(model_name)
        # One TLS context per setting, not one per connection (a CA bundle takes ~25 ms).
        secured = mlflow_client._Secured.from_environment()
        assert secured.ssl_context() is mlflow_client._Secured.from_environment().ssl_context()

        no_mlflow_credentials.delenv("MLFLOW_TRACKING_SERVER_CERT_PATH")
        no_mlflow_credentials.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")
        mlflow_client.rest_get(f"{MODELS}/get", params={"name": model_name})
        deferred = mlflow_client.rest_get_deferred(f"{MODELS}/get", params={"name": model_name})
        assert deferred.result()["registered_model"]["name"] == model_name
    finally:
        proxy.close()
        mlflow_client.reset_availability()
