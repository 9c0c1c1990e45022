"""Database helpers that behave the same on SQLite (embedded default) and PostgreSQL."""

from django.db import InterfaceError, OperationalError
from django.db.backends.signals import connection_created
from django.db.models import Func

SQLITE_LOWER = "cauce_unicode_lower"


class UnicodeLower(Func):
    """LOWER() that lowers every letter: SQLite's own only lowers ASCII (É stays É)."""

    function = "LOWER"

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function=SQLITE_LOWER, **extra_context)


def _sqlite_functions(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function(
            SQLITE_LOWER,
            1,
            lambda value: value.lower() if value is not None else None,
            deterministic=True,
        )


def register_database_functions() -> None:
    connection_created.connect(_sqlite_functions, dispatch_uid="cauce_sqlite_functions")


# What a database that cannot be reached raises (refused, restarting, a connection it closed):
# the request or task may succeed once it is back, unlike a programming error.
DATABASE_UNAVAILABLE_ERRORS = (OperationalError, InterfaceError)


def database_unavailable(exc: BaseException | None) -> bool:
    """True for an error that says the database could not be reached or dropped the
    connection; also when that error is the cause of ``exc``."""
    while exc is not None:
        if isinstance(exc, DATABASE_UNAVAILABLE_ERRORS):
            return True
        exc = exc.__cause__
    return False
