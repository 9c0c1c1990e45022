"""gunicorn's threaded worker (gthread), serving a request it has already read at once.

gthread parks a kept-alive connection on its poller and serves the next request when the
socket becomes readable. But the bytes of that next request may already have been read, into
the connection's parser buffer, while the body of the previous one was being read or
discarded: a client that sends its next request right behind a body (pipelining), or as soon
as it has an answer given before the body was read (a 404, 405, 401 or 415 answered from the
headers alone, while the rest of the body was still on its way). Then nothing more arrives on
the socket, the poller never fires, and the request waits until the client gives up or the
keep-alive timeout closes the connection: never answered. Found by schemathesis (issue 16),
reproduced by ``tests/test_web_server.py`` over one raw socket.

``ThreadWorker`` serves what is buffered in the same thread before handing the connection back
to the poller. And it writes each response's headers with its first body bytes, in one
``sendall`` (``OneWriteResponse``): a small JSON answer leaves in one segment. Every command
that starts gunicorn names it: ``--worker-class config.web_worker.ThreadWorker`` (Dockerfile,
compose.yaml, ``make run``, the production harness).
"""

from __future__ import annotations

from gunicorn import util
from gunicorn.http import wsgi
from gunicorn.workers.gthread import ThreadWorker as GunicornThreadWorker


def has_buffered_request(conn) -> bool:
    """Whether the connection's parser holds bytes read from the socket and not yet parsed."""
    parser = getattr(conn, "parser", None)
    unreader = getattr(parser, "unreader", None)
    buffer = getattr(unreader, "buf", None)
    if buffer is None:
        return False
    with buffer.getbuffer() as view:
        return view.nbytes > 0


class ThreadWorker(GunicornThreadWorker):
    def init_process(self):
        # gthread builds each response with ``wsgi.create``, which takes the module's
        # ``Response`` (it has no setting for the class): this worker process writes with
        # ``OneWriteResponse``.
        wsgi.Response = OneWriteResponse
        super().init_process()

    def handle(self, conn):
        keepalive = super().handle(conn)
        # True: keep the connection. What the parser already holds is the next request (or
        # its start): serve it now, as the poller would never say it is there.
        while keepalive is True and self.alive and has_buffered_request(conn):
            keepalive = super().handle(conn)
        return keepalive


class OneWriteResponse(wsgi.Response):
    """gunicorn's response, its headers sent with the first body bytes in one write.

    gunicorn writes the status line and headers, then each body chunk, each with its own
    ``sendall``: a small JSON answer (an online prediction) costs two writes, two segments and
    two wake-ups of the client. Here the headers wait for the first chunk (or the end of the
    response, or a ``sendfile``) and go with it. Nothing else changes: framing, lengths,
    chunked encoding and HEAD answers are gunicorn's own code.
    """

    _pending_head = b""

    def send_headers(self):
        if self.headers_sent:
            return
        tosend = self.default_headers()
        tosend.extend(["%s: %s\r\n" % (k, v) for k, v in self.headers])  # noqa: UP031
        self._pending_head = util.to_bytestring("%s\r\n" % "".join(tosend), "latin-1")  # noqa: UP031
        self.headers_sent = True

    def _flush_head(self):
        if self._pending_head:
            head, self._pending_head = self._pending_head, b""
            util.write(self.sock, head)

    def _emit_body(self, data):
        if self._pending_head and not self.chunked:
            head, self._pending_head = self._pending_head, b""
            util.write(self.sock, head + data)
            return
        self._flush_head()
        super()._emit_body(data)

    def sendfile(self, respiter):
        self.send_headers()
        self._flush_head()
        return super().sendfile(respiter)

    def close(self):
        self.send_headers()
        self._flush_head()
        super().close()
