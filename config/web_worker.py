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
to the poller. Every command that starts gunicorn names it: ``--worker-class
config.web_worker.ThreadWorker`` (Dockerfile, compose.yaml, ``make run``, the production
harness).
"""

from __future__ import annotations

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
    def handle(self, conn):
        keepalive = super().handle(conn)
        # True: keep the connection. What the parser already holds is the next request (or
        # its start): serve it now, as the poller would never say it is there.
        while keepalive is True and self.alive and has_buffered_request(conn):
            keepalive = super().handle(conn)
        return keepalive
