"""An alert sent to the project's webhook: a real local HTTP receiver, signed JSON, retried
with backoff while the receiver fails, delivered once."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from cauce.monitoring.alerts import SIGNATURE_HEADER, alert_raise
from cauce.monitoring.models import Alert, MonitoringSettings
from cauce.monitoring.tasks import alert_webhook_task
from cauce.registry.models import RegisteredModel

SECRET = "s3creto-del-proyecto"


@pytest.fixture
def receiver():
    """A local receiver that answers 500 to its first ``failures`` deliveries, then 200."""
    state = {"failures": 2, "deliveries": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state["deliveries"].append((dict(self.headers), body))
            failing = len(state["deliveries"]) <= state["failures"]
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def model(project):
    return RegisteredModel.objects.create(name="iris", project=project)


def _raise(model):
    return alert_raise(
        model=model, version=2, window="24h", kind="drift", feature="petal_length",
        detail={"psi": 0.41, "p_value": 0.0001, "test": "ks", "rows": 1000}, now=timezone.now(),
    )  # fmt: skip


def test_an_alert_is_signed_retried_and_delivered_once(
    model, project, receiver, settings, django_capture_on_commit_callbacks
):
    settings.MONITOR_WEBHOOK_BACKOFF = 0.01
    MonitoringSettings.objects.create(
        project=project, psi_alert=0.2, p_value_alert=0.01, min_rows=200,
        webhook_url=receiver["url"], webhook_secret=SECRET,
    )  # fmt: skip

    with django_capture_on_commit_callbacks() as scheduled:
        alert = _raise(model)
        assert _raise(model) is None  # the same alert again: none, and nothing sent
    assert len(scheduled) == 1
    alert_webhook_task.apply(args=[alert.pk])  # what the worker runs, retries included
    alert_webhook_task.apply(args=[alert.pk])  # a duplicated message: nothing more is sent

    assert len(receiver["deliveries"]) == 3  # two refused, the third accepted
    headers, body = receiver["deliveries"][-1]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == expected
    assert all(body == delivered for _headers, delivered in receiver["deliveries"])
    payload = json.loads(body)
    assert (payload["model"], payload["version"], payload["feature"]) == ("iris", 2, "petal_length")
    assert payload["detail"]["psi"] == 0.41
    alert.refresh_from_db()
    assert alert.webhook_sent_at is not None


def test_without_a_webhook_nothing_is_scheduled(model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as scheduled:
        _raise(model)

    assert scheduled == [] and Alert.objects.count() == 1


def test_an_acknowledged_drift_that_persists_raises_nothing_new(model, editor):
    from cauce.monitoring.alerts import alert_acknowledge

    first = _raise(model)
    alert_acknowledge(alert=first, user=editor)

    assert _raise(model) is None
    assert Alert.objects.count() == 1


def test_a_drift_found_again_after_it_was_resolved_raises_a_new_alert(model, editor):
    from cauce.monitoring.alerts import alert_acknowledge, alerts_resolve

    first = _raise(model)
    alert_acknowledge(alert=first, user=editor)
    resolved = alerts_resolve(
        model=model, version=2, window="24h", kind="drift", features=["petal_length"],
        now=timezone.now(),
    )  # fmt: skip

    second = _raise(model)

    assert resolved == 1
    assert second is not None and second.pk != first.pk
    assert Alert.objects.count() == 2


def test_an_open_alert_whose_drift_came_back_is_the_same_incident(model):
    from cauce.monitoring.alerts import alerts_resolve

    first = _raise(model)
    alerts_resolve(
        model=model, version=2, window="24h", kind="drift", features=["petal_length"],
        now=timezone.now(),
    )  # fmt: skip

    assert _raise(model) is None
    first.refresh_from_db()
    assert first.resolved_at is None and Alert.objects.count() == 1


def test_more_than_5_percent_errors_in_an_hour_raise_one_alert(model):
    from cauce.monitoring.models import MonitoredVersion, PredictionRecord
    from cauce.monitoring.windows import monitored_version_compute

    now = timezone.now()
    for number in range(20):
        PredictionRecord.objects.create(
            registered_model=model, version=2, source="api", created_at=now, rows=1,
            latency_ms=3.0, outcome="error" if number < 2 else "ok",
        )  # fmt: skip
    monitored = MonitoredVersion.objects.create(registered_model=model, version=2, last_seen_at=now)

    monitored_version_compute(monitored, now=now)
    monitored_version_compute(monitored, now=now)

    alert = Alert.objects.get()
    assert (alert.kind, alert.window, alert.detail) == (
        "errors",
        "1h",
        {"requests": 20, "errors": 2},
    )


def test_19_requests_are_too_few_for_an_error_alert(model):
    from cauce.monitoring.models import MonitoredVersion, PredictionRecord
    from cauce.monitoring.windows import monitored_version_compute

    now = timezone.now()
    for _ in range(19):
        PredictionRecord.objects.create(
            registered_model=model, version=2, source="api", created_at=now, rows=1,
            latency_ms=3.0, outcome="error",
        )  # fmt: skip
    monitored = MonitoredVersion.objects.create(registered_model=model, version=2, last_seen_at=now)

    monitored_version_compute(monitored, now=now)

    assert not Alert.objects.exists()


def test_an_error_alert_is_resolved_once_an_hour_of_enough_requests_has_few_errors(model):
    from cauce.monitoring.models import MonitoredVersion, PredictionRecord
    from cauce.monitoring.windows import monitored_version_compute

    def served(count: int, errors: int) -> None:
        for number in range(count):
            PredictionRecord.objects.create(
                registered_model=model, version=2, source="api", created_at=timezone.now(),
                rows=1, latency_ms=3.0, outcome="error" if number < errors else "ok",
            )  # fmt: skip

    served(20, errors=2)
    monitored = MonitoredVersion.objects.create(
        registered_model=model, version=2, last_seen_at=timezone.now()
    )
    monitored_version_compute(monitored)
    served(5, errors=0)  # 2 of 25: 8 %, still too many
    monitored_version_compute(monitored)
    assert Alert.objects.get().resolved_at is None

    served(15, errors=0)  # 2 of 40: 5 %, not over it
    monitored_version_compute(monitored)

    assert Alert.objects.get().resolved_at is not None
