"""A project's monitoring settings page: its owners edit the thresholds and the webhook; the
secret is write-only; "Enviar prueba" sends a signed test delivery through the alerts' task."""

import hashlib
import hmac
import json

from cauce.monitoring.alerts import SIGNATURE_HEADER
from cauce.monitoring.models import MonitoringSettings
from cauce.monitoring.tasks import alert_webhook_task
from cauce.monitoring.tests.test_webhook import receiver  # noqa: F401 (a fixture)

SECRET = "un-secreto-bastante-largo"


def _url(project) -> str:
    return f"/projects/{project.pk}/monitoring/settings/"


def _form(**changes) -> dict:
    return {
        "psi_alert": "0.25",
        "p_value_alert": "0.005",
        "min_rows": "300",
        "webhook_url": "https://hooks.example.org/cauce",
        "webhook_secret": SECRET,
        **changes,
    }


def test_the_owner_saves_the_settings_and_the_secret_is_never_shown_back(owner_client, project):
    page = owner_client.get(_url(project))
    assert page.status_code == 200
    assert page.context["form"].initial["psi_alert"] == 0.2  # the site's defaults

    saved = owner_client.post(_url(project), _form(), follow=True)

    own = MonitoringSettings.objects.get(project=project)
    assert (own.psi_alert, own.p_value_alert, own.min_rows) == (0.25, 0.005, 300)
    assert own.webhook_url == "https://hooks.example.org/cauce" and own.webhook_secret == SECRET
    assert SECRET not in saved.content.decode()
    # Left empty, the secret is kept; asked for, a new one replaces it and is shown once.
    owner_client.post(_url(project), _form(webhook_secret="", psi_alert="0.3"))
    own.refresh_from_db()
    assert own.psi_alert == 0.3 and own.webhook_secret == SECRET
    rotated = owner_client.post(
        _url(project), _form(webhook_secret="", secret_generate="on"), follow=True
    )
    own.refresh_from_db()
    assert own.webhook_secret != SECRET and len(own.webhook_secret) >= 32
    assert own.webhook_secret in rotated.content.decode()
    assert own.webhook_secret not in owner_client.get(_url(project)).content.decode()


def test_bad_input_says_why_in_spanish_and_changes_nothing(owner_client, project):
    MonitoringSettings.objects.create(
        project=project, psi_alert=0.2, p_value_alert=0.01, min_rows=200
    )
    for bad in (
        {"webhook_url": "ftp://hooks.example.org/x"},
        {"webhook_url": "javascript:alert(1)"},
        {"psi_alert": "0"},
        {"psi_alert": "nan"},
        {"p_value_alert": "1.5"},
        {"min_rows": "-3"},
        {"webhook_secret": "corto"},
    ):
        page = owner_client.post(_url(project), _form(**bad))
        assert page.status_code == 200 and page.context["form"].errors, bad
    assert "Introduzca una URL válida." in page.content.decode() or "caracteres" in (
        page.content.decode()
    )
    own = MonitoringSettings.objects.get(project=project)
    assert (own.psi_alert, own.webhook_url, own.webhook_secret) == (0.2, "", "")


def test_editors_are_refused(editor_client, project):
    # Members who are not owners are refused (403, as the project's own edit page); an
    # outsider gets 404 (the security suite).
    assert editor_client.get(_url(project)).status_code == 403
    assert editor_client.post(_url(project), _form()).status_code == 403
    assert editor_client.post(_url(project) + "test/").status_code == 403
    assert not MonitoringSettings.objects.filter(project=project).exists()


def test_a_test_delivery_is_signed_and_sent_through_the_alerts_task(
    owner_client,
    project,
    receiver,  # noqa: F811
    settings,
    django_capture_on_commit_callbacks,
):
    settings.MONITOR_WEBHOOK_BACKOFF = 0.01
    no_hook = owner_client.post(_url(project) + "test/", follow=True)
    assert "no tiene webhook" in no_hook.content.decode()
    owner_client.post(_url(project), _form(webhook_url=receiver["url"]))

    with django_capture_on_commit_callbacks() as scheduled:
        owner_client.post(_url(project) + "test/")
    assert len(scheduled) == 1
    alert_webhook_task.apply(args=[None], kwargs={"test_project_id": project.pk})

    assert len(receiver["deliveries"]) == 3  # two refused (the receiver's), then accepted
    headers, body = receiver["deliveries"][-1]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == expected
    assert json.loads(body)["kind"] == "test" and json.loads(body)["project"] == project.pk


def test_the_api_reads_and_patches_the_settings_without_showing_the_secret(
    owner_api, editor, project
):
    from rest_framework.test import APIClient

    editor_api = APIClient()
    editor_api.force_authenticate(editor)
    url = f"/api/projects/{project.pk}/monitoring/settings/"
    first = owner_api.get(url)
    assert first.json()["has_secret"] is False, first.content
    assert "webhook_secret" not in owner_api.get(url).json()

    changed = owner_api.patch(
        url, {"psi_alert": 0.3, "webhook_url": "http://hooks.example.org/x"},
        format="json",
    )  # fmt: skip

    assert changed.status_code == 200, changed.content
    body = changed.json()
    own = MonitoringSettings.objects.get(project=project)
    assert body["generated_secret"] == own.webhook_secret and len(own.webhook_secret) >= 32
    assert (own.psi_alert, own.p_value_alert, own.min_rows) == (0.3, 0.01, 200)
    assert "webhook_secret" not in owner_api.get(url).json()
    bad = owner_api.patch(url, {"webhook_url": "ftp://x.org/"}, format="json")
    assert bad.status_code == 400
    assert owner_api.patch(url, {"p_value_alert": 2}, format="json").status_code == 400
    assert editor_api.patch(url, {"psi_alert": 1}, format="json").status_code == 403
    own.refresh_from_db()
    assert own.psi_alert == 0.3 and own.webhook_url == "http://hooks.example.org/x"
