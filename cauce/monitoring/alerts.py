"""Alerts: raised once per version, window, kind, feature and incident (until a computation
finds the condition gone: ``alerts_resolve``), acknowledged or not; sent to the project's
webhook, if it has one, by a Celery task (signed, retried, sent once)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime
from typing import Any

import requests
from django.db import IntegrityError, transaction
from django.utils import timezone

from cauce.monitoring.models import Alert, MonitoringSettings

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Cauce-Signature"
WEBHOOK_TIMEOUT = (3.0, 10.0)


def alert_raise(
    *,
    model: Any,
    version: int,
    window: str,
    kind: str,
    feature: str,
    detail: dict[str, Any],
    now: datetime,
) -> Alert | None:
    """The new alert, or None when this incident has one already: open, or acknowledged
    but not resolved (a persisting drift is not raised again after its acknowledgement). An
    open alert of a resolved incident is the same incident again: it is marked unresolved.
    No duplicates when two computations race: the partial unique constraint decides."""
    same = Alert.objects.filter(
        registered_model=model, version=version, window=window, kind=kind, feature=feature
    )
    if same.filter(acknowledged_at__isnull=True).update(resolved_at=None):
        return None
    if same.filter(resolved_at__isnull=True).exists():
        return None
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                project_id=model.project_id,
                registered_model=model,
                version=version,
                window=window,
                kind=kind,
                feature=feature,
                detail=detail,
                created_at=now,
            )
    except IntegrityError:
        return None
    if webhook_of(model.project_id) is not None:
        from cauce.monitoring.tasks import alert_webhook_task

        transaction.on_commit(lambda: alert_webhook_task.delay(alert.pk))
    return alert


def alerts_resolve(
    *, model: Any, version: int, window: str, kind: str, features: list[str], now: datetime
) -> int:
    """The incidents of ``features`` (``[""]`` for errors) in ``window`` are over: a
    computation found their condition gone. How many alerts it resolved."""
    return Alert.objects.filter(
        registered_model=model,
        version=version,
        window=window,
        kind=kind,
        feature__in=features,
        resolved_at__isnull=True,
    ).update(resolved_at=now)


def alert_acknowledge(*, alert: Alert, user: Any) -> Alert:
    if alert.acknowledged_at is None:
        alert.acknowledged_at = timezone.now()
        alert.acknowledged_by = user
        alert.save(update_fields=["acknowledged_at", "acknowledged_by"])
    return alert


def alert_group_acknowledge(*, alert: Alert, user: Any) -> int:
    """Acknowledge ``alert`` and the other open ones of its line (its version's feature, or
    errors, in the other windows) at one moment; how many it closed."""
    return Alert.objects.filter(
        registered_model_id=alert.registered_model_id,
        version=alert.version,
        kind=alert.kind,
        feature=alert.feature,
        acknowledged_at__isnull=True,
    ).update(acknowledged_at=timezone.now(), acknowledged_by=user)


def alerts_acknowledge_all(*, project: Any, user: Any, model_name: str = "") -> int:
    """Acknowledge every open alert of ``project`` (of its model ``model_name`` only, when
    given: a name the project has no alerts for acknowledges none); how many it closed."""
    open_alerts = Alert.objects.filter(project=project, acknowledged_at__isnull=True)
    if model_name:
        open_alerts = open_alerts.filter(registered_model__name=model_name)
    return open_alerts.update(acknowledged_at=timezone.now(), acknowledged_by=user)


def webhook_of(project_id: int) -> MonitoringSettings | None:
    own = MonitoringSettings.objects.filter(project_id=project_id).exclude(webhook_url="").first()
    return own


def alert_payload(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "project": alert.project_id,
        "model": alert.registered_model.name,
        "version": alert.version,
        "window": alert.window,
        "kind": alert.kind,
        "feature": alert.feature,
        "detail": alert.detail,
        "created_at": alert.created_at.isoformat(),
    }


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the body with the project's secret>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _post(hook: MonitoringSettings, payload: dict[str, Any], delivery: str) -> None:
    body = json.dumps(payload, sort_keys=True).encode()
    response = requests.post(
        hook.webhook_url,
        data=body,
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(hook.webhook_secret, body),
            "X-Cauce-Delivery": delivery,
        },
        timeout=WEBHOOK_TIMEOUT,
        allow_redirects=False,
    )
    response.raise_for_status()


def webhook_test_send(*, project_id: int) -> bool:
    """POST a test delivery (``"kind": "test"``), signed like the alerts, to the project's
    webhook; False without one. Failures raise ``requests.RequestException`` (retried)."""
    hook = webhook_of(project_id)
    if hook is None:
        return False
    payload = {
        "id": None,
        "project": project_id,
        "kind": "test",
        "created_at": timezone.now().isoformat(),
    }
    _post(hook, payload, f"test-{project_id}")
    return True


def alert_webhook_send(*, alert_id: int) -> bool:
    """POST the alert to the project's webhook; True when sent now or before (a delivery
    already made is never repeated). A refusal or an unreachable receiver raises
    ``requests.RequestException`` for the task to retry."""
    alert = Alert.objects.select_related("registered_model").filter(pk=alert_id).first()
    if alert is None or alert.webhook_sent_at is not None:
        return True
    hook = webhook_of(alert.project_id)
    if hook is None:
        return False
    _post(hook, alert_payload(alert), str(alert.pk))
    Alert.objects.filter(pk=alert.pk, webhook_sent_at__isnull=True).update(
        webhook_sent_at=timezone.now()
    )
    return True
