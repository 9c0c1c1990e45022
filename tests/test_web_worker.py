"""``config/web_worker.OneWriteResponse``: a small answer leaves in one write, headers and
body together; framing is gunicorn's own (lengths, chunked bodies, HEAD answers).

gunicorn's real parser reads a real request from one end of a socket pair; the response
writes to a socket that records each ``sendall`` before passing it on.
"""

from __future__ import annotations

import socket

import pytest
from gunicorn.config import Config
from gunicorn.http.parser import RequestParser

from config.web_worker import OneWriteResponse


class RecordingSocket:
    """A socket whose ``sendall`` calls are recorded, then written to the real one."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self.writes: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self._sock.sendall(data)

    def __getattr__(self, name):
        return getattr(self._sock, name)


@pytest.fixture
def pair():
    server, client = socket.socketpair()
    server.settimeout(5)
    client.settimeout(5)
    yield server, client
    server.close()
    client.close()


def _response(pair, method: str = "GET"):
    server, client = pair
    client.sendall(f"{method} /x HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    request = next(RequestParser(Config(), server, ("127.0.0.1", 1)))
    recording = RecordingSocket(server)
    return OneWriteResponse(request, recording, Config()), recording


def _received(client) -> bytes:
    client.shutdown(socket.SHUT_WR)
    chunks = []
    while chunk := client.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_headers_and_a_small_body_leave_in_one_write(pair):
    response, recording = _response(pair)
    response.start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")]
    )
    response.write(b"{}")
    response.close()
    assert len(recording.writes) == 1
    head, _sep, body = recording.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Content-Length: 2" in head
    assert body == b"{}"


def test_an_answer_without_body_still_sends_its_headers(pair):
    response, recording = _response(pair, "HEAD")
    response.start_response("200 OK", [("Content-Length", "5")])
    response.write(b"hello")
    response.close()
    assert len(recording.writes) == 1
    assert recording.writes[0].startswith(b"HTTP/1.1 200 OK")
    assert recording.writes[0].endswith(b"\r\n\r\n")


def test_a_chunked_body_keeps_its_framing(pair):
    server, client = pair
    response, _recording = _response(pair)
    response.start_response("200 OK", [("Content-Type", "text/plain")])
    response.write(b"abc")
    response.write(b"de")
    response.close()
    server.shutdown(socket.SHUT_WR)
    received = _received(client)
    head, _sep, body = received.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert body == b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
