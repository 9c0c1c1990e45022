from django.utils.translation import gettext_lazy as _

from cauce.core.exceptions import ApplicationError, NotFoundError


class MlflowError(ApplicationError):
    """MLflow answered, but refused what was asked (bad request, conflict...)."""

    status_code = 502
    # MLflow's own code (RESOURCE_ALREADY_EXISTS, INVALID_PARAMETER_VALUE...), when it gave one.
    error_code = ""


class MlflowUnavailable(MlflowError):
    """MLflow could not be reached in time: down, unreachable, or too slow."""

    status_code = 503

    def __init__(self, message=None, extra=None):
        super().__init__(message or _("MLflow no disponible"), extra)


class MlflowNotFound(NotFoundError):
    """The run, artifact or model does not exist in MLflow."""

    def __init__(self, message=None, extra=None):
        super().__init__(message or _("No existe en MLflow."), extra)
