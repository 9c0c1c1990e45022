"""Every request on a kept-alive connection is answered, whatever came before it on it.

gunicorn, started as the image starts it (``tests/fixtures/web_server.py``), and one raw socket
per test: an answer given before the request's body was read (415, 405, 404), then that body
and the next request arriving together, as when a client sends its next request as soon as it
has the answer, or pipelines it. The stock gthread worker left the next request in its buffer
and waited on the socket (schemathesis's network errors of issue 16); Cauce's worker
(``config/web_worker.py``) answers it. Each read is bounded by the socket's timeout: a request
left waiting fails the test with ``socket.timeout``.
"""

import json
import uuid

import pytest
from rest_framework.authtoken.models import Token

from tests import raw_http

pytestmark = [pytest.mark.django_db(transaction=True)]

# Far above the few milliseconds an answer takes here; a stuck request never comes.
ANSWER_TIMEOUT = 10


@pytest.fixture
def token(owner):
    return Token.objects.create(user=owner).key


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


# Fixed ids: the parametrized test ids must be the same in every pytest-xdist worker.
EXPERIMENT = "/api/experiments/5eb26e58-b6c3-44e2-ac96-6745860a310c"
BODY = json.dumps(
    {"name": "x", "experiments": ["a9d54494-4b84-4cbc-9d32-b40e388f1c98"], "tag": "t"}
).encode()

# (method, path, content type, the status answered without reading the body): the requests
# schemathesis saw time out, each answered from its headers alone.
EARLY_ANSWERS = [
    ("POST", "/api/projects/", "multipart/form-data", 415),
    ("POST", "/api/experiments/", "multipart/form-data", 415),
    ("POST", "/api/experiments/bulk-tags/", "multipart/form-data", 415),
    ("PATCH", f"{EXPERIMENT}/artifacts/zip/", "application/json", 405),
    ("GET", f"{EXPERIMENT}/register-model/", "application/json", 405),
    ("POST", "/api/projects/0.5/members/", "application/json", 404),
]


@pytest.mark.parametrize(("method", "path", "content_type", "status"), EARLY_ANSWERS)
def test_the_request_behind_a_body_answered_early_is_answered(
    web_server, token, method, path, content_type, status
):
    auth = {"Authorization": f"Token {token}"}
    head = raw_http.request_head(
        method,
        path,
        {**auth, "Content-Type": content_type, "Content-Length": str(len(BODY))},
    )
    with raw_http.Connection(_port(web_server), timeout=ANSWER_TIMEOUT) as connection:
        connection.send(head)
        assert connection.answer(method).status == status
        # The body, then the next request in the same packet.
        connection.send(BODY + raw_http.request("GET", "/api/projects/", auth))
        answer = connection.answer()
        assert answer.status == 200
        assert "results" in json.loads(answer.body)
        # And the connection still serves the one after.
        connection.send(raw_http.request("GET", "/api/projects/", auth))
        assert connection.answer().status == 200


def test_pipelined_requests_are_all_answered_in_order(web_server, token):
    auth = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    created = json.dumps({"name": f"Pipelined {uuid.uuid4().hex[:6]}"}).encode()
    with raw_http.Connection(_port(web_server), timeout=ANSWER_TIMEOUT) as connection:
        connection.send(
            raw_http.request("POST", "/api/projects/", auth, created)
            + raw_http.request("PATCH", f"{EXPERIMENT}/artifacts/zip/", auth, BODY)
            + raw_http.request("GET", "/api/projects/?limit=1", auth)
        )
        assert connection.answer().status == 201
        assert connection.answer().status == 405
        assert connection.answer().status == 200
