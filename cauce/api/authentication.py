"""DRF's token authentication in one plain SQL query, for the API paid on every call."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token


class PlainSqlTokenAuthentication(TokenAuthentication):
    """``TokenAuthentication``, the same answers (401 with ``WWW-Authenticate: Token``,
    DRF's messages), with the token and its user read by one plain SQL query.

    DRF reads them with the ORM (``select_related("user").get(key=...)``), whose compilation
    of the join costs about as much CPU as the query itself; the predict API pays it on every
    call (``bench/bench_predict.py``). Nothing is remembered between requests: a deleted token
    or a deactivated user is refused at the next call, as with DRF's.
    """

    def authenticate_credentials(self, key):
        user_model = get_user_model()
        quote = connection.ops.quote_name
        # Only Django's own table names are put in the text (quoted); the key is a param.
        sql = (
            f"SELECT u.*, t.{quote('created')} AS cauce_token_created"  # noqa: S608
            f" FROM {quote(user_model._meta.db_table)} u"
            f" JOIN {quote(Token._meta.db_table)} t ON t.{quote('user_id')} = u.{quote('id')}"
            f" WHERE t.{quote('key')} = %s"
        )
        found = list(user_model.objects.raw(sql, [key]))
        if not found or not found[0].is_active:
            # Refused: DRF's own code says why, in its words (and its translations).
            return super().authenticate_credentials(key)
        user = found[0]
        created = Token._meta.get_field("created").to_python(user.cauce_token_created)
        if settings.USE_TZ and created is not None and timezone.is_naive(created):
            created = timezone.make_aware(created, datetime.UTC)  # SQLite's, stored in UTC
        token = Token(key=key, user=user, created=created)
        return (user, token)
