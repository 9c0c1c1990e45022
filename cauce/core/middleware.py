"""Health probes answered before anything else; the language of the pages; the access log."""

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

from cauce.core import views
from cauce.core.db import DATABASE_UNAVAILABLE_ERRORS

request_logger = logging.getLogger("cauce.request")

API_PREFIX = "/api/"

_PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/health/live": views.health_live,
    "/health/ready": views.health_ready,
}


class HealthCheckMiddleware:
    """Serves /health/live and /health/ready ahead of ALLOWED_HOSTS and the HTTPS redirect.

    Orchestrators and compose health checks call them over plain HTTP by container or pod
    address, a host name the public site does not (and should not) accept. The probes show
    nothing but up/down, so answering them for any Host header reveals nothing.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = _PROBES.get(request.path_info.rstrip("/"))
        if probe is not None and request.method in ("GET", "HEAD"):
            return probe(request)
        return self.get_response(request)


class SpanishFirstLocaleMiddleware(LocaleMiddleware):
    """Pages are in Spanish until the user picks English with the switch in the top bar.

    Django's LocaleMiddleware would follow the browser's Accept-Language, so an English
    browser got English before anyone chose it. Here the pages follow only the switch's
    cookie (``LANGUAGE_COOKIE_NAME``, kept for ``LANGUAGE_COOKIE_AGE``). The API is left to
    Django's rule: there an ``Accept-Language`` header is written by the client's programmer,
    which is a choice (and the API has no switch).
    """

    def process_request(self, request: HttpRequest) -> None:
        if request.path_info.startswith(API_PREFIX):
            return super().process_request(request)
        translation.activate(self._chosen_language(request))
        request.LANGUAGE_CODE = translation.get_language()

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if request.path_info.startswith(API_PREFIX):
            return super().process_response(request, response)
        # No "Vary: Accept-Language": the page does not depend on it (the cookie does).
        response.headers.setdefault("Content-Language", translation.get_language())
        return response

    @staticmethod
    def _chosen_language(request: HttpRequest) -> str:
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if chosen:
            try:
                return translation.get_supported_language_variant(chosen)
            except LookupError:
                pass  # an unknown code in the cookie: the default
        return settings.LANGUAGE_CODE


class RequestLogMiddleware:
    """One log line per request (method, path, status, duration, user), carrying the request
    id: in production the access log is JSON like every other line, instead of gunicorn's
    own text format. Health probes never reach it (answered earlier)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        response = self.get_response(request)
        request_logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                # Until the response starts: a streamed body's transfer is not included.
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
                "user_id": _user_id(request),
            },
        )
        return response


def _user_id(request: HttpRequest) -> int | None:
    user = getattr(request, "user", None)
    try:
        # request.user is lazy: reading it may be the request's first query.
        return user.pk if user is not None and user.is_authenticated else None
    except DATABASE_UNAVAILABLE_ERRORS:
        # The database is out (the answer is the 503 page): the line is still written.
        return None


class UnbufferedStreamingMiddleware:
    """Marks every streamed answer "X-Accel-Buffering: no": nginx in front of the web
    (deploy/web-proxy/) buffers answers, and relays these as they come instead, so that an
    artifact download, a ZIP or a dataset file starts at once and is never held whole there."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.streaming:
            response.headers.setdefault("X-Accel-Buffering", "no")
        return response
