"""The web behind nginx (deploy/web-proxy/, as in compose): slow clients wait in nginx.

gunicorn has a few threads per process (2 processes of 4 here); a client that sends its request
a byte at a time would hold one each, and 50 of them would leave none for anybody else. nginx
reads every request whole first, in its event loop and within its client timeouts, and only
then passes it on. Bounds are passed as timeouts (a request that does not complete within
them fails), never measured.
"""

import contextlib
import json
import re
import threading
import time
import uuid

import requests

from tests import raw_http

SLOW_CLIENTS = 50
# A normal request must complete within this, while the slow clients trickle.
NORMAL_TIMEOUT = 1
NORMAL_REQUESTS = 5
# One byte per slow client per round.
TRICKLE_PAUSE = 0.1


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


class SlowClients:
    """``count`` connections, each sending a request's headers one byte per round (never
    finished while the test needs them)."""

    def __init__(self, port: int, count: int):
        self.sockets = [raw_http.Connection(port, timeout=5) for _ in range(count)]
        header = "GET /api/projects/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + "a" * 4000
        self.pending = header.encode()
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)

    def _trickle(self) -> None:
        while not self.stop.is_set() and self.sent < len(self.pending):
            byte = self.pending[self.sent : self.sent + 1]
            for connection in self.sockets:
                # Closed by the proxy's header timeout: it did its job.
                with contextlib.suppress(OSError):
                    connection.send(byte)
            self.sent += 1
            self.stop.wait(TRICKLE_PAUSE)

    def __enter__(self) -> "SlowClients":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        for connection in self.sockets:
            connection.close()


def test_a_normal_request_is_answered_while_50_clients_send_headers_byte_by_byte(harness):
    seed = harness.seed()
    with SlowClients(_port(harness.web_url), SLOW_CLIENTS) as slow:
        # Every slow client has sent some of its headers before the normal requests start.
        while slow.sent < 5:
            time.sleep(TRICKLE_PAUSE)
        for _ in range(NORMAL_REQUESTS):
            response = requests.get(
                harness.web_url + "/api/projects/", headers=seed.headers, timeout=NORMAL_TIMEOUT
            )
            assert response.status_code == 200
            assert response.json()["count"] >= 1
        # The slow ones are still sending: they were waiting, not refused.
        assert slow.sent < len(slow.pending)
        assert not slow.stop.is_set()


def test_a_request_behind_a_body_answered_early_is_answered_through_the_proxy(harness):
    """What schemathesis saw time out (415 from the headers, then the body and the next
    request together), on one kept-alive connection to the proxy."""
    seed = harness.seed()
    auth = {"Authorization": seed.headers["Authorization"]}
    body = json.dumps({"name": f"x-{uuid.uuid4().hex[:6]}"}).encode()
    head = raw_http.request_head(
        "POST",
        "/api/projects/",
        {**auth, "Content-Type": "multipart/form-data", "Content-Length": str(len(body))},
    )
    with raw_http.Connection(_port(harness.web_url), timeout=10) as connection:
        connection.send(head + body)
        assert connection.answer().status == 415
        connection.send(
            raw_http.request("GET", "/api/projects/", auth)
            + raw_http.request("PATCH", f"/api/experiments/{uuid.uuid4()}/artifacts/zip/", auth)
        )
        assert connection.answer().status == 200
        assert connection.answer().status == 405


def test_the_proxy_passes_the_host_on_and_static_files_still_come(harness):
    """Django sees the Host the client sent (ALLOWED_HOSTS) and a plain-HTTP request as such;
    a host it does not serve is refused by Django behind the proxy too. The page's static
    files (whitenoise, behind the proxy) come through it, cached for good (hashed names)."""
    ok = requests.get(harness.web_url + "/accounts/login/", timeout=10)
    assert ok.status_code == 200
    assert ok.url.startswith("http://")  # no redirect to https: the proxy said "http"
    stylesheet = re.search(r'href="(/static/[^"]+\.css)"', ok.text).group(1)
    static = requests.get(harness.web_url + stylesheet, timeout=10)
    assert static.status_code == 200
    assert "max-age=315360000" in static.headers["Cache-Control"]
    refused = requests.get(
        harness.web_url + "/accounts/login/", headers={"Host": "evil.example"}, timeout=10
    )
    assert refused.status_code == 400
