import json
import logging
import sys

from axes.helpers import get_cool_off
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST, require_safe

from cauce.core.db import database_unavailable
from cauce.core.health import health_report, mlflow_available

csp_logger = logging.getLogger("cauce.csp")

# A CSP report is a few hundred bytes; anything far larger is not one.
CSP_REPORT_MAX_BYTES = 64 * 1024
# What a client is told to wait before trying again while the database is out.
DATABASE_RETRY_AFTER_SECONDS = 5


@require_safe
def favicon(request):
    """Browsers ask /favicon.ico whatever the page links: send them to the static icon."""
    return redirect(static("cauce/favicon.svg"), permanent=True)


@login_required
def home(request):
    return redirect("projects:project_list")


@never_cache
@require_GET
def health(request):
    report = health_report()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


@never_cache
@require_GET
def health_live(request):
    """The process answers: no database, broker or MLflow call (a liveness probe)."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def health_ready(request):
    """Database, broker and MLflow each answer (a readiness probe): 503 when one is down."""
    return health(request)


@login_required
@require_GET
def mlflow_status(request):
    """A notice for the top of every page, loaded after the page so it never delays it."""
    return render(request, "core/_mlflow_status.html", {"mlflow_available": mlflow_available()})


@csrf_exempt  # browsers post reports without a CSRF token
@require_POST
def csp_report(request):
    """Logs the Content Security Policy violations browsers report (the policy's report-uri)."""
    if len(request.body) > CSP_REPORT_MAX_BYTES:
        return HttpResponse(status=413)
    try:
        payload = json.loads(request.body)
    except ValueError:
        return HttpResponse(status=400)
    # report-uri sends {"csp-report": {...}}; the Reporting API sends a list of reports.
    reports = payload if isinstance(payload, list) else [payload]
    for report in reports:
        if not isinstance(report, dict):
            continue
        body = report.get("csp-report") or report.get("body") or {}
        if not isinstance(body, dict):
            continue
        csp_logger.warning(
            "CSP violation: %s blocked %s on %s",
            body.get("violated-directive") or body.get("effectiveDirective"),
            body.get("blocked-uri") or body.get("blockedURL"),
            body.get("document-uri") or body.get("documentURL"),
            extra={"csp_report": body},
        )
    return HttpResponse(status=204)


def locked_out(request, original_response=None, credentials=None):
    """django-axes' lockout answer: the login page's look, status 429, how long to wait."""
    cooloff = get_cool_off(request)
    minutes = max(1, round(cooloff.total_seconds() / 60)) if cooloff else None
    return render(request, "registration/locked_out.html", {"cooloff_minutes": minutes}, status=429)


def server_error(request):
    """Django's handler500. A database that cannot be reached (down, restarting, a dropped
    connection) is a 503 saying so, as a page or as the API's JSON error, and the next request
    connects again; any other failure is a 500: the API's JSON error under /api/, else the
    ``500.html`` page (neither reads the database). Django has logged the exception."""
    if not database_unavailable(sys.exc_info()[1]):
        if request.path_info.startswith("/api/"):
            message = _(
                "Algo falló al atender su petición. El error quedó registrado; inténtelo de "
                "nuevo en unos minutos."
            )
            return JsonResponse({"message": message}, status=500)
        return defaults.server_error(request)
    message = _(
        "La base de datos no está disponible en este momento. Inténtelo de nuevo en unos segundos."
    )
    if request.path_info.startswith("/api/"):
        response = JsonResponse({"message": message}, status=503)
    else:
        # No base.html: its top bar reads the user (the database) and the CSRF token.
        response = HttpResponse(
            render_to_string("core/database_unavailable.html", {"message": message}), status=503
        )
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response
