"""The API's own views: the token endpoint (login throttled) and Swagger UI (CSP-clean)."""

from axes.helpers import get_lockout_message
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import exceptions, status
from rest_framework.authtoken.views import ObtainAuthToken


class LoginLockedOut(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS


class ObtainAuthTokenView(ObtainAuthToken):
    """``POST username, password`` → ``{"token": ...}``, with django-axes' lockout.

    The serializer authenticates through Django's backends, so django-axes counts failures and
    refuses a locked-out user here as on the login page. Its middleware only sees Django's
    request, not DRF's wrapper that carries the lockout flag, so this view answers 429 itself.
    """

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except exceptions.ValidationError:
            if getattr(request, "axes_locked_out", False):
                raise LoginLockedOut(str(get_lockout_message())) from None
            raise


class SwaggerUIView(SpectacularSwaggerSplitView):
    """Swagger UI with its start-up script as a separate file and no inline style, so that the
    site's Content Security Policy (no inline script or style) applies to it unchanged."""

    template_name = "api/swagger_ui.html"
