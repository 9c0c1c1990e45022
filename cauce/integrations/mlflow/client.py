"""The one way into MLflow: configured clients, bounded waits, translated errors.

Two transports, both with the configured tracking URI and never process-global state:
- ``get_client()``: an ``MlflowClient`` for writes and registry calls;
- ``rest_get()`` / ``rest_open_stream()``: plain ``requests`` calls with float timeouts for the
  web's read paths (listings, streamed downloads), so that a page never waits long.

Web processes fail fast (no client retries, sub-second timeouts) and, once MLflow has
failed, treat it as down for a short cool-down instead of waiting again on every call. The
cool-down is half-open: one call at a time may probe MLflow, spaced from the last failure,
and MLflow's answer ends it (see ``_admit``).
Workers call ``use_worker_profile()`` and wait longer; they retry through Celery.

Down is not the same as "no": an outage (``MlflowUnavailable``, and the cool-down) is a
connection that fails or times out, or a 502/503/504 (a proxy whose MLflow is gone, MLflow's
own TEMPORARILY_UNAVAILABLE). Any other answer means MLflow is up and refused this request
(``MlflowError`` with MLflow's ``error_code``, or ``MlflowNotFound``): a 500 INTERNAL_ERROR
for one bad request must not make every page treat MLflow as down for the cool-down.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import os
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import requests
from django.conf import settings
from django.utils.translation import gettext as _

from cauce.integrations.mlflow.errors import MlflowError, MlflowNotFound, MlflowUnavailable

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

logger = logging.getLogger(__name__)

_WEB_PROFILE = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "2",
}
_profile_lock = threading.Lock()
_worker_profile = False


def _apply_profile(values: dict[str, str]) -> None:
    # mlflow reads these at call time; setting them once per process bounds every call.
    for key, value in values.items():
        os.environ[key] = value


_apply_profile(_WEB_PROFILE)


def use_worker_profile() -> None:
    """Longer waits and a few client retries: a worker may wait, a page may not."""
    global _worker_profile
    with _profile_lock:
        _apply_profile(
            {
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(settings.MLFLOW_WORKER_MAX_RETRIES),
                "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
                "MLFLOW_HTTP_REQUEST_TIMEOUT": str(settings.MLFLOW_WORKER_TIMEOUT),
            }
        )
        _worker_profile = True


def use_web_profile() -> None:
    """Back to the web's fail-fast profile (tests that ran a worker's code in-process)."""
    global _worker_profile
    with _profile_lock:
        _apply_profile(_WEB_PROFILE)
        _worker_profile = False


def profile_values() -> dict[str, str]:
    """The MLflow client settings every call of this process gets now."""
    return {key: os.environ[key] for key in _WEB_PROFILE}


def preload() -> None:
    """Import the MLflow client and its scikit-learn flavor now (a worker, before its pool
    forks), not during the first training of each pool process."""
    import mlflow.data.pandas_dataset
    import mlflow.sklearn  # noqa: F401
    from mlflow.tracking import MlflowClient  # noqa: F401


def tracking_uri() -> str:
    return settings.MLFLOW_TRACKING_URI.rstrip("/")


# --- circuit breaker (per process) -----------------------------------------------------------

# Answers that mean "not available now", like a refused connection: a gateway whose upstream
# is down or too slow, or MLflow's TEMPORARILY_UNAVAILABLE (its database is down or locked).
OUTAGE_STATUSES = frozenset({502, 503, 504})
_NOT_FOUND_CODES = ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND")


@dataclass
class _Outage:
    """What a web process remembers of an outage of one tracking URI (see ``_admit``)."""

    until: float  # end of the cool-down
    next_probe: float  # earliest start of the next probe
    probe: object | None = None  # the probe in flight, if any
    probe_started: float = 0.0


_outages: dict[str, _Outage] = {}
_outages_lock = threading.Lock()


def _mark_down(uri: str) -> None:
    """An outage now: (re)start the cool-down, and space the next probe from now."""
    if _worker_profile:
        return
    now = time.monotonic()
    with _outages_lock:
        _outages[uri] = _Outage(
            until=now + settings.MLFLOW_DOWN_COOLDOWN_SECONDS,
            next_probe=now + settings.MLFLOW_DOWN_PROBE_INTERVAL_SECONDS,
        )


def _mark_up(uri: str) -> None:
    """MLflow answered (even a refusal): the cool-down, if any, is over for this process."""
    with _outages_lock:
        _outages.pop(uri, None)


def _admit(uri: str) -> object | None:
    """Let a call go to MLflow, or raise ``MlflowUnavailable`` during the cool-down.

    The cool-down is half-open: while it lasts, one call at a time (per process) may try
    MLflow, with the web's short timeouts, once ``MLFLOW_DOWN_PROBE_INTERVAL_SECONDS`` have
    passed since the last failure. Its answer ends the cool-down (``_mark_up``); its failure
    starts it again (``_mark_down``). So an outage costs at most one timeout per interval,
    and MLflow back is seen by the first call after that. Returns the probe's token (to give
    to ``_end_probe``), None for an ordinary call.
    """
    now = time.monotonic()
    with _outages_lock:
        outage = _outages.get(uri)
        if outage is None or now >= outage.until:
            return None
        # A probe whose caller never reported (its own error) frees the slot after a cool-down.
        stale = now - outage.probe_started > settings.MLFLOW_DOWN_COOLDOWN_SECONDS
        if (outage.probe is None or stale) and now >= outage.next_probe:
            outage.probe, outage.probe_started = object(), now
            return outage.probe
    raise MlflowUnavailable()


def _end_probe(uri: str, probe: object | None) -> None:
    """The probe is over. If it told neither up nor down (an error of the caller's own),
    free the slot and space the next probe from now."""
    if probe is None:
        return
    with _outages_lock:
        outage = _outages.get(uri)
        if outage is not None and outage.probe is probe:
            outage.probe = None
            outage.next_probe = time.monotonic() + settings.MLFLOW_DOWN_PROBE_INTERVAL_SECONDS


@contextlib.contextmanager
def _admitted(uri: str) -> Iterator[None]:
    probe = _admit(uri)
    try:
        yield
    finally:
        _end_probe(uri, probe)


def reset_availability() -> None:
    """Forget a remembered outage (tests, and the tab's retry link)."""
    with _outages_lock:
        _outages.clear()


# --- MlflowClient ----------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _client_for(uri: str) -> MlflowClient:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def get_client() -> MlflowClient:
    return _client_for(tracking_uri())


def _is_transport_error(exc: BaseException) -> bool:
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
        return True
    text = str(exc)
    return any(
        marker in text
        for marker in (
            "Max retries exceeded",
            "Connection refused",
            "Read timed out",
            "ConnectTimeout",
            "Failed to establish",
            "RemoteDisconnected",
            "Connection aborted",
            "timeout exception",
        )
    )


# MlflowClient's own messages for an answer it did not turn into a RestException: its retry
# policy gave up on a status ("too many 500 error responses"; with the web's 0 retries, the
# first 5xx), or the body was not MLflow's JSON ("failed with error code 502 != 200").
_STATUS_IN_MESSAGE = (
    re.compile(r"too many (\d{3}) error responses"),
    re.compile(r"failed with error code (\d{3})"),
)


def _answered_status(exc: BaseException) -> int | None:
    """The HTTP status MLflow (or a proxy) answered with, when the client got an answer."""
    from mlflow.exceptions import RestException

    if isinstance(exc, RestException):
        return exc.get_http_status_code()
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for pattern in _STATUS_IN_MESSAGE:
            match = pattern.search(str(current))
            if match:
                return int(match.group(1))
        current = current.__cause__ or current.__context__
    return None


def _unavailable(uri: str, what: str, exc: BaseException) -> MlflowUnavailable:
    _mark_down(uri)
    logger.warning("MLflow unavailable during %s: %s", what or "call", exc)
    return MlflowUnavailable()


def _refused(message: str, error_code: str) -> MlflowError:
    error = MlflowError(message)
    error.error_code = error_code
    return error


@contextlib.contextmanager
def translate_errors(*, what: str = "") -> Iterator[None]:
    """Run MLflow client code; turn every failure into the platform's own error.

    An outage (see the module docstring) starts the cool-down; a refusal does not.
    """
    from mlflow.exceptions import MlflowException, RestException

    uri = tracking_uri()
    probe = _admit(uri)
    try:
        yield
    except MlflowException as exc:
        status = _answered_status(exc)
        if status in OUTAGE_STATUSES or (status is None and _is_transport_error(exc)):
            raise _unavailable(uri, what, exc) from exc
        _mark_up(uri)
        error_code = str(getattr(exc, "error_code", "") or "")
        if error_code in _NOT_FOUND_CODES:
            raise MlflowNotFound() from exc
        logger.warning("MLflow refused %s: %s", what or "call", exc)
        if status is not None and not isinstance(exc, RestException):
            # The client dropped MLflow's body (its retry policy gave up on the status).
            message = _("MLflow respondió con un error (HTTP %(status)s).") % {"status": status}
        else:
            message = str(getattr(exc, "message", exc))
        raise _refused(message, error_code) from exc
    except (requests.RequestException, OSError) as exc:
        raise _unavailable(uri, what, exc) from exc
    else:
        _mark_up(uri)
    finally:
        _end_probe(uri, probe)


# --- plain REST for the web's read paths -----------------------------------------------------

_local = threading.local()


@dataclass(frozen=True)
class _Secured:
    """How MLflow's own client reaches a secured tracking server, from the same variables,
    for the web's direct calls: an Authorization header (``MLFLOW_TRACKING_USERNAME`` and
    ``MLFLOW_TRACKING_PASSWORD``: Basic; else ``MLFLOW_TRACKING_TOKEN``: Bearer), the CA bundle
    (``MLFLOW_TRACKING_SERVER_CERT_PATH``, else requests' ``REQUESTS_CA_BUNDLE``), no
    verification (``MLFLOW_TRACKING_INSECURE_TLS``) and a client certificate
    (``MLFLOW_TRACKING_CLIENT_CERT_PATH``)."""

    authorization: str | None
    verify: bool | str
    client_cert: str | None

    @classmethod
    def from_environment(cls) -> _Secured:
        env = os.environ
        user, password = env.get("MLFLOW_TRACKING_USERNAME"), env.get("MLFLOW_TRACKING_PASSWORD")
        token = env.get("MLFLOW_TRACKING_TOKEN")
        authorization = None
        if user and password:
            pair = base64.standard_b64encode(f"{user}:{password}".encode()).decode()
            authorization = f"Basic {pair}"
        elif token:
            authorization = f"Bearer {token}"
        insecure = env.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() in {"true", "1"}
        server_cert = env.get("MLFLOW_TRACKING_SERVER_CERT_PATH")
        verify: bool | str = server_cert or not insecure
        return cls(authorization, verify, env.get("MLFLOW_TRACKING_CLIENT_CERT_PATH"))

    def headers(self) -> dict[str, str]:
        return {"Authorization": self.authorization} if self.authorization else {}

    def ssl_context(self) -> ssl.SSLContext:
        """For ``http.client``, what requests does with ``verify`` and ``cert``: one context
        per setting, shared (loading a CA bundle takes ~25 ms, and the deferred GET opens a
        connection again whenever MLflow closed the idle one)."""
        env = os.environ
        return _ssl_context(self, env.get("REQUESTS_CA_BUNDLE") or env.get("CURL_CA_BUNDLE"))


@lru_cache(maxsize=8)
def _ssl_context(secured: _Secured, default_bundle: str | None) -> ssl.SSLContext:
    if secured.verify is False:
        context = ssl._create_unverified_context()  # noqa: S323 - the operator asked
    else:
        bundle = secured.verify if isinstance(secured.verify, str) else None
        context = ssl.create_default_context(cafile=bundle or default_bundle or None)
    if secured.client_cert:
        context.load_cert_chain(secured.client_cert)
    return context


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=8, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        _local.session = session
    return session


def _request(method: str, url: str, **kwargs: Any) -> requests.Response:
    """One request on this thread's session, secured as MLflow's client would be. ``verify``
    goes with each request: requests lets ``REQUESTS_CA_BUNDLE`` override a session's own."""
    secured = _Secured.from_environment()
    return _session().request(
        method,
        url,
        headers=secured.headers(),
        verify=secured.verify,
        cert=secured.client_cert,
        **kwargs,
    )


def _web_timeout(read: float | None = None) -> tuple[float, float]:
    return (settings.MLFLOW_WEB_CONNECT_TIMEOUT, read or settings.MLFLOW_WEB_READ_TIMEOUT)


def _raise_for_status(response: requests.Response, what: str) -> None:
    """An outage status starts the cool-down; any other answer ends it (MLflow is up), and
    an error answer is MLflow's refusal."""
    if response.status_code in OUTAGE_STATUSES:
        raise _unavailable(tracking_uri(), what, RuntimeError(f"HTTP {response.status_code}"))
    _mark_up(tracking_uri())
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status_code == 404 or body.get("error_code") in _NOT_FOUND_CODES:
        raise MlflowNotFound()
    logger.warning("MLflow refused %s: %s %s", what, response.status_code, body)
    raise _refused(
        str(body.get("message") or f"HTTP {response.status_code}"),
        str(body.get("error_code") or ""),
    )


def _get(path: str, *, read_timeout: float | None, **kwargs: Any) -> requests.Response:
    """One GET with the web's timeouts; transport failures and bad statuses become ours."""
    uri = tracking_uri()
    with _admitted(uri):
        try:
            response = _request("GET", uri + path, timeout=_web_timeout(read_timeout), **kwargs)
        except requests.RequestException as exc:
            _mark_down(uri)
            logger.warning("MLflow unavailable on GET %s: %s", path, exc)
            raise MlflowUnavailable() from exc
        try:
            _raise_for_status(response, path)
        except Exception:
            response.close()
            raise
    return response


def rest_get(
    path: str, *, params: dict[str, Any] | None = None, read_timeout: float | None = None
) -> Any:
    """GET a JSON endpoint of the tracking server (path like ``/api/2.0/mlflow/runs/get``)."""
    response = _get(path, read_timeout=read_timeout, params=params)
    return response.json() if response.content else {}


def rest_post(
    path: str,
    *,
    body: dict[str, Any],
    read_timeout: float | None = None,
    worker: bool = False,
) -> Any:
    """POST a small JSON write to the tracking server with the web's timeouts (or, with
    ``worker``, a worker's waits and retries)."""
    return rest_send("POST", path, body=body, read_timeout=read_timeout, worker=worker)


# A worker's retries of an outage wait this long, doubled at each one (MLflow's client
# profile for workers: backoff factor 1).
WORKER_BACKOFF_SECONDS = 1.0


def _worker_timeout() -> tuple[float, float]:
    return (settings.MLFLOW_WORKER_TIMEOUT, settings.MLFLOW_WORKER_TIMEOUT)


def rest_send(
    method: str,
    path: str,
    *,
    body: dict[str, Any],
    read_timeout: float | None = None,
    worker: bool = False,
) -> Any:
    """A small JSON write with any method (the registry PATCHes and DELETEs).

    The web's timeouts by default (``read_timeout`` for the answer). With ``worker``, what a
    worker's MLflow client gets (``use_worker_profile``): ``MLFLOW_WORKER_TIMEOUT`` for each
    wait, and an outage (no connection, a timeout, 502/503/504) tried again up to
    ``MLFLOW_WORKER_MAX_RETRIES`` times, backing off, before ``MlflowUnavailable``.
    """
    uri = tracking_uri()
    timeout = _worker_timeout() if worker else _web_timeout(read_timeout)
    retries = max(settings.MLFLOW_WORKER_MAX_RETRIES, 0) if worker else 0
    with _admitted(uri):
        for attempt in range(retries + 1):
            last = attempt == retries
            try:
                response = _request(method, uri + path, json=body, timeout=timeout)
            except requests.RequestException as exc:
                if not last:
                    time.sleep(WORKER_BACKOFF_SECONDS * 2**attempt)
                    continue
                _mark_down(uri)
                logger.warning("MLflow unavailable on %s %s: %s", method, path, exc)
                raise MlflowUnavailable() from exc
            with response:
                if response.status_code in OUTAGE_STATUSES and not last:
                    time.sleep(WORKER_BACKOFF_SECONDS * 2**attempt)
                    continue
                _raise_for_status(response, path)
                return response.json() if response.content else {}
    raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns or raises


# --- a GET whose answer is read later ----------------------------------------------------------

_deferred_local = threading.local()


class _Answer:
    """What ``_raise_for_status`` reads of a response, for one read with ``http.client``."""

    def __init__(self, status_code: int, content: bytes):
        self.status_code = status_code
        self.content = content

    def json(self) -> Any:
        return json.loads(self.content) if self.content else {}


class DeferredGet:
    """A GET already sent to the tracking server; ``result()`` reads MLflow's answer.

    The caller works in between, in the same thread, while MLflow answers: no second thread
    competes with it for the interpreter. Each thread keeps its idle connections to the
    server alive (``http.client``: requests cannot send now and read later); a connection
    is taken while its GET is out, so one never read is never reused. One that MLflow closed
    while idle is replaced, and its GET sent again once.
    """

    def __init__(self, uri: str, target: str, what: str, probe: object | None = None):
        self._uri = uri
        self._target = target
        self._what = what
        self._probe = probe  # this GET is the cool-down's probe (see ``_admit``)
        try:
            self._connection, self._reused = self._send(_idle_connections().pop(uri, None))
        except BaseException:
            _end_probe(uri, probe)
            raise

    def _send(
        self, connection: http.client.HTTPConnection | None
    ) -> tuple[http.client.HTTPConnection, bool]:
        if connection is not None and (connection.sock is None or _closed(connection.sock)):
            connection.close()
            connection = None
        if connection is None:
            connection, reused = _connection_for(self._uri), False
        else:
            reused = True
        try:
            headers = {"Accept": "application/json", **_Secured.from_environment().headers()}
            connection.request("GET", self._target, headers=headers)
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            if reused:
                return self._send(None)
            raise _unavailable(self._uri, self._what, exc) from exc
        return connection, reused

    def result(self) -> Any:
        try:
            return self._result()
        finally:
            _end_probe(self._uri, self._probe)

    def _result(self) -> Any:
        try:
            status, content = self._read()
        except (OSError, http.client.HTTPException) as exc:
            self._connection.close()
            if not self._reused:
                raise _unavailable(self._uri, self._what, exc) from exc
            # MLflow closed the kept-alive connection as it was reused: once more, anew.
            self._connection, self._reused = self._send(None)
            try:
                status, content = self._read()
            except (OSError, http.client.HTTPException) as exc_again:
                self._connection.close()
                raise _unavailable(self._uri, self._what, exc_again) from exc_again
        _idle_connections()[self._uri] = self._connection
        _raise_for_status(_Answer(status, content), self._what)
        return json.loads(content) if content else {}

    def _read(self) -> tuple[int, bytes]:
        self._connection.sock.settimeout(settings.MLFLOW_WEB_READ_TIMEOUT)
        response = self._connection.getresponse()
        return response.status, response.read()


def _idle_connections() -> dict[str, http.client.HTTPConnection]:
    return _deferred_local.__dict__.setdefault("idle", {})


def _connection_for(uri: str) -> http.client.HTTPConnection:
    parts = urlsplit(uri)
    timeout = settings.MLFLOW_WEB_CONNECT_TIMEOUT
    if parts.scheme == "https":
        context = _Secured.from_environment().ssl_context()
        return http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=context
        )
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def _closed(sock: socket.socket) -> bool:
    """Whether an idle kept-alive connection was closed by the server (readable means EOF:
    no answer is pending on it)."""
    try:
        readable, _writable, _errors = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def rest_get_deferred(path: str, *, params: dict[str, Any] | None = None) -> DeferredGet:
    """Send a GET of a JSON endpoint now (web timeouts); ``result()`` reads the answer, with
    the same errors as ``rest_get``. ``MlflowUnavailable`` at once if it cannot be sent."""
    uri = tracking_uri()
    target = urlsplit(uri).path.rstrip("/") + path
    if params:
        target += "?" + urlencode(params)
    return DeferredGet(uri, target, f"GET {path}", _admit(uri))


def rest_open_stream(path: str, *, read_timeout: float = 30.0) -> requests.Response:
    """Open a streamed GET, status already checked; the caller must close the response."""
    return _get(path, read_timeout=read_timeout, stream=True)


def ping() -> bool:
    """True when the tracking server answers its health endpoint in time."""
    try:
        response = _request("GET", tracking_uri() + "/health", timeout=_web_timeout())
    except requests.RequestException:
        return False
    return response.status_code == 200
