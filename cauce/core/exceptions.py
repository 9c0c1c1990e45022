"""The application's one exception family.

A service raises ApplicationError with a message a user can read (already translated, or
lazy); views turn it into a Django message or form error, the API into a JSON body.
"""

from typing import Any


class ApplicationError(Exception):
    status_code = 400

    def __init__(self, message: Any, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}

    def __str__(self) -> str:
        return str(self.message)


class NotFoundError(ApplicationError):
    status_code = 404


class PermissionDeniedError(ApplicationError):
    status_code = 403


class ConflictError(ApplicationError):
    """The request is well formed, but the object's state does not allow it (in use, the last
    owner, already finished...): 409 in the API."""

    status_code = 409
