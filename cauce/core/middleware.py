"""Health probes answered before anything else in the middleware stack."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from cauce.core import views

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
