"""HTTP/1.1 over one raw socket: requests written byte for byte, answers read back in order.

For what an HTTP client library hides: a body sent after its answer, a request pipelined
behind another, headers sent one byte at a time. Every read is bounded by the socket's
timeout (``socket.timeout`` when an answer does not come).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def request_head(method: str, path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def request(method: str, path: str, headers: dict[str, str] | None = None, body=b"") -> bytes:
    headers = dict(headers or {})
    if body or method in ("POST", "PUT", "PATCH"):
        headers["Content-Length"] = str(len(body))
    return request_head(method, path, headers) + body


class Connection:
    """One kept-alive connection; ``answer()`` reads the next response."""

    def __init__(self, port: int, timeout: float):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self._buffer += chunk

    def _take_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            self._fill()
        taken, self._buffer = self._buffer.split(marker, 1)
        return taken

    def _take(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._fill()
        taken, self._buffer = self._buffer[:size], self._buffer[size:]
        return taken

    def answer(self, method: str = "GET") -> Answer:
        head = self._take_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return Answer(status, headers)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._take_until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self._take_until(b"\r\n")  # no trailers are sent here
                    return Answer(status, headers, body)
                body += self._take(size)
                self._take(2)
        return Answer(status, headers, self._take(int(headers.get("content-length", "0"))))
