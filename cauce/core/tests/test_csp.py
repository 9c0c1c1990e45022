"""The Content Security Policy header, and the endpoint that records the browsers' reports."""

import json

import pytest

pytestmark = pytest.mark.django_db

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'self'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'self'",
    "report-uri": "/csp-report/",
}


def _directives(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


def test_every_page_gets_the_policy_without_unsafe_inline(client, owner):
    client.force_login(owner)
    for url in ("/accounts/login/", "/projects/", "/api/docs/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert _directives(response["Content-Security-Policy"]) == POLICY


def test_swagger_ui_loads_its_start_up_script_as_a_file(client, owner):
    client.force_login(owner)
    html = client.get("/api/docs/").content.decode()
    assert "<style>" not in html
    assert '<script src="/api/docs/?script="></script>' in html
    script = client.get("/api/docs/?script=")
    assert script["Content-Type"] == "application/javascript"
    assert b"SwaggerUIBundle" in script.content


def test_a_csp_report_is_logged(client, caplog):
    report = {
        "csp-report": {
            "document-uri": "http://testserver/projects/",
            "violated-directive": "style-src-elem",
            "blocked-uri": "inline",
        }
    }
    response = client.post(
        "/csp-report/", json.dumps(report), content_type="application/csp-report"
    )
    assert response.status_code == 204
    [record] = [r for r in caplog.records if r.name == "cauce.csp"]
    assert record.getMessage() == (
        "CSP violation: style-src-elem blocked inline on http://testserver/projects/"
    )
    assert record.csp_report == report["csp-report"]


def test_a_reporting_api_report_is_logged(client, caplog):
    reports = [
        {
            "type": "csp-violation",
            "body": {
                "documentURL": "http://testserver/a/",
                "effectiveDirective": "script-src-elem",
                "blockedURL": "inline",
            },
        }
    ]
    response = client.post("/csp-report/", json.dumps(reports), content_type="application/json")
    assert response.status_code == 204
    assert [r.getMessage() for r in caplog.records if r.name == "cauce.csp"] == [
        "CSP violation: script-src-elem blocked inline on http://testserver/a/"
    ]


@pytest.mark.parametrize(
    ("body", "status"), [(b"not json", 400), (b"[" + b"1," * 40_000 + b"1]", 413)]
)
def test_a_malformed_report_is_refused_and_logs_nothing(client, caplog, body, status):
    response = client.post("/csp-report/", body, content_type="application/csp-report")
    assert response.status_code == status
    assert not [r for r in caplog.records if r.name == "cauce.csp"]


def test_the_report_endpoint_takes_only_posts(client):
    assert client.get("/csp-report/").status_code == 405
