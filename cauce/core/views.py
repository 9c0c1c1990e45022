from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from cauce.core.health import health_report, mlflow_available


@login_required
def home(request):
    return redirect("projects:project_list")


@never_cache
@require_GET
def health(request):
    report = health_report()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


@login_required
@require_GET
def mlflow_status(request):
    """A notice for the top of every page, loaded after the page so it never delays it."""
    return render(request, "core/_mlflow_status.html", {"mlflow_available": mlflow_available()})
