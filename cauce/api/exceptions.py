"""Every API error is JSON with a readable ``message`` (and field ``errors`` where useful)."""

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.views.defaults import page_not_found
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from cauce.core.exceptions import ApplicationError


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for value in detail.values():
            return _first_message(value)
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        body = {"message": str(exc.message), **({"errors": exc.extra} if exc.extra else {})}
        return Response(body, status=exc.status_code)
    if isinstance(exc, (Http404, OverflowError)):
        # OverflowError: an id in the URL beyond the database's integers (SQLite raises it
        # while binding); no object has it.
        exc = exceptions.NotFound(_("No encontrado."))
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(_("No tiene permiso para esta acción."))

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "message": _("Datos no válidos: %(detail)s") % {"detail": _first_message(exc.detail)},
            "errors": exc.detail,
        }
    else:
        detail = getattr(exc, "detail", None)
        response.data = {"message": str(detail) if detail is not None else _("Error.")}
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        response.data["message"] = _("Se requiere autenticación.")
    return response


def api_not_found(request, exception=None):
    """Django's 404 for URLs no route matches: JSON under /api/, the HTML page elsewhere."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"message": _("No encontrado.")}, status=404)
    return page_not_found(request, exception)
